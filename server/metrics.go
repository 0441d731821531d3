package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/deskwoot/deskwoot/tenancy"
)

// metrics is what /metrics exports: HTTP traffic by route, MCP tool calls
// by outcome with the time spent in the policy, and the database pool.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	toolCalls *prometheus.CounterVec
	toolTime  *prometheus.HistogramVec
	policy    prometheus.Histogram
}

func newMetrics(db *tenancy.DB) *metrics {
	pool := db.Pool
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deskwoot_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "deskwoot_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route"}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deskwoot_mcp_tool_calls_total", Help: "MCP tool calls by tool and decision (allow, deny, error).",
		}, []string{"tool", "decision"}),
		toolTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "deskwoot_mcp_tool_call_duration_seconds", Help: "Server time of an MCP tool call.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14),
		}, []string{"tool"}),
		policy: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "deskwoot_policy_decision_seconds", Help: "Time of one Rego tool decision.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 2, 12),
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.toolCalls, m.toolTime, m.policy,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "deskwoot_db_pool_acquired_conns", Help: "Database connections in use."},
			func() float64 { return float64(pool.Stat().AcquiredConns()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "deskwoot_db_pool_total_conns", Help: "Database connections open."},
			func() float64 { return float64(pool.Stat().TotalConns()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "deskwoot_db_round_trips_total", Help: "Round trips to PostgreSQL (queries, batches, BEGIN and COMMIT)."},
			func() float64 { return float64(db.RoundTrips()) }),
	)
	return m
}

// ToolCall implements mcp.Observer.
func (m *metrics) ToolCall(tool, decision string, total, inPolicy time.Duration) {
	m.toolCalls.WithLabelValues(tool, decision).Inc()
	m.toolTime.WithLabelValues(tool).Observe(total.Seconds())
	if inPolicy > 0 {
		m.policy.Observe(inPolicy.Seconds())
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// middleware counts requests by route template (never the raw path, which
// holds ids) and status.
func (m *metrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := "unmatched"
		if cr := mux.CurrentRoute(r); cr != nil {
			if tpl, err := cr.GetPathTemplate(); err == nil {
				route = tpl
			}
		}
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}
