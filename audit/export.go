package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Decisions an audit row can carry.
var Decisions = []string{"allow", "deny", "error"}

// ParseFilter reads the audit filters both doors take: actor (a user id),
// token (or token_id), tool (or action), decision, since and until (RFC
// 3339, or a UTC date or date and time as a browser's date fields send
// them). Paging is the caller's.
func ParseFilter(q url.Values) (Filter, error) {
	var f Filter
	var err error
	if f.ActorID, err = nonNegative(q, "actor"); err != nil {
		return f, err
	}
	token := "token"
	if q.Get(token) == "" {
		token = "token_id" // accepted as a synonym
	}
	if f.TokenID, err = nonNegative(q, token); err != nil {
		return f, err
	}
	f.Action = strings.TrimSpace(q.Get("tool"))
	if f.Action == "" {
		f.Action = strings.TrimSpace(q.Get("action"))
	}
	f.Decision = q.Get("decision")
	if f.Decision != "" && f.Decision != "allow" && f.Decision != "deny" && f.Decision != "error" {
		return f, fault.Invalidf("decision", "decision must be allow, deny or error")
	}
	if f.Since, err = filterTime(q, "since"); err != nil {
		return f, err
	}
	if f.Until, err = filterTime(q, "until"); err != nil {
		return f, err
	}
	return f, nil
}

func nonNegative(q url.Values, name string) (int64, error) {
	v := strings.TrimSpace(q.Get(name))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fault.Invalidf(name, "%s must be a non-negative integer", name)
	}
	return n, nil
}

func filterTime(q url.Values, name string) (*time.Time, error) {
	v := strings.TrimSpace(q.Get(name))
	if v == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return &t, nil
		}
	}
	return nil, fault.Invalidf(name, "%s must be an RFC 3339 time such as 2026-12-01T09:00:00Z", name)
}

// Export formats.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
)

// exportPage is how many rows Export reads per round trip.
const exportPage = 1000

// Export writes every row the filter selects, newest first, as CSV (with a
// header) or JSON lines, reading and writing a page at a time so that a
// large log streams in bounded memory.
func Export(ctx context.Context, db *tenancy.DB, acct int64, f Filter, format string, w io.Writer) error {
	var write func(Row) error
	var flush func() error
	switch format {
	case FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"id", "at", "actor_kind", "actor_id", "token_id", "action", "decision", "reasons", "target", "args_digest", "policy_rev", "request_id"}); err != nil {
			return err
		}
		write = func(x Row) error {
			target, _ := json.Marshal(x.Target)
			return cw.Write([]string{strconv.FormatInt(x.ID, 10), x.At.UTC().Format(time.RFC3339Nano), cell(x.ActorKind), optID(x.ActorID), optID(x.TokenID),
				cell(x.Action), cell(x.Decision), cell(strings.Join(x.Reasons, "; ")), cell(string(target)), x.ArgsDigest, x.PolicyRev, cell(x.RequestID)})
		}
		flush = func() error { cw.Flush(); return cw.Error() }
	case FormatJSONL:
		enc := json.NewEncoder(w)
		write = func(x Row) error { return enc.Encode(x) }
		flush = func() error { return nil }
	default:
		return fault.Invalidf("format", "format must be csv or jsonl")
	}
	f.Limit = exportPage
	for {
		rows, err := List(ctx, db, acct, f)
		if err != nil {
			return err
		}
		for _, x := range rows {
			if err := write(x); err != nil {
				return err
			}
		}
		if err := flush(); err != nil {
			return err
		}
		if len(rows) < exportPage {
			return nil
		}
		f.BeforeID = rows[len(rows)-1].ID
		if fl, ok := w.(interface{ Flush() }); ok {
			fl.Flush()
		}
	}
}

func optID(id *int64) string {
	if id == nil {
		return ""
	}
	return strconv.FormatInt(*id, 10)
}

// cell keeps a spreadsheet from reading a value as a formula: tool names
// and reasons can carry a caller's text.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
