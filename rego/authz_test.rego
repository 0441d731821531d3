# Tests of the tool decision (authz.rego): scopes, inboxes, drafts, the
# account gate, forbidden kinds and malformed input.
package deskwoot.authz_test

import data.deskwoot.authz
import data.deskwoot.catalog

_now := "2026-11-30T12:00:00Z"

_active := {"plan": "enterprise", "status": "active", "mcp_enabled": true}

_all_scopes := [s | some s in catalog.scopes]

# _model_tools are the tools the model calls (not the draft card's, which
# have tests of their own).
_model_tools := {name: t | some name, t in catalog.tools; not t.app_only}

_principal(over) := object.union(
	{"account_id": 1, "token_id": 7, "scopes": _all_scopes, "inbox_ids": null, "require_approval": false},
	over,
)

# _input is a well-formed request by an unrestricted full-agent token.
_input(tool, principal, args, target) := {
	"principal": _principal(principal),
	"account": _active,
	"tool": tool,
	"args": args,
	"target": target,
	"now": _now,
}

_decide(x) := d if {
	d := authz.decision with input as x
}

_lacks(scope) := sprintf("token lacks scope %s; mint a token with that scope", [scope])

# A target that satisfies any tool for a token restricted to inboxes [1, 2].
_inside := {"kind": "conversation", "conversation_id": 12, "inbox_id": 1, "contact_id": 5, "contact_inbox_ids": [2]}

_restricted := {"inbox_ids": [1, 2]}

# ---- scopes: every tool × every scope ---------------------------------------

test_every_tool_allowed_with_only_its_scope if {
	every name, t in _model_tools {
		d := _decide(_input(name, {"scopes": [t.scope]}, {}, _inside))
		d.allow
		d.reasons == []
		d.not_found == false
	}
}

test_every_tool_denied_with_every_other_scope if {
	every name, t in _model_tools {
		every s in catalog.scopes - {t.scope} {
			d := _decide(_input(name, {"scopes": [s]}, {}, _inside))
			not d.allow
			d.reasons == [_lacks(t.scope)]
			d.not_found == false
		}
	}
}

test_every_tool_denied_without_scopes if {
	every name, t in _model_tools {
		d := _decide(_input(name, {"scopes": []}, {}, _inside))
		not d.allow
		d.reasons == [_lacks(t.scope)]
	}
}

test_every_tool_allowed_restricted_with_its_scope if {
	every name, t in _model_tools {
		d := _decide(_input(name, {"scopes": [t.scope], "inbox_ids": [1, 2]}, {"inbox_id": 2}, _inside))
		d.allow
	}
}

test_full_agent_preset_allows_every_tool if {
	every name, _ in _model_tools {
		_decide(_input(name, {}, {}, {})).allow
	}
}

test_read_only_preset if {
	scopes := [s | some s in catalog.presets.read_only]
	_decide(_input("get_conversation", {"scopes": scopes}, {}, _inside)).allow
	_decide(_input("poll_events", {"scopes": scopes}, {}, {})).allow
	not _decide(_input("reply_to_conversation", {"scopes": scopes}, {}, _inside)).allow
	not _decide(_input("update_contact", {"scopes": scopes}, {}, _inside)).allow
}

test_reply_denied_with_exact_reason if {
	d := _decide(_input("reply_to_conversation", {"scopes": ["conversations:read"]}, {}, _inside))
	d == {"allow": false, "reasons": ["token lacks scope conversations:reply; mint a token with that scope"], "draft_only": false, "not_found": false}
}

# ---- inboxes: conversations ---------------------------------------------------

test_conversation_in_token_inbox_allowed if {
	d := _decide(_input("get_conversation", _restricted, {"conversation_id": 12}, {"kind": "conversation", "conversation_id": 12, "inbox_id": 2}))
	d.allow
}

test_conversation_outside_token_inboxes_looks_not_found if {
	d := _decide(_input("get_conversation", _restricted, {"conversation_id": 12}, {"kind": "conversation", "conversation_id": 12, "inbox_id": 3}))
	d == {"allow": false, "reasons": ["conversation 12 not found"], "draft_only": false, "not_found": true}
}

test_every_conversation_tool_hides_outside_conversations if {
	every name in {n | some n, t in _model_tools; t.target == "conversation"} {
		d := _decide(_input(name, _restricted, {}, {"kind": "conversation", "conversation_id": 44, "inbox_id": 9}))
		d.reasons == ["conversation 44 not found"]
		d.not_found
		not d.allow
	}
}

test_unrestricted_token_sees_every_inbox if {
	_decide(_input("get_conversation", {}, {}, {"kind": "conversation", "conversation_id": 12, "inbox_id": 99})).allow
}

test_empty_inbox_list_sees_no_conversation if {
	d := _decide(_input("get_conversation", {"inbox_ids": []}, {}, {"kind": "conversation", "conversation_id": 12, "inbox_id": 1}))
	not d.allow
	d.not_found
}

test_conversation_without_loaded_target_denied_as_not_found if {
	d := _decide(_input("reply_to_conversation", _restricted, {"conversation_id": 12}, {}))
	d.reasons == ["conversation 12 not found"]
	d.not_found
}

test_conversation_without_any_id_denied if {
	d := _decide(_input("reply_to_conversation", _restricted, {}, {}))
	d.reasons == ["conversation not found"]
}

test_not_found_outranks_missing_scope if {
	d := _decide(_input("reply_to_conversation", {"inbox_ids": [1], "scopes": ["conversations:read"]}, {}, {"conversation_id": 12, "inbox_id": 3}))
	d.reasons == ["conversation 12 not found"]
	d.not_found
}

test_not_found_reasons_never_mention_inboxes_or_tokens if {
	d := _decide(_input("add_private_note", _restricted, {}, {"conversation_id": 12, "inbox_id": 3}))
	every r in d.reasons {
		not contains(r, "token")
		not contains(r, "inbox")
		not contains(r, "scope")
	}
}

# ---- inboxes: contacts --------------------------------------------------------

test_contact_linked_to_token_inbox_allowed if {
	_decide(_input("get_contact", _restricted, {}, {"kind": "contact", "contact_id": 5, "contact_inbox_ids": [3, 2]})).allow
}

test_contact_created_by_this_token_allowed if {
	_decide(_input("update_contact", _restricted, {}, {"kind": "contact", "contact_id": 5, "contact_inbox_ids": [], "contact_created_by_token_id": 7})).allow
}

test_contact_outside_token_inboxes_looks_not_found if {
	d := _decide(_input("get_contact", _restricted, {}, {"kind": "contact", "contact_id": 5, "contact_inbox_ids": [3], "contact_created_by_token_id": 8}))
	d == {"allow": false, "reasons": ["contact 5 not found"], "draft_only": false, "not_found": true}
}

test_contact_without_links_looks_not_found if {
	d := _decide(_input("add_contact_note", _restricted, {}, {"kind": "contact", "contact_id": 5}))
	d.reasons == ["contact 5 not found"]
	d.not_found
}

test_contact_creator_zero_is_no_one if {
	d := _decide(_input("get_contact", {"inbox_ids": [1], "token_id": 0}, {}, {"contact_id": 5, "contact_inbox_ids": [], "contact_created_by_token_id": 0}))
	not d.allow
}

test_unrestricted_token_sees_every_contact if {
	_decide(_input("get_contact", {}, {}, {"kind": "contact", "contact_id": 5, "contact_inbox_ids": []})).allow
}

# ---- inboxes: filters and new objects ----------------------------------------

test_listing_without_filter_allowed_for_restricted_token if {
	_decide(_input("list_conversations", _restricted, {}, {})).allow
	_decide(_input("search_conversations", _restricted, {"inbox_id": null}, {})).allow
}

test_listing_filter_inside_allowed if {
	_decide(_input("list_conversations", _restricted, {"inbox_id": 2}, {"inbox_id": 2})).allow
	_decide(_input("search_conversations", _restricted, {"inbox_id": 1}, {})).allow
}

test_listing_filter_outside_looks_not_found if {
	d := _decide(_input("list_conversations", _restricted, {"inbox_id": 7}, {}))
	d == {"allow": false, "reasons": ["inbox 7 not found"], "draft_only": false, "not_found": true}
	d2 := _decide(_input("search_conversations", _restricted, {"inbox_id": 7}, {}))
	d2.reasons == ["inbox 7 not found"]
}

test_listing_filter_of_wrong_type_denied if {
	d := _decide(_input("list_conversations", _restricted, {"inbox_id": "1"}, {}))
	not d.allow
	d.reasons == ["args.inbox_id must be an inbox id (an integer)"]
}

test_create_contact_restricted_needs_an_inbox if {
	d := _decide(_input("create_contact", _restricted, {"name": "Ada"}, {}))
	not d.allow
	d.reasons == ["this token is limited to some inboxes; create_contact needs args.inbox_id naming one of them"]
	d.not_found == false
}

test_create_contact_in_token_inbox_allowed if {
	_decide(_input("create_contact", _restricted, {"inbox_id": 2}, {"inbox_id": 2})).allow
}

test_create_contact_outside_looks_not_found if {
	d := _decide(_input("create_contact", _restricted, {"inbox_id": 9}, {"inbox_id": 9}))
	d.reasons == ["inbox 9 not found"]
	d.not_found
}

test_create_contact_unrestricted_without_inbox_allowed if {
	_decide(_input("create_contact", {}, {"name": "Ada"}, {})).allow
}

test_start_conversation_in_token_inbox_with_visible_contact_allowed if {
	_decide(_input("start_conversation", _restricted, {"inbox_id": 1, "contact_id": 5}, {"kind": "contact", "inbox_id": 1, "contact_id": 5, "contact_inbox_ids": [2]})).allow
}

test_start_conversation_outside_inbox_looks_not_found if {
	d := _decide(_input("start_conversation", _restricted, {"inbox_id": 9, "contact_id": 5}, {"kind": "contact", "inbox_id": 9, "contact_id": 5, "contact_inbox_ids": [2]}))
	d.reasons == ["inbox 9 not found"]
	d.not_found
}

test_start_conversation_with_hidden_contact_looks_not_found if {
	d := _decide(_input("start_conversation", _restricted, {"inbox_id": 1, "contact_id": 5}, {"kind": "contact", "inbox_id": 1, "contact_id": 5, "contact_inbox_ids": [4]}))
	d.reasons == ["contact 5 not found"]
	d.not_found
}

test_start_conversation_restricted_needs_an_inbox if {
	d := _decide(_input("start_conversation", _restricted, {"contact_id": 5}, {"kind": "contact", "contact_id": 5, "contact_inbox_ids": [1]}))
	not d.allow
	d.not_found == false
}

test_account_wide_tools_allowed_for_restricted_token if {
	every name in {"list_inboxes", "list_labels", "list_team", "list_drafts", "search_contacts", "poll_events", "search_help_center", "get_article"} {
		_decide(_input(name, {"inbox_ids": []}, {}, {"kind": "article", "article_id": 3})).allow
	}
}

# ---- drafts -------------------------------------------------------------------

test_require_approval_turns_reply_into_draft if {
	d := _decide(_input("reply_to_conversation", {"require_approval": true}, {}, _inside))
	d == {"allow": true, "reasons": [], "draft_only": true, "not_found": false, "approval_reasons": []}
}

test_require_approval_turns_start_into_draft if {
	d := _decide(_input("start_conversation", {"require_approval": true}, {"inbox_id": 1}, _inside))
	d.allow
	d.draft_only
}

test_require_approval_leaves_other_tools_alone if {
	every name in object.keys(_model_tools) - {"reply_to_conversation", "start_conversation"} {
		d := _decide(_input(name, {"require_approval": true}, {}, _inside))
		d.allow
		d.draft_only == false
	}
}

test_no_approval_no_draft if {
	d := _decide(_input("reply_to_conversation", {}, {}, _inside))
	d.allow
	d.draft_only == false
}

test_denied_call_is_never_draft_only if {
	d := _decide(_input("reply_to_conversation", {"require_approval": true, "scopes": []}, {}, _inside))
	not d.allow
	d.draft_only == false
}

# ---- the account gate ---------------------------------------------------------

test_closed_gate_denies_with_its_reason if {
	x := object.union(_input("get_conversation", {}, {}, _inside), {"account": {"plan": "business", "status": "active", "mcp_enabled": true}})
	d := _decide(x)
	not d.allow
	d.reasons == ["the business plan does not include MCP; upgrade to Enterprise to use MCP"]
}

test_trial_allows_and_ended_trial_denies if {
	trial := {"plan": "starter", "status": "trialing", "trial_ends_at": "2026-12-03T09:30:00Z", "mcp_enabled": true}
	_decide(object.union(_input("list_inboxes", {}, {}, {}), {"account": trial})).allow
	d := _decide(object.union(_input("list_inboxes", {}, {}, {}), {"account": trial, "now": "2026-12-04T00:00:00Z"}))
	not d.allow
	d.reasons == ["the Enterprise trial ended on 2026-12-03; upgrade to Enterprise to use MCP"]
}

test_switched_off_denies if {
	d := _decide(object.union(_input("list_inboxes", {}, {}, {}), {"account": object.union(_active, {"mcp_enabled": false})}))
	not d.allow
	startswith(d.reasons[0], "MCP is switched off for this account")
}

test_closed_gate_and_missing_scope_give_both_reasons if {
	x := object.union(_input("reply_to_conversation", {"scopes": []}, {}, _inside), {"account": {"plan": "enterprise", "status": "canceled", "mcp_enabled": true}})
	d := _decide(x)
	d.reasons == ["the subscription was canceled; upgrade to Enterprise to use MCP", _lacks("conversations:reply")]
}

# ---- unknown and forbidden tools ----------------------------------------------

test_unknown_tool_denied if {
	d := _decide(_input("frobnicate", {}, {}, {}))
	d == {"allow": false, "reasons": ["unknown tool frobnicate"], "draft_only": false, "not_found": false}
}

test_forbidden_tool_named_as_never_available if {
	d := _decide(_input("delete_conversation", {}, {}, {}))
	not d.allow
	d.reasons == ["tool delete_conversation is never available to MCP tokens (deleting conversations or contacts)"]
}

test_forbidden_tool_denied_even_in_the_catalog if {
	bad := {"scope": "conversations:read", "access": "write", "target": "none", "inbox_arg": "none", "title": "Oops", "drafts_on_approval": false}
	every fragment, label in catalog.forbidden_kinds {
		name := concat("", ["bulk_", fragment, "_now"])
		tools := object.union(catalog.tools, {name: bad})
		d := authz.decision with input as _input(name, {}, {}, {}) with catalog.tools as tools
		not d.allow
		d.reasons == [sprintf("tool %s is never available to MCP tokens (%s)", [name, label])]
		vis := authz.visible_tools with input as _input(name, {}, {}, {}) with catalog.tools as tools
		not name in vis
	}
}

test_each_forbidden_kind_has_its_label if {
	every name in ["update_account_settings", "configure_channel", "change_billing", "broadcast_message", "create_webhook", "export_data"] {
		d := _decide(_input(name, {}, {}, {}))
		not d.allow
		contains(d.reasons[0], "is never available to MCP tokens (")
	}
}

# ---- malformed input never allows ---------------------------------------------

test_empty_input_denied if {
	d := authz.decision with input as {}
	not d.allow
	count(d.reasons) > 0
	d.draft_only == false
}

test_no_input_denied if {
	not authz.decision.allow
}

test_malformed_principals_denied if {
	every over in [
		{"scopes": "conversations:read"},
		{"scopes": {"a": "conversations:read"}},
		{"scopes": null},
		{"inbox_ids": "1"},
		{"inbox_ids": {"a": 1}},
		{"inbox_ids": 1},
		{"token_id": "7"},
		{"token_id": null},
		{"account_id": "1"},
		{"require_approval": "yes"},
		{"require_approval": null},
	] {
		d := _decide(_input("list_inboxes", over, {}, {}))
		not d.allow
		count(d.reasons) > 0
	}
}

test_missing_principal_fields_denied if {
	every field in ["account_id", "token_id", "scopes", "inbox_ids", "require_approval"] {
		x := _input("list_inboxes", {}, {}, {})
		d := _decide(object.union(object.remove(x, ["principal"]), {"principal": object.remove(x.principal, [field])}))
		not d.allow
		count(d.reasons) > 0
	}
}

test_principal_of_wrong_type_denied if {
	d := _decide(object.union(_input("list_inboxes", {}, {}, {}), {"principal": "token-7"}))
	not d.allow
	"the request has no principal; access denied" in d.reasons
}

test_missing_account_denied if {
	d := _decide(object.remove(_input("list_inboxes", {}, {}, {}), ["account"]))
	not d.allow
	"account state is missing; access denied" in d.reasons
}

test_missing_clock_denied if {
	d := _decide(object.remove(_input("list_inboxes", {}, {}, {}), ["now"]))
	not d.allow
}

test_missing_or_odd_tool_denied if {
	not _decide(object.remove(_input("list_inboxes", {}, {}, {}), ["tool"])).allow
	not _decide(_input(42, {}, {}, {})).allow
	not _decide(_input(["list_inboxes"], {}, {}, {})).allow
}

test_malformed_args_denied_where_read if {
	d := _decide(_input("list_conversations", _restricted, "inbox_id=1", {}))
	not d.allow
	"args must be an object" in d.reasons
}

test_malformed_target_denied_for_restricted_token if {
	not _decide(_input("get_conversation", _restricted, {}, "conversation 12")).allow
	not _decide(_input("get_contact", _restricted, {}, {"contact_id": 5, "contact_inbox_ids": "1"})).allow
	not _decide(_input("get_contact", _restricted, {}, {"contact_id": 5, "contact_created_by_token_id": "7"})).allow
}

test_string_inbox_id_does_not_match_a_number if {
	d := _decide(_input("get_conversation", _restricted, {}, {"conversation_id": 12, "inbox_id": "1"}))
	not d.allow
}

test_allow_rule_mirrors_decision if {
	authz.allow with input as _input("list_inboxes", {}, {}, {})
	not authz.allow with input as {}
}

# ---- visible tools ------------------------------------------------------------

test_visible_tools_follow_scopes if {
	v := authz.visible_tools with input as _input("", {"scopes": ["helpcenter:read", "events:read"]}, {}, {})
	v == {"search_help_center", "get_article", "poll_events"}
}

test_visible_tools_all_for_full_agent if {
	v := authz.visible_tools with input as _input("", {}, {}, {})
	v == object.keys(_model_tools)
}

test_visible_tools_ignore_inboxes if {
	v := authz.visible_tools with input as _input("", {"inbox_ids": [], "scopes": ["conversations:read"]}, {}, {})
	count(v) == 6
}

test_visible_tools_empty_when_gate_closed if {
	x := object.union(_input("", {}, {}, {}), {"account": {"plan": "starter", "status": "active", "mcp_enabled": true}})
	count(authz.visible_tools) == 0 with input as x
}

test_visible_tools_empty_for_malformed_input if {
	count(authz.visible_tools) == 0 with input as {}
	count(authz.visible_tools) == 0 with input as _input("", {"scopes": "conversations:read"}, {}, {})
}

# ---- the account's own rules only restrict ------------------------------------

test_account_deny_turns_an_allow_into_a_denial_with_its_reason if {
	d := _decide(_input("get_conversation", {}, {}, _inside)) with data.deskwoot.tenant.deny as {"no reads on Sundays"}
	not d.allow
	d.reasons == ["denied by this account's policy rules: no reads on Sundays"]
	d.not_found == false
}

test_account_deny_never_replaces_a_base_denial if {
	d := _decide(_input("reply_to_conversation", {"scopes": ["conversations:read"]}, {}, _inside)) with data.deskwoot.tenant.deny as {"x"}
	not d.allow
	d.reasons == [_lacks("conversations:reply")]
}

test_account_rules_cannot_allow_what_the_base_denies if {
	every name, t in _model_tools {
		every s in catalog.scopes - {t.scope} {
			d := _decide(_input(name, {"scopes": [s]}, {}, _inside)) with data.deskwoot.tenant.deny as set() with data.deskwoot.tenant.require_approval as set()
			not d.allow
		}
	}
}

test_account_require_approval_turns_a_reply_into_a_draft if {
	d := _decide(_input("reply_to_conversation", {}, {}, _inside)) with data.deskwoot.tenant.require_approval as {"replies need a human"}
	d.allow
	d.draft_only
	d.approval_reasons == ["replies need a human"]
}

test_account_require_approval_denies_a_tool_that_cannot_draft if {
	d := _decide(_input("add_private_note", {}, {}, _inside)) with data.deskwoot.tenant.require_approval as {"notes need a human"}
	not d.allow
	contains(d.reasons[0], "require approval (notes need a human)")
}

# ---- switches (DESIGN §22): every tool under each state ----------------------

_with_account(x, over) := object.union(x, {"account": object.union(_active, over)})

test_paused_token_is_refused_every_tool_naming_the_pause if {
	every name, _ in _model_tools {
		d := _decide(_input(name, {"paused": true, "pause_reason": "refused 20 times in 5 minutes"}, {}, _inside))
		not d.allow
		d.rule == "switch"
		d.reasons == ["this token is paused (refused 20 times in 5 minutes); its calls are refused until an admin resumes it on Settings → MCP server"]
	}
}

test_paused_token_hears_of_the_pause_before_any_not_found if {
	d := _decide(_input("get_conversation", {"paused": true, "inbox_ids": [9]}, {}, _inside))
	not d.allow
	d.not_found == false
	d.rule == "switch"
}

test_agents_paused_refuses_writes_and_lets_reads_through if {
	every name, t in _model_tools {
		d := _decide(_with_account(_input(name, {}, {}, _inside), {"agents_paused": true}))
		d.allow == (t.access == "read")
	}
	d := _decide(_with_account(_input("draft_reply", {}, {}, _inside), {"agents_paused": true}))
	contains(d.reasons[0], "the workspace paused its AI agents")
}

test_disabled_tool_is_refused_and_the_others_go_on if {
	off := {"get_conversation", "reply_to_conversation"}
	every name, _ in _model_tools {
		d := _decide(_with_account(_input(name, {}, {}, _inside), {"disabled_tools": [n | some n in off]}))
		d.allow == (count({name} & off) == 0)
	}
	d := _decide(_with_account(_input("get_conversation", {}, {}, _inside), {"disabled_tools": ["get_conversation"]}))
	d.reasons == ["tool get_conversation is switched off for this workspace (Settings → MCP server → Tool switches)"]
}

test_disabled_tool_leaves_visible_tools if {
	v := authz.visible_tools with input as _with_account(_input("", {}, {}, {}), {"disabled_tools": ["poll_events"]})
	not "poll_events" in v
	"get_conversation" in v
}

test_switches_off_or_missing_change_nothing if {
	every name, _ in _model_tools {
		_decide(_with_account(_input(name, {"paused": false}, {}, _inside), {"agents_paused": false, "disabled_tools": []})).allow
		_decide(_input(name, {}, {}, _inside)).allow
	}
}

test_malformed_switch_never_allows if {
	not _decide(_input("get_conversation", {"paused": "no"}, {}, _inside)).allow
	not _decide(_with_account(_input("reply_to_conversation", {}, {}, _inside), {"agents_paused": "no"})).allow
}

# ---- the draft card's tools (MCP Apps) -----------------------------------------

test_app_tools_only_for_a_grant_that_may_approve_in_the_chat if {
	every name in catalog.app_tools {
		d := _decide(_input(name, {}, {"draft_id": 1}, {}))
		not d.allow
		contains(d.reasons[0], "approve or reject drafts on the Drafts page")
		_decide(_input(name, {"chat_approval": true, "scopes": ["conversations:read"]}, {"draft_id": 1}, {})).allow
		not _decide(_input(name, {"chat_approval": true, "paused": true}, {}, {})).allow
		not _decide(_with_account(_input(name, {"chat_approval": true}, {}, {}), {"agents_paused": true})).allow
	}
}

test_app_tools_listed_for_the_grant_alone if {
	plain := authz.visible_tools with input as _input("", {}, {}, {})
	count(plain & catalog.app_tools) == 0
	chat := authz.visible_tools with input as _input("", {"chat_approval": true, "scopes": ["conversations:read"]}, {}, {})
	catalog.app_tools == chat & catalog.app_tools
	not "reply_to_conversation" in chat
}

# ---- account_decision: a call the base allows, decided again ------------------

# _account_sets are account rules as their two sets (null: no module at all).
_account_sets := [
	null,
	{"deny": set(), "require_approval": set()},
	{"deny": {"no agents here"}, "require_approval": set()},
	{"deny": set(), "require_approval": {"a human reads it first"}},
	{"deny": {"b", "a"}, "require_approval": {"a human reads it first"}},
]

# _principals are tokens that the base policy allows some tools for.
_principals := [
	{},
	{"require_approval": true},
	{"inbox_ids": [1, 2]},
	{"inbox_ids": [1, 2], "require_approval": true, "chat_approval": true},
	{"chat_approval": true},
]

_tool_decision(x, sets) := d if {
	sets == null
	d := authz.tool_decision with input as x
}

_tool_decision(x, sets) := d if {
	sets != null
	d := authz.tool_decision with input as x with data.deskwoot.tenant.deny as sets.deny with data.deskwoot.tenant.require_approval as sets.require_approval
}

_account_decision(x, sets) := d if {
	sets == null
	d := authz.account_decision with input as x
}

_account_decision(x, sets) := d if {
	sets != null
	d := authz.account_decision with input as x with data.deskwoot.tenant.deny as sets.deny with data.deskwoot.tenant.require_approval as sets.require_approval
}

# For every tool and token the base allows beside some account rules (those
# in force), account_decision under any other rules (the candidate's) is
# tool_decision under them, reasons and all.
test_account_decision_is_tool_decision_for_calls_the_base_allows if {
	every name, _ in catalog.tools {
		every p in _principals {
			every in_force in _account_sets {
				every candidate in _account_sets {
					x := _input(name, p, {"inbox_id": 1}, _inside)
					_same_past_the_base(x, in_force, candidate)
				}
			}
		}
	}
}

_same_past_the_base(x, in_force, _) if not _tool_decision(x, in_force).allow

_same_past_the_base(x, in_force, candidate) if {
	_tool_decision(x, in_force).allow
	_account_decision(x, candidate) == _tool_decision(x, candidate)
}

# The table above does reach both of account_decision's own bodies, and
# app-only tools.
test_account_decision_table_reaches_every_branch if {
	x := _input("reply_to_conversation", {}, {}, _inside)
	_account_decision(x, _account_sets[3]).draft_only
	_account_decision(x, _account_sets[4]).rule == "account_rule"
	y := _input("approve_draft", {"chat_approval": true}, {}, _inside)
	_tool_decision(y, null).allow
	_account_decision(y, _account_sets[2]).allow
}
