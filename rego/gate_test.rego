# Tests of the account gate (gate.rego): the plan, trial and grace rules.
# A trial starts at signup and lasts exactly 168 hours; here signup is
# 2026-11-26T09:30:00Z, so the trial ends 2026-12-03T09:30:00Z.
package deskwoot.gate_test

import data.deskwoot.gate

_trial_end := "2026-12-03T09:30:00Z"

_account(over) := object.union(
	{
		"plan": "enterprise",
		"status": "trialing",
		"trial_ends_at": _trial_end,
		"mcp_enabled": true,
	},
	over,
)

# ---- the trial ----------------------------------------------------------------

test_trial_day_1_allowed if {
	d := gate.decision with input as {"account": _account({}), "now": "2026-11-26T10:30:00Z"}
	d.allow
}

test_trial_day_7_allowed if {
	d := gate.decision with input as {"account": _account({}), "now": "2026-12-03T09:29:59Z"}
	d.allow
}

test_trial_ends_exactly_after_168_hours if {
	d := gate.decision with input as {"account": _account({}), "now": "2026-12-03T09:30:00Z"}
	not d.allow
	d.code == "trial_ended"
}

test_trial_day_8_denied_with_date_and_what_to_do if {
	d := gate.decision with input as {"account": _account({}), "now": "2026-12-04T12:00:00Z"}
	not d.allow
	d.code == "trial_ended"
	d.reason == "the Enterprise trial ended on 2026-12-03; upgrade to Enterprise to use MCP"
}

test_trial_on_any_plan_is_enterprise if {
	d := gate.decision with input as {"account": _account({"plan": "business"}), "now": "2026-11-30T00:00:00Z"}
	d.allow
}

test_expired_status_denied if {
	d := gate.decision with input as {"account": _account({"status": "expired"}), "now": "2026-11-30T00:00:00Z"}
	not d.allow
	d.code == "trial_ended"
}

# ---- subscriptions ------------------------------------------------------------

test_active_enterprise_allowed if {
	d := gate.decision with input as {"account": _account({"status": "active"}), "now": "2027-06-01T00:00:00Z"}
	d.allow
}

test_active_business_denied if {
	d := gate.decision with input as {"account": _account({"status": "active", "plan": "business"}), "now": "2026-11-30T00:00:00Z"}
	not d.allow
	d.code == "plan_without_mcp"
	d.reason == "the business plan does not include MCP; upgrade to Enterprise to use MCP"
}

test_active_starter_denied if {
	d := gate.decision with input as {"account": _account({"status": "active", "plan": "starter"}), "now": "2026-11-30T00:00:00Z"}
	not d.allow
	d.code == "plan_without_mcp"
}

test_past_due_inside_grace_allowed if {
	d := gate.decision with input as {"account": _account({"status": "past_due", "grace_ends_at": "2027-01-08T00:00:00Z"}), "now": "2027-01-07T23:59:59Z"}
	d.allow
}

test_past_due_outside_grace_denied if {
	d := gate.decision with input as {"account": _account({"status": "past_due", "grace_ends_at": "2027-01-08T00:00:00Z"}), "now": "2027-01-08T00:00:01Z"}
	not d.allow
	d.code == "grace_ended"
	d.reason == "payment is past due and the grace period ended on 2027-01-08; update the payment method to use MCP"
}

test_past_due_business_denied if {
	d := gate.decision with input as {"account": _account({"status": "past_due", "plan": "business", "grace_ends_at": "2027-01-08T00:00:00Z"}), "now": "2027-01-01T00:00:00Z"}
	not d.allow
	d.code == "plan_without_mcp"
}

test_past_due_without_grace_end_denied if {
	d := gate.decision with input as {"account": _account({"status": "past_due"}), "now": "2027-01-01T00:00:00Z"}
	not d.allow
	d.code == "invalid_input"
}

test_canceled_denied if {
	d := gate.decision with input as {"account": _account({"status": "canceled"}), "now": "2026-11-30T00:00:00Z"}
	not d.allow
	d.code == "canceled"
	d.reason == "the subscription was canceled; upgrade to Enterprise to use MCP"
}

# ---- the switch and bad input -------------------------------------------------

test_mcp_switched_off_denied_even_when_entitled if {
	d := gate.decision with input as {"account": _account({"status": "active", "mcp_enabled": false}), "now": "2026-11-30T00:00:00Z"}
	not d.allow
	d.code == "mcp_disabled"
}

test_missing_account_denied if {
	d := gate.decision with input as {"now": "2026-11-30T00:00:00Z"}
	not d.allow
	d.code == "invalid_input"
}

test_missing_clock_denied if {
	d := gate.decision with input as {"account": _account({})}
	not d.allow
	d.code == "invalid_input"
}

test_unknown_status_denied if {
	d := gate.decision with input as {"account": _account({"status": "paused"}), "now": "2026-11-30T00:00:00Z"}
	not d.allow
	d.code == "invalid_input"
}

test_trialing_without_trial_end_denied if {
	d := gate.decision with input as {"account": object.remove(_account({}), ["trial_ends_at"]), "now": "2026-11-30T00:00:00Z"}
	not d.allow
	d.code == "invalid_input"
}
