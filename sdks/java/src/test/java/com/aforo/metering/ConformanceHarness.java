package com.aforo.metering;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.catalina.startup.Tomcat;

/**
 * The Java SDK's harness for the shared conformance suite: one JSON command per line on stdin,
 * one JSON answer per line on stdout (sdks/conformance/README.md).
 */
public final class ConformanceHarness {
  private static Metering client;
  private static final List<Tomcat> servers = new ArrayList<>();

  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      @SuppressWarnings("unchecked")
      Map<String, Object> c = (Map<String, Object>) Json.read(line);
      Map<String, Object> reply = new LinkedHashMap<>();
      try {
        reply.putAll(handle(c));
        reply.put("ok", true);
      } catch (Exception e) {
        reply.put("error", e.toString());
      }
      say(reply);
      if ("exit".equals(c.get("op"))) {
        System.exit(0); // no close(): the JVM shutdown hook must send what is buffered
      }
    }
    for (Tomcat t : servers) t.stop();
  }

  static synchronized void say(Map<String, Object> m) {
    System.out.println(Json.write(m));
    System.out.flush();
  }

  static Duration seconds(Object v) {
    return Duration.ofNanos((long) (((Number) v).doubleValue() * 1e9));
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> handle(Map<String, Object> c) throws Exception {
    String op = (String) c.get("op");
    if (op.equals("client")) {
      Map<String, Object> o = (Map<String, Object>) c.get("options");
      Metering.Builder b = Metering.builder((String) c.get("url"), (String) c.get("token"));
      if (o.containsKey("batch_size")) b.batchSize(((Number) o.get("batch_size")).intValue());
      if (o.containsKey("max_buffer")) b.maxBuffer(((Number) o.get("max_buffer")).intValue());
      if (o.containsKey("flush_interval")) b.flushInterval(seconds(o.get("flush_interval")));
      if (o.containsKey("exit_timeout")) b.exitTimeout(seconds(o.get("exit_timeout")));
      if ("block".equals(o.get("overflow"))) b.overflow(Overflow.BLOCK);
      b.backoff(seconds(o.get("backoff_base")), seconds(o.get("backoff_cap")));
      client = b.build();
      return Map.of();
    }
    Metering m = client;
    switch (op) {
      case "record" -> {
        int count = ((Number) c.get("count")).intValue();
        Runnable record = () -> {
          for (int i = 0; i < count; i++) {
            Event e = Event.of((String) c.get("metric")).eventId(c.get("id_prefix") + "-" + i);
            if (c.get("subscription_id") != null) e.subscriptionId((String) c.get("subscription_id"));
            m.record(e);
          }
        };
        if (c.get("background") != null) {
          Thread t = new Thread(() -> {
            record.run();
            say(Map.of("done", c.get("background")));
          });
          t.setDaemon(true);
          t.start();
        } else {
          record.run();
        }
        return Map.of();
      }
      case "flush" -> {
        return Map.of("flushed", m.flush(seconds(c.get("timeout"))));
      }
      case "close" -> {
        m.close(seconds(c.get("timeout")));
        return Map.of();
      }
      case "stats" -> {
        Stats s = m.stats();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("accepted", s.accepted());
        out.put("duplicates", s.duplicates());
        out.put("rejected", s.rejected());
        out.put("dropped", s.dropped());
        out.put("failed", s.failed());
        out.put("retries", s.retries());
        out.put("batches", s.batches());
        out.put("pending", m.pending());
        return out;
      }
      case "serve" -> {
        return Map.of("port", serve(m, c));
      }
      case "exit" -> {
        return Map.of();
      }
      default -> throw new IllegalArgumentException("unknown op " + op);
    }
  }

  /** One servlet per first path segment, naming the matched template with setRoute. */
  @SuppressWarnings("unchecked")
  static int serve(Metering m, Map<String, Object> c) throws Exception {
    Map<String, List<Map<String, Object>>> groups = new LinkedHashMap<>();
    for (Object o : (List<Object>) c.get("routes")) {
      Map<String, Object> r = (Map<String, Object>) o;
      String seg = "/" + ((String) r.get("route")).substring(1).split("/", 2)[0];
      groups.computeIfAbsent(seg, k -> new ArrayList<>()).add(r);
    }
    Map<String, HttpServlet> servlets = new LinkedHashMap<>();
    for (Map.Entry<String, List<Map<String, Object>>> g : groups.entrySet()) {
      HttpServlet servlet = new HttpServlet() {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse res) throws IOException {
          req.getInputStream().readAllBytes();
          String path = req.getRequestURI();
          for (Map<String, Object> r : g.getValue()) {
            String tpl = (String) r.get("route");
            if (req.getMethod().equals(r.get("method")) && path.matches(tpl.replaceAll("\\{\\w+}", "[^/]+"))) {
              MeteringFilter.setRoute(req, tpl);
              res.setStatus(((Number) r.get("status")).intValue());
              res.getOutputStream().write(((String) r.get("body")).getBytes(StandardCharsets.UTF_8));
              return;
            }
          }
          res.sendError(404);
        }
      };
      servlets.put(g.getKey(), servlet);
      servlets.put(g.getKey() + "/*", servlet);
    }
    Tomcat t = TestServers.tomcat(new MeteringFilter(m).metric((String) c.get("metric")), servlets);
    servers.add(t);
    return TestServers.port(t);
  }
}
