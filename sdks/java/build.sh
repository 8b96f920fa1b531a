#!/usr/bin/env bash
# Builds com.aforo:metering with the JDK alone: the classes (Java 17, compiled against Debian's
# Jakarta Servlet API), the jar with its manifest, and the test classes (run on embedded Tomcat).
#   sdks/java/build.sh            -> build/metering-<version>.jar, build/test-classes
set -euo pipefail
cd "$(dirname "$0")"
SERVLET_API=${SERVLET_API:-/usr/share/java/jakarta-servlet-api.jar}
TOMCAT=${TOMCAT:-/usr/share/java/tomcat10-embed-core.jar:/usr/share/java/jakarta-annotation-api.jar}
for jar in "$SERVLET_API" ${TOMCAT//:/ }; do
  [ -f "$jar" ] || { echo "missing $jar (apt-get install libjakarta-servlet-api-java libtomcat10-embed-java libjakarta-annotation-api-java)" >&2; exit 1; }
done
VERSION=$(sed -n 's/.*String VERSION = "\(.*\)";/\1/p' src/main/java/com/aforo/metering/Metering.java)
rm -rf build
mkdir -p build
javac --release 17 -Xlint:all -Werror -d build/classes -cp "$SERVLET_API" $(find src/main/java -name '*.java')
cat > build/MANIFEST.MF <<EOF
Automatic-Module-Name: com.aforo.metering
Implementation-Title: com.aforo:metering
Implementation-Version: $VERSION
Implementation-Vendor: Aforo
Build-Jdk-Spec: 17
EOF
jar --create --file "build/metering-$VERSION.jar" --manifest build/MANIFEST.MF -C build/classes .
javac --release 17 -d build/test-classes -cp "build/metering-$VERSION.jar:$TOMCAT" $(find src/test/java -name '*.java')
echo "build/metering-$VERSION.jar"
