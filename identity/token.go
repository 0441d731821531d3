package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"hash/crc32"
	"math/big"
	"strings"
)

// Token prefixes: a user API token and an MCP token.
const (
	UserTokenPrefix = "dw_usr_"
	MCPTokenPrefix  = "dw_mcp_"
)

const (
	base62       = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	secretLen    = 43 // 43 base62 characters carry 256 bits
	checksumLen  = 6
	displayChars = 4
)

// NewToken returns a fresh raw token (prefix + 256 random bits in base62 +
// a CRC32 checksum, so typos are rejected before any database look-up), its
// SHA-256 for storage, and a short display prefix.
func NewToken(prefix string) (raw string, hash []byte, display string) {
	var b [secretLen]byte
	max := big.NewInt(int64(len(base62)))
	for i := range b {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		b[i] = base62[n.Int64()]
	}
	body := string(b[:])
	raw = prefix + body + checksum(body)
	return raw, HashToken(raw), raw[:len(prefix)+displayChars]
}

// ParseToken checks a presented token's shape and checksum and returns its
// hash. ok is false for anything that cannot be one of our tokens.
func ParseToken(raw, prefix string) (hash []byte, ok bool) {
	if !strings.HasPrefix(raw, prefix) || len(raw) != len(prefix)+secretLen+checksumLen {
		return nil, false
	}
	body := raw[len(prefix) : len(raw)-checksumLen]
	if checksum(body) != raw[len(raw)-checksumLen:] {
		return nil, false
	}
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(base62, body[i]) < 0 {
			return nil, false
		}
	}
	return HashToken(raw), true
}

// HashToken is what the database stores and looks up. Comparison happens as
// an index look-up on the hash, so the raw token is never compared.
func HashToken(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

func checksum(body string) string {
	n := crc32.ChecksumIEEE([]byte(body))
	out := make([]byte, checksumLen)
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return string(out)
}
