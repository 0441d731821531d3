# The tool decision: may this token call this tool on this object now?
#
# Runs for every tools/call, after the server has loaded the target object
# under row-level security. Input:
#
#   {"principal": {"account_id", "token_id", "scopes": [..], "inbox_ids": [..] | null,
#                  "require_approval": bool, "paused": bool, "pause_reason"},
#    "account":   {... as for the gate ..., "agents_paused": bool, "disabled_tools": [..]},
#    "tool":      "reply_to_conversation",
#    "args":      {... the tool's arguments ...},
#    "target":    {"kind", "inbox_id", "conversation_id", "contact_id", "article_id",
#                  "contact_inbox_ids": [..], "contact_created_by_token_id"},
#    "now":       "RFC3339 time"}
#
# The target carries the fields of the tool's catalog target: inbox_id for a
# conversation (its inbox) or an inbox; contact_inbox_ids and
# contact_created_by_token_id for a contact.
#
# Output (decision):
#
#   {"allow": bool, "reasons": [..], "draft_only": bool, "not_found": bool}
#
# The decision is the account gate (gate.rego) and then the tool decision
# proper (tool_decision, the same output). With the gate shut every call is
# denied, the gate's reason first.
#
# Default deny. A call is allowed only when every positive condition of the
# first tool_decision body holds; anything missing or of the wrong type fails
# one of them. The reasons are worked out only for a denial. When the denial is
# about an object outside the token's inboxes, the reasons read exactly like
# "not found" and not_found is true, so a token cannot learn what exists
# beyond its inboxes.
#
# Every allowed call runs that first body, so it reads input directly and uses
# unification and lookups rather than helper rules: each rule evaluated costs
# about a microsecond, as much as OPA's whole fixed cost per query. For the
# same reason _within and _approval are functions whose first arguments are
# constants: OPA's rule index then picks the one body that applies instead
# of trying each, and an account without rules of its own is told apart by
# a single lookup (not data.deskwoot.tenant). The denial branches below
# work the reasons out in full; they run only for a denial. The server,
# which has just passed the request through the gate, asks tool_decision
# directly when the gate is open (policy.Engine.Decide), so that the gate is
# not worked out twice per call.
package deskwoot.authz

import data.deskwoot.catalog
import data.deskwoot.gate

default decision := {
	"allow": false,
	"reasons": ["the request is malformed; access denied"],
	"draft_only": false,
	"not_found": false,
}

decision := tool_decision if {
	gate.allow
} else := {
	"allow": false,
	"reasons": array.concat([gate.decision.reason], sort(_hidden)),
	"draft_only": false,
	"not_found": true,
} if {
	count(_hidden) > 0
} else := {
	"allow": false,
	"reasons": array.concat([gate.decision.reason], _reasons),
	"draft_only": false,
	"not_found": false,
}

# tool_decision is the decision past an open account gate.
default tool_decision := {
	"allow": false,
	"reasons": ["the request is malformed; access denied"],
	"draft_only": false,
	"not_found": false,
}

tool_decision := {"allow": true, "reasons": [], "draft_only": approval.draft_only, "not_found": false, "approval_reasons": approval.reasons} if {
	# The principal is well formed: ids are numbers, scopes an array,
	# inbox_ids null (every inbox) or an array, require_approval a boolean.
	p := input.principal
	is_number(p.account_id)
	is_number(p.token_id)
	is_array(p.scopes)
	{"null", "array"}[type_name(p.inbox_ids)]

	# The tool is in the catalog and is not of a forbidden kind (the
	# expression is catalog.forbidden_kinds; a test keeps them equal).
	def := catalog.tools[input.tool]
	regex.match(`settings|channel|billing|subscription|delete|destroy|purge|remove_contact|remove_conversation|broadcast|campaign|webhook|export`, input.tool) = false

	# The token holds the tool's scope, and the tool is one the model
	# calls (an app-only tool has its own body below).
	p.scopes[_] = def.scope
	not def.app_only

	# No switch holds the call back (DESIGN §22): the token is not paused,
	# the tool is not switched off, and a write goes on only while the
	# workspace has not paused its agents. (A missing switch is off, so
	# that decisions recorded before the switches existed replay alike.)
	object.get(p, "paused", false) == false
	not input.tool in object.get(input.account, "disabled_tools", [])
	_writes_go_on(def.access)

	# The object, and the inbox named in the arguments, lie within the
	# token's inboxes.
	_within(def.inbox_arg, def.target)

	# No rule of the account's own policy (package deskwoot.tenant) denies;
	# a require_approval token, or an account rule requiring approval,
	# drafts instead of reaching the customer (_approval, below).
	approval := _approval(def.drafts_on_approval)
} else := {"allow": true, "reasons": [], "draft_only": false, "not_found": false, "approval_reasons": []} if {
	# An app-only tool (the draft card's Approve and Reject, MCP Apps) is a
	# person's decision, carried by an OAuth grant whose consenting person
	# allowed approving drafts in the chat; the switches hold it back like
	# any write. Which drafts, and whether that person may still decide
	# them, the server checks as the console does.
	def := catalog.tools[input.tool]
	def.app_only == true
	input.principal.chat_approval == true
	object.get(input.principal, "paused", false) == false
	not input.tool in object.get(input.account, "disabled_tools", [])
	_writes_go_on(def.access)
} else := {"allow": false, "reasons": sort(_switch_reasons), "draft_only": false, "not_found": false, "rule": "switch"} if {
	# A switch comes first: it tells nothing about what exists.
	count(_switch_reasons) > 0
} else := {
	"allow": false,
	"reasons": sort(_hidden),
	"draft_only": false,
	"not_found": true,
} if {
	count(_hidden) > 0
} else := {"allow": false, "reasons": _reasons, "draft_only": false, "not_found": false} if {
	count(_reasons) > 0
} else := {"allow": false, "reasons": _tenant_reasons, "draft_only": false, "not_found": false, "rule": "account_rule"} if {
	count(_tenant_reasons) > 0
}

# ---- the account's own rules (restrict-only) ---------------------------------
#
# An account may add its own rules in one module, package deskwoot.tenant,
# that reads this same input and defines only two sets of reasons (strings):
# deny and require_approval. Deskwoot checks that module before it compiles
# it beside this policy. This policy only ever consults those two sets, and
# only to take something away: a reason in deny turns an allow into a denial
# that carries it; a reason in require_approval turns a reply or an outbound
# start into a draft, and denies a tool that cannot be drafted. Nothing an
# account writes can turn a denial of the rules above into an allow. Without
# such a module both sets are empty.

_tenant_deny := {r | some r in data.deskwoot.tenant.deny}

_tenant_approval := {r | some r in data.deskwoot.tenant.require_approval}

_tenant_denies if data.deskwoot.tenant.deny[_]

_tenant_requires_approval if data.deskwoot.tenant.require_approval[_]

# _approval(drafts_on_approval) holds when the account's rules let an
# allowed call through, and says whether it becomes a draft and why (the
# account rules' reasons, for the audit trail). The token's require_approval
# must be true or false: anything else matches no body, and the call is
# denied as malformed.
#
# An account without rules of its own (no package deskwoot.tenant, the
# common case: one lookup) drafts only for a require_approval token.
_approval(drafts) := {"draft_only": {true: drafts, false: false}[input.principal.require_approval], "reasons": []} if {
	not data.deskwoot.tenant
}

# With account rules, a deny matches no body (the call is denied with its
# reasons, _tenant_reasons); without a require_approval rule the token decides.
_approval(drafts) := {"draft_only": {true: drafts, false: false}[input.principal.require_approval], "reasons": []} if {
	data.deskwoot.tenant
	not _tenant_denies
	not _tenant_requires_approval
}

# A require_approval rule turns a tool that reaches a customer into a draft;
# any other tool matches no body (denied, with the reason in _tenant_reasons).
_approval(true) := {"draft_only": true, "reasons": sort([sprintf("%v", [r]) | some r in _tenant_approval])} if {
	data.deskwoot.tenant
	not _tenant_denies
	_tenant_requires_approval
	is_boolean(input.principal.require_approval)
}

# account_decision is tool_decision for a call whose every base condition
# holds: one that tool_decision has allowed, on this same base policy and
# input, beside whatever account rules were in force. Only the account's
# two sets can change such a call, so it is worked out from them alone:
# _approval lets it through (or makes it a draft), as the first body of
# tool_decision would; otherwise it is denied with _tenant_reasons, the
# branch tool_decision ends in, since none of the base reasons (switches,
# hidden objects, _reasons) can hold beside those conditions. A deny of
# the account's rules is looked for first: _approval holds for no body
# then, and it is the cheaper question. An app-only tool, whose decision
# never reads the account's rules (nor meets their errors), or a call
# these bodies do not settle, takes tool_decision itself. Rules in shadow decide
# live calls with it (policy.TenantPolicy.DecideLive): tool_decision would
# work out every base reason again for each call its candidate denies,
# five to ten times the cost. Tests hold it to tool_decision.
account_decision := _account_denial if {
	not catalog.tools[input.tool].app_only
	_tenant_denies
	is_boolean(input.principal.require_approval)
} else := {"allow": true, "reasons": [], "draft_only": approval.draft_only, "not_found": false, "approval_reasons": approval.reasons} if {
	def := catalog.tools[input.tool]
	not def.app_only
	approval := _approval(def.drafts_on_approval)
} else := _account_denial if {
	not catalog.tools[input.tool].app_only
	is_boolean(input.principal.require_approval)
	count(_tenant_reasons) > 0
} else := tool_decision

_account_denial := {"allow": false, "reasons": _tenant_reasons, "draft_only": false, "not_found": false, "rule": "account_rule"}

_tenant_reasons := array.concat(
	sort([sprintf("denied by this account's policy rules: %v", [r]) | some r in _tenant_deny]),
	sort([sprintf("this account's policy rules require approval (%v) but %s cannot be drafted; access denied", [r, _tool_name]) |
		some r in _tenant_approval
		count(_tenant_deny) == 0
		not catalog.tools[input.tool].drafts_on_approval
	]),
)

# ---- switches (DESIGN §22) ---------------------------------------------------
#
# An admin's brakes over the agents, all read from the input so that every
# replica decides alike on the next call: the workspace's "Pause AI agents"
# (account.agents_paused: writes wait, reads go on), tools switched off for
# every token (account.disabled_tools), and a token's own pause
# (principal.paused, with principal.pause_reason: an admin's, or the
# anomaly suspend's), which an admin can lift, unlike a revocation.

_writes_go_on("read")

_writes_go_on("write") if object.get(input.account, "agents_paused", false) == false

_account := object.get(input, "account", {})

_switch_reasons contains sprintf("this token is paused (%s); its calls are refused until an admin resumes it on Settings → MCP server", [object.get(_p, "pause_reason", "paused by an admin")]) if {
	_p.paused == true
}

_switch_reasons contains sprintf("the workspace paused its AI agents: %s changes things and is refused until an admin resumes the agents on Settings → MCP server; reading tools still work", [_tool_name]) if {
	_account.agents_paused == true
	_def.access == "write"
}

_switch_reasons contains sprintf("tool %s is switched off for this workspace (Settings → MCP server → Tool switches)", [_tool_name]) if {
	is_string(_tool_name)
	_tool_name in object.get(_account, "disabled_tools", [])
}

# allow is the decision's verdict, for readers and tests.
allow := decision.allow

# visible_tools are the tools this principal may see in tools/list: the gate
# is open and the token holds the tool's scope. Objects are not considered.
visible_tools contains name if {
	gate.allow
	_principal_ok
	some name, def in catalog.tools
	def.scope in _p.scopes
	not def.app_only
	not _forbidden_name(name)
	not name in object.get(_account, "disabled_tools", [])
}

# A grant that may approve drafts in the chat sees the draft card's tools
# (its host shows them to the card, never to the model).
visible_tools contains name if {
	gate.allow
	_principal_ok
	_p.chat_approval == true
	some name in catalog.app_tools
	not name in object.get(_account, "disabled_tools", [])
}

# ---- inboxes ----------------------------------------------------------------

# _within(inbox_arg, target) holds when the object of the call, and the inbox
# named in its arguments, lie within the token's inboxes; the allow body
# passes the tool's catalog fields. inbox_ids null means every inbox; an array
# (even an empty one) restricts the token to those inboxes. (A function with
# constant arguments, so that OPA's rule index picks the one body for the
# tool instead of trying each.)
_within(_, _) if input.principal.inbox_ids = null

# A conversation (or an inbox) must be in one of the token's inboxes.
_within("none", "conversation") if input.principal.inbox_ids[_] = input.target.inbox_id

_within("none", "inbox") if input.principal.inbox_ids[_] = input.target.inbox_id

# Help-center articles and account-wide listings have no inbox (listings
# are filtered to the token's inboxes by the server).
_within("none", "none")

_within("none", "article")

# A contact is visible when it is linked to one of the token's inboxes, or
# when this very token created it.
_within("none", "contact") if _contact_visible

# A listing filter is optional, but must name one of the token's inboxes.
_within("filter", "none") if object.get(input.args, "inbox_id", null) = null

_within("filter", "none") if input.principal.inbox_ids[_] = input.args.inbox_id

# A new object is placed in one of the token's inboxes (create_contact).
_within("place", "none") if input.principal.inbox_ids[_] = input.args.inbox_id

# An outbound conversation starts in one of the token's inboxes, with a
# contact the token can see.
_within("place", "contact") if {
	input.principal.inbox_ids[_] = input.args.inbox_id
	_contact_visible
}

_contact_visible if {
	input.principal.inbox_ids[_] = input.target.contact_inbox_ids[_]
}

_contact_visible if {
	by := input.target.contact_created_by_token_id
	is_number(by)
	by > 0
	by = input.principal.token_id
}

# ---- input, read defensively (for visible_tools and the reasons) ------------

_p := object.get(input, "principal", null)

_tool_name := object.get(input, "tool", null)

_args := object.get(input, "args", {})

_target := object.get(input, "target", {})

_def := catalog.tools[_tool_name]

_arg_inbox := object.get(_args, "inbox_id", null)

_restricted if is_array(_p.inbox_ids)

_principal_ok if {
	is_object(_p)
	is_number(_p.account_id)
	is_number(_p.token_id)
	is_array(_p.scopes)
	_inbox_ids_ok
	is_boolean(_p.require_approval)
}

_inbox_ids_ok if _p.inbox_ids == null

_inbox_ids_ok if is_array(_p.inbox_ids)

# _is tells whether obj[key] exists and has the type. (A `not` over a
# missing field must go through a rule like this one: `not is_number(x.y)`
# is undefined, not true, when x.y is missing.)
_is(obj, key, type) if type_name(obj[key]) == type

_forbidden_name(name) if {
	some fragment, _ in catalog.forbidden_kinds
	contains(name, fragment)
}

_forbidden_labels contains label if {
	is_string(_tool_name)
	some fragment, label in catalog.forbidden_kinds
	contains(_tool_name, fragment)
}

# ---- reasons (worked out only for a denial) ---------------------------------

# _reasons are the tool decision's reasons to deny (the gate's come first in
# decision, when it is shut).
_reasons := array.concat(sort(_problems), sort(_scope_reasons))

_problems contains "the request has no principal; access denied" if {
	not is_object(_p)
}

_problems contains "principal.account_id must be an integer id; access denied" if {
	is_object(_p)
	not _is(_p, "account_id", "number")
}

_problems contains "principal.token_id must be an integer id; access denied" if {
	is_object(_p)
	not _is(_p, "token_id", "number")
}

_problems contains "principal.scopes must be an array of scope names; access denied" if {
	is_object(_p)
	not _is(_p, "scopes", "array")
}

_problems contains "principal.inbox_ids must be null or an array of inbox ids; access denied" if {
	is_object(_p)
	not _inbox_ids_ok
}

_problems contains "principal.require_approval must be true or false; access denied" if {
	is_object(_p)
	not _is(_p, "require_approval", "boolean")
}

_problems contains "the request names no tool" if {
	not is_string(_tool_name)
}

_problems contains sprintf("unknown tool %s", [_tool_name]) if {
	is_string(_tool_name)
	not catalog.tools[_tool_name]
	count(_forbidden_labels) == 0
}

_problems contains sprintf("tool %s is never available to MCP tokens (%s)", [_tool_name, concat(", ", sort(_forbidden_labels))]) if {
	count(_forbidden_labels) > 0
}

_problems contains "args must be an object" if {
	_restricted
	_def.inbox_arg in {"filter", "place"}
	not is_object(_args)
}

_problems contains "args.inbox_id must be an inbox id (an integer)" if {
	_restricted
	_def.inbox_arg in {"filter", "place"}
	_arg_inbox != null
	not is_number(_arg_inbox)
}

_problems contains sprintf("this token is limited to some inboxes; %s needs args.inbox_id naming one of them", [_tool_name]) if {
	_restricted
	_def.inbox_arg == "place"
	_arg_inbox == null
}

_scope_reasons contains sprintf("token lacks scope %s; mint a token with that scope", [_def.scope]) if {
	is_array(_p.scopes)
	not _def.app_only
	not _def.scope in _p.scopes
}

_scope_reasons contains sprintf("%s is the draft card's button: only a connection through OAuth whose consent allowed approving drafts in the chat may use it; approve or reject drafts on the Drafts page of the Deskwoot console (/drafts)", [_tool_name]) if {
	_def.app_only == true
	not _p.chat_approval == true
}

# _hidden holds the denials about objects outside the token's inboxes. They
# are worded exactly like a missing object.
_hidden contains _not_found("conversation", "conversation_id") if {
	_restricted
	_def.target == "conversation"
	not _target_inbox_within
}

_hidden contains _not_found("inbox", "inbox_id") if {
	_restricted
	_def.target == "inbox"
	not _target_inbox_within
}

_target_inbox_within if _target.inbox_id in _p.inbox_ids

_hidden contains _not_found("contact", "contact_id") if {
	_restricted
	_def.target == "contact"
	not _contact_visible
}

_hidden contains sprintf("inbox %v not found", [_arg_inbox]) if {
	_restricted
	_def.inbox_arg in {"filter", "place"}
	is_number(_arg_inbox)
	not _arg_inbox in _p.inbox_ids
}

_not_found(kind, key) := sprintf("%s %v not found", [kind, id]) if {
	id := _target[key]
	is_number(id)
} else := sprintf("%s %v not found", [kind, id]) if {
	id := _args[key]
	is_number(id)
} else := sprintf("%s not found", [kind])
