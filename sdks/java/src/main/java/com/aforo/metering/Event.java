package com.aforo.metering;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * One usage event: {@code Event.of("api_calls").quantity(3).subscriptionId(sub)}. Validated when
 * recorded, in the caller's thread: a mistake throws there instead of losing the event later.
 */
public final class Event {
  public static final int MAX_EVENT_ID = 200;
  private static final Pattern UUID_RE =
      Pattern.compile("(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$");
  /** Optional fields the console knows; anything else belongs in properties. */
  static final Set<String> FIELDS =
      Set.of(
          "method", "path", "route", "status", "latency_ms", "request_bytes", "response_bytes",
          "request_id", "client_ip", "outcome", "tool", "agent", "session");

  private final String metric;
  private double quantity = 1;
  private String eventId;
  private Instant occurredAt;
  private String subscriptionId;
  private String keyId;
  private String consumer;
  private Map<String, Object> properties;
  private final Map<String, Object> fields = new LinkedHashMap<>();

  private Event(String metric) {
    this.metric = metric;
  }

  public static Event of(String metric) {
    return new Event(metric);
  }

  public Event quantity(double q) {
    this.quantity = q;
    return this;
  }

  /** Your own id (an order id, a job id) makes re-recording safe: the console counts it once. */
  public Event eventId(String id) {
    this.eventId = id;
    return this;
  }

  public Event occurredAt(Instant when) {
    this.occurredAt = when;
    return this;
  }

  public Event subscriptionId(String id) {
    this.subscriptionId = id;
    return this;
  }

  public Event keyId(String id) {
    this.keyId = id;
    return this;
  }

  public Event consumer(String consumer) {
    this.consumer = consumer;
    return this;
  }

  public Event properties(Map<String, Object> properties) {
    this.properties = properties;
    return this;
  }

  /** A request field: method, path, route, status, latency_ms, request_bytes, … */
  public Event field(String name, Object value) {
    if (!FIELDS.contains(name)) {
      throw new IllegalArgumentException(
          "unknown event field '" + name + "'; put extra data in properties");
    }
    fields.put(name, value);
    return this;
  }

  public static boolean isUuid(String s) {
    return s != null && UUID_RE.matcher(s).matches();
  }

  public static String newEventId() {
    return UUID.randomUUID().toString().replace("-", "");
  }

  /** The JSON object the console takes; throws IllegalArgumentException when invalid. */
  Map<String, Object> wire() {
    if (metric == null || metric.isBlank()) {
      throw new IllegalArgumentException("metric must be a non-empty string");
    }
    if (!Double.isFinite(quantity) || quantity < 0) {
      throw new IllegalArgumentException("quantity must be a finite number >= 0");
    }
    String id = eventId == null ? newEventId() : eventId;
    if (id.isEmpty() || id.length() > MAX_EVENT_ID) {
      throw new IllegalArgumentException("eventId must be 1-" + MAX_EVENT_ID + " characters");
    }
    if (subscriptionId != null && !isUuid(subscriptionId)) {
      throw new IllegalArgumentException("subscriptionId must be a UUID");
    }
    if (keyId != null && !isUuid(keyId)) {
      throw new IllegalArgumentException("keyId must be a UUID");
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("event_id", id);
    out.put("metric", metric);
    out.put("quantity", quantity == Math.rint(quantity) && quantity < 1e15 ? (Object) (long) quantity : quantity);
    out.put("occurred_at", (occurredAt == null ? Instant.now() : occurredAt).toString());
    if (subscriptionId != null) out.put("subscription_id", subscriptionId);
    if (keyId != null) out.put("key_id", keyId);
    if (consumer != null) out.put("consumer", consumer);
    if (properties != null && !properties.isEmpty()) out.put("properties", properties);
    fields.forEach((k, v) -> {
      if (v != null) out.put(k, v);
    });
    return out;
  }
}
