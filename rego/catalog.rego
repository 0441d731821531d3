# The MCP tool catalog, as data.
#
# Every tool an MCP token can call is listed here with the scope it needs,
# whether it reads or writes, and which kind of object it touches. The
# authz policy (authz.rego) decides from this table; the Go server reads it
# once at start to build tools/list and the minting presets. A tool that is
# not in this table does not exist for the policy.
package deskwoot.catalog

# tools maps a tool name to:
#   scope      the one scope a token must hold to call the tool
#   access     "read" or "write"
#   target     the object the call touches, loaded by the server before the
#              decision: "none", "inbox", "conversation", "contact" or "article"
#   inbox_arg  how the tool uses args.inbox_id:
#                "none"   - not at all
#                "filter" - an optional filter on a listing; an
#                           inbox-restricted token may only name its own inboxes
#                "place"  - where the new object is created; an
#                           inbox-restricted token must name one of its inboxes
#   title      a short human title (also shown in tools/list)
#   drafts_on_approval
#              true when the tool reaches a customer directly; for a token
#              with require_approval the call then makes a draft instead
#   app_only   true for a tool only an MCP Apps view calls (the draft card's
#              buttons; _meta.ui.visibility ["app"]), never the model: it is
#              for an OAuth grant whose consent allowed approving drafts in
#              the chat (principal.chat_approval), whatever its scopes
tools := {
	# conversations:read
	"list_inboxes": {"scope": "conversations:read", "access": "read", "target": "none", "inbox_arg": "none", "title": "List inboxes", "drafts_on_approval": false},
	"list_conversations": {"scope": "conversations:read", "access": "read", "target": "none", "inbox_arg": "filter", "title": "List conversations", "drafts_on_approval": false},
	"search_conversations": {"scope": "conversations:read", "access": "read", "target": "none", "inbox_arg": "filter", "title": "Search conversations", "drafts_on_approval": false},
	"get_conversation": {"scope": "conversations:read", "access": "read", "target": "conversation", "inbox_arg": "none", "title": "Get a conversation with its messages", "drafts_on_approval": false},
	"list_labels": {"scope": "conversations:read", "access": "read", "target": "none", "inbox_arg": "none", "title": "List labels", "drafts_on_approval": false},
	"list_team": {"scope": "conversations:read", "access": "read", "target": "none", "inbox_arg": "none", "title": "List agents and teams", "drafts_on_approval": false},
	# conversations:reply
	"reply_to_conversation": {"scope": "conversations:reply", "access": "write", "target": "conversation", "inbox_arg": "none", "title": "Reply to the customer", "drafts_on_approval": true},
	# conversations:note
	"add_private_note": {"scope": "conversations:note", "access": "write", "target": "conversation", "inbox_arg": "none", "title": "Add a private note", "drafts_on_approval": false},
	# conversations:draft
	"draft_reply": {"scope": "conversations:draft", "access": "write", "target": "conversation", "inbox_arg": "none", "title": "Draft a reply for human approval", "drafts_on_approval": false},
	"list_drafts": {"scope": "conversations:draft", "access": "read", "target": "none", "inbox_arg": "none", "title": "List this token's drafts", "drafts_on_approval": false},
	# conversations:manage
	"update_conversation": {"scope": "conversations:manage", "access": "write", "target": "conversation", "inbox_arg": "none", "title": "Update status, priority, labels or attributes", "drafts_on_approval": false},
	"assign_conversation": {"scope": "conversations:manage", "access": "write", "target": "conversation", "inbox_arg": "none", "title": "Assign a conversation", "drafts_on_approval": false},
	"escalate_to_human": {"scope": "conversations:manage", "access": "write", "target": "conversation", "inbox_arg": "none", "title": "Escalate to a human agent", "drafts_on_approval": false},
	# conversations:create
	"start_conversation": {"scope": "conversations:create", "access": "write", "target": "contact", "inbox_arg": "place", "title": "Start an outbound conversation", "drafts_on_approval": true},
	# contacts:read
	"search_contacts": {"scope": "contacts:read", "access": "read", "target": "none", "inbox_arg": "none", "title": "Search contacts", "drafts_on_approval": false},
	"get_contact": {"scope": "contacts:read", "access": "read", "target": "contact", "inbox_arg": "none", "title": "Get a contact", "drafts_on_approval": false},
	# contacts:write
	"create_contact": {"scope": "contacts:write", "access": "write", "target": "none", "inbox_arg": "place", "title": "Create a contact", "drafts_on_approval": false},
	"update_contact": {"scope": "contacts:write", "access": "write", "target": "contact", "inbox_arg": "none", "title": "Update a contact", "drafts_on_approval": false},
	"add_contact_note": {"scope": "contacts:write", "access": "write", "target": "contact", "inbox_arg": "none", "title": "Add a note to a contact", "drafts_on_approval": false},
	# events:read
	"poll_events": {"scope": "events:read", "access": "read", "target": "none", "inbox_arg": "none", "title": "Poll the events feed", "drafts_on_approval": false},
	# helpcenter:read
	"search_help_center": {"scope": "helpcenter:read", "access": "read", "target": "none", "inbox_arg": "none", "title": "Search the help center", "drafts_on_approval": false},
	"get_article": {"scope": "helpcenter:read", "access": "read", "target": "article", "inbox_arg": "none", "title": "Get a help center article", "drafts_on_approval": false},
	# the draft card (MCP Apps), app only
	"approve_draft": {"scope": "conversations:draft", "access": "write", "target": "none", "inbox_arg": "none", "title": "Approve a draft in the chat", "drafts_on_approval": false, "app_only": true},
	"reject_draft": {"scope": "conversations:draft", "access": "write", "target": "none", "inbox_arg": "none", "title": "Reject a draft in the chat", "drafts_on_approval": false, "app_only": true},
}

# app_tools are the tools only an MCP Apps view calls.
app_tools := {name | some name, t in tools; t.app_only == true}

# scopes are all the scopes a token can hold.
scopes := {
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

# target_kinds are the values a tool's target may take.
target_kinds := {"none", "inbox", "conversation", "contact", "article"}

# presets are the scope bundles offered on the minting screen.
presets := {
	"read_only": _read_only,
	"reply": (_read_only | {"conversations:reply", "conversations:note", "conversations:draft"}),
	"manage_contacts": {"contacts:read", "contacts:write"},
	"full_agent": scopes,
}

_read_only := {"conversations:read", "contacts:read", "events:read", "helpcenter:read"}

# approval_tools are the tools whose effect reaches a customer directly; for a
# token with require_approval they produce a draft for a human instead.
approval_tools := {name | some name, t in tools; t.drafts_on_approval == true}

# forbidden_kinds are name fragments no tool may ever carry, with what they
# stand for. No tool exists for these, and the policy denies any tool whose
# name contains one, so a tool registered by mistake is still refused. The
# allow path of authz.rego checks them as one regular expression; a test keeps
# that expression and this table in step.
forbidden_kinds := {
	"settings": "account settings",
	"channel": "channel configuration",
	"billing": "billing",
	"subscription": "billing",
	"delete": "deleting conversations or contacts",
	"destroy": "deleting conversations or contacts",
	"purge": "deleting conversations or contacts",
	"remove_contact": "deleting conversations or contacts",
	"remove_conversation": "deleting conversations or contacts",
	"broadcast": "mass broadcasts",
	"campaign": "mass broadcasts",
	"webhook": "webhooks",
	"export": "data export",
}
