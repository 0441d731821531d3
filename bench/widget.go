package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// The website chat widget's streams (DESIGN §20 and §16): what a thousand
// open widgets cost the server in memory, and how soon a reply reaches an
// open widget after its commit.

const (
	widgetStreams = 1000
	widgetReplies = 200
	widgetOrigin  = "https://bench.example"
	// widgetIPHeader lets each bench visitor count as its own address, as
	// a thousand real visitors would (the bench's server trusts it).
	widgetIPHeader = "X-Bench-Client"
)

// widgetRows opens the streams (the RSS figure), then times replies on
// one of them while all stay open. All the widgets are the bench
// workspace's: each reply wakes every one of them, the worst case.
func (e *env) widgetRows(ctx context.Context) []row {
	lat := row{figure: fmt.Sprintf("a reply reaches an open chat widget after its commit (p99, %d replies, %d widget streams open in the workspace)", widgetReplies, widgetStreams),
		baseName: "bare LISTEN/NOTIFY", target: "≤ 1 s (p99)"}
	mem := row{figure: fmt.Sprintf("RSS with %d open chat widget streams (GET /widget/v1/…/stream)", widgetStreams), baseName: "before they opened", target: "≤ +200 MB"}
	skip := func(err error) []row {
		lat.skipped, mem.skipped = err.Error(), err.Error()
		return []row{lat, mem}
	}
	if e.appURL == "" || e.baseURL == "" || e.pid == 0 {
		return skip(errors.New("needs the bench's own server (run without --url)"))
	}
	db, err := tenancy.Open(ctx, e.appURL)
	if err != nil {
		return skip(err)
	}
	defer db.Close()
	d := &desk.Desk{DB: db, PublicURL: e.baseURL}
	ib, err := d.InboxCreate(ctx, tenancy.For(e.fx.AccountID), desk.InboxInput{Name: "Bench chat", Channel: "website",
		Settings: map[string]any{"allowed_origins": []any{widgetOrigin}}})
	if err != nil {
		return skip(err)
	}
	visitors, convs, err := widgetVisitors(ctx, d, e.fx.AccountID, ib.ID)
	if err != nil {
		return skip(err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1, DisableCompression: true}}
	streamURL := e.baseURL + "/widget/v1/" + ib.PublicID + "/stream"

	idle, _ := rss(e.pid)
	streamCtx, closeAll := context.WithCancel(ctx)
	defer closeAll()
	var open atomic.Int64
	var wg sync.WaitGroup
	for i := range visitors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s, err := openWidget(streamCtx, hc, streamURL, visitors[i], i); err == nil {
				open.Add(1)
				s.drain()
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for open.Load() < widgetStreams && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // settle: every stream in its wait
	var peak int64
	for i := 0; i < 8; i++ {
		if v, err := rss(e.pid); err == nil && v > peak {
			peak = v
		}
		time.Sleep(250 * time.Millisecond)
	}
	mem.oursCell, mem.baseCell = mb(peak), mb(idle)
	mem.ratio = fmt.Sprintf("+%s (%d streams open)", mb(peak-idle), open.Load())

	// Latency: a person's reply committed through the desk, timed from the
	// call's start (the commit inside) to its frame on visitor 0's widget.
	watch, err := openWidget(ctx, hc, streamURL, visitors[0], widgetStreams)
	if err != nil {
		lat.skipped = err.Error()
		return []row{lat, mem}
	}
	defer watch.close()
	if err := watch.untilText(`"from":"visitor"`, 10*time.Second); err != nil { // the history first
		lat.skipped = err.Error()
		return []row{lat, mem}
	}
	var admin int64
	err = db.InTenant(ctx, e.fx.AccountID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT user_id FROM account_users WHERE role = 'admin' ORDER BY user_id LIMIT 1`).Scan(&admin)
	})
	if err != nil {
		lat.skipped = err.Error()
		return []row{lat, mem}
	}
	var took []time.Duration
	for i := 0; i < widgetReplies; i++ {
		text := fmt.Sprintf("reply %d", i)
		start := time.Now()
		if _, err := d.MessageCreate(ctx, e.fx.AccountID, convs[0], text, false, desk.Author{Kind: "user", UserID: admin, Name: "Bench"}); err != nil {
			lat.skipped = err.Error()
			return []row{lat, mem}
		}
		if err := watch.untilText(`"content":"`+text+`"`, 10*time.Second); err != nil {
			lat.skipped = err.Error()
			return []row{lat, mem}
		}
		took = append(took, time.Since(start))
	}
	lat.ours = summarize(took)
	lat.ours.perSec = perSecond(took)
	if floor, err := notifyFloor(ctx, e.bare, widgetReplies); err == nil {
		lat.base, lat.ratio = floor, times(lat.ours.p99, floor.p99)
		lat.base.perSec = 0
	} else {
		lat.ratio = "–"
	}
	closeAll()
	wg.Wait()
	return []row{lat, mem}
}

// widgetVisitors makes the visitors (each wrote once, so each has a
// conversation) and their tokens, a few at a time.
func widgetVisitors(ctx context.Context, d *desk.Desk, acct, inboxID int64) ([]string, []int64, error) {
	wi := desk.WidgetInbox{AccountID: acct, InboxID: inboxID}
	tokens, convs := make([]string, widgetStreams), make([]int64, widgetStreams)
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < widgetStreams; i = int(next.Add(1) - 1) {
				v, m, err := d.WidgetMessageCreate(ctx, desk.Visitor{AccountID: wi.AccountID, InboxID: wi.InboxID}, "Hello from the bench")
				if err == nil {
					tokens[i], err = d.VisitorTokenIssue(ctx, v, time.Now().Add(time.Hour))
				}
				if err == nil {
					err = d.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
						return tx.QueryRow(ctx, `SELECT conversation_id FROM messages WHERE id = $1`, m.ID).Scan(&convs[i])
					})
				}
				if err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return tokens, convs, first
}

// openWidget opens a widget's stream as the widget does: its page's
// Origin, its visitor token, its own address.
func openWidget(ctx context.Context, hc *http.Client, url, token string, n int) (*stream, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Origin", widgetOrigin)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(widgetIPHeader, fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255))
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, fmt.Errorf("GET widget stream: %s", res.Status)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 4096), 1<<20)
	return &stream{res: res, sc: sc}, nil
}

// untilText reads frames until a data line contains want.
func (s *stream) untilText(want string, wait time.Duration) error {
	done := time.AfterFunc(wait, func() { s.res.Body.Close() })
	defer done.Stop()
	last := ""
	for s.sc.Scan() {
		if strings.HasPrefix(s.sc.Text(), "data: ") && strings.Contains(s.sc.Text(), want) {
			return nil
		}
		if s.sc.Text() != "" {
			last = s.sc.Text()
		}
	}
	return fmt.Errorf("widget bench: the stream ended before %s arrived (last line %.80q, %v)", want, last, s.sc.Err())
}
