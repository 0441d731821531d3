# The account gate: may this account use MCP at all right now?
#
# Runs for every MCP request, right after the token is authenticated and
# before any tool is looked at. Input:
#
#   {"account": {"plan", "status", "trial_ends_at", "grace_ends_at", "mcp_enabled"},
#    "now": "RFC3339 time"}
#
# MCP is an Enterprise feature. The gate opens only when an admin has switched
# MCP on AND the account is entitled: an Enterprise trial that has not ended, an
# active Enterprise subscription, or a past-due Enterprise subscription still
# inside its grace period. Anything else, including missing or malformed
# input, keeps it shut with a reason that says what is wrong and what to do.
#
# The reasons are worked out only when the gate is shut.
#
# The clock is read only to compare it with the trial end and the grace end,
# so the answer for an account state cannot change between those instants:
# the server keeps it per account state until the clock crosses the next
# one (policy/gatecache.go, tested against this policy at the boundaries).
# Reading input.now in any other way needs that cache changed with it.
package deskwoot.gate

default decision := {
	"allow": false,
	"reason": "account state is missing; access denied",
	"code": "invalid_input",
}

decision := {"allow": true, "reason": "", "code": "ok"} if {
	allow
} else := _shut

# ---- entitlement: the only ways in ------------------------------------------

# allow is true only when MCP is switched on and the account is entitled.
# authz.rego reuses it. Each body reads input directly and rule indexing picks
# the one body for the account's status, so the open path stays short.
default allow := false

# The trial is an Enterprise trial, whatever plan the account has picked.
allow if {
	input.account.mcp_enabled = true
	input.account.status = "trialing"
	input.account.plan in data.deskwoot.plans.all
	time.parse_rfc3339_ns(input.now) < time.parse_rfc3339_ns(input.account.trial_ends_at)
}

allow if {
	input.account.mcp_enabled = true
	input.account.status = "active"
	input.account.plan = data.deskwoot.plans.with_mcp
	time.parse_rfc3339_ns(input.now)
}

allow if {
	input.account.mcp_enabled = true
	input.account.status = "past_due"
	input.account.plan = data.deskwoot.plans.with_mcp
	time.parse_rfc3339_ns(input.now) < time.parse_rfc3339_ns(input.account.grace_ends_at)
}

# The plans are written once, in data.json (data.deskwoot.plans), which Go
# reads too.
_plans := {p | some p in data.deskwoot.plans.all}

_statuses := {"trialing", "active", "past_due", "canceled", "expired"}

# ---- why the gate is shut ---------------------------------------------------

_account := object.get(input, "account", null)

_now := time.parse_rfc3339_ns(input.now)

_trial_ends := time.parse_rfc3339_ns(_account.trial_ends_at)

_grace_ends := time.parse_rfc3339_ns(_account.grace_ends_at)

_shut := {"allow": false, "reason": _invalid, "code": "invalid_input"} if {
	_invalid
} else := {
	"allow": false,
	"reason": "MCP is switched off for this account; an admin can switch it on with PUT /api/v1/settings/mcp",
	"code": "mcp_disabled",
} if {
	_account.mcp_enabled == false
} else := _closed

# _is and _known test a field that may be missing: `not is_boolean(x.y)`
# would be undefined, not true, when x.y is missing.
_is(obj, key, type) if type_name(obj[key]) == type

_known(obj, key, values) if obj[key] in values

# _invalid names the first thing wrong with the input, if anything is.
_invalid := "account state is missing; access denied" if {
	not is_object(_account)
} else := "the current time is missing or not an RFC3339 time; access denied" if {
	not _now
} else := "account mcp_enabled must be true or false; access denied" if {
	not _is(_account, "mcp_enabled", "boolean")
} else := "account plan is missing or unknown; access denied" if {
	not _known(_account, "plan", _plans)
} else := "account status is missing or unknown; access denied" if {
	not _known(_account, "status", _statuses)
} else := "the account's trial end is missing or not an RFC3339 time; access denied" if {
	_account.status in {"trialing", "expired"}
	not _trial_ends
} else := "the account's grace period end is missing or not an RFC3339 time; access denied" if {
	_account.status == "past_due"
	_account.plan == data.deskwoot.plans.with_mcp
	not _grace_ends
}

# _closed explains a well-formed account that is not entitled.
_closed := {
	"allow": false,
	"reason": sprintf("the Enterprise trial ended on %s; upgrade to Enterprise to use MCP", [_date(_trial_ends)]),
	"code": "trial_ended",
} if {
	_account.status in {"trialing", "expired"}
} else := {
	"allow": false,
	"reason": "the subscription was canceled; upgrade to Enterprise to use MCP",
	"code": "canceled",
} if {
	_account.status == "canceled"
} else := {
	"allow": false,
	"reason": sprintf("the %s plan does not include MCP; upgrade to Enterprise to use MCP", [_account.plan]),
	"code": "plan_without_mcp",
} if {
	_account.plan != data.deskwoot.plans.with_mcp
} else := {
	"allow": false,
	"reason": sprintf("payment is past due and the grace period ended on %s; update the payment method to use MCP", [_date(_grace_ends)]),
	"code": "grace_ended",
} if {
	_account.status == "past_due"
}

# _date formats nanoseconds since the epoch as YYYY-MM-DD in UTC.
_date(ns) := time.format([ns, "UTC", "2006-01-02"])
