package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// The console's daily pages (DESIGN §18) against the REST calls that
// return the same data (DESIGN §16: a console page costs at most 1.5× its
// REST call). Each page takes as many round trips as its REST call: the
// session's check, then one batch with the page's data, the catalog its
// controls choose from, the Drafts count and the bell.

// consolePages measures the conversation list and a thread against their
// REST calls, each page and its call in turns, as the bench workspace's
// admin: GET /conversations (the default view, All open, 50 rows with
// their last messages and waits, the view counts) against GET
// /api/v1/conversations?view=open&limit=50, and GET /conversations/{id}
// (its messages, drafts and controls) against GET
// /api/v1/conversations/{id}?messages_limit=100 (the page shows up to 100
// messages).
func (e *env) consolePages(ctx context.Context, warm, d time.Duration) []row {
	list := row{figure: "console conversation list (GET /conversations: All open, 50 rows with last message and wait, view counts) vs the REST list of the same rows",
		baseName: "REST GET /api/v1/conversations?view=open&limit=50", target: "≤ 1.5×"}
	thread := row{figure: fmt.Sprintf("console thread (GET /conversations/{id}: %d messages, drafts, controls) vs the REST read of the same conversation", e.cfg.Scale.Messages),
		baseName: "REST GET /api/v1/conversations/{id}?messages_limit=100", target: "≤ 1.5×"}
	skip := func(why string) []row {
		list.skipped, thread.skipped = why, why
		return []row{list, thread}
	}
	if e.appURL == "" || e.baseURL == "" {
		return skip("needs the bench's own server (run without --url)")
	}
	db, err := tenancy.Open(ctx, e.appURL)
	if err != nil {
		return skip(err.Error())
	}
	defer db.Close()
	session, token, err := adminDoors(ctx, db, e.fx.AccountID)
	if err != nil {
		return skip(err.Error())
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
	page := func(path string) func(ctx context.Context, w, i int) error {
		return get(path, func(req *http.Request) { req.AddCookie(&http.Cookie{Name: "deskwoot_session", Value: session}) })
	}
	rest := func(path string) func(ctx context.Context, w, i int) error {
		return get(path, func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+token) })
	}
	measure := func(r *row, pagePath, restPath string) {
		st := runTurns(ctx, 1, warm, d, page(pagePath), rest(restPath))
		r.ours, r.base, r.ratio = st[0], st[1], times(st[0].p50, st[1].p50)
	}
	measure(&list, "/conversations", "/api/v1/conversations?view=open&limit=50")
	conv := e.conv(0)
	measure(&thread, fmt.Sprintf("/conversations/%d", conv), fmt.Sprintf("/api/v1/conversations/%d?messages_limit=100", conv))
	return []row{list, thread}
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
	if session, err = identity.SessionCreate(ctx, db, tenancy.For(acct), admin, time.Now()); err != nil {
		return "", "", err
	}
	_, token, err = (&desk.Desk{DB: db}).PersonalTokenCreate(ctx, acct, desk.Author{Kind: "user", UserID: admin, Name: "Bench"}, "triage bench")
	return session, token, err
}
