package identity

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
)

// MCPSwitches are the brakes an admin holds over the workspace's AI agents
// (DESIGN §22): "Pause AI agents" (write tools refused, reads go on), the
// tools switched off for every token, and the anomaly limits after which a
// token is paused (0 turns a limit off). They are columns of the account,
// so they are part of every principal's stamp: a change reaches every
// replica at its next call.
type MCPSwitches struct {
	AgentsPaused           bool     `json:"agents_paused"`
	DisabledTools          []string `json:"disabled_tools"`
	SuspendAfterDenials    int      `json:"suspend_after_denials"`
	SuspendAfterInboxProbe int      `json:"suspend_after_inbox_probes"`
}

// MCPSwitchesChange is a PUT of the switches: a nil field keeps its value.
type MCPSwitchesChange struct {
	AgentsPaused           *bool
	DisabledTools          *[]string
	SuspendAfterDenials    *int
	SuspendAfterInboxProbe *int
}

// Empty says the change changes nothing.
func (c MCPSwitchesChange) Empty() bool {
	return c.AgentsPaused == nil && c.DisabledTools == nil && c.SuspendAfterDenials == nil && c.SuspendAfterInboxProbe == nil
}

// Validate checks a change against the tool catalog (known, the names the
// caller's policy lists).
func (c *MCPSwitchesChange) Validate(known []string) error {
	if c.DisabledTools != nil {
		tools := slices.Compact(slices.Sorted(slices.Values(*c.DisabledTools)))
		for _, t := range tools {
			if !slices.Contains(known, t) {
				return fault.Invalidf("disabled_tools", "disabled_tools: %q is not a tool of the catalog", cut(t, 100))
			}
		}
		if tools == nil {
			tools = []string{}
		}
		c.DisabledTools = &tools
	}
	if n := c.SuspendAfterDenials; n != nil && (*n < 0 || *n > 10000) {
		return fault.Invalidf("suspend_after_denials", "suspend_after_denials must be 0 (off) to 10000")
	}
	if n := c.SuspendAfterInboxProbe; n != nil && (*n < 0 || *n > 1000) {
		return fault.Invalidf("suspend_after_inbox_probes", "suspend_after_inbox_probes must be 0 (off) to 1000")
	}
	return nil
}

func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

const mcpSwitchesColumns = `mcp_agents_paused, mcp_disabled_tools, mcp_suspend_after_denials, mcp_suspend_after_inbox_probes`

// MCPSwitchesGet reads the account's switches.
func MCPSwitchesGet(ctx context.Context, db *tenancy.DB, accountID int64) (MCPSwitches, error) {
	var sw MCPSwitches
	b := &pgx.Batch{}
	b.Queue(`SELECT `+mcpSwitchesColumns+` FROM accounts WHERE id = $1`, accountID).QueryRow(func(r pgx.Row) error {
		return r.Scan(&sw.AgentsPaused, &sw.DisabledTools, &sw.SuspendAfterDenials, &sw.SuspendAfterInboxProbe)
	})
	return sw, db.Batch(ctx, accountID, b)
}

// MCPSwitchesSet applies a validated change with the request's audit row
// and returns the switches as they are afterwards.
func MCPSwitchesSet(ctx context.Context, db *tenancy.DB, req *tenancy.Request, c MCPSwitchesChange) (MCPSwitches, error) {
	var sw MCPSwitches
	var tools []string
	if c.DisabledTools != nil {
		tools = *c.DisabledTools
	}
	err := db.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) {
		return nil, tx.QueryRow(ctx, `UPDATE accounts SET
				mcp_agents_paused = coalesce($2, mcp_agents_paused),
				mcp_disabled_tools = coalesce($3, mcp_disabled_tools),
				mcp_suspend_after_denials = coalesce($4, mcp_suspend_after_denials),
				mcp_suspend_after_inbox_probes = coalesce($5, mcp_suspend_after_inbox_probes)
			WHERE id = $1 RETURNING `+mcpSwitchesColumns,
			req.AccountID, c.AgentsPaused, tools, c.SuspendAfterDenials, c.SuspendAfterInboxProbe).
			Scan(&sw.AgentsPaused, &sw.DisabledTools, &sw.SuspendAfterDenials, &sw.SuspendAfterInboxProbe)
	})
	return sw, err
}

// PauseByAdmin is the reason a token paused from the console or REST
// carries.
const PauseByAdmin = "paused by an admin"

// MCPTokenPause pauses a token of the request's account (with the
// request's audit row): its calls are refused, naming the pause, until
// MCPTokenResume. Pausing a paused token keeps its first reason. A revoked
// token cannot be paused (it is gone for good).
// The account's waiting long-polls are woken, so that the token's end.
func MCPTokenPause(ctx context.Context, db *tenancy.DB, req *tenancy.Request, tokenID int64, reason string) (MCPToken, error) {
	return mcpTokenPauseSet(ctx, db, req, tokenID, `UPDATE mcp_tokens SET paused_at = coalesce(paused_at, now()),
			pause_reason = CASE WHEN paused_at IS NULL THEN $2 ELSE pause_reason END
		WHERE id = $1 AND revoked_at IS NULL RETURNING `+mcpTokenColumns, tokenID, reason)
}

// MCPTokenResume lifts a token's pause (an admin's or the anomaly
// suspend's), with the request's audit row.
// Refusals counted before the pause are forgotten: the token starts
// afresh.
func MCPTokenResume(ctx context.Context, db *tenancy.DB, req *tenancy.Request, tokenID int64) (MCPToken, error) {
	return mcpTokenPauseSet(ctx, db, req, tokenID, `WITH forgotten AS (DELETE FROM mcp_token_refusals WHERE token_id = $1)
		UPDATE mcp_tokens SET paused_at = NULL, pause_reason = NULL
		WHERE id = $1 AND revoked_at IS NULL RETURNING `+mcpTokenColumns, tokenID)
}

// mcpTokenPauseSet runs a pause or resume statement (args[0] is the token
// id) that returns the token.
func mcpTokenPauseSet(ctx context.Context, db *tenancy.DB, req *tenancy.Request, tokenID int64, sql string, args ...any) (MCPToken, error) {
	var t MCPToken
	err := db.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) {
		rows, _ := tx.Query(ctx, sql, args...)
		var err error
		t, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[MCPToken])
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fault.NotFoundf("token %d not found (or revoked)", tokenID)
		}
		if err != nil {
			return nil, err
		}
		// Wake the account's long-polls (desk.EventHub listens on this
		// channel): a paused token's end at once.
		wake := &pgx.Batch{}
		wake.Queue(`SELECT pg_notify('deskwoot_events', $1::bigint::text)`, req.AccountID)
		return wake, nil
	})
	return t, err
}

// ErrTokenPaused is a token paused since its request was authenticated
// (MCPTokenCheck): a long-poll ends with it.
var ErrTokenPaused = fault.New(fault.Forbidden, "", "token paused")

// mcpTokenState maps a token row's state to MCPTokenCheck's answer.
func mcpTokenState(expires, revoked, paused *time.Time, now time.Time) error {
	switch {
	case revoked != nil:
		return ErrTokenRevoked
	case expires != nil && !now.Before(*expires):
		return ErrTokenExpired
	case paused != nil:
		return ErrTokenPaused
	}
	return nil
}

// Refusal is an MCP call the policy refused, counted toward its token's
// anomaly limits (RecordRefused). OutsideInboxID is the inbox outside the
// token's list that the call named (it was answered "not found"), or 0.
// Limits is the account as the request read it: its anomaly limits are
// the ones counted against.
type Refusal struct {
	TokenID        int64
	OutsideInboxID int64
	Limits         policy.Account
}

// RecordRefused is Record for a refused MCP call: in the same round trip
// it counts the refusal toward the token's anomaly limits (the account's
// suspend_after_denials and suspend_after_inbox_probes over the last five
// minutes, counted in the database so that every replica's refusals add
// up) and returns why the token must be suspended now, or "". The
// suspension itself is the caller's next unit of work (see
// desk.MCPTokenSuspend).
func RecordRefused(ctx context.Context, db *tenancy.DB, req *tenancy.Request, r Refusal) (suspend string, err error) {
	var reason *string
	count := &pgx.Batch{}
	var inbox *int64
	if r.OutsideInboxID != 0 {
		inbox = &r.OutsideInboxID
	}
	// The token is not looked up again (migration 0082): the guard
	// verified it at the start of this same request, a paused token's
	// calls are refused for the pause (which does not count), and the
	// limits are the ones this request read with the token.
	count.Queue(`SELECT deskwoot_mcp_refused($1, $2, $3, $4, $5)`, req.AccountID, r.TokenID, inbox,
		r.Limits.SuspendAfterDenials, r.Limits.SuspendAfterInboxProbes).QueryRow(func(row pgx.Row) error { return row.Scan(&reason) })
	if err := db.Unit(ctx, req, count, nil); err != nil {
		return "", err
	}
	if reason == nil {
		return "", nil
	}
	return *reason, nil
}

// MCPTokenSuspendTx pauses a token in tx for the reason given, unless it
// is paused (or revoked) already, and forgets its counted refusals, so that
// once resumed it starts afresh. ok says it paused the token; name is the
// token's.
func MCPTokenSuspendTx(ctx context.Context, tx pgx.Tx, tokenID int64, reason string) (name string, ok bool, err error) {
	err = tx.QueryRow(ctx, `UPDATE mcp_tokens SET paused_at = now(), pause_reason = $2
		WHERE id = $1 AND paused_at IS NULL AND revoked_at IS NULL RETURNING name`, tokenID, reason).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	_, err = tx.Exec(ctx, `DELETE FROM mcp_token_refusals WHERE token_id = $1`, tokenID)
	return name, err == nil, err
}
