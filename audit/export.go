package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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

// ExportFormat names the layout of an export's JSON lines (its header's
// "format"): a header line, the rows with their chain links, the
// checkpoints. VerifyExport reads it.
const ExportFormat = "deskwoot.audit.export/2"

// exportPage is how many rows Export reads per round trip.
const exportPage = 1000

// ExportHeader is the first line of a JSON-lines export.
type ExportHeader struct {
	Record     string    `json:"record"` // "export"
	Format     string    `json:"format"`
	AccountID  int64     `json:"account_id"`
	ExportedAt time.Time `json:"exported_at"`
	// PublicKey verifies the checkpoints (nil: the server signs none).
	PublicKey []byte `json:"public_key"`
	// Filtered says the filters left rows out, so gaps between links are
	// expected; an unfiltered export holds every link from the first.
	Filtered bool `json:"filtered"`
}

// ExportRow is a row line: the row, its explanation and its chain link
// (nil while unsealed), all that is needed to recompute the link.
type ExportRow struct {
	Record string `json:"record"` // "row"
	Row
	Explanation json.RawMessage `json:"explanation,omitempty"`
	Chain       *ChainLink      `json:"chain"`
}

// ChainLink is a row's link: hash = sha256(prev_hash || the row's
// canonical text of this version).
type ChainLink struct {
	Seq      int64    `json:"seq"`
	Version  int      `json:"version"`
	Hash     HexBytes `json:"hash"`
	PrevHash HexBytes `json:"prev_hash"`
}

// ExportCheckpoint is a checkpoint line.
type ExportCheckpoint struct {
	Record string `json:"record"` // "checkpoint"
	Checkpoint
}

// exportSQL is List's statement with each row's explanation and link.
const exportSQL = `SELECT l.id, l.at, l.actor_kind, l.actor_id, l.token_id, l.action, l.decision, l.reasons, l.target, l.args_digest,
		l.policy_rev, l.request_id, l.client_id, l.explanation, c.seq, c.version, c.hash, ` + prevHashSQL + `
	FROM audit_log l
	LEFT JOIN audit_chain c ON c.account_id = l.account_id AND c.audit_id = l.id
	WHERE ` + filterSQL + `
	ORDER BY l.id DESC LIMIT $9::int`

func scanExportRow(r pgx.CollectableRow) (ExportRow, error) {
	x := ExportRow{Record: "row"}
	var seq *int64
	var version *int16
	var hash, prev []byte
	err := r.Scan(&x.ID, &x.At, &x.ActorKind, &x.ActorID, &x.TokenID, &x.Action, &x.Decision, &x.Reasons, &x.Target, &x.ArgsDigest,
		&x.PolicyRev, &x.RequestID, &x.ClientID, &x.Explanation, &seq, &version, &hash, &prev)
	if seq != nil {
		x.Chain = &ChainLink{Seq: *seq, Version: int(*version), Hash: hash, PrevHash: prev}
	}
	return x, err
}

// Export writes every row the filter selects, newest first, as CSV (with a
// header) or JSON lines, reading and writing a page at a time so that a
// large log streams in bounded memory. Each row carries its chain link, and
// the checkpoints signed by key from the oldest exported link on follow
// the rows, so that an export can be verified offline with the public key
// (VerifyExport; CSV is for people: its cells are not the exact values).
// With a key, Export first seals what it can and signs a checkpoint at the
// head, so that everything sealed is covered; key may be nil (no
// checkpoints).
func Export(ctx context.Context, db *tenancy.DB, acct int64, f Filter, format string, w io.Writer, key ed25519.PrivateKey) error {
	var pub ed25519.PublicKey
	if key != nil {
		pub = key.Public().(ed25519.PublicKey)
	}
	var write func(ExportRow) error
	var writeEnd func([]Checkpoint) error
	var flush func() error
	switch format {
	case FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"id", "at", "actor_kind", "actor_id", "token_id", "action", "decision", "reasons", "target", "args_digest", "policy_rev", "request_id",
			"chain_seq", "chain_hash", "record", "public_key", "signature"}); err != nil {
			return err
		}
		write = func(x ExportRow) error {
			target, _ := json.Marshal(x.Target)
			seq, hash := "", ""
			if x.Chain != nil {
				seq, hash = strconv.FormatInt(x.Chain.Seq, 10), hex.EncodeToString(x.Chain.Hash)
			}
			return cw.Write([]string{strconv.FormatInt(x.ID, 10), x.At.UTC().Format(time.RFC3339Nano), cell(x.ActorKind), optID(x.ActorID), optID(x.TokenID),
				cell(x.Action), cell(x.Decision), cell(strings.Join(x.Reasons, "; ")), cell(string(target)), x.ArgsDigest, x.PolicyRev, cell(x.RequestID),
				seq, hash, "row", "", ""})
		}
		writeEnd = func(cps []Checkpoint) error {
			for _, c := range cps {
				if err := cw.Write([]string{strconv.FormatInt(c.AuditID, 10), c.SignedAt.UTC().Format(time.RFC3339Nano), "", "", "", "", "", "", "", "", "", "",
					strconv.FormatInt(c.Seq, 10), hex.EncodeToString(c.Hash), "checkpoint", base64.StdEncoding.EncodeToString(c.PublicKey), base64.StdEncoding.EncodeToString(c.Signature)}); err != nil {
					return err
				}
			}
			return nil
		}
		flush = func() error { cw.Flush(); return cw.Error() }
	case FormatJSONL:
		enc := json.NewEncoder(w)
		write = func(x ExportRow) error { return enc.Encode(x) }
		writeEnd = func(cps []Checkpoint) error {
			for _, c := range cps {
				if err := enc.Encode(ExportCheckpoint{Record: "checkpoint", Checkpoint: c}); err != nil {
					return err
				}
			}
			return nil
		}
		flush = func() error { return nil }
		if err := enc.Encode(ExportHeader{Record: "export", Format: ExportFormat, AccountID: acct, ExportedAt: time.Now().UTC(),
			PublicKey: pub, Filtered: f.filtered()}); err != nil {
			return err
		}
	default:
		return fault.Invalidf("format", "format must be csv or jsonl")
	}
	if key != nil {
		if _, err := Seal(ctx, db, acct); err != nil {
			return err
		}
		// A broken chain is exported all the same, with the checkpoints
		// there are: the offline check names the broken row.
		if _, _, err := WriteCheckpoint(ctx, db, acct, key); err != nil && !errors.Is(err, ErrChainBroken) {
			return err
		}
	}
	oldest := int64(0) // the oldest exported link
	f.Limit = exportPage
	for {
		var rows []ExportRow
		b := &pgx.Batch{}
		b.Queue(exportSQL, f.args(acct)...).Query(func(r pgx.Rows) error {
			var err error
			rows, err = pgx.CollectRows(r, scanExportRow)
			return err
		})
		if err := db.Batch(ctx, acct, b); err != nil {
			return err
		}
		for _, x := range rows {
			if err := write(x); err != nil {
				return err
			}
			if x.Chain != nil && (oldest == 0 || x.Chain.Seq < oldest) {
				oldest = x.Chain.Seq
			}
		}
		if err := flush(); err != nil {
			return err
		}
		if len(rows) < exportPage {
			break
		}
		f.BeforeID = rows[len(rows)-1].ID
		if fl, ok := w.(interface{ Flush() }); ok {
			fl.Flush()
		}
	}
	if pub == nil || oldest == 0 {
		return nil
	}
	cps, err := checkpointsFrom(ctx, db, acct, pub, oldest)
	if err != nil {
		return err
	}
	if err := writeEnd(cps); err != nil {
		return err
	}
	return flush()
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
