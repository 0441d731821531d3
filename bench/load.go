package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// client posts stateless JSON-RPC tools/call requests: no initialize, no
// session, one HTTP request per call; cheap enough that the server, not the
// client, is what the figures measure.
type client struct {
	url  string
	http *http.Client
	id   atomic.Int64
}

func newClient(url string, conns int) *client {
	return &client{url: url, http: &http.Client{Transport: &http.Transport{
		MaxIdleConns: conns + 16, MaxIdleConnsPerHost: conns + 16, IdleConnTimeout: time.Minute, DisableCompression: true,
	}}}
}

// call runs one tool and fails on anything but a successful tool result.
func (c *client) call(ctx context.Context, token, tool string, args map[string]any) ([]byte, error) {
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.id.Add(1), "method": "tools/call",
		"params": map[string]any{"name": tool, "arguments": args}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || bytes.Contains(raw, []byte(`"isError":true`)) || bytes.Contains(raw, []byte(`"error":{`)) {
		if len(raw) > 300 {
			raw = raw[:300]
		}
		return nil, fmt.Errorf("%s: HTTP %d: %s", tool, resp.StatusCode, raw)
	}
	return raw, nil
}

// stats are the latencies and throughput of one measured run.
type stats struct {
	n             int
	p50, p95, p99 time.Duration
	perSec        float64
	errors        int
	firstErr      error
	elapsed       time.Duration
}

func (s stats) ok() bool { return s.n > 0 }

// run calls op from `workers` goroutines, closed loop, for d (after a short
// warm-up that is not recorded), and returns the latency percentiles and
// calls per second. op gets the worker's index and the iteration.
func run(ctx context.Context, workers int, warmup, d time.Duration, op func(ctx context.Context, w, i int) error) stats {
	return runTurns(ctx, workers, warmup, d, op)[0]
}

// turn is how long each op of runTurns runs before the next one's turn.
const turn = 200 * time.Millisecond

// runTurns is run for several ops that take turns: each runs for a turn,
// then the next, round and round until each has run for d (after a warm-up
// of each), so that a machine whose load drifts during the run weighs on
// each alike and their ratios hold.
func runTurns(ctx context.Context, workers int, warmup, d time.Duration, ops ...func(ctx context.Context, w, i int) error) []stats {
	samples := make([]sample, len(ops))
	for _, op := range ops {
		measure(ctx, workers, warmup, op)
	}
	for left := d; left > 0 && ctx.Err() == nil; left -= turn {
		for j, op := range ops {
			samples[j].add(measure(ctx, workers, min(turn, left), op))
		}
	}
	out := make([]stats, len(ops))
	for j, s := range samples {
		out[j] = summarize(s.lat)
		out[j].perSec = float64(len(s.lat)) / s.elapsed.Seconds()
		out[j].errors, out[j].firstErr, out[j].elapsed = s.errs, s.firstErr, s.elapsed
	}
	return out
}

// sample is what measure records: each call's latency, the failures and
// how long it ran.
type sample struct {
	lat      []time.Duration
	errs     int
	firstErr error
	elapsed  time.Duration
}

func (s *sample) add(o sample) {
	s.lat = append(s.lat, o.lat...)
	s.errs += o.errs
	if s.firstErr == nil {
		s.firstErr = o.firstErr
	}
	s.elapsed += o.elapsed
}

// measure calls op from `workers` goroutines, closed loop, for d.
func measure(ctx context.Context, workers int, d time.Duration, op func(ctx context.Context, w, i int) error) sample {
	var (
		mu  sync.Mutex
		out sample
		wg  sync.WaitGroup
	)
	begin := time.Now()
	end := begin.Add(d)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine sample
			for i := 0; ; i++ {
				t0 := time.Now()
				if !t0.Before(end) || ctx.Err() != nil {
					break
				}
				if err := op(ctx, w, i); err != nil {
					mine.errs++
					if mine.firstErr == nil {
						mine.firstErr = err
					}
					continue
				}
				mine.lat = append(mine.lat, time.Since(t0))
			}
			mu.Lock()
			out.add(mine)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	out.elapsed = time.Since(begin)
	return out
}

func summarize(lat []time.Duration) stats {
	slices.Sort(lat)
	s := stats{n: len(lat)}
	if len(lat) == 0 {
		return s
	}
	at := func(q float64) time.Duration { return lat[min(len(lat)-1, int(math.Ceil(q*float64(len(lat))))-1)] }
	s.p50, s.p95, s.p99 = at(0.50), at(0.95), at(0.99)
	return s
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + " ms"
	case d >= time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + " ms"
	default:
		return strconv.FormatFloat(float64(d)/1e3, 'f', 1, 64) + " µs"
	}
}
