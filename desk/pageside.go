package desk

import (
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// A console page shows, beside its own data, what its controls choose from
// (the catalog), the view counts, the Drafts count and the bell. Each was
// a statement of its own in the page's batch (seven beside the list), and
// on a machine whose CPUs PostgreSQL shares with the server every
// statement's fixed cost (bind, snapshot, executor start, a result set)
// showed in the page's time against the REST call, which sends one. So
// they are read as one statement: one row whose columns are scalar
// subqueries, the lists among them aggregated as JSON that scans straight
// into their structs (their JSON names are the columns' names).

// pageSide composes that statement: its columns, their arguments, and where
// each column is scanned to.
type pageSide struct {
	cols  []string
	args  []any
	dests []any
	after []func() error
}

// arg adds an argument and returns its placeholder.
func (s *pageSide) arg(v any) string {
	s.args = append(s.args, v)
	return "$" + strconv.Itoa(len(s.args))
}

// inScope narrows a subquery to the scope's inboxes (by column col), and
// adds nothing for a scope of every inbox: "$n IS NULL OR …" would keep a
// generic plan from using an index on col.
func (s *pageSide) inScope(sc Scope, col string) string {
	if sc.InboxIDs == nil {
		return ""
	}
	return " AND " + col + " = ANY(" + s.arg(sc.InboxIDs) + ")"
}

// add adds a column, the value of subquery, scanned into dest.
func (s *pageSide) add(dest any, subquery string) {
	s.cols = append(s.cols, "("+subquery+")")
	s.dests = append(s.dests, dest)
}

// queue adds the statement to b; nothing when no column was asked for.
func (s *pageSide) queue(b *pgx.Batch) {
	if len(s.cols) == 0 {
		return
	}
	b.Queue("SELECT "+strings.Join(s.cols, ",\n\t"), s.args...).QueryRow(func(r pgx.Row) error {
		if err := r.Scan(s.dests...); err != nil {
			return err
		}
		for _, f := range s.after {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	})
}

// catalog adds the catalog's columns: the pending drafts in scope, the
// inboxes in scope, the labels, the active members and the teams, each
// list in the order its own list reads it.
func (s *pageSide) catalog(k *Catalog, sc Scope) {
	s.add(&k.Drafts, `SELECT count(*) FROM drafts WHERE status = 'pending'`+s.inScope(sc, "inbox_id"))
	s.add(&k.Inboxes, `SELECT coalesce(json_agg(i ORDER BY i.id), '[]') FROM (
		SELECT id, name, channel, created_at FROM inboxes WHERE true`+s.inScope(sc, "id")+`) i`)
	s.add(&k.Labels, `SELECT coalesce(json_agg(l ORDER BY l.name), '[]') FROM (`+labelListSQL+`) l`)
	s.add(&k.People, `SELECT coalesce(json_agg(a ORDER BY a.id), '[]') FROM (`+agentListSQL+`) a`)
	s.add(&k.Teams, `SELECT coalesce(json_agg(t ORDER BY t.name, t.id), '[]') FROM (`+teamListSQL+`) t`)
}

// unread adds person me's unread in-app notifications (the bell).
func (s *pageSide) unread(n *int, me int64) {
	s.add(n, unreadSQL(s.arg(me)))
}

// counts adds the view counts in scope for person me, as [inbox, mine,
// unassigned, open, escalated] rows (an inbox has a row of its open
// conversations and one of its escalated ones) whose sums are the counts.
// The open and the escalated conversations are each read from a partial
// index of their own (0085), by inbox: with a view's predicate its
// index's, no row's status is compared, and the cost grows with the open
// conversations, never with the resolved ones.
func (s *pageSide) counts(v *ViewCounts, sc Scope, me int64) {
	var groups [][5]int64
	s.add(&groups, `SELECT coalesce(json_agg(json_build_array(inbox_id, mine, unassigned, open, escalated)), '[]') FROM (
		SELECT inbox_id,
			count(*) FILTER (WHERE assignee_id = `+s.arg(me)+`) AS mine,
			count(*) FILTER (WHERE assignee_id IS NULL) AS unassigned,
			count(*) AS open, 0 AS escalated
		FROM conversations WHERE status = 'open'`+s.inScope(sc, "inbox_id")+`
		GROUP BY inbox_id
		UNION ALL
		SELECT inbox_id, 0, 0, 0, count(*)
		FROM conversations WHERE escalated AND status <> 'resolved'`+s.inScope(sc, "inbox_id")+`
		GROUP BY inbox_id) g`)
	s.after = append(s.after, func() error {
		unread := v.Unread
		*v = ViewCounts{ByInbox: map[int64]int{}, Unread: unread}
		for _, g := range groups {
			v.Mine += int(g[1])
			v.Unassigned += int(g[2])
			v.Open += int(g[3])
			v.Escalated += int(g[4])
			v.ByInbox[g[0]] += int(g[3])
		}
		return nil
	})
}
