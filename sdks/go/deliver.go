package metering

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand"
	"net/http"
	"strconv"
	"time"
)

type verdict struct {
	done       bool
	split      bool
	retryAfter time.Duration // < 0: none given
}

// judge decides what an answer means for a batch: the same rules in every Aforo SDK.
func judge(resp *http.Response, body []byte, n int, s *Stats, logf func(string, ...any)) verdict {
	switch {
	case resp.StatusCode == http.StatusOK:
		s.Batches++
		var parsed struct {
			Accepted   int               `json:"accepted"`
			Duplicates int               `json:"duplicates"`
			Rejected   []json.RawMessage `json:"rejected"`
		}
		_ = json.Unmarshal(body, &parsed) // an unreadable answer still means the batch was taken
		s.Accepted += parsed.Accepted
		s.Duplicates += parsed.Duplicates
		s.Rejected += len(parsed.Rejected)
		for i, r := range parsed.Rejected {
			if i == 5 {
				break
			}
			logf("aforo: event rejected: %s", r)
		}
		return verdict{done: true}
	case resp.StatusCode == http.StatusRequestEntityTooLarge && n > 1:
		return verdict{split: true}
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout,
		resp.StatusCode >= 500:
		return verdict{retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	// 400 / 401 / 403 / a single event's 413: the same bytes cannot succeed later.
	s.Failed += n
	if len(body) > 500 {
		body = body[:500]
	}
	logf("aforo: batch of %d refused with HTTP %d: %s", n, resp.StatusCode, body)
	return verdict{done: true}
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return -1
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 {
			secs = 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if when, err := http.ParseTime(v); err == nil {
		if d := time.Until(when); d > 0 {
			return d
		}
		return 0
	}
	return -1
}

// backoff is full-jitter exponential; a server's Retry-After is a floor, never shortened.
func backoff(attempt int, base, cap time.Duration, after time.Duration) time.Duration {
	if attempt > 30 {
		attempt = 30
	}
	ceiling := base << uint(attempt)
	if ceiling > cap || ceiling <= 0 {
		ceiling = cap
	}
	delay := ceiling/2 + time.Duration(rand.Int63n(int64(ceiling/2)+1))
	if after >= 0 {
		if after > 300*time.Second {
			after = 300 * time.Second
		}
		if after > delay {
			delay = after
		}
	}
	return delay
}

// deliver sends one batch until the console has settled it; false if stopped first. The
// batch keeps its ids across attempts: a retry after a lost answer is counted once.
func (c *Client) deliver(ctx context.Context, items []json.RawMessage) bool {
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			return false
		}
		after := time.Duration(-1)
		resp, body, err := c.post(ctx, items)
		if err == nil {
			c.mu.Lock()
			v := judge(resp, body, len(items), &c.stats, c.logf)
			c.mu.Unlock()
			if v.done {
				return true
			}
			if v.split {
				half := len(items) / 2
				return c.deliver(ctx, items[:half]) && c.deliver(ctx, items[half:])
			}
			after = v.retryAfter
		}
		c.mu.Lock()
		c.stats.Retries++
		c.mu.Unlock()
		t := time.NewTimer(backoff(attempt, c.opts.BackoffBase, c.opts.BackoffCap, after))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

func (c *Client) post(ctx context.Context, items []json.RawMessage) (*http.Response, []byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"events":[`)
	for i, it := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(it)
	}
	buf.WriteString("]}")
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, &buf)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "aforo-metering-go/"+Version)
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}
