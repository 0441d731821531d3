package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/tenancy"
)

// Checkpoint is the server's signed statement that an account's chain
// verified up to a link: its sequence number, audit row and hash. Checking
// the links after the last checkpoint is then enough to know the chain
// holds (DESIGN §22), and an export carrying checkpoints can be verified
// offline with the server's public key.
type Checkpoint struct {
	AccountID int64     `json:"account_id"`
	Seq       int64     `json:"seq"`
	AuditID   int64     `json:"audit_id"`
	Hash      HexBytes  `json:"hash"`
	SignedAt  time.Time `json:"signed_at"`
	PublicKey []byte    `json:"public_key"` // base64 in JSON, as the key is given
	Signature []byte    `json:"signature"`
}

// HexBytes is a hash, written in hex in JSON.
type HexBytes []byte

// MarshalText writes the bytes in hex.
func (h HexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

// UnmarshalText reads hex.
func (h *HexBytes) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(string(b))
	*h = v
	return err
}

// message is what the signature covers: every field but the signature,
// account included, so a checkpoint cannot move to another account or link.
func (c Checkpoint) message() []byte {
	return fmt.Appendf(nil, "deskwoot audit checkpoint 1\naccount %d\nlink %d\naudit row %d\nhash %x\nsigned at %s\n",
		c.AccountID, c.Seq, c.AuditID, []byte(c.Hash), c.SignedAt.UTC().Format(microLayout))
}

// SignedBy reports whether the checkpoint names pub as its key and carries
// a valid signature by it.
func (c Checkpoint) SignedBy(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && bytes.Equal(c.PublicKey, pub) &&
		len(c.Signature) == ed25519.SignatureSize && ed25519.Verify(pub, c.message(), c.Signature)
}

// sign signs c with key, at c.SignedAt cut to PostgreSQL's microseconds so
// that the stored time is the signed one.
func sign(key ed25519.PrivateKey, c Checkpoint) Checkpoint {
	c.SignedAt = c.SignedAt.UTC().Truncate(time.Microsecond)
	c.PublicKey = key.Public().(ed25519.PublicKey)
	c.Signature = ed25519.Sign(key, c.message())
	return c
}

const checkpointColumns = `account_id, seq, audit_id, hash, signed_at, public_key, signature`

func scanCheckpoint(r pgx.CollectableRow) (Checkpoint, error) {
	var c Checkpoint
	var hash []byte
	err := r.Scan(&c.AccountID, &c.Seq, &c.AuditID, &hash, &c.SignedAt, &c.PublicKey, &c.Signature)
	c.Hash = hash
	return c, err
}

// ErrChainBroken is returned by WriteCheckpoint when the links after the
// last checkpoint do not verify: nothing is signed over a broken chain.
var ErrChainBroken = errors.New("audit chain broken")

// WriteCheckpoint verifies the account's links after its last checkpoint
// signed by key and, when they verify and reach further, signs a new
// checkpoint at the last of them. written is false when there was nothing
// new to sign.
func WriteCheckpoint(ctx context.Context, db *tenancy.DB, acct int64, key ed25519.PrivateKey) (cp Checkpoint, written bool, err error) {
	res, err := verifyRecent(ctx, db, acct, key.Public().(ed25519.PublicKey), nil, false)
	if err != nil {
		return cp, false, err
	}
	if !res.OK {
		return cp, false, fmt.Errorf("%w: account %d: %s", ErrChainBroken, acct, res.Problem)
	}
	if res.head.seq == 0 || res.Checked == 0 {
		return cp, false, nil
	}
	cp = sign(key, Checkpoint{AccountID: acct, Seq: res.head.seq, AuditID: res.head.auditID, Hash: res.head.hash, SignedAt: time.Now()})
	err = db.InTenant(ctx, acct, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO audit_checkpoints (account_id, public_key, seq, audit_id, hash, signed_at, signature)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			acct, cp.PublicKey, cp.Seq, cp.AuditID, []byte(cp.Hash), cp.SignedAt, cp.Signature)
		return err
	})
	return cp, err == nil, err
}

// CheckpointEvery is how far the sealer lets an account's chain grow past
// its last checkpoint before it verifies the new links and signs another:
// about the most links a page checks (plus at most one sealing batch).
const CheckpointEvery = 1000

// checkpointDue reports whether the account's chain has grown
// CheckpointEvery links past its last checkpoint signed by pub. Two index
// look-ups.
func checkpointDue(ctx context.Context, db *tenancy.DB, acct int64, pub ed25519.PublicKey) (bool, error) {
	var behind int64
	b := &pgx.Batch{}
	b.Queue(`SELECT coalesce((SELECT max(seq) FROM audit_chain WHERE account_id = $1), 0)
		- coalesce((SELECT max(seq) FROM audit_checkpoints WHERE account_id = $1 AND public_key = $2), 0)`, acct, []byte(pub)).
		QueryRow(func(r pgx.Row) error { return r.Scan(&behind) })
	err := db.Batch(ctx, acct, b)
	return behind >= CheckpointEvery, err
}

// CheckpointPage lists an account's checkpoints newest first, by every key
// (the caller says which its key signed). Before pages: only checkpoints
// before (seq, public key) in that order.
func CheckpointPage(ctx context.Context, db *tenancy.DB, acct int64, beforeSeq int64, beforeKey []byte, limit int) ([]Checkpoint, error) {
	var out []Checkpoint
	if beforeSeq <= 0 {
		beforeSeq, beforeKey = 1<<62, nil
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT `+checkpointColumns+` FROM audit_checkpoints
		WHERE account_id = $1 AND (seq < $2 OR (seq = $2 AND public_key < $3))
		ORDER BY seq DESC, public_key DESC LIMIT $4::int`, acct, beforeSeq, beforeKey, limit).
		Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, scanCheckpoint)
			return err
		})
	err := db.Batch(ctx, acct, b)
	if out == nil {
		out = []Checkpoint{}
	}
	return out, err
}

// checkpointsFrom lists the account's checkpoints signed by pub at or
// after link seq, oldest first (an export's).
func checkpointsFrom(ctx context.Context, db *tenancy.DB, acct int64, pub ed25519.PublicKey, seq int64) ([]Checkpoint, error) {
	var out []Checkpoint
	b := &pgx.Batch{}
	b.Queue(`SELECT `+checkpointColumns+` FROM audit_checkpoints
		WHERE account_id = $1 AND public_key = $2 AND seq >= $3 ORDER BY seq`, acct, []byte(pub), seq).
		Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, scanCheckpoint)
			return err
		})
	return out, db.Batch(ctx, acct, b)
}

// ParseSigningKey reads a signing key as DESKWOOT_AUDIT_SIGNING_KEY gives
// it: the standard base64 of a 32-byte Ed25519 seed.
func ParseSigningKey(s string) (ed25519.PrivateKey, error) {
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("DESKWOOT_AUDIT_SIGNING_KEY must be the base64 of a 32-byte Ed25519 seed; `deskwoot audit key --new` makes one")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// EncodeSigningKey writes a signing key as ParseSigningKey reads it.
func EncodeSigningKey(key ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(key.Seed())
}

// ParsePublicKey reads a public key: the standard base64 of its 32 bytes,
// as EncodePublicKey, exports and GET /api/v1/audit/checkpoints write it.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("the public key must be the base64 of 32 bytes, as `deskwoot audit key` and GET /api/v1/audit/checkpoints print it")
	}
	return ed25519.PublicKey(b), nil
}

// EncodePublicKey writes a public key as ParsePublicKey reads it.
func EncodePublicKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// Querier is a connection that reads one row (a pool or a connection).
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// StoredKey reads the signing key migrate generated (table
// audit_signing_key). Only the owner may read it: pass the owner's
// connection (`deskwoot dev`, `deskwoot audit key`, the bench).
func StoredKey(ctx context.Context, owner Querier) (ed25519.PrivateKey, error) {
	var seed []byte
	if err := owner.QueryRow(ctx, `SELECT seed FROM audit_signing_key`).Scan(&seed); err != nil {
		return nil, fmt.Errorf("read the stored audit signing key (run deskwoot migrate as the owner first; only the owner may read it): %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("the stored audit signing key is not a 32-byte seed")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
