package metering

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

type middlewareConfig struct {
	metric, keyHeader, subscriptionHeader, consumerHeader, requestIDHeader string
	mux                                                                    *http.ServeMux
	routeFunc                                                              func(*http.Request) string
	exclude                                                                []string
}

// MiddlewareOption configures Middleware.
type MiddlewareOption func(*middlewareConfig)

// WithMetric sets the metric recorded per request (default "api.requests").
func WithMetric(m string) MiddlewareOption { return func(c *middlewareConfig) { c.metric = m } }

// WithKeyHeader names the header carrying the verified key's id (default X-Api-Key-Id), set
// by your gateway after verifying the key.
func WithKeyHeader(h string) MiddlewareOption { return func(c *middlewareConfig) { c.keyHeader = h } }

// WithSubscriptionHeader names the subscription id header (default X-Subscription-Id).
func WithSubscriptionHeader(h string) MiddlewareOption {
	return func(c *middlewareConfig) { c.subscriptionHeader = h }
}

// WithConsumerHeader names a header whose value is kept as the consumer.
func WithConsumerHeader(h string) MiddlewareOption {
	return func(c *middlewareConfig) { c.consumerHeader = h }
}

// WithMux takes route templates from the ServeMux patterns that match each request.
func WithMux(mux *http.ServeMux) MiddlewareOption { return func(c *middlewareConfig) { c.mux = mux } }

// WithRouteFunc reads the route template from another router (chi, gorilla/mux, …).
func WithRouteFunc(f func(*http.Request) string) MiddlewareOption {
	return func(c *middlewareConfig) { c.routeFunc = f }
}

// WithExcludePaths leaves requests whose path starts with one of the prefixes unmetered.
func WithExcludePaths(prefixes ...string) MiddlewareOption {
	return func(c *middlewareConfig) { c.exclude = prefixes }
}

type routeKey struct{}

type routeHolder struct{ template string }

// SetRoute names the route template of the request being served (any router). It reaches the
// middleware through the request's context, so it works on requests cloned with WithContext.
func SetRoute(r *http.Request, template string) {
	if h, ok := r.Context().Value(routeKey{}).(*routeHolder); ok {
		h.template = template
	}
}

// Route wraps a handler so requests it serves are metered with the given template:
// mux.Handle("/items/", metering.Route("/items/{id}", itemsHandler)).
func Route(template string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r, template)
		h.ServeHTTP(w, r)
	})
}

// PatternRoute turns a ServeMux pattern into a route template: "GET example.com/items/{id}"
// becomes "/items/{id}".
func PatternRoute(pattern string) string {
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		pattern = strings.TrimSpace(pattern[i:])
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:] // a host-specific pattern
	}
	return strings.Replace(pattern, "{$}", "", 1)
}

// Middleware meters every request: method, path, route template, status, latency, body sizes
// and the caller's key id. Recording only appends to the buffer (never waits): an unreachable
// console never slows or fails a request.
//
//	http.ListenAndServe(":8080", metering.Middleware(client, metering.WithMux(mux))(mux))
func Middleware(c *Client, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	cfg := middlewareConfig{
		metric: "api.requests", keyHeader: "X-Api-Key-Id",
		subscriptionHeader: "X-Subscription-Id", requestIDHeader: "X-Request-Id",
	}
	for _, o := range opts {
		o(&cfg)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, p := range cfg.exclude {
				if strings.HasPrefix(r.URL.Path, p) {
					next.ServeHTTP(w, r)
					return
				}
			}
			started := time.Now()
			holder := &routeHolder{}
			inner := r.WithContext(context.WithValue(r.Context(), routeKey{}, holder))
			body := &countingBody{ReadCloser: r.Body}
			if r.Body != nil && r.Body != http.NoBody {
				inner.Body = body
			}
			rec := &recorder{ResponseWriter: w}
			defer func() {
				route := holder.template
				if route == "" && cfg.routeFunc != nil {
					route = cfg.routeFunc(inner)
				}
				if route == "" {
					route = PatternRoute(requestPattern(inner))
				}
				if route == "" && cfg.mux != nil {
					if _, pattern := cfg.mux.Handler(r); pattern != "" {
						route = PatternRoute(pattern)
					}
				}
				status := rec.status
				if status == 0 {
					status = http.StatusOK
				}
				if p := recover(); p != nil {
					status = http.StatusInternalServerError
					defer panic(p)
				}
				size := r.ContentLength
				if size < 0 {
					size = body.n
				}
				cfg.record(c, r, &Request{
					Method: r.Method, Path: r.URL.Path, Route: route, Status: status,
					LatencyMs:    float64(time.Since(started).Microseconds()) / 1000,
					RequestBytes: size, ResponseBytes: rec.bytes,
					RequestID: r.Header.Get(cfg.requestIDHeader), ClientIP: clientIP(r),
				})
			}()
			next.ServeHTTP(rec, inner)
		})
	}
}

func (cfg *middlewareConfig) record(c *Client, r *http.Request, req *Request) {
	e := Event{Metric: cfg.metric, Quantity: 1, Request: req}
	header := func(name string) string {
		if name == "" {
			return ""
		}
		return r.Header.Get(name)
	}
	e.KeyID, e.SubscriptionID, e.Consumer = header(cfg.keyHeader), header(cfg.subscriptionHeader), header(cfg.consumerHeader)
	// A gateway that forwards a key name instead of its id: keep it as the consumer rather
	// than have the console refuse the event.
	for _, id := range []*string{&e.KeyID, &e.SubscriptionID} {
		if *id != "" && !IsUUID(*id) {
			if e.Consumer == "" {
				e.Consumer = *id
			}
			*id = ""
		}
	}
	if _, err := c.TryRecord(e); err != nil && err != ErrDropped {
		c.logf("aforo: could not record a request: %v", err)
	}
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush keeps streaming responses streaming.
func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack keeps WebSocket upgrades working behind the middleware.
func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("metering: %T does not support hijacking", w.ResponseWriter)
	}
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return h.Hijack()
}
