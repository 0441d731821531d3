package oauth

import (
	"crypto/rand"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ory/fosite"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

//go:embed templates/*.html
var templateFiles embed.FS

// Layout renders pages in the console's layout (console.Console does): a
// page is a template defining "content", which sees .Title and .Data.
type Layout interface {
	ParseContent(fsys fs.FS, patterns ...string) (*template.Template, error)
	RenderContent(w http.ResponseWriter, r *http.Request, status int, t *template.Template, title string, data any)
}

// parsePages parses the consent and error pages into the console's layout
// when the console offers one, else into a plain page of their own.
func parsePages(c Console) (map[string]*template.Template, Layout, error) {
	layout, _ := c.(Layout)
	pages := map[string]*template.Template{}
	for _, name := range []string{"consent.html", "error.html"} {
		var t *template.Template
		var err error
		if layout != nil {
			t, err = layout.ParseContent(templateFiles, "templates/"+name)
		} else {
			t, err = template.ParseFS(templateFiles, "templates/standalone.html", "templates/"+name)
		}
		if err != nil {
			return nil, nil, err
		}
		pages[name] = t
	}
	return pages, layout, nil
}

// consentView is what the consent page shows.
type consentView struct {
	ClientName   string
	ClientID     string
	RedirectHost string
	Hidden       [][2]string // the authorization request, posted back unchanged
	Scopes       []scopeChoice
	Inboxes      []inboxChoice
	Approval     bool
	MCPOff       bool
	Error        string
	Account      string
	Person       string
}

type scopeChoice struct {
	ID      string
	Checked bool
}

type inboxChoice struct {
	ID      int64
	Name    string
	Checked bool
}

// errorView is the page shown when the request cannot be answered by a
// redirect: the client or its redirect URI is not known, so redirecting
// would be an open redirect.
type errorView struct {
	Message string
	Code    string
}

// authorize is the authorization endpoint. GET shows the consent page
// (after the console's sign-in); POST is the consent form's answer.
//
// Nothing about the request is looked at before the person has signed
// in: an anonymous request is sent to the sign-in page, so it can never
// make the server fetch a client's metadata document, nor learn anything
// about the client it names.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	me, ok := s.signedIn(r)
	if !ok {
		if r.Method != http.MethodGet {
			s.errorPage(w, r, http.StatusUnauthorized, "login_required", "Your session ended. Start connecting the app again.")
			return
		}
		http.Redirect(w, r, s.cfg.SignInPath+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	if id := r.FormValue("client_id"); isMetadataURL(id) {
		err := s.clients.resolve(ctx, id, "person "+strconv.FormatInt(me.UserID, 10), "address "+s.clientIP(r))
		if errors.Is(err, errMetadataThrottled) {
			s.errorPage(w, r, http.StatusTooManyRequests, "temporarily_unavailable", sentence(err.Error()))
			return
		}
		if err != nil {
			s.errorPage(w, r, http.StatusUnauthorized, "invalid_client", "The app asking for access cannot be identified. "+sentence(clientProblem(err)))
			return
		}
	}
	ar, err := s.newAuthorizeRequest(r)
	if err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	client, _ := ar.GetClient().(*Client)
	if client == nil || !s.exactRedirect(ar) {
		s.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The redirect URI is not one the client registered, so Deskwoot will not send you there.")
		return
	}
	// PKCE S256 is checked again by fosite when the code is issued; check
	// it before anyone is asked to consent to a request that cannot succeed.
	if f := ar.GetRequestForm(); f.Get("code_challenge") == "" || f.Get("code_challenge_method") != "S256" {
		s.provider.WriteAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("Send a PKCE code_challenge with code_challenge_method=S256."))
		return
	}
	for _, res := range ar.GetRequestForm()["resource"] {
		if res != s.resource {
			s.provider.WriteAuthorizeError(ctx, w, ar, errInvalidTarget)
			return
		}
	}
	if me.Role != "admin" {
		s.errorPage(w, r, http.StatusForbidden, "access_denied", "Only admins of this workspace can connect apps to its MCP server. Ask an admin to connect "+client.Name+".")
		return
	}
	view, inboxes, err := s.consentView(r, ar, client, me)
	if err != nil {
		slog.ErrorContext(ctx, "oauth consent", "err", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, "temporarily_unavailable", "The consent page could not be shown; try again.")
		return
	}
	if r.Method == http.MethodGet {
		s.render(w, r, http.StatusOK, "consent.html", view)
		return
	}
	switch r.PostForm.Get("consent") {
	case "deny":
		s.provider.WriteAuthorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithHint("The admin denied access."))
		return
	case "allow":
	default:
		view.Error = "Choose Allow or Deny."
		s.render(w, r, http.StatusBadRequest, "consent.html", view)
		return
	}
	sess, scopes, problem := s.consentAnswer(r, view, inboxes, me)
	if problem != "" {
		view.Error = problem
		s.render(w, r, http.StatusBadRequest, "consent.html", view)
		return
	}
	sess.ClientName = client.Name
	for _, sc := range scopes {
		ar.GrantScope(sc)
	}
	if ar.GetRequestedScopes().Has("offline_access") {
		ar.GrantScope("offline_access")
	}
	ar.SetID(requestID(me.AccountID, rand.Text()))
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		s.logServerError(r, err)
		s.authorizeError(w, r, ar, err)
		return
	}
	if ar.GetState() == "" {
		resp.GetParameters().Del("state") // none was sent: none goes back (not an empty one)
	}
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// newAuthorizeRequest is fosite's NewAuthorizeRequest, but for a request
// without state that carries a PKCE S256 challenge, which OAuth 2.1 lets
// leave state out (PKCE carries the protection state gave). fosite insists
// on a state of at least 8 characters whatever it is configured with (a
// least entropy of 0 means its default of 8), so such a request is checked
// with a stand-in state that goes no further: the request that comes back
// has no state, so none is sent back, and the consent form does not carry
// it. A request without PKCE is refused by authorize either way.
func (s *Server) newAuthorizeRequest(r *http.Request) (fosite.AuthorizeRequester, error) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil || r.Form.Get("state") != "" || r.Form.Get("code_challenge") == "" || r.Form.Get("code_challenge_method") != "S256" {
		return s.provider.NewAuthorizeRequest(ctx, r)
	}
	standIn := r.Clone(ctx)
	standIn.Form = cloneValues(r.Form)
	standIn.Form.Set("state", stateStandIn)
	if r.PostForm != nil {
		standIn.PostForm = cloneValues(r.PostForm)
	}
	ar, err := s.provider.NewAuthorizeRequest(ctx, standIn)
	if a, ok := ar.(*fosite.AuthorizeRequest); ok {
		a.State = ""
		a.Form.Del("state")
	}
	return ar, err
}

// stateStandIn is the state fosite checks a request without one with
// (long enough for its entropy check); it never leaves this server.
const stateStandIn = "no-state-sent-pkce-s256"

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func (s *Server) signedIn(r *http.Request) (identity.UserPrincipal, bool) {
	if s.cfg.Console == nil {
		return identity.UserPrincipal{}, false
	}
	return s.cfg.Console.SignedIn(r)
}

// exactRedirect holds redirect URIs to exact string equality with a
// registered one (fosite also lets loopback URIs vary their port).
func (s *Server) exactRedirect(ar fosite.AuthorizeRequester) bool {
	given := ar.GetRequestForm().Get("redirect_uri")
	if given == "" {
		return len(ar.GetClient().GetRedirectURIs()) == 1
	}
	return slices.Contains(ar.GetClient().GetRedirectURIs(), given)
}

// authorizeError redirects the error to the client only when the client
// and its redirect URI are known and match exactly; anything else is shown
// here, so the endpoint never redirects anywhere unregistered.
func (s *Server) authorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	if ar != nil && ar.GetClient() != nil && ar.IsRedirectURIValid() && s.exactRedirect(ar) {
		s.provider.WriteAuthorizeError(r.Context(), w, ar, err)
		return
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	msg := rfc.GetDescription()
	if errors.Is(err, fosite.ErrInvalidClient) {
		msg = "The app asking for access is not known to this server."
		if cause := rfc.Cause(); cause != nil {
			msg += " " + sentence(clientProblem(cause))
		}
	}
	s.errorPage(w, r, rfc.CodeField, rfc.ErrorField, msg)
}

// consentView builds the consent page for a request. Scopes the client
// asked for are ticked; with none asked, every scope is offered ticked.
func (s *Server) consentView(r *http.Request, ar fosite.AuthorizeRequester, c *Client, me identity.UserPrincipal) (consentView, []desk.Inbox, error) {
	v := consentView{ClientName: c.Name, ClientID: c.GetID(), Person: me.Name}
	if u, err := url.Parse(ar.GetRedirectURI().String()); err == nil {
		v.RedirectHost = u.Host
		if v.RedirectHost == "" {
			v.RedirectHost = u.Scheme + ":"
		}
	}
	for k, vals := range ar.GetRequestForm() {
		if slices.Contains(oauthParams, k) {
			for _, x := range vals {
				v.Hidden = append(v.Hidden, [2]string{k, x})
			}
		}
	}
	slices.SortFunc(v.Hidden, func(a, b [2]string) int {
		if a[0] < b[0] {
			return -1
		}
		if a[0] > b[0] {
			return 1
		}
		return 0
	})
	requested := ar.GetRequestedScopes()
	for _, sc := range s.cfg.Scopes {
		if len(requested) == 0 || requested.Has(sc) {
			v.Scopes = append(v.Scopes, scopeChoice{ID: sc, Checked: true})
		}
	}
	acct, err := identity.AccountGet(r.Context(), s.cfg.DB, me.AccountID)
	if err != nil {
		return v, nil, err
	}
	v.Account, v.MCPOff = acct.Name, !acct.MCPEnabled
	inboxes, err := s.cfg.Desk.InboxList(r.Context(), tenancy.For(me.AccountID), desk.Scope{}, false)
	if err != nil {
		return v, nil, err
	}
	for _, ib := range inboxes {
		v.Inboxes = append(v.Inboxes, inboxChoice{ID: ib.ID, Name: ib.Name})
	}
	return v, inboxes, nil
}

// oauthParams are the authorization request's parameters the consent form
// carries back.
var oauthParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
	"code_challenge_method", "resource", "response_mode"}

// consentAnswer reads the consent form: the scopes kept (a subset of those
// offered), the inboxes ticked (none: every inbox), and the approval
// rule. It returns a problem to show on the page instead when the answer
// cannot be granted.
func (s *Server) consentAnswer(r *http.Request, v consentView, inboxes []desk.Inbox, me identity.UserPrincipal) (*Session, []string, string) {
	f := r.PostForm
	var scopes []string
	for i, sc := range v.Scopes {
		v.Scopes[i].Checked = slices.Contains(f["scope_grant"], sc.ID)
		if v.Scopes[i].Checked {
			scopes = append(scopes, sc.ID)
		}
	}
	sess := &Session{AccountID: me.AccountID, UserID: me.UserID, Resource: s.resource, RequireApproval: f.Get("require_approval") == "on",
		ChatApproval: f.Get("chat_approval") == "on"}
	if len(scopes) == 0 {
		return nil, nil, "Keep at least one scope, or choose Deny."
	}
	// Ticked inboxes limit the grant to them, whatever else the form says:
	// an answer that reads two ways ("All inboxes" chosen and an inbox
	// ticked) grants the narrower reading.
	if f.Get("inboxes") == "chosen" || len(f["inbox"]) > 0 {
		sess.InboxIDs = []int64{}
		for _, raw := range f["inbox"] {
			id, err := strconv.ParseInt(raw, 10, 64)
			if err != nil || !slices.ContainsFunc(inboxes, func(ib desk.Inbox) bool { return ib.ID == id }) {
				return nil, nil, "One of the chosen inboxes does not exist; reload the page."
			}
			sess.InboxIDs = append(sess.InboxIDs, id)
		}
		for i := range v.Inboxes {
			v.Inboxes[i].Checked = slices.Contains(sess.InboxIDs, v.Inboxes[i].ID)
		}
		if len(sess.InboxIDs) == 0 {
			return nil, nil, "Tick at least one inbox, or tick none for all inboxes."
		}
	}
	return sess, scopes, ""
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	title := "Cannot connect the app"
	if v, ok := data.(consentView); ok {
		title = "Connect " + v.ClientName
	}
	if s.layout != nil {
		s.layout.RenderContent(w, r, status, s.pages[name], title, data)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	if err := s.pages[name].ExecuteTemplate(w, "layout", struct {
		Title string
		Data  any
	}{title, data}); err != nil {
		slog.Error("oauth page", "page", name, "err", err)
	}
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if status < 400 {
		status = http.StatusBadRequest
	}
	s.render(w, r, status, "error.html", errorView{Message: msg, Code: code})
}

// clientProblem is a client look-up error as a person reads it, without
// the "not_found: " of the fosite error it wraps.
func clientProblem(err error) string {
	return strings.TrimPrefix(err.Error(), fosite.ErrNotFound.Error()+": ")
}

// sentence capitalises the first letter and ends with a period.
func sentence(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	if r[0] >= 'a' && r[0] <= 'z' {
		r[0] -= 'a' - 'A'
	}
	if last := r[len(r)-1]; last != '.' && last != '?' && last != '!' {
		r = append(r, '.')
	}
	return string(r)
}
