package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// The console's triage list (DESIGN §18) against the REST call that
// returns the same rows (DESIGN §16: a console page costs at most 1.5× its
// REST call). The page reads its rows, the views' counts and the
// catalog in one round trip; REST reads the rows.

// triageList measures GET /conversations (the default view, All open, 50
// rows with their last messages and waits, the view counts) against GET
// /api/v1/conversations?view=open&limit=50 in the bench workspace, in
// turns, as its admin.
func (e *env) triageList(ctx context.Context, warm, d time.Duration) row {
	r := row{figure: "console conversation list (GET /conversations: All open, 50 rows with last message and wait, view counts) vs the REST list of the same rows",
		baseName: "REST GET /api/v1/conversations?view=open&limit=50", target: "≤ 1.5×"}
	if e.appURL == "" || e.baseURL == "" {
		r.skipped = "needs the bench's own server (run without --url)"
		return r
	}
	db, err := tenancy.Open(ctx, e.appURL)
	if err != nil {
		r.skipped = err.Error()
		return r
	}
	defer db.Close()
	session, token, err := adminDoors(ctx, db, e.fx.AccountID)
	if err != nil {
		r.skipped = err.Error()
		return r
	}
	hc := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, auth func(*http.Request)) func(ctx context.Context, w, i int) error {
		return func(ctx context.Context, w, i int) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.baseURL+path, nil)
			if err != nil {
				return err
			}
			auth(req)
			res, err := hc.Do(req)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			io.Copy(io.Discard, res.Body)
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: HTTP %d", path, res.StatusCode)
			}
			return nil
		}
	}
	page := get("/conversations", func(req *http.Request) { req.AddCookie(&http.Cookie{Name: "deskwoot_session", Value: session}) })
	rest := get("/api/v1/conversations?view=open&limit=50", func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+token) })
	st := runTurns(ctx, 1, warm, d, page, rest)
	r.ours, r.base, r.ratio = st[0], st[1], times(st[0].p50, st[1].p50)
	return r
}

// adminDoors signs the bench workspace's admin in to the console (a
// session) and mints them a personal API token, for the same person
// through both doors.
func adminDoors(ctx context.Context, db *tenancy.DB, acct int64) (session, token string, err error) {
	var admin int64
	err = db.InTenant(ctx, acct, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT user_id FROM account_users WHERE role = 'admin' ORDER BY user_id LIMIT 1`).Scan(&admin)
	})
	if err != nil {
		return "", "", err
	}
	if session, err = db.SessionCreate(ctx, tenancy.For(acct), admin, time.Now()); err != nil {
		return "", "", err
	}
	_, token, err = (&desk.Desk{DB: db}).PersonalTokenCreate(ctx, acct, desk.Author{Kind: "user", UserID: admin, Name: "Bench"}, "triage bench")
	return session, token, err
}
