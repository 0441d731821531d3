package console

import (
	"context"
	"errors"
	"net/http"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/live"
)

// liveRefetch is the header live.js sends when it re-reads the page it
// shows: the page's stream is running already, so the page needs no new
// cursor.
const liveRefetch = "X-Deskwoot-Live"

// liveStream is GET /live, the page's server-sent events (package live):
// the console's session authorises it, and a request without one gets a
// 401, never a stream. The stream re-checks the session (without sliding
// its expiry) and the person's inboxes as it goes.
func (c *Console) liveStream(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		http.Error(w, "Sign in to the console first: live updates need a console session.", http.StatusUnauthorized)
		return
	}
	raw := ck.Value
	p, _, err := c.authenticate(r)
	if errors.Is(err, identity.ErrUnauthenticated) {
		http.Error(w, "Your console session has ended: sign in again for live updates.", http.StatusUnauthorized)
		return
	}
	var sc desk.Scope
	if err == nil {
		sc, err = c.scopeOf(r.Context(), p)
	}
	if err != nil {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "The database is unavailable for a moment; the page reconnects by itself.", http.StatusServiceUnavailable)
		return
	}
	cursor := r.Header.Get("Last-Event-ID") // a reconnect
	if cursor == "" {
		cursor = r.URL.Query().Get("cursor") // the page's first connect
	}
	v := live.Viewer{AccountID: p.AccountID, UserID: p.UserID, SessionID: p.SessionID, Scope: sc}
	c.live.Serve(w, r, v, cursor, func(ctx context.Context) (desk.Scope, error) {
		now, err := identity.SessionCheck(ctx, c.cfg.DB, raw, c.cfg.Now())
		if err != nil {
			return desk.Scope{}, err
		}
		return c.scopeOf(ctx, now)
	})
}
