# The tool decision: may this token call this tool on this object now?
#
# Runs for every tools/call, after the server has loaded the target object
# under row-level security. Input:
#
#   {"principal": {"account_id", "token_id", "scopes": [..], "inbox_ids": [..] | null,
#                  "require_approval": bool},
#    "account":   {... as for the gate ...},
#    "tool":      "reply_to_conversation",
#    "args":      {... the tool's arguments ...},
#    "target":    {"kind", "inbox_id", "conversation_id", "contact_id", "article_id",
#                  "contact_inbox_ids": [..], "contact_created_by_token_id"},
#    "now":       "RFC3339 time"}
#
# Output (decision):
#
#   {"allow": bool, "reasons": [..], "draft_only": bool, "not_found": bool}
#
# Default deny. A call is allowed only when every positive condition in
# `allow` holds; anything missing or of the wrong type fails one of them. The
# reasons are worked out only for a denial. When the denial is about an object
# outside the token's inboxes, the reasons read exactly like "not found" and
# not_found is true, so a token cannot learn what exists beyond its inboxes.
package deskwoot.authz

import data.deskwoot.catalog
import data.deskwoot.gate

default decision := {
	"allow": false,
	"reasons": ["the request is malformed; access denied"],
	"draft_only": false,
	"not_found": false,
}

decision := {"allow": true, "reasons": [], "draft_only": _draft_only, "not_found": false} if {
	allow
} else := {
	"allow": false,
	"reasons": array.concat(_gate_reasons, sort(_hidden)),
	"draft_only": false,
	"not_found": true,
} if {
	count(_hidden) > 0
} else := {"allow": false, "reasons": _reasons, "draft_only": false, "not_found": false} if {
	count(_reasons) > 0
}

default allow := false

# allow: the account gate is open, the principal is well formed, the tool is a
# real and permitted tool, the token holds its scope, and the object (or the
# inbox named in the arguments) lies within the token's inboxes.
allow if {
	gate.decision.allow == true
	_principal_ok
	is_object(_args)
	_tool_ok
	_def.scope in _p.scopes
	_target_ok
	_inbox_arg_ok
}

# visible_tools are the tools this principal may see in tools/list: the gate
# is open and the token holds the tool's scope. Objects are not considered.
visible_tools contains name if {
	gate.decision.allow == true
	_principal_ok
	some name, def in catalog.tools
	def.scope in _p.scopes
	not _forbidden_name(name)
}

# ---- input, read defensively ------------------------------------------------

_p := object.get(input, "principal", null)

_tool_name := object.get(input, "tool", null)

_args := object.get(input, "args", {})

_target := object.get(input, "target", {})

_def := catalog.tools[_tool_name]

_arg_inbox := object.get(_args, "inbox_id", null)

_positive_number(x) if {
	is_number(x)
	x > 0
}

_principal_ok if {
	is_object(_p)
	_positive_number(_p.account_id)
	_positive_number(_p.token_id)
	_scopes_ok
	_inbox_ids_ok
	is_boolean(_p.require_approval)
}

_scopes_ok if {
	is_array(_p.scopes)
	every s in _p.scopes {
		is_string(s)
	}
}

# inbox_ids null means every inbox; an array (even an empty one) restricts.
_inbox_ids_ok if _p.inbox_ids == null

_inbox_ids_ok if {
	is_array(_p.inbox_ids)
	every i in _p.inbox_ids {
		is_number(i)
	}
}

_unrestricted if _p.inbox_ids == null

_restricted if is_array(_p.inbox_ids)

# ---- the tool ---------------------------------------------------------------

_tool_ok if {
	_def
	count(_forbidden_labels) == 0
}

_forbidden_labels contains label if {
	some fragment, label in catalog.forbidden_kinds
	contains(_tool_name, fragment)
}

_forbidden_name(name) if {
	some fragment, _ in catalog.forbidden_kinds
	contains(name, fragment)
}

# ---- the object -------------------------------------------------------------

_target_ok if _unrestricted

_target_ok if _def.target in {"none", "article"}

_target_ok if {
	_restricted
	_def.target in {"conversation", "inbox"}
	_target.inbox_id in _p.inbox_ids
}

_target_ok if {
	_restricted
	_def.target == "contact"
	_contact_visible
}

# A restricted token sees a contact linked to one of its inboxes, or one it
# created itself.
_contact_visible if {
	some i in _target.contact_inbox_ids
	i in _p.inbox_ids
}

_contact_visible if {
	_positive_number(_target.contact_created_by_token_id)
	_target.contact_created_by_token_id == _p.token_id
}

# ---- the inbox named in the arguments ---------------------------------------

_inbox_arg_ok if _def.inbox_arg == "none"

_inbox_arg_ok if {
	_def.inbox_arg == "filter"
	_arg_inbox == null
}

_inbox_arg_ok if {
	_def.inbox_arg == "place"
	_arg_inbox == null
	_unrestricted
}

_inbox_arg_ok if {
	_def.inbox_arg in {"filter", "place"}
	is_number(_arg_inbox)
	_unrestricted
}

_inbox_arg_ok if {
	_def.inbox_arg in {"filter", "place"}
	is_number(_arg_inbox)
	_restricted
	_arg_inbox in _p.inbox_ids
}

# ---- drafts -----------------------------------------------------------------

_draft_only if {
	_p.require_approval == true
	_tool_name in catalog.approval_tools
} else := false

# ---- reasons (worked out only for a denial) ---------------------------------

_gate_reasons := [] if {
	gate.decision.allow == true
} else := [gate.decision.reason]

_reasons := array.concat(array.concat(_gate_reasons, sort(_problems)), sort(_scope_reasons))

_problems contains "the request has no principal; access denied" if {
	not is_object(_p)
}

_problems contains "principal.account_id must be a positive integer; access denied" if {
	is_object(_p)
	not _positive_number(_p.account_id)
}

_problems contains "principal.token_id must be a positive integer; access denied" if {
	is_object(_p)
	not _positive_number(_p.token_id)
}

_problems contains "principal.scopes must be an array of scope names; access denied" if {
	is_object(_p)
	not _scopes_ok
}

_problems contains "principal.inbox_ids must be null or an array of inbox ids; access denied" if {
	is_object(_p)
	not _inbox_ids_ok
}

_problems contains "principal.require_approval must be true or false; access denied" if {
	is_object(_p)
	not is_boolean(_p.require_approval)
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
	not is_object(_args)
}

_problems contains "args.inbox_id must be an inbox id (an integer)" if {
	_def.inbox_arg in {"filter", "place"}
	_arg_inbox != null
	not is_number(_arg_inbox)
}

_problems contains sprintf("this token is limited to some inboxes; %s needs args.inbox_id naming one of them", [_tool_name]) if {
	_def.inbox_arg == "place"
	_restricted
	_arg_inbox == null
}

_scope_reasons contains sprintf("token lacks scope %s; mint a token with that scope", [_def.scope]) if {
	_scopes_ok
	not _def.scope in _p.scopes
}

# _hidden holds the denials about objects outside the token's inboxes. They
# are worded exactly like a missing object.
_hidden contains _not_found("conversation", "conversation_id") if {
	_restricted
	_def.target == "conversation"
	not _target.inbox_id in _p.inbox_ids
}

_hidden contains _not_found("inbox", "inbox_id") if {
	_restricted
	_def.target == "inbox"
	not _target.inbox_id in _p.inbox_ids
}

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
