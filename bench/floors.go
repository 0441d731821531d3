package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The floors of a read (DESIGN §16), measured beside get_conversation in
// the same run: A is bareGet (the rows through pgx in one batch); B is A
// plus one durable audit-like row committed in the same batch; C is a
// plain Go net/http JSON endpoint doing B (decode, batch, encode), which is
// what a hand-written REST endpoint costs.

// floorAuditSQL is an audit row as the server writes one for a read: the
// same table, the same columns.
const floorAuditSQL = `INSERT INTO audit_log (account_id, actor_kind, actor_id, token_id, action, decision, reasons, target, args_digest, policy_rev, request_id, client_id, explanation)
	VALUES ($1, 'agent', NULL, NULL, 'floor_b', 'allow', '{}', jsonb_build_object('conversation_id', $2::bigint), '', '', '', '', NULL)`

// conversationRows are the rows of one read, as the floors return them.
type conversationRows struct {
	Conversation []any   `json:"conversation"`
	Messages     [][]any `json:"messages"`
}

// floorB reads the rows and writes the audit-like row in one batch, which
// pgx runs as one implicit transaction: it commits durably (the bench's
// PostgreSQL keeps synchronous_commit on) before the batch answers.
func floorB(ctx context.Context, pool *pgxpool.Pool, acct, conv int64) (conversationRows, error) {
	var out conversationRows
	b := &pgx.Batch{}
	b.Queue(bareConversationSQL, conv, acct).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				return err
			}
			out.Conversation = v
		}
		return rows.Err()
	})
	b.Queue(bareMessagesSQL, conv, acct).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				return err
			}
			out.Messages = append(out.Messages, v)
		}
		return rows.Err()
	})
	b.Queue(floorAuditSQL, acct, conv)
	return out, pool.SendBatch(ctx, b).Close()
}

// floorC is floor B behind a plain net/http JSON endpoint on loopback:
// POST {"conversation_id": n, "messages_limit": 20} answers the rows as JSON.
type floorC struct {
	url  string
	srv  *http.Server
	pool *pgxpool.Pool
	acct int64
}

func startFloorC(pool *pgxpool.Pool, acct int64) (*floorC, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &floorC{url: "http://" + ln.Addr().String() + "/conversation", pool: pool, acct: acct}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /conversation", f.serve)
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go f.srv.Serve(ln)
	return f, nil
}

func (f *floorC) serve(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ConversationID int64 `json:"conversation_id"`
		MessagesLimit  int   `json:"messages_limit"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || in.ConversationID <= 0 {
		http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
		return
	}
	rows, err := floorB(r.Context(), f.pool, f.acct, in.ConversationID)
	if err != nil {
		http.Error(w, `{"error":"unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rows)
}

func (f *floorC) close() { f.srv.Close() }

// get calls the endpoint as the MCP client calls the server: one POST on a
// kept-alive connection, the whole answer read.
func (f *floorC) get(ctx context.Context, hc *http.Client, conv int64) error {
	body, _ := json.Marshal(map[string]any{"conversation_id": conv, "messages_limit": 20})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("floor C: HTTP %d: %s", resp.StatusCode, raw)
	}
	return nil
}
