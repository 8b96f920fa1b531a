package metering

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// MaxEventID is the longest event id the console takes.
const MaxEventID = 200

// Event is one usage record. Metric is required; everything else is optional. An EventID of
// your own (an order id, a job id) makes recording the same thing twice safe: the console
// counts an id once. One is generated otherwise.
type Event struct {
	EventID        string
	Metric         string
	Quantity       float64
	OccurredAt     time.Time
	SubscriptionID string
	KeyID          string
	Consumer       string
	Properties     map[string]any
	// Request describes an HTTP exchange (the middleware fills it in).
	Request *Request
	// MCP traffic.
	Tool, Agent, Session, Outcome string
}

// Request is the HTTP side of an event.
type Request struct {
	Method        string
	Path          string
	Route         string // the template, "/items/{id}"; empty when unknown
	Status        int
	LatencyMs     float64
	RequestBytes  int64
	ResponseBytes int64
	RequestID     string
	ClientIP      string
}

// ErrInvalidEvent wraps every validation failure of Record.
var ErrInvalidEvent = errors.New("metering: invalid event")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
}

// NewEventID returns 32 random hex characters.
func NewEventID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// IsUUID reports whether s is a UUID (with or without hyphens).
func IsUUID(s string) bool {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	s = strings.TrimPrefix(strings.ToLower(s), "urn:uuid:")
	if len(s) == 36 {
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return false
		}
		s = strings.ReplaceAll(s, "-", "")
	}
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// wire validates e in the caller's goroutine (a mistake is an error at the call, not a lost
// event) and returns the JSON object the console takes.
func (e Event) wire() (map[string]any, error) {
	if strings.TrimSpace(e.Metric) == "" {
		return nil, invalid("metric must be a non-empty string")
	}
	if math.IsNaN(e.Quantity) || math.IsInf(e.Quantity, 0) || e.Quantity < 0 {
		return nil, invalid("quantity must be a finite number >= 0")
	}
	id := e.EventID
	if id == "" {
		id = NewEventID()
	}
	if len(id) > MaxEventID {
		return nil, invalid("event id must be 1-%d characters", MaxEventID)
	}
	if e.SubscriptionID != "" && !IsUUID(e.SubscriptionID) {
		return nil, invalid("subscription id must be a UUID")
	}
	if e.KeyID != "" && !IsUUID(e.KeyID) {
		return nil, invalid("key id must be a UUID")
	}
	when := e.OccurredAt
	if when.IsZero() {
		when = time.Now()
	}
	out := map[string]any{
		"event_id":    id,
		"metric":      e.Metric,
		"quantity":    e.Quantity,
		"occurred_at": when.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
	}
	for k, v := range map[string]string{
		"subscription_id": e.SubscriptionID, "key_id": e.KeyID, "consumer": e.Consumer,
		"tool": e.Tool, "agent": e.Agent, "session": e.Session, "outcome": e.Outcome,
	} {
		if v != "" {
			out[k] = v
		}
	}
	if len(e.Properties) > 0 {
		out["properties"] = e.Properties
	}
	if r := e.Request; r != nil {
		out["method"] = r.Method
		out["path"] = r.Path
		out["status"] = r.Status
		out["latency_ms"] = r.LatencyMs
		out["request_bytes"] = r.RequestBytes
		out["response_bytes"] = r.ResponseBytes
		for k, v := range map[string]string{"route": r.Route, "request_id": r.RequestID, "client_ip": r.ClientIP} {
			if v != "" {
				out[k] = v
			}
		}
	}
	return out, nil
}
