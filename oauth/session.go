package oauth

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/ory/fosite"
)

// Session is what an authorization carries from the consent page to its
// grant: who consented, in which account, and what they allowed besides
// the scopes (which fosite keeps as granted scopes).
type Session struct {
	AccountID       int64   `json:"account_id"`
	UserID          int64   `json:"user_id"`
	ClientName      string  `json:"client_name"`
	Resource        string  `json:"resource"`
	InboxIDs        []int64 `json:"inbox_ids"` // nil = every inbox
	RequireApproval bool    `json:"require_approval"`
	// ChatApproval: the person allowed approving the grant's drafts in
	// the chat (the MCP Apps draft card); off unless ticked.
	ChatApproval bool                           `json:"chat_approval,omitempty"`
	ExpiresAt    map[fosite.TokenType]time.Time `json:"expires_at"`
}

var _ fosite.Session = (*Session)(nil)

// SetExpiresAt implements fosite.Session.
func (s *Session) SetExpiresAt(key fosite.TokenType, exp time.Time) {
	if s.ExpiresAt == nil {
		s.ExpiresAt = map[fosite.TokenType]time.Time{}
	}
	s.ExpiresAt[key] = exp
}

// GetExpiresAt implements fosite.Session.
func (s *Session) GetExpiresAt(key fosite.TokenType) time.Time { return s.ExpiresAt[key] }

// GetUsername implements fosite.Session.
func (s *Session) GetUsername() string { return s.GetSubject() }

// GetSubject implements fosite.Session: the consenting person's user id.
func (s *Session) GetSubject() string { return strconv.FormatInt(s.UserID, 10) }

// Clone implements fosite.Session.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	c.InboxIDs = slices.Clone(s.InboxIDs)
	c.ExpiresAt = maps.Clone(s.ExpiresAt)
	return &c
}
