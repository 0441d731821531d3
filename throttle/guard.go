package throttle

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits are the abuse limits of one replica (zero fields take defaults).
type Limits struct {
	// SignupsPerHour is how many workspaces one address may create an hour
	// (DESKWOOT_SIGNUPS_PER_HOUR, default 5).
	SignupsPerHour int
	// IPHeader names the header a reverse proxy puts the client's address
	// in (DESKWOOT_CLIENT_IP_HEADER, e.g. X-Forwarded-For); empty uses the
	// connection's peer address.
	IPHeader string
}

// Defaults of the limits that are not settable.
const (
	DefaultSignupsPerHour = 5
	// SignInPerAddress: one address may try 30 passwords at once, then one
	// every 6 seconds, whatever the emails (password spraying).
	SignInPerAddressBurst = 30
	SignInPerAddressEvery = 6 * time.Second
	// MCPAuthFailures: one address may fail MCP authentication (missing,
	// unknown, revoked or expired token) 100 times at once, then twice a
	// second; past that each failure answers 429, and a missing or
	// malformed token is turned away before any look-up. A valid token
	// still authenticates (see MCPAuthLookup).
	MCPAuthFailureBurst = 100
	MCPAuthFailureEvery = 500 * time.Millisecond
	// TakenEmails: a workspace may be told 10 times that an email it wants
	// a new login for is taken, then once every 6 minutes; past that every
	// new login it asks for waits, whether its email is taken or not (see
	// NewLoginWait).
	TakenEmailBurst = 10
	TakenEmailEvery = 6 * time.Minute
	// ResetPerEmail: 3 password reset requests for one email at once, then
	// one every 10 minutes, from anywhere (the owner's mailbox is not
	// flooded). ResetPerAddress: one address may ask 10 at once, then one
	// a minute, whatever the emails.
	ResetPerEmailBurst   = 3
	ResetPerEmailEvery   = 10 * time.Minute
	ResetPerAddressBurst = 10
	ResetPerAddressEvery = time.Minute
	// SignupMailPerEmail: in confirm mode (DESKWOOT_SIGNUP=confirm) 3
	// signup links mailed to one email at once, then one every 10
	// minutes, from anywhere, taken or not (the mailbox is not flooded).
	SignupMailPerEmailBurst = 3
	SignupMailPerEmailEvery = 10 * time.Minute
)

// Guard is every per-address abuse limit of one replica, shared by the doors
// (REST, console, MCP) so that using several doors does not multiply an
// attacker's budget. Safe for concurrent use.
type Guard struct {
	ipHeader string
	// signIn counts per email and address together, so a stranger failing
	// on purpose elsewhere cannot lock the owner out; signInAddr counts per
	// address, so one address spraying many emails is slowed.
	signIn, signInAddr, signup, mcpAuth *Throttle
	// takenEmails counts, per account, new logins refused because their
	// email is taken.
	takenEmails *Throttle
	// resetEmail and resetAddr count password reset requests per email
	// and per address.
	resetEmail, resetAddr *Throttle
	// signupMail counts confirm-mode signup mails per email.
	signupMail *Throttle

	// lookups are the addresses over their MCP failure budget that have a
	// token being looked up right now (MCPAuthLookup).
	mu      sync.Mutex
	lookups map[string]bool
}

// NewGuard builds the limits.
func NewGuard(l Limits) *Guard {
	if l.SignupsPerHour <= 0 {
		l.SignupsPerHour = DefaultSignupsPerHour
	}
	return &Guard{
		ipHeader:   l.IPHeader,
		signIn:     NewSignIn(),
		signInAddr: New(SignInPerAddressEvery, SignInPerAddressBurst),
		signup:     New(time.Hour/time.Duration(l.SignupsPerHour), l.SignupsPerHour),
		mcpAuth:    New(MCPAuthFailureEvery, MCPAuthFailureBurst),

		takenEmails: New(TakenEmailEvery, TakenEmailBurst),
		resetEmail:  New(ResetPerEmailEvery, ResetPerEmailBurst),
		resetAddr:   New(ResetPerAddressEvery, ResetPerAddressBurst),
		signupMail:  New(SignupMailPerEmailEvery, SignupMailPerEmailBurst),
	}
}

// PasswordReset spends one password reset request for email from r's
// address; it returns how long to wait when either budget is spent (0: go
// ahead). The budgets are the same whether or not anyone signs in with
// email, so the answer says nothing about it.
func (g *Guard) PasswordReset(r *http.Request, email string, now time.Time) time.Duration {
	return g.PasswordResetQuota(r, email, now).Wait
}

// PasswordResetQuota is PasswordReset answering with the tighter budget's
// quota.
func (g *Guard) PasswordResetQuota(r *http.Request, email string, now time.Time) Quota {
	addr := g.resetAddr.Spend(ClientIP(r, g.ipHeader), now)
	if addr.Wait > 0 {
		return addr
	}
	return Tighter(addr, g.resetEmail.Spend(strings.ToLower(strings.TrimSpace(email)), now))
}

// SignupMail spends one confirm-mode signup mail to email (after Signup
// spent the address's budget); the budget is the same whether or not the
// email has a login, so the answer says nothing about it.
func (g *Guard) SignupMail(email string, now time.Time) Quota {
	return g.signupMail.Spend(strings.ToLower(strings.TrimSpace(email)), now)
}

// SignIn spends one password attempt for email from r's address; it
// returns how long to wait when either budget is spent (0: go ahead).
func (g *Guard) SignIn(r *http.Request, email string, now time.Time) time.Duration {
	return g.SignInQuota(r, email, now).Wait
}

// SignInQuota is SignIn answering with the tighter budget's quota.
func (g *Guard) SignInQuota(r *http.Request, email string, now time.Time) Quota {
	ip := ClientIP(r, g.ipHeader)
	addr := g.signInAddr.Spend(ip, now)
	if addr.Wait > 0 {
		return addr
	}
	return Tighter(addr, g.signIn.Spend(strings.ToLower(strings.TrimSpace(email))+" "+ip, now))
}

// Signup spends one signup for r's address.
func (g *Guard) Signup(r *http.Request, now time.Time) time.Duration {
	return g.SignupQuota(r, now).Wait
}

// SignupQuota is Signup answering with the quota.
func (g *Guard) SignupQuota(r *http.Request, now time.Time) Quota {
	return g.signup.Spend(ClientIP(r, g.ipHeader), now)
}

// MCPAuthWait is how long r's address must wait because of earlier failed
// MCP authentications (0: go ahead). It spends nothing.
func (g *Guard) MCPAuthWait(r *http.Request, now time.Time) time.Duration {
	return g.mcpAuth.Wait(ClientIP(r, g.ipHeader), now)
}

// MCPAuthLookup lets a well-formed token from an address over its failure
// budget be looked up, so that a valid token sharing an address with a
// brute-forcer (a NAT, an office) still authenticates while the guesses get
// 429. One look-up at a time per address: a flood of well-formed guesses
// holds one database connection, not the pool. It reports false when a
// look-up from the address is already under way; otherwise call release
// when the look-up is done.
func (g *Guard) MCPAuthLookup(r *http.Request) (release func(), ok bool) {
	ip := ClientIP(r, g.ipHeader)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lookups[ip] {
		return nil, false
	}
	if g.lookups == nil {
		g.lookups = map[string]bool{}
	}
	g.lookups[ip] = true
	return func() {
		g.mu.Lock()
		delete(g.lookups, ip)
		g.mu.Unlock()
	}, true
}

// MCPAuthFailed records a failed MCP authentication from r's address.
func (g *Guard) MCPAuthFailed(r *http.Request, now time.Time) {
	g.mcpAuth.Take(ClientIP(r, g.ipHeader), now)
}

// Emails are unique across workspaces, so "that email is taken" tells an
// admin that someone, somewhere, has a Deskwoot login with it, and any
// admin (anyone, through signup) could ask about email after email.
// Invitations answer alike whether or not the email has a login (its
// owner accepts with it). POST /api/v1/users, which creates a login with a
// password the admin chooses, cannot: the free email then signs in with
// that password and the taken one does not, unless its owner's password
// were replaced, which would hand the login to a stranger. So a workspace
// learns "taken" a few times an hour there, and then learns nothing: every
// new login it asks for waits, taken or not.

// NewLoginWait is how long accountID must wait before asking for another
// new login (0: go ahead). It spends nothing.
func (g *Guard) NewLoginWait(accountID int64, now time.Time) time.Duration {
	return g.takenEmails.Wait(strconv.FormatInt(accountID, 10), now)
}

// NewLoginTaken records that a new login accountID asked for was refused
// because its email is taken.
func (g *Guard) NewLoginTaken(accountID int64, now time.Time) {
	g.takenEmails.Take(strconv.FormatInt(accountID, 10), now)
}

// ClientIP is the key for "one address": the connection's peer, or, behind
// a reverse proxy, the last address in header (the one the proxy itself
// saw, which a client cannot forge) when header is set. IPv6 addresses
// count by their /64, which one client usually holds whole.
func ClientIP(r *http.Request, header string) string {
	s := ""
	if header != "" {
		if v := r.Header.Values(header); len(v) > 0 {
			parts := strings.Split(v[len(v)-1], ",")
			s = strings.TrimSpace(parts[len(parts)-1])
		}
	}
	if s == "" {
		s = r.RemoteAddr
		if h, _, err := net.SplitHostPort(s); err == nil {
			s = h
		}
	}
	ip := net.ParseIP(strings.Trim(s, "[]"))
	if ip == nil {
		return s
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}
