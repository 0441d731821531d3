package console

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/identity"
)

// auditPage is the audit log with its filters and the chain's state.
type auditPage struct {
	Rows   []auditRow
	Chain  audit.VerifyResult
	People []identity.User
	Tokens []identity.MCPToken
	// ExportCSV, ExportJSONL and Older are links that keep the filters;
	// Older is "" on the last page.
	ExportCSV, ExportJSONL, Older string
}

type auditRow struct {
	audit.Row
	Actor, Token string
}

// auditFilterFields maps the filter names in errors to the form's fields.
var auditFilterFields = map[string]string{"actor": "actor", "token": "token", "token_id": "token", "decision": "decision", "since": "since", "until": "until"}

const auditPageSize = 50

// auditLog lists audit rows, newest first, with filters, and says whether
// the hash chain verifies.
func (c *Console) auditLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := &Form{Values: q, Errors: map[string]string{}}
	acct := c.me(r).AccountID
	filter, err := audit.ParseFilter(q)
	status := http.StatusOK
	if err != nil {
		if !f.FailErr(err, auditFilterFields) {
			c.fail(w, r, err)
			return
		}
		status = http.StatusBadRequest
	}
	d := auditPage{}
	if d.People, err = identity.UserList(r.Context(), c.cfg.DB, acct); err != nil {
		c.fail(w, r, err)
		return
	}
	if d.Tokens, err = identity.MCPTokenList(r.Context(), c.cfg.DB, acct); err != nil {
		c.fail(w, r, err)
		return
	}
	var shown []int64
	if f.OK() {
		filter.Limit = auditPageSize + 1
		filter.BeforeID, _ = strconv.ParseInt(q.Get("before"), 10, 64)
		rows, err := audit.List(r.Context(), c.cfg.DB, acct, filter)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		names := map[int64]string{}
		for _, u := range d.People {
			names[u.ID] = u.Name
		}
		tokens := map[int64]string{}
		for _, t := range d.Tokens {
			tokens[t.ID] = t.Name
		}
		if len(rows) > auditPageSize {
			rows = rows[:auditPageSize]
			older := filtersOnly(q)
			older.Set("before", strconv.FormatInt(rows[len(rows)-1].ID, 10))
			d.Older = "/audit?" + older.Encode()
		}
		for _, x := range rows {
			row := auditRow{Row: x, Actor: x.ActorKind}
			if x.ActorID != nil {
				if n, ok := names[*x.ActorID]; ok {
					row.Actor = n
				} else {
					row.Actor = fmt.Sprintf("%s %d", x.ActorKind, *x.ActorID)
				}
			}
			if x.TokenID != nil {
				row.Token = tokens[*x.TokenID]
				if row.Token == "" {
					row.Token = fmt.Sprintf("token %d", *x.TokenID)
				}
			}
			d.Rows = append(d.Rows, row)
			shown = append(shown, x.ID)
		}
	}
	// The chain's state costs the links since the last signed checkpoint
	// and the rows on show, not the whole log.
	if d.Chain, err = audit.VerifyRecent(r.Context(), c.cfg.DB, acct, c.cfg.Audit.PublicKey(), shown); err != nil {
		c.fail(w, r, err)
		return
	}
	for format, dst := range map[string]*string{audit.FormatCSV: &d.ExportCSV, audit.FormatJSONL: &d.ExportJSONL} {
		x := filtersOnly(q)
		x.Set("format", format)
		*dst = "/audit/export?" + x.Encode()
	}
	c.render(w, r, status, "audit", Page{Title: "Audit log", Nav: "audit", Form: f, Data: d})
}

// filtersOnly keeps the filter parameters of a query (not paging).
func filtersOnly(q url.Values) url.Values {
	out := url.Values{}
	for _, k := range []string{"actor", "token", "tool", "decision", "since", "until"} {
		if v := q.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return out
}

// auditExport streams the filtered log as CSV or JSON lines (the same
// audit.Export as REST's GET /api/v1/audit/export), audited as an export.
func (c *Console) auditExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter, err := audit.ParseFilter(q)
	format := q.Get("format")
	ctype := map[string]string{audit.FormatCSV: "text/csv; charset=utf-8", audit.FormatJSONL: "application/x-ndjson"}[format]
	switch {
	case err != nil:
		c.renderError(w, r, http.StatusBadRequest, sentence(fault.From(err).Sentence))
		return
	case ctype == "":
		c.renderError(w, r, http.StatusBadRequest, "Choose an export format: csv or jsonl.")
		return
	}
	// The export is audited before any row goes out; unaudited, nothing does.
	if err := c.cfg.DB.Record(r.Context(), c.recorded(r, audit.Entry{Action: "audit.export", Reasons: []string{"format=" + format, "door=console"}})); err != nil {
		c.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="deskwoot-audit.`+format+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := audit.Export(r.Context(), c.cfg.DB, c.me(r).AccountID, filter, format, w, c.cfg.Audit.Key); err != nil {
		slog.ErrorContext(r.Context(), "audit export failed", "err", err)
	}
}

// trimKind drops a sentinel's prefix ("invalid: ") from an error message.
func trimKind(msg string) string {
	for _, p := range []string{"invalid: ", "conflict: ", "not found: "} {
		if len(msg) > len(p) && msg[:len(p)] == p {
			return msg[len(p):]
		}
	}
	return msg
}
