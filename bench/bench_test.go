package bench

import (
	"os"
	"testing"
	"time"
)

func TestSummarizePercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	s := summarize(lat)
	if s.n != 100 || s.p50 != 50*time.Millisecond || s.p95 != 95*time.Millisecond || s.p99 != 99*time.Millisecond {
		t.Fatalf("got %+v", s)
	}
	if summarize(nil).ok() {
		t.Fatal("no samples must not read as a measurement")
	}
}

func TestRSSOfThisProcess(t *testing.T) {
	n, err := rss(os.Getpid())
	if err != nil || n < 1<<20 {
		t.Fatalf("rss = %d, %v", n, err)
	}
	if _, err := rss(-1); err == nil {
		t.Fatal("a missing process must be an error")
	}
}

func TestStructuredCursorAndIDs(t *testing.T) {
	raw := []byte(`{"jsonrpc":"2.0","id":1,"result":{"structuredContent":{"conversations":[{"id":4},{"id":9}],"next_cursor":"abc"}}}`)
	if c := nextCursor(raw); c != "abc" {
		t.Fatalf("cursor %q", c)
	}
	if ids := conversationIDs(raw); len(ids) != 2 || ids[0] != 4 || ids[1] != 9 {
		t.Fatalf("ids %v", ids)
	}
	sse := []byte("event: message\ndata: " + string(raw) + "\n\n")
	if c := nextCursor(sse); c != "abc" {
		t.Fatalf("SSE cursor %q", c)
	}
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	for start := time.Now(); time.Since(start) < 30*time.Millisecond; { // spend some
	}
	if d, err := cpuTime(os.Getpid()); err != nil || d <= 0 {
		t.Fatalf("cpu time = %v, %v", d, err)
	}
	if _, err := cpuTime(-1); err == nil {
		t.Fatal("a missing process must be an error")
	}
}
