package com.aforo.metering;

import com.sun.net.httpserver.HttpServer;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.jar.JarFile;
import org.apache.catalina.startup.Tomcat;

/**
 * The Java SDK's own tests, run with plain {@code java} (no test framework from Maven Central):
 * every public static void method named test* runs; the exit status says if all passed. The
 * shared conformance suite runs the same client against the real console.
 */
public final class MeteringTest {
  static final String KEY = "6f1d2c1e-8a43-4b8e-9a55-0c5b3c2d1e0f";

  public static void main(String[] args) throws Exception {
    int failed = 0;
    int ran = 0;
    for (Method m : MeteringTest.class.getDeclaredMethods()) {
      if (!m.getName().startsWith("test") || !Modifier.isStatic(m.getModifiers())) continue;
      if (args.length > 0 && !List.of(args).contains(m.getName())) continue;
      ran++;
      try {
        m.invoke(null);
        System.out.println("ok " + m.getName());
      } catch (java.lang.reflect.InvocationTargetException e) {
        failed++;
        System.out.println("FAILED " + m.getName() + ": " + e.getCause());
        e.getCause().printStackTrace(System.out);
      }
    }
    System.out.println(ran + " tests, " + failed + " failed");
    System.exit(failed == 0 && ran > 0 ? 0 : 1);
  }

  static void check(boolean ok, Object what) {
    if (!ok) throw new AssertionError(String.valueOf(what));
  }

  /** A stand-in console: records batches, answers from a script, then 200. */
  static final class FakeConsole implements AutoCloseable {
    final List<List<Map<String, Object>>> batches = new CopyOnWriteArrayList<>();
    final List<Integer> script = new CopyOnWriteArrayList<>();
    final HttpServer server;

    @SuppressWarnings("unchecked")
    FakeConsole(Integer... answers) throws IOException {
      script.addAll(List.of(answers));
      server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
      server.createContext("/", x -> {
        String body = new String(x.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        List<Map<String, Object>> events = (List<Map<String, Object>>) ((Map<String, Object>) Json.read(body)).get("events");
        batches.add(events);
        int status = script.isEmpty() ? 200 : script.remove(0);
        byte[] out = (status == 200 ? "{\"accepted\":" + events.size() + ",\"duplicates\":0,\"rejected\":[]}" : "{}").getBytes();
        x.sendResponseHeaders(status, out.length);
        x.getResponseBody().write(out);
        x.close();
      });
      server.start();
    }

    String url() {
      return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    List<Integer> sizes() {
      List<Integer> out = new ArrayList<>();
      for (List<Map<String, Object>> b : batches) out.add(b.size());
      return out;
    }

    @Override
    public void close() {
      server.stop(0);
    }
  }

  static Metering.Builder quick(String url) {
    return Metering.builder(url, "gwt_t").backoff(Duration.ofMillis(5), Duration.ofMillis(20));
  }

  public static void testJsonRoundTrip() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("s", "q\"\\\n\u2028é");
    m.put("n", 1.5);
    m.put("l", List.of(1, true, "x"));
    m.put("z", null);
    String text = Json.write(m);
    check(text.equals("{\"s\":\"q\\\"\\\\\\n\\u2028é\",\"n\":1.5,\"l\":[1,true,\"x\"],\"z\":null}"), text);
    Map<?, ?> back = (Map<?, ?>) Json.read(text);
    check(back.get("s").equals("q\"\\\n\u2028é") && back.containsKey("z") && back.get("z") == null, back);
  }

  public static void testInvalidEventsThrowInTheCaller() {
    try (Metering m = quick("http://127.0.0.1:9").build()) {
      List<Event> bad = List.of(
          Event.of(""), Event.of("m").quantity(-1), Event.of("m").quantity(Double.NaN),
          Event.of("m").keyId("nope"), Event.of("m").eventId("x".repeat(201)));
      for (Event e : bad) {
        try {
          m.record(e);
          throw new AssertionError("accepted an invalid event");
        } catch (IllegalArgumentException expected) {
          // refused at the call
        }
      }
      try {
        Event.of("m").field("colour", "red");
        throw new AssertionError("accepted an unknown field");
      } catch (IllegalArgumentException expected) {
        // refused at the call
      }
      check(m.pending() == 0, m.pending());
      m.close(Duration.ofMillis(10));
    }
  }

  public static void testRetriesSplitsAndRefusals() throws Exception {
    try (FakeConsole c = new FakeConsole(503, 429, 408, 413)) {
      // Sent only by flush(): a short interval could send the first records before the eighth.
      Metering m = quick(c.url()).flushInterval(Duration.ofHours(1)).build();
      for (int i = 0; i < 8; i++) m.record(Event.of("api_calls").eventId("e" + i));
      check(m.flush(Duration.ofSeconds(5)), "flushed");
      check(c.sizes().equals(List.of(8, 8, 8, 8, 4, 4)), c.sizes());
      for (int i = 1; i < 4; i++) check(c.batches.get(i).equals(c.batches.get(0)), "same ids on retry");
      c.script.add(401);
      m.record(Event.of("api_calls"));
      check(m.flush(Duration.ofSeconds(5)), "flushed");
      Stats s = m.stats();
      check(s.retries() == 3 && s.failed() == 1 && s.accepted() == 8, s);
      m.close();
    }
  }

  public static void testDropBlockAndCloseTimeout() throws Exception {
    Metering dead = quick("http://127.0.0.1:9").batchSize(2).maxBuffer(2).build();
    for (int i = 0; i < 3; i++) dead.record(Event.of("m"));
    check(dead.stats().dropped() == 1 && dead.pending() == 2, dead.stats());
    dead.close(Duration.ofMillis(50));
    check(dead.stats().failed() == 2, dead.stats());

    try (FakeConsole c = new FakeConsole(503, 503, 503)) {
      Metering m = quick(c.url()).batchSize(1).maxBuffer(1).overflow(Overflow.BLOCK)
          .flushInterval(Duration.ofMillis(1)).build();
      for (int i = 0; i < 3; i++) m.record(Event.of("m"));
      m.close(Duration.ofSeconds(5));
      check(m.stats().accepted() == 3 && m.stats().dropped() == 0, m.stats());
    }
  }

  public static void testShutdownHookSendsWhatIsBuffered() throws Exception {
    try (FakeConsole c = new FakeConsole()) {
      String java = ProcessHandle.current().info().command().orElse("java");
      Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
          ExitProgram.class.getName(), c.url()).inheritIO().start();
      check(p.waitFor() == 0, "exit status");
      check(c.sizes().equals(List.of(7)), c.sizes());
    }
  }

  /** Records and leaves through System.exit without close(): the hook must send. */
  public static final class ExitProgram {
    public static void main(String[] args) {
      Metering m = Metering.builder(args[0], "gwt_t").flushInterval(Duration.ofHours(1)).build();
      for (int i = 0; i < 7; i++) m.record(Event.of("exit_test").eventId("exit-" + i));
      System.exit(0);
    }
  }

  public static void testFilterRoutesStatusSizesAndKey() throws Exception {
    try (FakeConsole c = new FakeConsole()) {
      Metering m = quick(c.url()).build();
      Map<String, HttpServlet> servlets = new LinkedHashMap<>();
      servlets.put("/items/*", new HttpServlet() {
        @Override protected void doGet(HttpServletRequest req, HttpServletResponse res) throws IOException {
          MeteringFilter.setRoute(req, "/items/{id}");
          res.setContentType("text/plain;charset=UTF-8");
          res.getWriter().write("itém"); // 5 bytes in UTF-8
        }
      });
      servlets.put("/orders/*", new HttpServlet() {
        @Override protected void doPost(HttpServletRequest req, HttpServletResponse res) throws IOException {
          byte[] body = req.getInputStream().readAllBytes();
          res.setStatus(201);
          res.getOutputStream().write(body);
        }
      });
      Tomcat tomcat = TestServers.tomcat(new MeteringFilter(m), servlets);
      String base = "http://127.0.0.1:" + TestServers.port(tomcat);
      HttpClient http = HttpClient.newHttpClient();
      http.send(HttpRequest.newBuilder(URI.create(base + "/items/42?x=1")).header("X-Api-Key-Id", KEY).build(),
          HttpResponse.BodyHandlers.discarding());
      http.send(HttpRequest.newBuilder(URI.create(base + "/orders/7")).header("X-Api-Key-Id", "key-name")
          .POST(HttpRequest.BodyPublishers.ofString("hello")).build(), HttpResponse.BodyHandlers.discarding());
      http.send(HttpRequest.newBuilder(URI.create(base + "/nowhere")).build(), HttpResponse.BodyHandlers.discarding());
      tomcat.stop();
      tomcat.destroy();
      check(m.flush(Duration.ofSeconds(5)), "flushed");
      m.close();
      Map<Object, Map<String, Object>> byPath = new LinkedHashMap<>();
      for (List<Map<String, Object>> b : c.batches) for (Map<String, Object> e : b) byPath.put(e.get("path"), e);
      Map<String, Object> item = byPath.get("/items/42"), order = byPath.get("/orders/7"), none = byPath.get("/nowhere");
      check(item.get("route").equals("/items/{id}") && item.get("key_id").equals(KEY)
          && item.get("response_bytes").equals(5.0) && item.get("status").equals(200.0), item);
      check(order.get("route").equals("/orders/*") && order.get("consumer").equals("key-name")
          && !order.containsKey("key_id") && order.get("request_bytes").equals(5.0)
          && order.get("status").equals(201.0), order);
      check(!none.containsKey("route") && none.get("status").equals(404.0), none);
    }
  }

  public static void testJarManifest() throws Exception {
    String jar = System.getProperty("java.class.path").split(":")[0];
    try (JarFile f = new JarFile(jar)) {
      var attrs = f.getManifest().getMainAttributes();
      check("com.aforo.metering".equals(attrs.getValue("Automatic-Module-Name")), attrs);
      check(Metering.VERSION.equals(attrs.getValue("Implementation-Version")), attrs);
      check("com.aforo:metering".equals(attrs.getValue("Implementation-Title")), attrs);
      AtomicBoolean onlyOurs = new AtomicBoolean(true);
      f.stream().filter(e -> e.getName().endsWith(".class"))
          .forEach(e -> onlyOurs.compareAndSet(true, e.getName().startsWith("com/aforo/metering/")));
      check(onlyOurs.get(), "the jar holds only com.aforo.metering classes");
    }
  }
}
