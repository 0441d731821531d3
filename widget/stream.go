package widget

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
)

// Stream pacing: with the events listener in place a commit wakes the
// stream at once, so it only re-checks every listenRecheck (in case a
// notification was lost) and pings to keep proxies from closing it;
// without the listener it re-checks every pollRecheck.
const (
	listenRecheck = 20 * time.Second
	pollRecheck   = time.Second
	writeWait     = 10 * time.Second
)

// stream is the visitor's live feed (server-sent events): every message
// of the visitor's conversations after the one it names (?after=ID or
// Last-Event-ID), then each new one as it commits, woken through its
// account's feed (feed.go) by the events feed's LISTEN/NOTIFY hub, which
// every replica shares. It ends after
// StreamTimeout; the widget reconnects from the last id it got. It holds
// no database connection while it waits.
func (w *Widget) stream(rw http.ResponseWriter, r *http.Request, c *call) {
	after := r.Header.Get("Last-Event-ID")
	if after == "" {
		after = r.URL.Query().Get("after")
	}
	var cursor int64
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n < 0 {
			writeError(rw, r, fault.Invalidf("after", "after must be the id of the last message the widget has"))
			return
		}
		cursor = n
	}
	release, ok := w.streamOpen(c.visitor)
	if !ok {
		writeError(rw, r, tooMany(5*time.Second, "this visitor has too many chat windows open; close one"))
		return
	}
	defer release()

	ctx, cancel := context.WithTimeout(r.Context(), w.cfg.StreamTimeout)
	defer cancel()
	rc := http.NewResponseController(rw)
	hd := rw.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("X-Accel-Buffering", "no")
	rw.WriteHeader(http.StatusOK)
	send := func(s string) bool {
		rc.SetWriteDeadline(time.Now().Add(writeWait))
		if _, err := fmt.Fprint(rw, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 2000\n\n") {
		return
	}
	hub := w.cfg.Desk.Hub
	feed := w.feeds.join(c.visitor)
	defer feed.leave()
	sent := map[int64]time.Time{} // what this stream sent, and when it was written
	for {
		wake, stop := feed.wait() // before reading, so no commit slips between
		news, err := w.cfg.Desk.WidgetNews(ctx, c.visitor, cursor, recent(sent, w.cfg.Now()))
		if err != nil {
			stop()
			return // the widget reconnects from its last id
		}
		for _, m := range news {
			if _, ok := sent[m.ID]; ok {
				continue
			}
			b, _ := json.Marshal(m)
			if !send(fmt.Sprintf("id: %d\nevent: message\ndata: %s\n\n", max(m.ID, cursor), b)) {
				stop()
				return
			}
			sent[m.ID] = m.CreatedAt
			cursor = max(cursor, m.ID)
		}
		recheck := pollRecheck
		if hub != nil && hub.Listening() {
			recheck = listenRecheck
		}
		timer := time.NewTimer(recheck)
		select {
		case <-ctx.Done():
			stop()
			timer.Stop()
			return
		case <-wake:
		case <-timer.C:
			if !send(": ping\n\n") {
				stop()
				return
			}
		}
		stop()
		timer.Stop()
	}
}

// recent lists the sent messages young enough for WidgetNews's look back
// at late commits, and forgets the older ones, so the set stays small.
func recent(sent map[int64]time.Time, now time.Time) []int64 {
	ids := make([]int64, 0, len(sent))
	for id, at := range sent {
		if now.Sub(at) > 2*desk.LateCommitWindow {
			delete(sent, id)
			continue
		}
		ids = append(ids, id)
	}
	return ids
}
