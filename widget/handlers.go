package widget

import (
	"net/http"
	"strconv"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/input"
)

// configAnswer is what the widget needs before the visitor writes.
type configAnswer struct {
	Name                    string `json:"name"`
	Greeting                string `json:"greeting"`
	RequireIdentity         bool   `json:"require_identity"`
	EmailPromptAfterMinutes int    `json:"email_prompt_after_minutes"`
}

func (w *Widget) config(rw http.ResponseWriter, r *http.Request, c *call) {
	s := c.inbox.Settings
	writeJSON(rw, http.StatusOK, configAnswer{Name: c.inbox.Name, Greeting: s.Greeting, RequireIdentity: s.RequireIdentity,
		EmailPromptAfterMinutes: s.PromptMinutes()})
}

// tokenAnswer carries a (fresh) visitor token.
type tokenAnswer struct {
	Token   string              `json:"token,omitempty"`
	Message *desk.WidgetMessage `json:"message,omitempty"`
}

func (w *Widget) issue(r *http.Request, c *call, v desk.Visitor) (string, error) {
	return w.cfg.Desk.VisitorTokenIssue(r.Context(), v, c.now.Add(desk.VisitorTokenTTL))
}

// identify makes the visitor the site's signed-in user (user_hash checked
// against the inbox's identity secret) and answers its token.
func (w *Widget) identify(rw http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		UserID   string `json:"user_id" max:"200"`
		Email    string `json:"email" max:"254"`
		Name     string `json:"name" max:"200"`
		UserHash string `json:"user_hash" max:"128"`
	}
	if err := decode(rw, r, &req); err != nil {
		writeError(rw, r, err)
		return
	}
	if err := w.newVisitor(r, c.now); err != nil {
		writeError(rw, r, err)
		return
	}
	v, err := w.cfg.Desk.WidgetIdentify(r.Context(), c.inbox, desk.Identity{UserID: req.UserID, Email: req.Email, Name: req.Name, UserHash: req.UserHash})
	if err != nil {
		writeError(rw, r, err)
		return
	}
	tok, err := w.issue(r, c, v)
	if err != nil {
		writeError(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusOK, tokenAnswer{Token: tok})
}

// messageCreate records the visitor's message. Without a token it starts
// an anonymous visitor (unless the inbox requires identity) and answers
// its token with the message.
func (w *Widget) messageCreate(rw http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		Content string `json:"content" max:"100000"`
	}
	if err := decode(rw, r, &req); err != nil {
		writeError(rw, r, err)
		return
	}
	if err := input.Required("content", req.Content, input.MaxContent); err != nil {
		writeError(rw, r, err)
		return
	}
	v := c.visitor
	if !c.hasTok {
		if c.inbox.Settings.RequireIdentity {
			writeError(rw, r, fault.New(fault.Forbidden, "", "this chat is for signed-in users of the site; sign in on the site, then open the chat again"))
			return
		}
		if err := w.newVisitor(r, c.now); err != nil {
			writeError(rw, r, err)
			return
		}
		v = desk.Visitor{AccountID: c.inbox.AccountID, InboxID: c.inbox.InboxID}
	} else if c.inbox.Settings.RequireIdentity && !v.Identified {
		writeError(rw, r, fault.New(fault.Forbidden, "", "this chat is for signed-in users of the site; sign in on the site, then open the chat again"))
		return
	}
	v, m, err := w.cfg.Desk.WidgetMessageCreate(r.Context(), v, req.Content)
	if err != nil {
		writeError(rw, r, err)
		return
	}
	ans := tokenAnswer{Message: &m}
	if !c.hasTok {
		if ans.Token, err = w.issue(r, c, v); err != nil {
			writeError(rw, r, err)
			return
		}
	}
	writeJSON(rw, http.StatusCreated, ans)
}

// messages is the visitor's conversation so far.
func (w *Widget) messages(rw http.ResponseWriter, r *http.Request, c *call) {
	ms, err := w.cfg.Desk.WidgetHistory(r.Context(), c.visitor)
	if err != nil {
		writeError(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusOK, map[string]any{"messages": ms})
}

// seen marks replies the widget has shown as delivered.
func (w *Widget) seen(rw http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		MessageIDs []int64 `json:"message_ids"`
	}
	if err := decode(rw, r, &req); err != nil {
		writeError(rw, r, err)
		return
	}
	if err := w.cfg.Desk.WidgetSeen(r.Context(), c.visitor, req.MessageIDs); err != nil {
		writeError(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusOK, map[string]any{"seen": len(req.MessageIDs)})
}

// email keeps the address the visitor wants unseen replies mailed to.
func (w *Widget) email(rw http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		Email string `json:"email" max:"254"`
	}
	if err := decode(rw, r, &req); err != nil {
		writeError(rw, r, err)
		return
	}
	if err := w.cfg.Desk.WidgetNotifyEmail(r.Context(), c.visitor, req.Email); err != nil {
		writeError(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusOK, map[string]any{"email": req.Email})
}

// articleSearch searches the workspace's published articles.
func (w *Widget) articleSearch(rw http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query().Get("q")
	if err := input.Required("q", q, input.MaxQuery); err != nil {
		writeError(rw, r, err)
		return
	}
	as, err := w.cfg.Desk.WidgetArticleSearch(r.Context(), c.inbox, q)
	if err != nil {
		writeError(rw, r, err)
		return
	}
	type hit struct {
		ID      int64  `json:"id"`
		Title   string `json:"title"`
		Snippet string `json:"snippet"`
	}
	out := make([]hit, 0, len(as))
	for _, a := range as {
		out = append(out, hit{ID: a.ID, Title: a.Title, Snippet: a.Snippet})
	}
	writeJSON(rw, http.StatusOK, map[string]any{"articles": out})
}

// article reads one published article.
func (w *Widget) article(rw http.ResponseWriter, r *http.Request, c *call) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 || id > input.MaxID {
		writeError(rw, r, fault.NotFoundf("no such article"))
		return
	}
	a, err := w.cfg.Desk.WidgetArticle(r.Context(), c.inbox, id)
	if err != nil {
		writeError(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusOK, map[string]any{"id": a.ID, "title": a.Title, "body": a.Body})
}
