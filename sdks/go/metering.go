// Package metering reports usage to the Aforo Console: a client that buffers events and sends
// them in batches with retries, and net/http middleware that meters every request.
//
//	client, err := metering.New("https://console.example.com", os.Getenv("AFORO_TOKEN"), nil)
//	defer client.Close(context.Background())
//	client.Record(ctx, metering.Event{Metric: "api_calls", Quantity: 1, SubscriptionID: sub})
//
// Delivery follows the rules every Aforo SDK shares: batches by size and time; network errors,
// 5xx, 408 and 429 retried with exponential backoff and jitter, honouring Retry-After, with the
// same event ids (a retry after a lost answer counts once); 413 splits the batch; a bounded
// buffer that drops (counted) or blocks when full. Go has no exit hooks: Close before main
// returns.
package metering

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Version of this module.
const Version = "0.1.0"

// MaxBatch is the console's per-request cap.
const MaxBatch = 10000

// Overflow says what Record does when the buffer is full because the console stays unreachable.
type Overflow int

const (
	// Drop discards the new event and counts it in Stats.Dropped.
	Drop Overflow = iota
	// Block makes Record wait for room (or for its context).
	Block
)

// ErrDropped is returned by Record when the buffer was full under the Drop policy, or the
// client was closed. The event is counted in Stats.Dropped.
var ErrDropped = errors.New("metering: buffer full, event dropped")

// Options tune a Client; the zero value of each field means its default.
type Options struct {
	BatchSize     int           // send as soon as this many are buffered (default 500, max 10 000)
	FlushInterval time.Duration // send whatever is buffered at least this often (default 1s)
	MaxBuffer     int           // events kept while the console is unreachable (default 100 000)
	Overflow      Overflow      // Drop (default) or Block
	Timeout       time.Duration // one request (default 10s)
	BackoffBase   time.Duration // default 200ms
	BackoffCap    time.Duration // default 30s
	HTTPClient    *http.Client
	Logger        *log.Logger // default: standard error
}

// Stats are counters a process can export to its own monitoring.
type Stats struct {
	Accepted   int
	Duplicates int
	Rejected   int // refused by the console as invalid: retrying would not help
	Dropped    int // discarded because the buffer was full
	Failed     int // given up on: token refused, or Close ran out of time
	Retries    int
	Batches    int
}

// Client buffers events and ships them to POST /v1/usage/events from one goroutine.
type Client struct {
	endpoint string
	token    string
	opts     Options

	mu          sync.Mutex
	buf         []json.RawMessage
	queued      int64 // items ever accepted into the buffer
	settled     int64 // items ever removed from it (sent, refused or abandoned)
	flushWanted int
	closing     bool
	closed      bool
	stats       Stats
	changed     chan struct{} // closed and replaced on every change: a broadcast

	wake   chan struct{}
	ctx    context.Context // cancelled to abandon what is in flight
	cancel context.CancelFunc
	done   chan struct{}
}

// New starts a client sending to the console at baseURL with a gateway token.
func New(baseURL, token string, opts *Options) (*Client, error) {
	if token == "" {
		return nil, errors.New("metering: token is required")
	}
	if !strings.HasPrefix(baseURL, "http://") && !strings.HasPrefix(baseURL, "https://") {
		return nil, errors.New("metering: baseURL must be an http(s) URL")
	}
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.BatchSize == 0 {
		o.BatchSize = 500
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = time.Second
	}
	if o.MaxBuffer == 0 {
		o.MaxBuffer = 100000
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.BackoffBase == 0 {
		o.BackoffBase = 200 * time.Millisecond
	}
	if o.BackoffCap == 0 {
		o.BackoffCap = 30 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = log.New(os.Stderr, "", log.LstdFlags)
	}
	if o.BatchSize < 1 || o.BatchSize > MaxBatch {
		return nil, errors.New("metering: BatchSize must be between 1 and 10000")
	}
	if o.MaxBuffer < o.BatchSize {
		return nil, errors.New("metering: MaxBuffer must be at least BatchSize")
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		endpoint: strings.TrimRight(baseURL, "/") + "/v1/usage/events",
		token:    token,
		opts:     o,
		changed:  make(chan struct{}),
		wake:     make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	go c.run()
	return c, nil
}

func (c *Client) logf(format string, args ...any) { c.opts.Logger.Printf(format, args...) }

// broadcast wakes everyone waiting on a change; call with mu held.
func (c *Client) broadcast() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Client) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Record validates e and buffers it; it never performs I/O. Under the Block policy it waits
// for room until ctx is done. It returns the event id.
func (c *Client) Record(ctx context.Context, e Event) (string, error) {
	return c.enqueue(ctx, e, c.opts.Overflow == Block)
}

// TryRecord is Record that never waits: a full buffer drops the event (ErrDropped).
func (c *Client) TryRecord(e Event) (string, error) {
	return c.enqueue(context.Background(), e, false)
}

func (c *Client) enqueue(ctx context.Context, e Event, block bool) (string, error) {
	w, err := e.wire()
	if err != nil {
		return "", err
	}
	raw, err := json.Marshal(w)
	if err != nil {
		return "", invalid("%v", err)
	}
	id, _ := w["event_id"].(string)
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.closing && len(c.buf) >= c.opts.MaxBuffer {
		if !block {
			c.stats.Dropped++
			return id, ErrDropped
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
			c.mu.Lock()
		case <-ctx.Done():
			c.mu.Lock()
			c.stats.Dropped++
			return id, ctx.Err()
		}
	}
	if c.closing {
		c.stats.Dropped++
		c.logf("aforo: Record after Close; event dropped")
		return id, ErrDropped
	}
	c.buf = append(c.buf, raw)
	c.queued++
	if len(c.buf) >= c.opts.BatchSize {
		c.poke()
	}
	return id, nil
}

// Pending is the number of events buffered or in flight.
func (c *Client) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.buf)
}

// Stats returns a copy of the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Flush waits until everything recorded so far is settled, or ctx is done.
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	target := c.queued
	c.flushWanted++
	defer func() { c.flushWanted-- }()
	c.poke()
	for c.settled < target {
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
			c.mu.Lock()
		case <-c.done:
			c.mu.Lock()
			if c.settled < target {
				return errors.New("metering: client closed before the flush completed")
			}
		case <-ctx.Done():
			c.mu.Lock()
			return ctx.Err()
		}
	}
	return nil
}

// Close flushes and stops the client. What is still unsent when ctx is done is counted in
// Stats.Failed and ctx's error returned.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	c.broadcast()
	c.mu.Unlock()
	c.poke()
	var err error
	select {
	case <-c.done:
	case <-ctx.Done():
		err = ctx.Err()
		c.cancel()
		<-c.done
	}
	c.cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if n := len(c.buf); n > 0 {
		c.stats.Failed += n
		c.logf("aforo: %d events unsent at close (console unreachable)", n)
		c.buf = nil
		c.broadcast()
	}
	return err
}

func (c *Client) run() {
	defer close(c.done)
	timer := time.NewTimer(c.opts.FlushInterval)
	defer timer.Stop()
	for {
		c.mu.Lock()
		ready := c.closing || len(c.buf) >= c.opts.BatchSize || (c.flushWanted > 0 && len(c.buf) > 0)
		c.mu.Unlock()
		if !ready {
			select {
			case <-c.wake:
				continue
			case <-timer.C:
				timer.Reset(c.opts.FlushInterval)
			case <-c.ctx.Done():
				return
			}
		}
		c.mu.Lock()
		n := len(c.buf)
		if n == 0 {
			closing := c.closing
			c.mu.Unlock()
			if closing {
				return
			}
			continue
		}
		if n > c.opts.BatchSize {
			n = c.opts.BatchSize
		}
		batch := append([]json.RawMessage(nil), c.buf[:n]...)
		c.mu.Unlock()
		if !c.deliver(c.ctx, batch) {
			return
		}
		c.mu.Lock()
		c.buf = c.buf[n:]
		c.settled += int64(n)
		c.broadcast()
		c.mu.Unlock()
	}
}
