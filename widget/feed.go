package widget

import (
	"context"
	"sync"
	"time"

	"github.com/deskwoot/deskwoot/desk"
)

// A commit wakes every wait on its account (the events hub's NOTIFY names
// the account only). With a thousand widgets open in one workspace, each
// reply would make a thousand streams read their news. Instead one feed
// per account, on this replica, takes the wake, reads once which visitors
// have messages of about the last minute (desk.WidgetActiveVisitors, the
// same look back as the streams' for late commits), and wakes only those
// visitors' streams, which then read their own news as before. Each stream
// still re-checks on its own timer, so a wake the feed misses costs a
// delay, never a message.

// feeds are the per-account feeds of this replica's open streams.
type feeds struct {
	d  *desk.Desk
	mu sync.Mutex
	by map[int64]*feed
}

type visitorKey struct{ contact, inbox int64 }

// feed is one account's: its streams, and those waiting, by visitor.
type feed struct {
	members int
	waiting map[visitorKey]map[chan struct{}]struct{}
	stop    context.CancelFunc
}

func newFeeds(d *desk.Desk) *feeds { return &feeds{d: d, by: map[int64]*feed{}} }

// member is one stream's place in its account's feed.
type member struct {
	fs   *feeds
	f    *feed // nil without a hub: the stream's timer re-checks
	acct int64
	key  visitorKey
}

// join enters a stream into its account's feed, starting the feed when it
// is the first. Call leave when the stream ends.
func (fs *feeds) join(v desk.Visitor) *member {
	m := &member{fs: fs, acct: v.AccountID, key: visitorKey{v.ContactID, v.InboxID}}
	if fs.d.Hub == nil {
		return m
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.by[v.AccountID]
	if f == nil {
		ctx, stop := context.WithCancel(context.Background())
		f = &feed{waiting: map[visitorKey]map[chan struct{}]struct{}{}, stop: stop}
		fs.by[v.AccountID] = f
		// The feed's first wait is in place before the stream reads its
		// news, so no commit after that read goes unnoticed.
		woken, unwait := fs.d.Hub.Wait(v.AccountID)
		go fs.run(ctx, v.AccountID, f, woken, unwait)
	}
	f.members++
	m.f = f
	return m
}

// leave takes the stream out; the last one out stops the feed.
func (m *member) leave() {
	if m.f == nil {
		return
	}
	m.fs.mu.Lock()
	defer m.fs.mu.Unlock()
	if m.f.members--; m.f.members == 0 && m.fs.by[m.acct] == m.f {
		delete(m.fs.by, m.acct)
		m.f.stop()
	}
}

// wait returns a channel closed when the visitor may have news, and a
// function to stop waiting (nil, never closed, without a hub).
func (m *member) wait() (<-chan struct{}, func()) {
	if m.f == nil {
		return nil, func() {}
	}
	ch := make(chan struct{})
	m.fs.mu.Lock()
	if m.f.waiting[m.key] == nil {
		m.f.waiting[m.key] = map[chan struct{}]struct{}{}
	}
	m.f.waiting[m.key][ch] = struct{}{}
	m.fs.mu.Unlock()
	return ch, func() {
		m.fs.mu.Lock()
		defer m.fs.mu.Unlock()
		if _, ok := m.f.waiting[m.key][ch]; ok {
			delete(m.f.waiting[m.key], ch)
			close(ch)
			if len(m.f.waiting[m.key]) == 0 {
				delete(m.f.waiting, m.key)
			}
		}
	}
}

// mark is the account's highest message id at a time.
type mark struct {
	at time.Time
	id int64
}

// run takes the account's wakes until no stream waits on it. It reads
// from the highest id it saw about LateCommitWindow ago, so a message
// whose id was drawn before one it already saw, but committed after,
// still wakes its visitor.
func (fs *feeds) run(ctx context.Context, acct int64, f *feed, woken <-chan struct{}, unwait func()) {
	defer func() { unwait() }()
	top, err := fs.d.WidgetTopMessage(ctx, acct)
	if err != nil {
		top = 0
	}
	marks := []mark{{time.Now(), top}}
	for {
		select {
		case <-ctx.Done():
			return
		case <-woken:
		}
		// The next wait is in place before the read, as for the first.
		unwait()
		woken, unwait = fs.d.Hub.Wait(acct)
		now := time.Now()
		for len(marks) > 1 && now.Sub(marks[1].at) >= desk.LateCommitWindow {
			marks = marks[1:]
		}
		active, top, err := fs.d.WidgetActiveVisitors(ctx, acct, marks[0].id)
		if err == nil && now.Sub(marks[len(marks)-1].at) >= time.Second {
			marks = append(marks, mark{now, top}) // one a second is fine enough
		} else if err == nil {
			marks[len(marks)-1].id = top
		}
		fs.mu.Lock()
		for key, chans := range f.waiting {
			// On a failed read every stream reads for itself.
			if err != nil || active[desk.VisitorRef{ContactID: key.contact, InboxID: key.inbox}] {
				for ch := range chans {
					close(ch)
				}
				delete(f.waiting, key)
			}
		}
		fs.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond) // the database is away: do not spin
		}
	}
}
