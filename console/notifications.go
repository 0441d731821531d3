package console

import (
	"fmt"
	"net/http"

	"github.com/deskwoot/deskwoot/desk"
)

// The bell (the unread count in the header, on every page) and
// /notifications: what was assigned to the person, escalated, left for
// their approval or mentioned them, newest first.

type notificationsData struct {
	Notifications []desk.Notification
	Unread        int
}

func (c *Console) notificationsPage(w http.ResponseWriter, r *http.Request) {
	me := c.me(r)
	ns, unread, err := c.cfg.Desk.NotificationList(r.Context(), me.AccountID, me.UserID, false, desk.MaxLimit)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.who(r).unread = &unread
	c.render(w, r, http.StatusOK, "notifications", Page{Title: "Notifications", Nav: "notifications",
		Data: notificationsData{Notifications: ns, Unread: unread}})
}

// notificationRead marks one notification read.
func (c *Console) notificationRead(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	me := c.me(r)
	if _, err := c.cfg.Desk.NotificationRead(r.Context(), me.AccountID, me.UserID, []int64{id}, false, c.cfg.Now()); err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.redirect(w, r, "/notifications")
}

// notificationReadAll marks every notification read.
func (c *Console) notificationReadAll(w http.ResponseWriter, r *http.Request) {
	me := c.me(r)
	n, err := c.cfg.Desk.NotificationRead(r.Context(), me.AccountID, me.UserID, nil, true, c.cfg.Now())
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, fmt.Sprintf("%d notifications marked read.", n))
	c.redirect(w, r, "/notifications")
}
