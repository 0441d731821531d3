# Tests of the tool catalog (catalog.rego): the table is complete and
# consistent, and no tool is of a forbidden kind.
package deskwoot.catalog_test

import data.deskwoot.catalog

test_the_twenty_two_tools_of_the_design if {
	object.keys(catalog.tools) == {
		"list_inboxes", "list_conversations", "search_conversations", "get_conversation", "list_labels", "list_team",
		"reply_to_conversation", "add_private_note", "draft_reply", "list_drafts",
		"update_conversation", "assign_conversation", "escalate_to_human", "start_conversation",
		"search_contacts", "get_contact", "create_contact", "update_contact", "add_contact_note",
		"poll_events", "search_help_center", "get_article",
		"approve_draft", "reject_draft", # the draft card's (MCP Apps), app only
	}
}

test_ten_scopes if {
	count(catalog.scopes) == 10
}

test_every_tool_is_well_formed if {
	every t in catalog.tools {
		t.scope in catalog.scopes
		t.access in {"read", "write"}
		t.target in catalog.target_kinds
		t.inbox_arg in {"none", "filter", "place"}
		is_string(t.title)
		t.title != ""
		is_boolean(t.drafts_on_approval)
	}
}

test_every_scope_has_a_tool if {
	every s in catalog.scopes {
		some t in catalog.tools
		t.scope == s
	}
}

test_scope_of_each_tool if {
	scope_of := {name: t.scope | some name, t in catalog.tools}
	scope_of == {
		"list_inboxes": "conversations:read", "list_conversations": "conversations:read",
		"search_conversations": "conversations:read", "get_conversation": "conversations:read",
		"list_labels": "conversations:read", "list_team": "conversations:read",
		"reply_to_conversation": "conversations:reply", "add_private_note": "conversations:note",
		"draft_reply": "conversations:draft", "list_drafts": "conversations:draft",
		"update_conversation": "conversations:manage", "assign_conversation": "conversations:manage",
		"escalate_to_human": "conversations:manage", "start_conversation": "conversations:create",
		"search_contacts": "contacts:read", "get_contact": "contacts:read",
		"create_contact": "contacts:write", "update_contact": "contacts:write", "add_contact_note": "contacts:write",
		"poll_events": "events:read", "search_help_center": "helpcenter:read", "get_article": "helpcenter:read",
		"approve_draft": "conversations:draft", "reject_draft": "conversations:draft",
	}
}

test_targets_and_access if {
	catalog.tools.get_conversation.target == "conversation"
	catalog.tools.get_contact.target == "contact"
	catalog.tools.get_article.target == "article"
	catalog.tools.start_conversation.target == "contact"
	catalog.tools.start_conversation.inbox_arg == "place"
	catalog.tools.create_contact.inbox_arg == "place"
	catalog.tools.list_conversations.inbox_arg == "filter"
	catalog.tools.search_conversations.inbox_arg == "filter"
	catalog.tools.list_drafts.access == "read"
	catalog.tools.poll_events.access == "read"
	every name in {"reply_to_conversation", "add_private_note", "draft_reply", "update_conversation", "assign_conversation", "escalate_to_human", "start_conversation", "create_contact", "update_contact", "add_contact_note"} {
		catalog.tools[name].access == "write"
	}
}

test_only_customer_facing_tools_draft_on_approval if {
	catalog.approval_tools == {"reply_to_conversation", "start_conversation"}
}

test_presets if {
	catalog.presets.read_only == {"conversations:read", "contacts:read", "events:read", "helpcenter:read"}
	catalog.presets.reply == catalog.presets.read_only | {"conversations:reply", "conversations:note", "conversations:draft"}
	catalog.presets.manage_contacts == {"contacts:read", "contacts:write"}
	catalog.presets.full_agent == catalog.scopes
	object.keys(catalog.presets) == {"read_only", "reply", "manage_contacts", "full_agent"}
}

test_no_tool_is_of_a_forbidden_kind if {
	every name, _ in catalog.tools {
		every fragment, _ in catalog.forbidden_kinds {
			not contains(name, fragment)
		}
	}
}

test_forbidden_kinds_cover_the_design if {
	every fragment in {"settings", "channel", "billing", "delete", "broadcast", "webhook", "export"} {
		catalog.forbidden_kinds[fragment]
	}
}
