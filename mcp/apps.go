package mcp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"log/slog"
	"strings"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/deskwoot/deskwoot/desk"
)

// Approval in the chat (DESIGN §22) is an MCP App (extension
// io.modelcontextprotocol/ui, SEP-1865): the tools that can leave a draft
// link the draft card (DraftCardURI), which the host reads with
// resources/read and renders beside their result; a drafted result carries
// what the card shows in its _meta (MetaDraftCard), never in what the
// model reads; the card's Approve and Reject call approve_draft and
// reject_draft, tools the host lists for the card only (visibility
// ["app"]). Only an OAuth grant whose consenting person allowed it may
// decide that way (the policy, principal.chat_approval); the decision is
// the console's (desk.DraftDecide), made as that person.
const (
	AppsExtension = "io.modelcontextprotocol/ui"
	AppMIMEType   = "text/html;profile=mcp-app"
	DraftCardURI  = "ui://deskwoot/draft-card"
	// MetaDraftCard is the result _meta key of a drafted result's card data.
	MetaDraftCard = "deskwoot/draft"
)

// draftCardHTML is the card: one self-contained page (inline style and
// script, no remote resource), which sets everything it shows as text.
//
//go:embed draftcard.html
var draftCardHTML string

// appsOptions declare the extension and the resources capability.
func appsOptions() []server.ServerOption {
	return []server.ServerOption{
		server.WithResourceCapabilities(false, false),
		server.WithExtensions(map[string]any{AppsExtension: map[string]any{"mimeTypes": []string{AppMIMEType}}}),
	}
}

// addDraftCard registers the card's resource.
func addDraftCard(m *server.MCPServer) {
	m.AddResource(mcpgo.NewResource(DraftCardURI, "Deskwoot draft card",
		mcpgo.WithResourceDescription("A drafted reply with Approve, Edit and Reject, for hosts that render MCP Apps."),
		mcpgo.WithMIMEType(AppMIMEType)),
		func(context.Context, mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
			return []mcpgo.ResourceContents{mcpgo.TextResourceContents{URI: DraftCardURI, MIMEType: AppMIMEType, Text: draftCardHTML,
				Meta: map[string]any{"ui": map[string]any{"prefersBorder": true}}}}, nil
		})
}

// withCard links a tool that can leave a draft to the card.
func withCard(t tool) tool {
	t.def.Meta = mcpgo.NewMetaFromMap(map[string]any{"ui": map[string]any{"resourceUri": DraftCardURI}})
	return t
}

// Input of the card's tools.
type (
	approveDraftArgs struct {
		DraftID int64  `json:"draft_id" input:"required,id" desc:"The draft the card shows."`
		Nonce   string `json:"nonce" input:"required,max=200" desc:"The card's single-use nonce."`
		Content string `json:"content" input:"max=100000" desc:"The edited text, when the person edited the draft; empty sends it as drafted."`
	}
	rejectDraftArgs struct {
		DraftID int64  `json:"draft_id" input:"required,id" desc:"The draft the card shows."`
		Nonce   string `json:"nonce" input:"required,max=200" desc:"The card's single-use nonce."`
		Reason  string `json:"reason" input:"max=2000" desc:"Why, for the record."`
	}
	draftDecidedOut struct {
		Draft   desk.Draft    `json:"draft"`
		Message *desk.Message `json:"message,omitempty"`
	}
)

// appTools are the card's buttons: app only, never the model's.
func (s *Server) appTools() []tool {
	app := func(t tool) tool {
		t.def.Meta = mcpgo.NewMetaFromMap(map[string]any{"ui": map[string]any{"resourceUri": DraftCardURI, "visibility": []string{"app"}}})
		return t
	}
	return []tool{
		app(spec[approveDraftArgs]{
			name: "approve_draft", opts: append(writeHints("Approve a draft", false),
				mcpgo.WithDescription("The draft card's Approve: sends the draft (or its edit) to the customer as the person who allowed approving in the chat. Called by the card, not the model."),
				mcpgo.WithOutputSchema[draftDecidedOut]()),
			run: func(ctx context.Context, c *call, in *approveDraftArgs) (any, error) {
				dec := desk.DraftDecision{Approve: true}
				if in.Content != "" {
					dec.Content = &in.Content
				}
				return s.decideInChat(ctx, c, in.DraftID, in.Nonce, dec)
			},
		}.tool()),
		app(spec[rejectDraftArgs]{
			name: "reject_draft", opts: append(writeHints("Reject a draft", false),
				mcpgo.WithDescription("The draft card's Reject: nothing reaches the customer. Called by the card, not the model."),
				mcpgo.WithOutputSchema[draftDecidedOut]()),
			run: func(ctx context.Context, c *call, in *rejectDraftArgs) (any, error) {
				return s.decideInChat(ctx, c, in.DraftID, in.Nonce, desk.DraftDecision{Reason: in.Reason})
			},
		}.tool()),
	}
}

// decideInChat is the console's draft decision, made as the grant's
// consenting person with the card's nonce. The request's guard is settled
// first, so a grant revoked or changed since it was kept decides nothing.
func (s *Server) decideInChat(ctx context.Context, c *call, draftID int64, nonce string, dec desk.DraftDecision) (any, error) {
	if err := s.cfg.DB.Check(ctx, c.req); err != nil {
		return nil, err
	}
	dec.UserID = c.p.CreatedBy
	dec.InChat = &desk.ChatProof{TokenID: c.p.TokenID, Nonce: nonce}
	d, m, err := s.cfg.Desk.DraftDecide(ctx, c.p.AccountID, draftID, desk.Scope{}, dec)
	if err != nil {
		return nil, err
	}
	return draftDecidedOut{Draft: d, Message: m}, nil
}

// draftCard is what a drafted result carries for the card: the draft, the
// customer's last message, and — for a grant that may approve in the
// chat — a single-use nonce bound to the draft's text; otherwise where to
// approve it instead. It is nil for a result without a pending draft.
func (s *Server) draftCard(ctx context.Context, c *call, out any) map[string]any {
	var dr *desk.Draft
	switch o := out.(type) {
	case desk.ReplyResult:
		dr = o.Draft
	case desk.OutreachResult:
		dr = o.Draft
	case desk.DraftResult:
		dr = &o.Draft
	}
	if dr == nil || dr.Status != "pending" {
		return nil
	}
	card := map[string]any{"draft_id": dr.ID, "content": dr.Content, "console_url": s.consoleURL("/drafts")}
	var nonce string
	if c.p.ChatApproval {
		nonce = rand.Text() + rand.Text()
	}
	sum := sha256.Sum256([]byte(nonce))
	hash := sum[:]
	if nonce == "" {
		hash = nil // the draft is offered without a nonce: nothing to approve with
	}
	last, err := s.cfg.Desk.DraftChatNonce(ctx, c.p.AccountID, dr.ID, c.p.TokenID, hash)
	if err != nil {
		slog.WarnContext(ctx, "draft card", "draft_id", dr.ID, "err", err)
		nonce = ""
	}
	card["customer_last_message"] = last
	if nonce != "" {
		card["nonce"] = nonce
	} else {
		card["approve_elsewhere"] = "Approve or reject this draft on the Drafts page of the Deskwoot console: " + s.consoleURL("/drafts") +
			". Approving in the chat needs a connection through OAuth whose consent allowed it."
	}
	return card
}

// consoleURL is a console page's absolute URL (the MCP URL's base).
func (s *Server) consoleURL(path string) string {
	return strings.TrimSuffix(s.cfg.Resource, "/api/mcp") + path
}

// withDraftCard adds the card's data to a drafted result's _meta.
func (s *Server) withDraftCard(ctx context.Context, c *call, out any, res *mcpgo.CallToolResult) {
	card := s.draftCard(ctx, c, out)
	if card == nil || res == nil {
		return
	}
	if res.Meta == nil {
		res.Meta = mcpgo.NewMetaFromMap(map[string]any{})
	}
	if res.Meta.AdditionalFields == nil {
		res.Meta.AdditionalFields = map[string]any{}
	}
	res.Meta.AdditionalFields[MetaDraftCard] = card
}
