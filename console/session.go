package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// sessionCookie holds the opaque session id; only its hash is stored.
const sessionCookie = "deskwoot_session"

// authenticate resolves the request's session cookie.
func (c *Console) authenticate(r *http.Request) (identity.UserPrincipal, identity.Account, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return identity.UserPrincipal{}, identity.Account{}, identity.ErrSessionUnknown
	}
	return identity.SessionAuthenticate(r.Context(), c.cfg.DB, ck.Value, c.cfg.Now())
}

// SignedIn reports the person signed in to the console in this browser,
// if any (an unknown, ended or expired session is not signed in).
func (c *Console) SignedIn(r *http.Request) (identity.UserPrincipal, bool) {
	if w, ok := r.Context().Value(ctxKey{}).(*who); ok && w.me.UserID != 0 {
		return w.me, true
	}
	p, _, err := c.authenticate(r)
	return p, err == nil
}

// RedirectToSignIn sends the browser to the sign-in page, which brings it
// back to the current URL (path and query) once signed in.
func (c *Console) RedirectToSignIn(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, SignInURL(r.URL.RequestURI()), http.StatusSeeOther)
}

// SignInURL is the sign-in page that returns to next afterwards (next must
// be a local path; anything else returns to the home page).
func SignInURL(next string) string {
	next = safeNext(next)
	if next == "/" {
		return "/signin"
	}
	return "/signin?next=" + url.QueryEscape(next)
}

// safeNext keeps a post-sign-in destination on this site: a path starting
// with a single slash, with no scheme, host or backslash tricks; anything
// else becomes "/".
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

// startSession signs the person in: a fresh session (never one the browser
// brought along) in an HttpOnly, SameSite=Lax cookie, Secure over https.
// req is the account's request, with the sign-in's audit row if any: it
// commits with the session.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, req *tenancy.Request, userID int64) error {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if err := identity.SessionEnd(r.Context(), c.cfg.DB, ck.Value, c.cfg.Now(), nil); err != nil {
			return err
		}
	}
	raw, err := identity.SessionCreate(r.Context(), c.cfg.DB, req, userID, c.cfg.Now())
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: raw, Path: "/", HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(identity.SessionTTL.Seconds())})
	return nil
}

// clearSession removes the cookie from the browser.
func (c *Console) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}
