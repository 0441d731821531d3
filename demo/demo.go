// Package demo seeds a realistic demo workspace — an account, two people,
// inboxes, labels, a team, help-center articles, customer conversations and
// an MCP token — through the tenancy and desk domain functions only, so the
// data is exactly what real traffic would have written. `deskwoot dev` calls
// Seed on start.
package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// AccountName is the name of the seeded account.
const AccountName = "Acme Support (demo)"

// DefaultAdminEmail is the admin's login unless Options says otherwise.
const DefaultAdminEmail = "admin@demo.deskwoot.local"

// MCPTokenName is the name of the seeded MCP token.
const MCPTokenName = "demo-agent"

// MCPRateLimit is the seeded token's calls per minute: high, so demos and
// load experiments are not throttled.
const MCPRateLimit = 6000

// ErrAlreadySeeded means the demo admin's email is already signed up: the
// demo workspace exists from an earlier run and was left as it is. Its
// password and tokens were shown when it was made; sign in with those, or
// seed again with another admin email.
var ErrAlreadySeeded = errors.New("demo workspace already exists")

// Options tunes Seed. The zero value is the standard demo.
type Options struct {
	// AdminEmail is the admin's login (DefaultAdminEmail when empty). The
	// second agent's login is derived from it: local+agent@domain.
	AdminEmail string
	// AdminPassword is the admin's password; a random one when empty.
	AdminPassword string
	// Now is the clock for the trial and the token (time.Now when zero).
	Now time.Time
}

// Workspace is what Seed made, including the secrets shown only once.
type Workspace struct {
	AccountID   int64  `json:"account_id"`
	AccountName string `json:"account_name"`

	AdminUserID   int64  `json:"admin_user_id"`
	AdminEmail    string `json:"admin_email"`
	AdminPassword string `json:"admin_password"`
	AdminAPIToken string `json:"admin_api_token"`

	AgentUserID   int64  `json:"agent_user_id"`
	AgentEmail    string `json:"agent_email"`
	AgentPassword string `json:"agent_password"`
	AgentAPIToken string `json:"agent_api_token"`

	// ChatInboxID is the website inbox holding every seeded conversation;
	// EmailInboxID is the email inbox, with a couple of customer mails.
	ChatInboxID  int64 `json:"chat_inbox_id"`
	EmailInboxID int64 `json:"email_inbox_id"`
	TeamID       int64 `json:"team_id"`

	MCPTokenID int64  `json:"mcp_token_id"`
	MCPToken   string `json:"mcp_token"`

	Counts Counts `json:"counts"`
}

// Counts says how much Seed wrote.
type Counts struct {
	Users         int `json:"users"` // people, not the agent service account
	Inboxes       int `json:"inboxes"`
	Labels        int `json:"labels"`
	Teams         int `json:"teams"`
	Articles      int `json:"articles"`
	Contacts      int `json:"contacts"`
	Conversations int `json:"conversations"`
	Messages      int `json:"messages"` // incoming, replies and notes
}

// Scopes returns every MCP scope; the seeded token holds them all. It must
// match the policy catalog (rego/catalog.rego), which the test checks.
func Scopes() []string {
	return []string{
		"conversations:read",
		"conversations:reply",
		"conversations:note",
		"conversations:draft",
		"conversations:manage",
		"conversations:create",
		"contacts:read",
		"contacts:write",
		"events:read",
		"helpcenter:read",
	}
}

// Seed creates the demo workspace. When the admin email is already signed
// up it writes nothing and returns ErrAlreadySeeded. Seed is not one
// transaction: if a later step fails, the account exists with what was made
// so far, and a rerun with the same email reports ErrAlreadySeeded.
func Seed(ctx context.Context, ids *identity.Identities, d *desk.Desk, opt Options) (Workspace, error) {
	if opt.AdminEmail == "" {
		opt.AdminEmail = DefaultAdminEmail
	}
	if opt.AdminPassword == "" {
		opt.AdminPassword = rand.Text()
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	at := strings.LastIndexByte(opt.AdminEmail, '@')
	if at <= 0 {
		return Workspace{}, fault.Invalidf("email", "admin email must be an address like name@example.com")
	}

	res, err := ids.Signup(ctx, identity.SignupInput{
		AccountName: AccountName, Email: opt.AdminEmail, Name: "Alex Morgan", Password: opt.AdminPassword,
	}, opt.Now)
	if errors.Is(err, tenancy.ErrConflict) {
		return Workspace{}, fmt.Errorf("%w: %s is already signed up; sign in with the password shown when it was made", ErrAlreadySeeded, opt.AdminEmail)
	}
	if err != nil {
		return Workspace{}, fmt.Errorf("demo: signup: %w", err)
	}
	w := Workspace{
		AccountID: res.Account.ID, AccountName: res.Account.Name,
		AdminUserID: res.User.ID, AdminEmail: opt.AdminEmail, AdminPassword: opt.AdminPassword, AdminAPIToken: res.APIToken,
		AgentEmail: opt.AdminEmail[:at] + "+agent" + opt.AdminEmail[at:], AgentPassword: rand.Text(),
	}
	w.Counts.Users = 1
	s := seeder{ctx: ctx, ids: ids, d: d, w: &w, admin: desk.Author{Kind: "user", UserID: res.User.ID, Name: res.User.Name}}
	for _, step := range []struct {
		name string
		fn   func() error
	}{
		{"agent", s.createAgent},
		{"inboxes", s.inboxes},
		{"labels", s.labels},
		{"team", s.team},
		{"articles", s.articles},
		{"conversations", s.conversations},
		{"mcp token", func() error { return s.mcp(opt.Now) }},
	} {
		if err := step.fn(); err != nil {
			return w, fmt.Errorf("demo: %s of account %d: %w", step.name, w.AccountID, err)
		}
	}
	return w, nil
}

// seeder carries the workspace being built between Seed's steps.
type seeder struct {
	ctx   context.Context
	ids   *identity.Identities
	d     *desk.Desk
	w     *Workspace
	admin desk.Author
	agent desk.Author
}

func (s *seeder) createAgent() error {
	u, token, err := s.ids.UserCreate(s.ctx, tenancy.For(s.w.AccountID), s.w.AgentEmail, "Sam Rivera", s.w.AgentPassword, "agent")
	if err != nil {
		return err
	}
	s.w.AgentUserID, s.w.AgentAPIToken = u.ID, token
	s.agent = desk.Author{Kind: "user", UserID: u.ID, Name: u.Name}
	s.w.Counts.Users++
	return nil
}

func (s *seeder) inboxes() error {
	// The chat widget's sites are set by whoever serves the demo
	// (ChatOriginsSet); none until then.
	chat, err := s.d.InboxCreate(s.ctx, tenancy.For(s.w.AccountID), desk.InboxInput{Name: "Website chat", Channel: "website", Settings: map[string]any{
		"allowed_origins": []any{}, "greeting": "Hi! Ask us anything: a person or our AI agent answers within minutes.",
		"email_prompt_after_minutes": 2,
	}})
	if err != nil {
		return err
	}
	email, err := s.d.InboxCreate(s.ctx, tenancy.For(s.w.AccountID), desk.InboxInput{Name: "Email support", Channel: "email", Settings: map[string]any{
		"from_address": "support@acme.example", // Deskwoot assigns its receiving address
	}})
	if err != nil {
		return err
	}
	s.w.ChatInboxID, s.w.EmailInboxID = chat.ID, email.ID
	s.w.Counts.Inboxes = 2
	// The agent works both inboxes: an agent sees only its inboxes'
	// conversations, and the printed agent login should open a full queue.
	for _, id := range []int64{chat.ID, email.ID} {
		if err := s.d.InboxMemberAdd(s.ctx, tenancy.For(s.w.AccountID), id, s.w.AgentUserID); err != nil {
			return err
		}
	}
	return nil
}

func (s *seeder) labels() error {
	for _, l := range []struct{ name, description, color string }{
		{"billing", "Invoices, charges and payment methods", "#1f93ff"},
		{"bug", "Something in the product is broken", "#e5484d"},
		{"refund", "Customer asks for money back", "#f76b15"},
		{"vip", "Enterprise or high-value customer", "#8e4ec6"},
		{"feature-request", "Ideas and requests for the roadmap", "#30a46c"},
	} {
		if _, err := s.d.LabelCreate(s.ctx, tenancy.For(s.w.AccountID), l.name, l.description, l.color); err != nil {
			return err
		}
		s.w.Counts.Labels++
	}
	return nil
}

func (s *seeder) team() error {
	t, err := s.d.TeamCreate(s.ctx, tenancy.For(s.w.AccountID), "Tier 2", "Escalations: bugs, API questions and refunds over $500", []int64{s.w.AgentUserID})
	if err != nil {
		return err
	}
	s.w.TeamID = t.ID
	s.w.Counts.Teams = 1
	return nil
}

func (s *seeder) articles() error {
	for _, a := range articles {
		if _, err := s.d.ArticleCreate(s.ctx, tenancy.For(s.w.AccountID), a.title, a.body, "published"); err != nil {
			return err
		}
		s.w.Counts.Articles++
	}
	return nil
}

// conversations plays each script on the chat inbox: customer lines arrive
// through IncomingMessage (which starts the conversation), replies and notes
// are written by the admin or the agent through MessageCreate.
func (s *seeder) conversations() error {
	for i, sc := range scripts {
		var convID int64
		for j, l := range sc.lines {
			switch l.who {
			case customer:
				r, err := s.d.IncomingMessage(s.ctx, s.w.AccountID, s.w.ChatInboxID, desk.IncomingInput{
					Contact:  desk.IncomingContact{Email: sc.email, Identifier: sc.visitor, Name: sc.name},
					Content:  l.text,
					SourceID: fmt.Sprintf("webchat-%s-%d", sc.visitor, j+1),
				})
				if err != nil {
					return fmt.Errorf("conversation %d (%s): %w", i+1, sc.name, err)
				}
				if convID == 0 {
					convID = r.ConversationID
					s.w.Counts.Contacts++
					s.w.Counts.Conversations++
				}
			default:
				if convID == 0 {
					return fmt.Errorf("conversation %d (%s) must start with the customer", i+1, sc.name)
				}
				by := s.admin
				if l.who == agentReply || l.who == agentNote {
					by = s.agent
				}
				private := l.who == adminNote || l.who == agentNote
				if _, err := s.d.MessageCreate(s.ctx, s.w.AccountID, convID, l.text, private, by); err != nil {
					return fmt.Errorf("conversation %d (%s): %w", i+1, sc.name, err)
				}
			}
			s.w.Counts.Messages++
		}
		if err := s.workflow(convID, workflows[sc.name]); err != nil {
			return fmt.Errorf("conversation %d (%s): %w", i+1, sc.name, err)
		}
	}
	for i, m := range mails {
		if _, err := s.d.IncomingEmail(s.ctx, s.w.AccountID, s.w.EmailInboxID, desk.IncomingEmail{From: m.from, FromName: m.name,
			Subject: m.subject, Text: m.text, MessageID: fmt.Sprintf("demo-mail-%d@%s", i+1, "example.net")}); err != nil {
			return fmt.Errorf("mail %d (%s): %w", i+1, m.name, err)
		}
		s.w.Counts.Contacts++
		s.w.Counts.Conversations++
		s.w.Counts.Messages++
	}
	return nil
}

// workflow labels, prioritises, resolves or hands a seeded conversation to
// the team, through the same desk functions the agent's tools use.
func (s *seeder) workflow(convID int64, wf workflow) error {
	if len(wf.labels) == 0 && wf.status == "" && wf.priority == "" && !wf.toTeam {
		return nil
	}
	return s.d.DB.InTenant(s.ctx, s.w.AccountID, func(tx pgx.Tx) error {
		p := desk.ConversationPatch{AddLabels: wf.labels}
		if wf.status != "" {
			p.Status = &wf.status
		}
		if wf.priority != "" {
			p.Priority = &wf.priority
		}
		if _, err := s.d.ConversationUpdate(s.ctx, tx, s.w.AccountID, convID, p, time.Now()); err != nil {
			return err
		}
		if wf.toTeam {
			_, err := s.d.ConversationAssign(s.ctx, tx, s.w.AccountID, desk.Assignment{ConversationID: convID, AssigneeID: s.w.AgentUserID, TeamID: s.w.TeamID})
			return err
		}
		return nil
	})
}

func (s *seeder) mcp(now time.Time) error {
	if _, err := identity.MCPEnable(s.ctx, s.ids.DB, tenancy.For(s.w.AccountID), true); err != nil {
		return err
	}
	t, raw, err := identity.MCPTokenCreate(s.ctx, s.ids.DB, tenancy.For(s.w.AccountID), identity.MCPTokenInput{
		Name: MCPTokenName, Scopes: Scopes(), RateLimitPerMinute: MCPRateLimit, CreatedBy: s.w.AdminUserID,
	}, now)
	if err != nil {
		return err
	}
	s.w.MCPTokenID, s.w.MCPToken = t.ID, raw
	return nil
}

// ChatOriginsSet lets pages of origins show the workspace's "Website
// chat" widget. `deskwoot dev` sets its test page's origin on every start.
func ChatOriginsSet(ctx context.Context, d *desk.Desk, w Workspace, origins ...string) error {
	list := make([]any, 0, len(origins))
	for _, o := range origins {
		list = append(list, o)
	}
	_, err := d.InboxUpdate(ctx, tenancy.For(w.AccountID), w.ChatInboxID, desk.InboxPatch{Settings: map[string]any{"allowed_origins": list}})
	if err != nil {
		return fmt.Errorf("demo: let %v show the Website chat widget: %w", origins, err)
	}
	return nil
}

// ChatSnippet is the embed snippet of the workspace's "Website chat".
func ChatSnippet(ctx context.Context, d *desk.Desk, w Workspace) (string, error) {
	ibs, err := d.InboxList(ctx, tenancy.For(w.AccountID), desk.Scope{InboxIDs: []int64{w.ChatInboxID}}, true)
	if err != nil || len(ibs) == 0 || ibs[0].EmbedSnippet == "" {
		return "", fmt.Errorf("demo: the Website chat inbox is gone or is no website inbox (%v)", err)
	}
	return ibs[0].EmbedSnippet, nil
}
