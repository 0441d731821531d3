package policy

import (
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Principal is who is calling: an MCP token of an account. It becomes
// input.principal.
type Principal struct {
	AccountID int64    `json:"account_id"`
	TokenID   int64    `json:"token_id"`
	Scopes    []string `json:"scopes"`
	// InboxIDs restricts the token to these inboxes; nil means every inbox
	// (sent to Rego as null), an empty slice means none.
	InboxIDs        []int64 `json:"inbox_ids"`
	RequireApproval bool    `json:"require_approval"`
	// Paused says an admin (or the anomaly suspend) paused the token:
	// every call is denied, naming PauseReason, until it is resumed.
	Paused      bool   `json:"paused"`
	PauseReason string `json:"pause_reason,omitempty"`
	// ChatApproval says the token is an OAuth grant whose consent allowed
	// approving its drafts in the chat: the app-only tools of the draft
	// card (MCP Apps) are for it alone.
	ChatApproval bool `json:"chat_approval"`
}

// Account is an account's state as every decision about it reads it: the
// plan state (the Rego gate, trial.Compute for people, the console's
// banner) and the brakes an admin holds over the agents (the tool
// decision). It is the one shape of that state: identity reads it with
// the account (identity.Account.State) and with each MCP principal
// (identity.MCPPrincipal.Account), and billing's row gives it too. The
// tagged fields become input.account; the rest is read with it, by Go
// only, and never reaches Rego.
type Account struct {
	Plan        string     `json:"plan"`   // starter | business | enterprise
	Status      string     `json:"status"` // trialing | active | past_due | canceled | expired
	TrialEndsAt *time.Time `json:"trial_ends_at,omitempty"`
	GraceEndsAt *time.Time `json:"grace_ends_at,omitempty"`
	MCPEnabled  bool       `json:"mcp_enabled"`
	// AgentsPaused is the workspace's "Pause AI agents": every write tool
	// is denied, reads go on. DisabledTools are switched off for every
	// token: denied, and left out of tools/list.
	AgentsPaused  bool     `json:"agents_paused"`
	DisabledTools []string `json:"disabled_tools"`

	// TenantRulesVersion is the version of the account's own policy rules
	// in force (see TenantModule); 0 when it has none.
	TenantRulesVersion int `json:"-"`
	// SuspendAfterDenials and SuspendAfterInboxProbes are the anomaly
	// limits after which a token is paused (0: off); with both off a
	// refusal is recorded alone.
	SuspendAfterDenials     int `json:"-"`
	SuspendAfterInboxProbes int `json:"-"`
}

// CountsRefusals says the account suspends tokens that keep being
// refused: its refusals are counted (identity.RecordRefused).
func (a Account) CountsRefusals() bool {
	return a.SuspendAfterDenials > 0 || a.SuspendAfterInboxProbes > 0
}

// Target is the object a tool call touches, loaded by the caller under RLS
// before asking for a decision. Kind is the tool's catalog target. Zero ids
// mean "none" and are left out of the input. For a contact, ContactInboxIDs
// are the inboxes it is linked to and ContactCreatedByTokenID the token that
// created it, if any.
type Target struct {
	Kind                    string  `json:"kind,omitempty"`
	InboxID                 int64   `json:"inbox_id,omitempty"`
	ConversationID          int64   `json:"conversation_id,omitempty"`
	ContactID               int64   `json:"contact_id,omitempty"`
	ArticleID               int64   `json:"article_id,omitempty"`
	ContactInboxIDs         []int64 `json:"contact_inbox_ids,omitempty"`
	ContactCreatedByTokenID int64   `json:"contact_created_by_token_id,omitempty"`
}

// Input is one tool decision's input document (see rego/authz.rego).
type Input struct {
	Principal Principal      `json:"principal"`
	Account   Account        `json:"account"`
	Tool      string         `json:"tool"`
	Args      map[string]any `json:"args"`
	Target    Target         `json:"target"`
	Now       time.Time      `json:"now"`
}

// Key terms are built once; ast terms are never mutated by evaluation.
var (
	keyPrincipal       = ast.StringTerm("principal")
	keyAccount         = ast.StringTerm("account")
	keyTool            = ast.StringTerm("tool")
	keyArgs            = ast.StringTerm("args")
	keyTarget          = ast.StringTerm("target")
	keyNow             = ast.StringTerm("now")
	keyAccountID       = ast.StringTerm("account_id")
	keyTokenID         = ast.StringTerm("token_id")
	keyScopes          = ast.StringTerm("scopes")
	keyInboxIDs        = ast.StringTerm("inbox_ids")
	keyRequireApproval = ast.StringTerm("require_approval")
	keyPlan            = ast.StringTerm("plan")
	keyStatus          = ast.StringTerm("status")
	keyTrialEndsAt     = ast.StringTerm("trial_ends_at")
	keyGraceEndsAt     = ast.StringTerm("grace_ends_at")
	keyMCPEnabled      = ast.StringTerm("mcp_enabled")
	keyAgentsPaused    = ast.StringTerm("agents_paused")
	keyDisabledTools   = ast.StringTerm("disabled_tools")
	keyPaused          = ast.StringTerm("paused")
	keyPauseReason     = ast.StringTerm("pause_reason")
	keyChatApproval    = ast.StringTerm("chat_approval")
	keyKind            = ast.StringTerm("kind")
	keyInboxID         = ast.StringTerm("inbox_id")
	keyConversationID  = ast.StringTerm("conversation_id")
	keyContactID       = ast.StringTerm("contact_id")
	keyArticleID       = ast.StringTerm("article_id")
	keyContactInboxIDs = ast.StringTerm("contact_inbox_ids")
	keyContactByToken  = ast.StringTerm("contact_created_by_token_id")
)

// value converts the input to the ast form Rego evaluates, without a JSON
// round trip.
func (in Input) value() (ast.Value, error) { return in.valueWith(nil) }

// valueWith is value with the principal and account taken from c when it
// holds them (c may be nil).
func (in Input) valueWith(c *termCache) (ast.Value, error) {
	args, err := argsTerm(in.Args)
	if err != nil {
		return nil, err
	}
	var principal, account *ast.Term
	if c != nil {
		principal, account = c.principal(in.Principal), c.account(in.Account)
	} else {
		principal, account = in.Principal.term(), in.Account.term()
	}
	obj := ast.NewObject(
		ast.Item(keyPrincipal, principal),
		ast.Item(keyAccount, account),
		ast.Item(keyTool, ast.StringTerm(in.Tool)),
		ast.Item(keyArgs, args),
		ast.Item(keyTarget, in.Target.term()),
	)
	if t := timeTerm(in.Now); t != nil {
		obj.Insert(keyNow, t)
	}
	return obj, nil
}

// gateValue is the gate's input document: {account, now}.
func gateValue(acct Account, now time.Time) ast.Value {
	obj := ast.NewObject(ast.Item(keyAccount, acct.term()))
	if t := timeTerm(now); t != nil {
		obj.Insert(keyNow, t)
	}
	return obj
}

// principalValue is the input for visible_tools: {principal, account, now}.
func principalValue(p Principal, acct Account, now time.Time) ast.Value {
	obj := ast.NewObject(
		ast.Item(keyPrincipal, p.term()),
		ast.Item(keyAccount, acct.term()),
	)
	if t := timeTerm(now); t != nil {
		obj.Insert(keyNow, t)
	}
	return obj
}

func (p Principal) term() *ast.Term {
	scopes := make([]*ast.Term, len(p.Scopes))
	for i, s := range p.Scopes {
		scopes[i] = ast.StringTerm(s)
	}
	inboxes := ast.NullTerm()
	if p.InboxIDs != nil {
		inboxes = idsTerm(p.InboxIDs)
	}
	obj := ast.NewObject(
		ast.Item(keyAccountID, intTerm(p.AccountID)),
		ast.Item(keyTokenID, intTerm(p.TokenID)),
		ast.Item(keyScopes, ast.ArrayTerm(scopes...)),
		ast.Item(keyInboxIDs, inboxes),
		ast.Item(keyRequireApproval, ast.BooleanTerm(p.RequireApproval)),
		ast.Item(keyPaused, ast.BooleanTerm(p.Paused)),
		ast.Item(keyChatApproval, ast.BooleanTerm(p.ChatApproval)),
	)
	if p.PauseReason != "" {
		obj.Insert(keyPauseReason, ast.StringTerm(p.PauseReason))
	}
	return ast.NewTerm(obj)
}

func (a Account) term() *ast.Term {
	obj := ast.NewObject(
		ast.Item(keyPlan, ast.StringTerm(a.Plan)),
		ast.Item(keyStatus, ast.StringTerm(a.Status)),
		ast.Item(keyMCPEnabled, ast.BooleanTerm(a.MCPEnabled)),
		ast.Item(keyAgentsPaused, ast.BooleanTerm(a.AgentsPaused)),
		ast.Item(keyDisabledTools, stringsTerm(a.DisabledTools)),
	)
	if a.TrialEndsAt != nil {
		if t := timeTerm(*a.TrialEndsAt); t != nil {
			obj.Insert(keyTrialEndsAt, t)
		}
	}
	if a.GraceEndsAt != nil {
		if t := timeTerm(*a.GraceEndsAt); t != nil {
			obj.Insert(keyGraceEndsAt, t)
		}
	}
	return ast.NewTerm(obj)
}

func (t Target) term() *ast.Term {
	obj := ast.NewObject()
	if t.Kind != "" {
		obj.Insert(keyKind, ast.StringTerm(t.Kind))
	}
	for _, f := range [...]struct {
		key *ast.Term
		id  int64
	}{
		{keyInboxID, t.InboxID},
		{keyConversationID, t.ConversationID},
		{keyContactID, t.ContactID},
		{keyArticleID, t.ArticleID},
		{keyContactByToken, t.ContactCreatedByTokenID},
	} {
		if f.id != 0 {
			obj.Insert(f.key, intTerm(f.id))
		}
	}
	if t.ContactInboxIDs != nil || t.Kind == "contact" {
		obj.Insert(keyContactInboxIDs, idsTerm(t.ContactInboxIDs))
	}
	return ast.NewTerm(obj)
}

func argsTerm(args map[string]any) (*ast.Term, error) {
	if len(args) == 0 {
		return ast.ObjectTerm(), nil
	}
	v, err := ast.InterfaceToValue(args)
	if err != nil {
		return nil, fmt.Errorf("policy: convert tool arguments: %w", err)
	}
	return ast.NewTerm(v), nil
}

func stringsTerm(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(terms...)
}

func idsTerm(ids []int64) *ast.Term {
	terms := make([]*ast.Term, len(ids))
	for i, id := range ids {
		terms[i] = intTerm(id)
	}
	return ast.ArrayTerm(terms...)
}

func intTerm(n int64) *ast.Term {
	return ast.InternedTerm(int(n))
}

// timeTerm renders t as an RFC3339 string; the zero time is left out so that
// a forgotten clock reads as missing input, which never allows.
func timeTerm(t time.Time) *ast.Term {
	if t.IsZero() {
		return nil
	}
	return ast.StringTerm(t.UTC().Format(time.RFC3339Nano))
}
