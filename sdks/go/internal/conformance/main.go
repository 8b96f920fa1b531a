// Command conformance is the Go SDK's harness for the shared conformance suite: one JSON
// command per line on stdin, one JSON answer per line on stdout (sdks/conformance/README.md).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	metering "github.com/aforo/metering-go"
)

type command struct {
	Op             string           `json:"op"`
	URL            string           `json:"url"`
	Token          string           `json:"token"`
	Options        map[string]any   `json:"options"`
	Count          int              `json:"count"`
	IDPrefix       string           `json:"id_prefix"`
	Metric         string           `json:"metric"`
	SubscriptionID string           `json:"subscription_id"`
	Background     string           `json:"background"`
	Timeout        float64          `json:"timeout"`
	Framework      string           `json:"framework"`
	Routes         []map[string]any `json:"routes"`
}

var out sync.Mutex

func say(m map[string]any) {
	out.Lock()
	defer out.Unlock()
	b, _ := json.Marshal(m)
	os.Stdout.Write(append(b, '\n'))
}

func seconds(v any) time.Duration {
	f, _ := v.(float64)
	return time.Duration(f * float64(time.Second))
}

func options(o map[string]any) *metering.Options {
	opts := &metering.Options{}
	if v, ok := o["batch_size"].(float64); ok {
		opts.BatchSize = int(v)
	}
	if v, ok := o["max_buffer"].(float64); ok {
		opts.MaxBuffer = int(v)
	}
	if v, ok := o["flush_interval"]; ok {
		opts.FlushInterval = seconds(v)
	}
	if v, ok := o["backoff_base"]; ok {
		opts.BackoffBase = seconds(v)
	}
	if v, ok := o["backoff_cap"]; ok {
		opts.BackoffCap = seconds(v)
	}
	if o["overflow"] == "block" {
		opts.Overflow = metering.Block
	}
	return opts
}

func timeout(s float64) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(s*float64(time.Second)))
	_ = cancel // released by its deadline
	return ctx
}

// serve registers the neutral routes on a ServeMux (Go 1.19 has prefix patterns only, so each
// first segment dispatches by regexp and names its template with metering.Route).
func serve(client *metering.Client, c command) (int, error) {
	mux := http.NewServeMux()
	groups := map[string][]map[string]any{}
	for _, r := range c.Routes {
		tpl := r["route"].(string)
		seg := "/" + strings.SplitN(strings.TrimPrefix(tpl, "/"), "/", 2)[0]
		groups[seg] = append(groups[seg], r)
	}
	for seg, routes := range groups {
		routes := routes
		handler := func(w http.ResponseWriter, req *http.Request) {
			io.Copy(io.Discard, req.Body)
			for _, r := range routes {
				tpl := r["route"].(string)
				re := regexp.MustCompile("^" + regexp.MustCompile(`\{\w+\}`).ReplaceAllString(tpl, "[^/]+") + "$")
				if req.Method == r["method"] && re.MatchString(req.URL.Path) {
					metering.Route(tpl, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
						w.WriteHeader(int(r["status"].(float64)))
						io.WriteString(w, r["body"].(string))
					})).ServeHTTP(w, req)
					return
				}
			}
			http.NotFound(w, req)
		}
		mux.HandleFunc(seg, handler)
		mux.HandleFunc(seg+"/", handler)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	go http.Serve(ln, metering.Middleware(client, metering.WithMetric(c.Metric))(mux))
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func main() {
	var client *metering.Client
	// Go has no exit hooks: the idiom is a deferred Close before main returns, which is what
	// the "exit" command exercises.
	defer func() {
		if client != nil {
			client.Close(timeout(20))
		}
	}()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		var c command
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			say(map[string]any{"error": err.Error()})
			continue
		}
		reply, err := handle(&client, c)
		if err != nil {
			say(map[string]any{"error": err.Error()})
			continue
		}
		reply["ok"] = true
		say(reply)
		if c.Op == "exit" {
			return
		}
	}
}

func handle(client **metering.Client, c command) (map[string]any, error) {
	if c.Op == "client" {
		cl, err := metering.New(c.URL, c.Token, options(c.Options))
		*client = cl
		return map[string]any{}, err
	}
	cl := *client
	if cl == nil {
		return nil, errors.New("no client")
	}
	switch c.Op {
	case "record":
		record := func() error {
			for i := 0; i < c.Count; i++ {
				_, err := cl.Record(context.Background(), metering.Event{
					EventID: fmt.Sprintf("%s-%d", c.IDPrefix, i), Metric: c.Metric, Quantity: 1,
					SubscriptionID: c.SubscriptionID,
				})
				if err != nil && !errors.Is(err, metering.ErrDropped) {
					return err
				}
			}
			return nil
		}
		if c.Background != "" {
			go func() { _ = record(); say(map[string]any{"done": c.Background}) }()
			return map[string]any{}, nil
		}
		return map[string]any{}, record()
	case "flush":
		return map[string]any{"flushed": cl.Flush(timeout(c.Timeout)) == nil}, nil
	case "close":
		cl.Close(timeout(c.Timeout))
		return map[string]any{}, nil
	case "stats":
		s := cl.Stats()
		return map[string]any{
			"accepted": s.Accepted, "duplicates": s.Duplicates, "rejected": s.Rejected,
			"dropped": s.Dropped, "failed": s.Failed, "retries": s.Retries, "batches": s.Batches,
			"pending": cl.Pending(),
		}, nil
	case "serve":
		port, err := serve(cl, c)
		return map[string]any{"port": port}, err
	case "exit":
		return map[string]any{}, nil
	}
	return nil, fmt.Errorf("unknown op %q", c.Op)
}
