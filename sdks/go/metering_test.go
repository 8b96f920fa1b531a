package metering

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const keyID = "6f1d2c1e-8a43-4b8e-9a55-0c5b3c2d1e0f"

// fakeConsole records batches and answers from a script, then 200 (the shared conformance
// suite runs the same client against the real console).
type fakeConsole struct {
	mu      sync.Mutex
	batches [][]map[string]any
	script  []int
	*httptest.Server
}

func newFake(script ...int) *fakeConsole {
	f := &fakeConsole{script: script}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Events []map[string]any }
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.batches = append(f.batches, body.Events)
		if len(f.script) > 0 {
			status := f.script[0]
			f.script = f.script[1:]
			w.WriteHeader(status)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"accepted": len(body.Events), "duplicates": 0})
	}))
	return f
}

func (f *fakeConsole) sizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, b := range f.batches {
		out = append(out, len(b))
	}
	return out
}

func quick(o Options) *Options {
	o.BackoffBase, o.BackoffCap = 5*time.Millisecond, 20*time.Millisecond
	o.Logger = log.New(io.Discard, "", 0)
	return &o
}

func ctxFor(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	_ = cancel // released by the timeout
	return ctx
}

func TestInvalidEventsFailAtTheCall(t *testing.T) {
	c, _ := New("http://127.0.0.1:9", "gwt_x", quick(Options{}))
	defer c.Close(ctxFor(10 * time.Millisecond))
	for _, e := range []Event{
		{Metric: ""}, {Metric: "m", Quantity: -1}, {Metric: "m", Quantity: math.NaN()},
		{Metric: "m", KeyID: "nope"}, {Metric: "m", EventID: strings.Repeat("x", 201)},
	} {
		if _, err := c.Record(context.Background(), e); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%+v: got %v", e, err)
		}
	}
	if c.Pending() != 0 {
		t.Fatal("invalid events were buffered")
	}
}

func TestRetriesSplitsAndRefusals(t *testing.T) {
	f := newFake(503, 429, 408, 413)
	defer f.Close()
	c, _ := New(f.URL, "gwt_t", quick(Options{FlushInterval: 5 * time.Millisecond}))
	for i := 0; i < 8; i++ {
		if _, err := c.Record(context.Background(), Event{Metric: "api_calls", Quantity: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(ctxFor(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := f.sizes(); len(got) != 6 || got[3] != 8 || got[4] != 4 || got[5] != 4 {
		t.Fatalf("batch sizes %v", got)
	}
	for i := 1; i < 4; i++ {
		if f.batches[i][0]["event_id"] != f.batches[0][0]["event_id"] {
			t.Fatal("a retry changed the event ids")
		}
	}
	f.mu.Lock()
	f.script = []int{401}
	f.mu.Unlock()
	c.TryRecord(Event{Metric: "api_calls"})
	if err := c.Flush(ctxFor(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	s := c.Stats()
	if s.Retries != 3 || s.Failed != 1 || s.Accepted != 8 {
		t.Fatalf("stats %+v", s)
	}
	c.Close(context.Background())
}

func TestDropBlockAndCloseTimeout(t *testing.T) {
	dead, _ := New("http://127.0.0.1:9", "gwt_t", quick(Options{BatchSize: 2, MaxBuffer: 2}))
	for i := 0; i < 3; i++ {
		dead.TryRecord(Event{Metric: "m"})
	}
	if dead.Stats().Dropped != 1 || dead.Pending() != 2 {
		t.Fatalf("%+v", dead.Stats())
	}
	if err := dead.Close(ctxFor(50 * time.Millisecond)); err == nil || dead.Stats().Failed != 2 {
		t.Fatalf("close: %v %+v", err, dead.Stats())
	}

	f := newFake(503, 503, 503)
	defer f.Close()
	c, _ := New(f.URL, "gwt_t", quick(Options{BatchSize: 1, MaxBuffer: 1, Overflow: Block, FlushInterval: time.Millisecond}))
	for i := 0; i < 3; i++ {
		if _, err := c.Record(ctxFor(5*time.Second), Event{Metric: "m"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(ctxFor(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Accepted != 3 || s.Dropped != 0 {
		t.Fatalf("%+v", s)
	}
}

func TestMiddlewareRoutesStatusSizesAndKey(t *testing.T) {
	f := newFake()
	defer f.Close()
	c, _ := New(f.URL, "gwt_t", quick(Options{}))
	mux := http.NewServeMux()
	mux.Handle("/items/", Route("/items/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "item")
	})))
	mux.HandleFunc("/orders/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusCreated)
		w.Write(b)
	})
	mux.HandleFunc("/custom", func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r.WithContext(context.Background()).WithContext(r.Context()), "/custom/{x}")
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(Middleware(c, WithMux(mux), WithExcludePaths("/healthz"))(mux))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/items/42?x=1", nil)
	req.Header.Set("X-Api-Key-Id", keyID)
	http.DefaultClient.Do(req)
	req, _ = http.NewRequest("POST", srv.URL+"/orders/7", io.NopCloser(strings.NewReader("hello")))
	req.Header.Set("X-Api-Key-Id", "key-name")
	req.ContentLength = -1 // chunked
	http.DefaultClient.Do(req)
	http.Get(srv.URL + "/custom")
	http.Get(srv.URL + "/healthz")
	if err := c.Close(ctxFor(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, b := range f.batches {
		for _, e := range b {
			got[e["path"].(string)] = e
		}
	}
	if len(got) != 3 {
		t.Fatalf("events %v", got)
	}
	item, order, custom := got["/items/42"], got["/orders/7"], got["/custom"]
	if item["route"] != "/items/{id}" || item["key_id"] != keyID || item["response_bytes"] != 4.0 || item["status"] != 200.0 {
		t.Errorf("item %v", item)
	}
	if order["route"] != "/orders/" || order["consumer"] != "key-name" || order["key_id"] != nil ||
		order["request_bytes"] != 5.0 || order["status"] != 201.0 {
		t.Errorf("order %v", order)
	}
	if custom["route"] != "/custom/{x}" || custom["status"] != 204.0 {
		t.Errorf("custom %v", custom)
	}
}

func TestPatternRoute(t *testing.T) {
	for in, want := range map[string]string{
		"GET /items/{id}": "/items/{id}", "example.com/a/{b}": "/a/{b}", "/x/": "/x/",
		"POST api.example.com/v1/{$}": "/v1/",
	} {
		if got := PatternRoute(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestMiddlewareKeepsHijackingPossible(t *testing.T) {
	f := newFake()
	defer f.Close()
	c, _ := New(f.URL, "gwt_t", quick(Options{}))
	done := make(chan struct{})
	metered := Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
		buf.Flush()
		conn.Close()
	}))
	// The middleware records once the handler returns: the client may read the 101 before that.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		metered.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("%v %v", resp, err)
	}
	<-done
	c.Close(ctxFor(5 * time.Second))
	if len(f.batches) != 1 || f.batches[0][0]["status"] != 101.0 {
		t.Fatalf("%v", f.batches)
	}
}
