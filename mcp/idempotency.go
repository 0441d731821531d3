package mcp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultIdempotencyTTL is how long a key remembers its first result.
const DefaultIdempotencyTTL = 24 * time.Hour

// fingerprint identifies a call's tool and arguments, without the key.
func fingerprint(tool string, args map[string]any) string {
	rest := make(map[string]any, len(args))
	for k, v := range args {
		if k != "idempotency_key" {
			rest[k] = v
		}
	}
	b, _ := json.Marshal([]any{tool, rest}) // Go sorts map keys: canonical
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// claimKey claims an idempotency key inside tx. fresh means this call owns
// the key and must perform the effect (then storeResult). Otherwise the key
// was used before: prior is its first result, or errKeyReused when the
// arguments differ. The primary key decides between concurrent callers: a
// second INSERT waits for the first transaction and then finds its row, so
// exactly one effect happens. An expired key is taken over.
func claimKey(ctx context.Context, tx pgx.Tx, acct, tokenID int64, key, tool, fp string, expires time.Time) (fresh bool, prior json.RawMessage, err error) {
	err = tx.QueryRow(ctx, `INSERT INTO idempotency_keys (account_id, token_id, key, tool, fingerprint, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (account_id, token_id, key) DO UPDATE
			SET tool = excluded.tool, fingerprint = excluded.fingerprint, result = NULL, created_at = now(), expires_at = excluded.expires_at
			WHERE idempotency_keys.expires_at < now()
		RETURNING true`, acct, tokenID, key, tool, fp, expires).Scan(&fresh)
	if err == nil {
		return true, nil, nil
	}
	if err != pgx.ErrNoRows {
		return false, nil, err
	}
	var usedTool, usedFP string
	if err := tx.QueryRow(ctx, `SELECT tool, fingerprint, result FROM idempotency_keys WHERE token_id = $1 AND key = $2`,
		tokenID, key).Scan(&usedTool, &usedFP, &prior); err != nil {
		return false, nil, err
	}
	if usedTool != tool || usedFP != fp {
		return false, nil, badArg("idempotency_key %q was already used with other arguments (tool %s); send a new key for a new action", key, usedTool)
	}
	return false, prior, nil
}

// pruneKeys deletes this token's expired keys. Callers run it now and then
// (not on every call) so the table stays as small as the window.
func pruneKeys(ctx context.Context, tx pgx.Tx, tokenID int64) error {
	_, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE token_id = $1 AND expires_at < now()`, tokenID)
	return err
}

func storeResult(ctx context.Context, tx pgx.Tx, tokenID int64, key string, result []byte) error {
	_, err := tx.Exec(ctx, `UPDATE idempotency_keys SET result = $3 WHERE token_id = $1 AND key = $2`, tokenID, key, result)
	return err
}
