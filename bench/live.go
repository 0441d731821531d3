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
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// The console's live streams (GET /live, DESIGN §18 and §16): how soon a
// committed change reaches an open stream, and what a thousand open
// streams cost the server in memory.

// liveStreams is how many console streams the memory figure holds open;
// liveUpdates how many changes the latency figure times.
const (
	liveStreams = 1000
	liveUpdates = 200
	// livePerWorkspace stays under the server's bound per workspace
	// (live.DefaultPerWorkspace), liveTabs under its bound per session.
	livePerWorkspace = 400
	liveTabs         = 8
)

// liveRows measures both figures: the streams open first (the RSS
// figure), then changes are timed on one of them while all stay open.
func (e *env) liveRows(ctx context.Context) []row {
	lat := row{figure: fmt.Sprintf("a live update reaches an open console stream after its commit (p99, %d changes, %d streams open, %d of them in the workspace that changes)", liveUpdates, liveStreams, livePerWorkspace),
		baseName: "bare LISTEN/NOTIFY", target: "≤ 1 s (p99)"}
	mem := row{figure: fmt.Sprintf("RSS with %d open console streams (GET /live)", liveStreams), baseName: "before they opened", target: "≤ +200 MB"}
	if e.appURL == "" || e.baseURL == "" || e.pid == 0 {
		lat.skipped, mem.skipped = "needs the bench's own server (run without --url)", "needs the bench's own server (run without --url)"
		return []row{lat, mem}
	}
	db, err := tenancy.Open(ctx, e.appURL)
	if err != nil {
		lat.skipped, mem.skipped = err.Error(), err.Error()
		return []row{lat, mem}
	}
	defer db.Close()
	sessions, timed, err := liveSessions(ctx, db, e.fx.AccountID)
	if err != nil {
		lat.skipped, mem.skipped = err.Error(), err.Error()
		return []row{lat, mem}
	}

	idle, _ := rss(e.pid)
	streamCtx, closeAll := context.WithCancel(ctx)
	defer closeAll()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1, DisableCompression: true}}
	var open atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < liveStreams; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s, err := openStream(streamCtx, hc, e.baseURL, sessions[i/liveTabs]); err == nil {
				open.Add(1)
				s.drain()
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for open.Load() < liveStreams && time.Now().Before(deadline) {
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

	// Latency: a customer message committed through the desk, timed from
	// the call's start (so the commit is inside) to the frame's arrival on
	// a stream of the bench workspace, while every stream stays open.
	watch, err := openStream(ctx, hc, e.baseURL, timed)
	if err != nil {
		lat.skipped = err.Error()
		return []row{lat, mem}
	}
	defer watch.close()
	d := &desk.Desk{DB: db}
	var took []time.Duration
	for i := 0; i < liveUpdates; i++ {
		start := time.Now()
		if _, err := d.IncomingMessage(ctx, e.fx.AccountID, e.fx.InboxID, desk.IncomingInput{
			Contact: desk.IncomingContact{Email: fmt.Sprintf("live-%d@customer.test", i%20)}, Content: "Is anyone there?"}); err != nil {
			lat.skipped = err.Error()
			return []row{lat, mem}
		}
		if err := watch.until(desk.EventMessageCreated, 10*time.Second); err != nil {
			lat.skipped = err.Error()
			return []row{lat, mem}
		}
		took = append(took, time.Since(start))
	}
	lat.ours = summarize(took)
	lat.ours.perSec = perSecond(took)
	if floor, err := notifyFloor(ctx, e.bare, liveUpdates); err == nil {
		lat.base, lat.ratio = floor, times(lat.ours.p99, floor.p99)
	} else {
		lat.ratio = "–"
	}
	closeAll()
	wg.Wait()
	return []row{lat, mem}
}

// liveSessions signs people in for the streams: enough workspaces and
// sessions to stay within the server's bounds, and one session of the
// bench workspace for the timed stream.
func liveSessions(ctx context.Context, db *tenancy.DB, benchAccount int64) (sessions []string, timed string, err error) {
	ids := &identity.Identities{DB: db, PasswordCost: 4}
	now := time.Now()
	var admin int64
	err = db.InTenant(ctx, benchAccount, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT user_id FROM account_users WHERE role = 'admin' ORDER BY user_id LIMIT 1`).Scan(&admin)
	})
	if err != nil {
		return nil, "", err
	}
	// The first livePerWorkspace streams are the bench workspace's own, so
	// each timed change wakes that many streams besides the timed one.
	acct, user := benchAccount, admin
	for i := 0; i < liveStreams/liveTabs; i++ {
		if i > 0 && i%(livePerWorkspace/liveTabs) == 0 {
			res, err := ids.Signup(ctx, identity.SignupInput{AccountName: fmt.Sprintf("Live %d", i), NoAPIToken: true,
				Email: fmt.Sprintf("live-%d-%d@example.com", now.UnixNano(), i), Password: "bench password 1"}, now)
			if err != nil {
				return nil, "", fmt.Errorf("live bench: signup: %w", err)
			}
			acct, user = res.Account.ID, res.User.ID
		}
		raw, err := identity.SessionCreate(ctx, db, tenancy.For(acct), user, now)
		if err != nil {
			return nil, "", err
		}
		sessions = append(sessions, raw)
	}
	timed, err = identity.SessionCreate(ctx, db, tenancy.For(benchAccount), admin, now)
	return sessions, timed, err
}

// stream is an open GET /live as a browser holds it.
type stream struct {
	res *http.Response
	sc  *bufio.Scanner
}

func openStream(ctx context.Context, hc *http.Client, base, session string) (*stream, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/live", nil)
	req.AddCookie(&http.Cookie{Name: "deskwoot_session", Value: session})
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, fmt.Errorf("GET /live: %s", res.Status)
	}
	return &stream{res: res, sc: bufio.NewScanner(res.Body)}, nil
}

// drain reads the stream until it closes, keeping nothing.
func (s *stream) drain() {
	for s.sc.Scan() {
	}
}

// until reads frames until a change of type typ arrives.
func (s *stream) until(typ string, wait time.Duration) error {
	done := time.AfterFunc(wait, func() { s.res.Body.Close() })
	defer done.Stop()
	for s.sc.Scan() {
		if strings.HasPrefix(s.sc.Text(), "data: ") && strings.Contains(s.sc.Text(), `"type":"`+typ+`"`) {
			return nil
		}
	}
	return errors.New("live bench: the stream ended before the change arrived")
}

func (s *stream) close() { s.res.Body.Close() }

// notifyFloor is the latency floor: a bare NOTIFY committed (durably) on
// one connection and received on another that LISTENs, n times.
func notifyFloor(ctx context.Context, pool *pgxpool.Pool, n int) (stats, error) {
	if pool == nil {
		return stats{}, errors.New("the floor needs the database")
	}
	listen, err := pool.Acquire(ctx)
	if err != nil {
		return stats{}, err
	}
	defer listen.Release()
	if _, err := listen.Exec(ctx, "LISTEN deskwoot_bench_floor"); err != nil {
		return stats{}, err
	}
	defer listen.Exec(context.Background(), "UNLISTEN *")
	var took []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := pool.Exec(ctx, "SELECT pg_notify('deskwoot_bench_floor', 'x')"); err != nil {
			return stats{}, err
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := listen.Conn().WaitForNotification(wctx)
		cancel()
		if err != nil {
			return stats{}, err
		}
		took = append(took, time.Since(start))
	}
	st := summarize(took)
	st.perSec = perSecond(took)
	return st, nil
}

// perSecond is how many of these one after another fit in a second.
func perSecond(took []time.Duration) float64 {
	var sum time.Duration
	for _, d := range took {
		sum += d
	}
	if sum <= 0 {
		return 0
	}
	return float64(len(took)) / sum.Seconds()
}
