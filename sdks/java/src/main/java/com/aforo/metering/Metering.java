package com.aforo.metering;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Records usage events and ships them to the console's {@code POST /v1/usage/events} from one
 * daemon thread, in batches (by size, or every flush interval), with retries: network errors,
 * 5xx, 408 and 429 are retried with exponential backoff and jitter honouring Retry-After, and a
 * batch keeps its event ids (a retry after a lost answer counts once); 413 splits the batch. A
 * JVM shutdown hook sends what is left when the JVM exits.
 *
 * <pre>{@code
 * Metering metering = Metering.builder("https://console.example.com", System.getenv("AFORO_TOKEN")).build();
 * metering.record(Event.of("api_calls").subscriptionId(subscriptionId));
 * }</pre>
 */
public final class Metering implements AutoCloseable {
  public static final String VERSION = "0.1.0";
  public static final int MAX_BATCH = 10_000;
  private static final Logger LOG = Logger.getLogger("com.aforo.metering");

  private final URI endpoint;
  private final String token;
  private final int batchSize;
  private final Duration flushInterval;
  private final int maxBuffer;
  private final Overflow overflow;
  private final Duration timeout;
  private final Duration exitTimeout;
  private final double backoffBase;
  private final double backoffCap;
  private final HttpClient http;

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final ArrayDeque<String> buf = new ArrayDeque<>();
  private long queued; // items ever accepted into the buffer
  private long settled; // items ever removed from it (sent, refused or abandoned)
  private int flushWanted;
  private boolean closing;
  private boolean closed;
  private volatile boolean stopped;
  private long accepted, duplicates, rejected, dropped, failed, retries, batches;
  private final Thread sender;
  private final Thread hook;

  private Metering(Builder b) {
    if (b.token == null || b.token.isEmpty()) throw new IllegalArgumentException("token is required");
    if (b.batchSize < 1 || b.batchSize > MAX_BATCH) {
      throw new IllegalArgumentException("batchSize must be between 1 and " + MAX_BATCH);
    }
    if (b.maxBuffer < b.batchSize) throw new IllegalArgumentException("maxBuffer must be at least batchSize");
    this.endpoint = URI.create(b.url.replaceAll("/+$", "") + "/v1/usage/events");
    this.token = b.token;
    this.batchSize = b.batchSize;
    this.flushInterval = b.flushInterval;
    this.maxBuffer = b.maxBuffer;
    this.overflow = b.overflow;
    this.timeout = b.timeout;
    this.exitTimeout = b.exitTimeout;
    this.backoffBase = b.backoffBase.toNanos() / 1e9;
    this.backoffCap = b.backoffCap.toNanos() / 1e9;
    // HTTP/2 over TLS (ALPN); plain http stays HTTP/1.1: an h2c upgrade attempt is refused
    // outright by some servers (uvicorn answers 400).
    HttpClient.Version version =
        endpoint.getScheme().equals("https") ? HttpClient.Version.HTTP_2 : HttpClient.Version.HTTP_1_1;
    this.http = HttpClient.newBuilder().version(version).connectTimeout(b.timeout).build();
    this.sender = new Thread(this::run, "aforo-metering");
    sender.setDaemon(true);
    sender.start();
    this.hook = new Thread(() -> close(exitTimeout), "aforo-metering-exit");
    Runtime.getRuntime().addShutdownHook(hook);
  }

  public static Builder builder(String url, String token) {
    return new Builder(url, token);
  }

  /** Options; the defaults are those of every Aforo SDK. */
  public static final class Builder {
    private final String url;
    private final String token;
    private int batchSize = 500;
    private Duration flushInterval = Duration.ofSeconds(1);
    private int maxBuffer = 100_000;
    private Overflow overflow = Overflow.DROP;
    private Duration timeout = Duration.ofSeconds(10);
    private Duration exitTimeout = Duration.ofSeconds(5);
    private Duration backoffBase = Duration.ofMillis(200);
    private Duration backoffCap = Duration.ofSeconds(30);

    private Builder(String url, String token) {
      this.url = url;
      this.token = token;
    }

    public Builder batchSize(int n) { this.batchSize = n; return this; }
    public Builder flushInterval(Duration d) { this.flushInterval = d; return this; }
    public Builder maxBuffer(int n) { this.maxBuffer = n; return this; }
    public Builder overflow(Overflow o) { this.overflow = o; return this; }
    public Builder timeout(Duration d) { this.timeout = d; return this; }
    public Builder exitTimeout(Duration d) { this.exitTimeout = d; return this; }
    public Builder backoff(Duration base, Duration cap) { this.backoffBase = base; this.backoffCap = cap; return this; }

    public Metering build() {
      return new Metering(this);
    }
  }

  /** Buffers one event and returns its id; under BLOCK waits for room. Never performs I/O. */
  public String record(Event event) {
    return enqueue(event, overflow == Overflow.BLOCK);
  }

  /** Like record() but never waits: a full buffer drops the event (counted). */
  public String tryRecord(Event event) {
    return enqueue(event, false);
  }

  private String enqueue(Event event, boolean block) {
    Map<String, Object> wire = event.wire();
    String json = Json.write(wire);
    String id = (String) wire.get("event_id");
    lock.lock();
    try {
      while (!closing && buf.size() >= maxBuffer) {
        if (!block) {
          dropped++;
          return id;
        }
        changed.awaitUninterruptibly();
      }
      if (closing) {
        dropped++;
        LOG.warning("aforo: record() after close(); event dropped");
        return id;
      }
      buf.add(json);
      queued++;
      if (buf.size() >= batchSize) changed.signalAll();
      return id;
    } finally {
      lock.unlock();
    }
  }

  /** Events buffered or in flight. */
  public int pending() {
    lock.lock();
    try {
      return buf.size();
    } finally {
      lock.unlock();
    }
  }

  public Stats stats() {
    lock.lock();
    try {
      return new Stats(accepted, duplicates, rejected, dropped, failed, retries, batches);
    } finally {
      lock.unlock();
    }
  }

  /** Sends everything recorded so far; true once the console has settled all of it. */
  public boolean flush(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    lock.lock();
    try {
      long target = queued;
      flushWanted++;
      changed.signalAll();
      try {
        while (settled < target) {
          long left = deadline - System.nanoTime();
          if (left <= 0 || !sender.isAlive()) return false;
          changed.awaitNanos(left);
        }
        return true;
      } finally {
        flushWanted--;
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    } finally {
      lock.unlock();
    }
  }

  @Override
  public void close() {
    close(Duration.ofSeconds(10));
  }

  /** Flushes, then stops; what is unsent after the timeout is counted in stats().failed(). */
  public void close(Duration timeout) {
    lock.lock();
    try {
      if (closed) return;
      closing = true;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    try {
      sender.join(Math.max(1, timeout.toMillis()));
      if (sender.isAlive()) {
        stopped = true;
        sender.interrupt();
        sender.join(5000);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    lock.lock();
    try {
      if (closed) return;
      closed = true;
      if (!buf.isEmpty()) {
        failed += buf.size();
        LOG.severe("aforo: " + buf.size() + " events unsent at close (console unreachable)");
        buf.clear();
      }
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    if (Thread.currentThread() != hook) {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // the JVM is exiting: the hook is running or about to, and will find us closed
      }
    }
  }

  private void run() {
    while (true) {
      List<String> batch;
      lock.lock();
      try {
        long deadline = System.nanoTime() + flushInterval.toNanos();
        while (!closing && buf.size() < batchSize && !(flushWanted > 0 && !buf.isEmpty())) {
          long left = deadline - System.nanoTime();
          if (left <= 0) break;
          changed.awaitNanos(left);
        }
        if (buf.isEmpty()) {
          if (closing) return;
          continue;
        }
        batch = new ArrayList<>(Math.min(buf.size(), batchSize));
        for (String s : buf) {
          if (batch.size() == batchSize) break;
          batch.add(s);
        }
      } catch (InterruptedException e) {
        return;
      } finally {
        lock.unlock();
      }
      try {
        deliver(batch);
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException e) { // a bug here must never kill metering silently
        LOG.log(Level.SEVERE, "aforo: unexpected error while sending; batch dropped", e);
        lock.lock();
        try {
          failed += batch.size();
        } finally {
          lock.unlock();
        }
      }
      lock.lock();
      try {
        for (int i = 0; i < batch.size(); i++) buf.poll();
        settled += batch.size();
        changed.signalAll();
      } finally {
        lock.unlock();
      }
    }
  }

  private void deliver(List<String> items) throws InterruptedException {
    for (int attempt = 0; ; attempt++) {
      if (stopped) throw new InterruptedException();
      double retryAfter = -1;
      try {
        HttpResponse<String> r = post(items);
        int status = r.statusCode();
        if (status == 200) {
          settle(r.body());
          return;
        }
        if (status == 413 && items.size() > 1) {
          int half = items.size() / 2;
          deliver(items.subList(0, half));
          deliver(items.subList(half, items.size()));
          return;
        }
        if (status == 429 || status == 408 || status >= 500) {
          retryAfter = retryAfter(r.headers().firstValue("retry-after").orElse(null));
        } else {
          // 400 / 401 / 403 / a single event's 413: the same bytes cannot succeed later.
          lock.lock();
          try {
            failed += items.size();
          } finally {
            lock.unlock();
          }
          String body = r.body();
          LOG.severe("aforo: batch of " + items.size() + " refused with HTTP " + status + ": "
              + body.substring(0, Math.min(500, body.length())));
          return;
        }
      } catch (IOException e) {
        LOG.fine("aforo: send failed (" + e + "), will retry");
      }
      lock.lock();
      try {
        retries++;
      } finally {
        lock.unlock();
      }
      TimeUnit.NANOSECONDS.sleep((long) (backoff(attempt, retryAfter) * 1e9));
    }
  }

  private HttpResponse<String> post(List<String> items) throws IOException, InterruptedException {
    String body = "{\"events\":[" + String.join(",", items) + "]}";
    HttpRequest request =
        HttpRequest.newBuilder(endpoint)
            .timeout(timeout)
            .header("Authorization", "Bearer " + token)
            .header("Content-Type", "application/json")
            .header("User-Agent", "aforo-metering-java/" + VERSION)
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build();
    return http.send(request, HttpResponse.BodyHandlers.ofString());
  }

  private void settle(String body) {
    Map<?, ?> answer = Map.of();
    try {
      if (Json.read(body) instanceof Map<?, ?> m) answer = m;
    } catch (RuntimeException unreadable) {
      // an answer we cannot read still means the batch was taken
    }
    List<?> refused = answer.get("rejected") instanceof List<?> l ? l : List.of();
    lock.lock();
    try {
      batches++;
      accepted += answer.get("accepted") instanceof Number n ? n.longValue() : 0;
      duplicates += answer.get("duplicates") instanceof Number n ? n.longValue() : 0;
      rejected += refused.size();
    } finally {
      lock.unlock();
    }
    for (Object r : refused.subList(0, Math.min(5, refused.size()))) {
      LOG.warning("aforo: event rejected: " + Json.write(r));
    }
  }

  static double retryAfter(String value) {
    if (value == null || value.isBlank()) return -1;
    try {
      return Math.max(0, Double.parseDouble(value.trim()));
    } catch (NumberFormatException notSeconds) {
      try {
        ZonedDateTime when = ZonedDateTime.parse(value.trim(), DateTimeFormatter.RFC_1123_DATE_TIME);
        return Math.max(0, Duration.between(ZonedDateTime.now(), when).toMillis() / 1000.0);
      } catch (RuntimeException notADate) {
        return -1;
      }
    }
  }

  /** Full-jitter exponential backoff; a server's Retry-After is a floor, never shortened. */
  double backoff(int attempt, double retryAfter) {
    double ceiling = Math.min(backoffCap, backoffBase * Math.pow(2, Math.min(attempt, 30)));
    double delay = ThreadLocalRandom.current().nextDouble(ceiling / 2, ceiling + Double.MIN_VALUE);
    if (retryAfter >= 0) delay = Math.max(delay, Math.min(retryAfter, 300));
    return delay;
  }
}
