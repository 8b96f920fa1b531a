package com.aforo.metering;

import jakarta.servlet.Filter;
import jakarta.servlet.http.HttpServlet;
import java.io.File;
import java.nio.file.Files;
import java.util.Map;
import org.apache.catalina.Context;
import org.apache.catalina.servlets.DefaultServlet;
import org.apache.catalina.startup.Tomcat;

/** Embedded Tomcat (Debian's libtomcat10-embed-java) with the metering filter in front. */
final class TestServers {
  private TestServers() {}

  /** servlets: URL pattern -> servlet. Unmatched requests reach Tomcat's default servlet. */
  static Tomcat tomcat(Filter filter, Map<String, HttpServlet> servlets) throws Exception {
    File base = Files.createTempDirectory("aforo-tomcat").toFile();
    Tomcat tomcat = new Tomcat();
    tomcat.setBaseDir(base.getPath());
    tomcat.setPort(0);
    tomcat.getConnector().setProperty("address", "127.0.0.1");
    Context ctx = tomcat.addContext("", base.getPath());
    Tomcat.addServlet(ctx, "default", new DefaultServlet());
    ctx.addServletMappingDecoded("/", "default");
    int i = 0;
    for (Map.Entry<String, HttpServlet> e : servlets.entrySet()) {
      String name = "s" + i++;
      Tomcat.addServlet(ctx, name, e.getValue());
      ctx.addServletMappingDecoded(e.getKey(), name);
    }
    // The one line an application writes (here from an initializer, as a web app would).
    ctx.addServletContainerInitializer(
        (classes, servletContext) ->
            servletContext.addFilter("aforo", filter).addMappingForUrlPatterns(null, false, "/*"),
        null);
    tomcat.start();
    return tomcat;
  }

  static int port(Tomcat tomcat) {
    return tomcat.getConnector().getLocalPort();
  }
}
