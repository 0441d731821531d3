package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// writeTable prints the one markdown table: each figure, ours and its
// baseline from this run, and the ratio the budget is about.
func writeTable(out io.Writer, cfg Config, rows []row) {
	fmt.Fprintf(out, "\n`deskwoot bench` — scale %s (%d tenants × %d conversations × %d messages), %d s per figure, %d CPUs, %s\n\n",
		cfg.Scale.Name, cfg.Scale.Tenants, cfg.Scale.Conversations, cfg.Scale.Messages, int(cfg.Duration.Seconds()), runtime.NumCPU(), time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintln(out, "| figure | ours p50 / p95 / p99 | ours calls/s | baseline | baseline p50 / p95 / p99 | baseline calls/s | ratio | target (DESIGN §16) |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		ours, oursRate := latency(r.ours), rate(r.ours)
		base, baseRate := latency(r.base), rate(r.base)
		if r.oursCell != "" {
			ours, oursRate, base, baseRate = r.oursCell, "", r.baseCell, ""
		}
		ratio := r.ratio
		if r.skipped != "" {
			ratio = "not measured: " + r.skipped
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.figure, ours, oursRate, r.baseName, base, baseRate, ratio, r.target)
	}
	for _, r := range rows {
		if r.ours.errors > 0 {
			fmt.Fprintf(out, "\n%d failed calls in %q; first: %v", r.ours.errors, r.figure, r.ours.firstErr)
		}
		if r.base.errors > 0 {
			fmt.Fprintf(out, "\n%d failed baseline calls in %q; first: %v", r.base.errors, r.figure, r.base.firstErr)
		}
	}
	fmt.Fprintln(out)
}

func latency(s stats) string {
	if !s.ok() {
		return "–"
	}
	return fmtDur(s.p50) + " / " + fmtDur(s.p95) + " / " + fmtDur(s.p99)
}

func rate(s stats) string {
	if !s.ok() {
		return "–"
	}
	return fmt.Sprintf("%.0f", s.perSec)
}

func times(a, b time.Duration) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", float64(a)/float64(b))
}

func percent(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f %%", 100*a/b)
}

func mb(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/(1<<20)) }

func count(n int64) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1000:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// structured is a tool result's structured content.
func structured(raw []byte) map[string]any {
	var msg struct {
		Result struct {
			Structured map[string]any `json:"structuredContent"`
		} `json:"result"`
	}
	// Streamable HTTP may answer as one SSE event.
	if i := strings.Index(string(raw), "data: "); i >= 0 && raw[0] != '{' {
		raw = raw[i+len("data: "):]
	}
	json.Unmarshal(raw, &msg)
	return msg.Result.Structured
}

func nextCursor(raw []byte) string {
	c, _ := structured(raw)["next_cursor"].(string)
	return c
}

func conversationIDs(raw []byte) []int64 {
	list, _ := structured(raw)["conversations"].([]any)
	var ids []int64
	for _, c := range list {
		if m, ok := c.(map[string]any); ok {
			if id, ok := m["id"].(float64); ok {
				ids = append(ids, int64(id))
			}
		}
	}
	return ids
}
