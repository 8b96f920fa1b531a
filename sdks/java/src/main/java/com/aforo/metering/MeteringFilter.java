package com.aforo.metering;

import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServletMapping;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpServletResponseWrapper;
import jakarta.servlet.http.MappingMatch;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.Charset;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A Jakarta Servlet filter metering every request: method, path, route template, status,
 * latency, body sizes and the caller's key id from a header your gateway sets after verifying
 * the key. Recording only appends to the buffer: an unreachable console never slows or fails a
 * request.
 *
 * <pre>{@code
 * servletContext.addFilter("aforo", new MeteringFilter(metering)).addMappingForUrlPatterns(null, false, "/*");
 * }</pre>
 *
 * <p>Route templates come from {@link #setRoute}, from Spring MVC's best-matching pattern, or
 * from the servlet mapping ({@code /items/*}).
 */
public class MeteringFilter implements Filter {
  /** The request attribute {@link #setRoute} writes. */
  public static final String ROUTE_ATTRIBUTE = "com.aforo.metering.route";
  private static final List<String> ROUTE_ATTRIBUTES =
      List.of(ROUTE_ATTRIBUTE, "org.springframework.web.servlet.HandlerMapping.bestMatchingPattern");

  private final Metering metering;
  private String metric = "api.requests";
  private String keyHeader = "X-Api-Key-Id";
  private String subscriptionHeader = "X-Subscription-Id";
  private String consumerHeader;
  private String requestIdHeader = "X-Request-Id";

  public MeteringFilter(Metering metering) {
    this.metering = metering;
  }

  public MeteringFilter metric(String metric) { this.metric = metric; return this; }
  public MeteringFilter keyHeader(String header) { this.keyHeader = header; return this; }
  public MeteringFilter subscriptionHeader(String header) { this.subscriptionHeader = header; return this; }
  public MeteringFilter consumerHeader(String header) { this.consumerHeader = header; return this; }

  /** Names the route template of the request being served: {@code /items/{id}}. */
  public static void setRoute(ServletRequest request, String template) {
    request.setAttribute(ROUTE_ATTRIBUTE, template);
  }

  @Override
  public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain)
      throws IOException, ServletException {
    if (!(req instanceof HttpServletRequest request) || !(res instanceof HttpServletResponse response)) {
      chain.doFilter(req, res);
      return;
    }
    long started = System.nanoTime();
    CountingRequest in = new CountingRequest(request);
    CountingResponse out = new CountingResponse(response);
    AtomicBoolean done = new AtomicBoolean();
    boolean failed = true;
    try {
      chain.doFilter(in, out);
      failed = false;
    } finally {
      if (!failed && request.isAsyncStarted()) {
        request.getAsyncContext().addListener(new AsyncListener() {
          @Override public void onComplete(AsyncEvent e) { record(request, in, out, started, false, done); }
          @Override public void onTimeout(AsyncEvent e) {}
          @Override public void onError(AsyncEvent e) {}
          @Override public void onStartAsync(AsyncEvent e) {}
        });
      } else {
        record(request, in, out, started, failed, done);
      }
    }
  }

  private void record(HttpServletRequest request, CountingRequest in, CountingResponse out,
      long started, boolean failed, AtomicBoolean done) {
    if (!done.compareAndSet(false, true)) return;
    try {
      Event e = Event.of(metric)
          .field("method", request.getMethod())
          .field("path", request.getRequestURI())
          .field("route", route(request))
          .field("status", failed ? 500 : out.getStatus())
          .field("latency_ms", (System.nanoTime() - started) / 1e6)
          .field("request_bytes", request.getContentLengthLong() >= 0 ? request.getContentLengthLong() : in.count.get())
          .field("response_bytes", out.count.get())
          .field("request_id", header(request, requestIdHeader))
          .field("client_ip", request.getRemoteAddr());
      String keyId = header(request, keyHeader);
      String subscriptionId = header(request, subscriptionHeader);
      String consumer = header(request, consumerHeader);
      // A gateway that forwards a key name instead of its id: keep it as the consumer rather
      // than have the console refuse the event.
      if (keyId != null && !Event.isUuid(keyId)) {
        consumer = consumer == null ? keyId : consumer;
        keyId = null;
      }
      if (subscriptionId != null && !Event.isUuid(subscriptionId)) {
        consumer = consumer == null ? subscriptionId : consumer;
        subscriptionId = null;
      }
      metering.tryRecord(e.keyId(keyId).subscriptionId(subscriptionId).consumer(consumer));
    } catch (RuntimeException e) {
      java.util.logging.Logger.getLogger("com.aforo.metering").warning("aforo: could not record a request: " + e);
    }
  }

  static String route(HttpServletRequest request) {
    for (String name : ROUTE_ATTRIBUTES) {
      if (request.getAttribute(name) instanceof String s && !s.isEmpty()) return s;
    }
    HttpServletMapping mapping = request.getHttpServletMapping();
    if (mapping == null || mapping.getMappingMatch() == null || mapping.getMappingMatch() == MappingMatch.DEFAULT) {
      return null; // the default servlet: no route matched
    }
    String prefix = request.getContextPath() == null ? "" : request.getContextPath();
    return prefix + mapping.getPattern();
  }

  private static String header(HttpServletRequest request, String name) {
    if (name == null) return null;
    String v = request.getHeader(name);
    return v == null || v.isEmpty() ? null : v;
  }

  private static final class CountingRequest extends HttpServletRequestWrapper {
    final AtomicLong count = new AtomicLong();
    private ServletInputStream stream;

    CountingRequest(HttpServletRequest request) {
      super(request);
    }

    @Override
    public ServletInputStream getInputStream() throws IOException {
      if (stream == null) {
        ServletInputStream inner = super.getInputStream();
        stream = new ServletInputStream() {
          @Override public int read() throws IOException {
            int b = inner.read();
            if (b >= 0) count.incrementAndGet();
            return b;
          }
          @Override public int read(byte[] b, int off, int len) throws IOException {
            int n = inner.read(b, off, len);
            if (n > 0) count.addAndGet(n);
            return n;
          }
          @Override public boolean isFinished() { return inner.isFinished(); }
          @Override public boolean isReady() { return inner.isReady(); }
          @Override public void setReadListener(ReadListener l) { inner.setReadListener(l); }
        };
      }
      return stream;
    }
  }

  private static final class CountingResponse extends HttpServletResponseWrapper {
    final AtomicLong count = new AtomicLong();
    private ServletOutputStream stream;
    private PrintWriter writer;

    CountingResponse(HttpServletResponse response) {
      super(response);
    }

    @Override
    public ServletOutputStream getOutputStream() throws IOException {
      if (stream == null) {
        ServletOutputStream inner = super.getOutputStream();
        stream = new ServletOutputStream() {
          @Override public void write(int b) throws IOException {
            inner.write(b);
            count.incrementAndGet();
          }
          @Override public void write(byte[] b, int off, int len) throws IOException {
            inner.write(b, off, len);
            count.addAndGet(len);
          }
          @Override public void flush() throws IOException { inner.flush(); }
          @Override public void close() throws IOException { inner.close(); }
          @Override public boolean isReady() { return inner.isReady(); }
          @Override public void setWriteListener(WriteListener l) { inner.setWriteListener(l); }
        };
      }
      return stream;
    }

    @Override
    public PrintWriter getWriter() throws IOException {
      if (writer == null) {
        // The container's own writer (its buffering and flushing stay as they are); the bytes
        // are counted in the response's charset as the characters go by.
        PrintWriter inner = super.getWriter();
        Charset charset = Charset.forName(getCharacterEncoding());
        writer = new PrintWriter(inner) {
          @Override public void write(int c) {
            count.addAndGet(String.valueOf((char) c).getBytes(charset).length);
            inner.write(c);
          }
          @Override public void write(char[] b, int off, int len) {
            count.addAndGet(new String(b, off, len).getBytes(charset).length);
            inner.write(b, off, len);
          }
          @Override public void write(String str, int off, int len) {
            count.addAndGet(str.substring(off, off + len).getBytes(charset).length);
            inner.write(str, off, len);
          }
        };
      }
      return writer;
    }
  }
}
