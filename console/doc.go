// Package console is the humans' door (DESIGN §13): server-rendered pages
// (html/template, templates and assets embedded, no JavaScript framework,
// no build step) that call the same desk, tenancy, billing and trial
// functions as the REST API. It is mounted at / by package server.
//
// # Adding a page
//
//  1. Write the handler as a method on *Console in its own file (say
//     conversations.go). Keep it thin: read the form or query, call one
//     domain function, render. c.me(r) is the signed-in person
//     (identity.UserPrincipal), c.account(r) their account, c.scope(r) the
//     inboxes they may see (admins: all; agents: their inboxes).
//  2. Add its template as templates/pages/NAME.html, defining "content"
//     (and optionally "title"). The layout (templates/layout.html) wraps it
//     with the navigation, trial banner and flash messages. Shared pieces
//     live in templates/partials.html: "field", "textarea", "checkbox",
//     "select" and "form-error" render a labelled control with its kept
//     value and its error next to it.
//  3. Add one line to the route table in routes.go:
//     c.handle("GET /conversations", member, c.conversationList)
//     The access level is public (anyone), member (signed in; signed-out
//     browsers are sent to /signin?next=…) or admin (an agent gets the 403
//     page).
//
// Rendering: c.render(w, r, http.StatusOK, "NAME", Page{Title: "…", Nav:
// "conversations", Data: yourData, Form: form}). In the template, .Data is
// yourData, .Form the form (nil when none), .Me and .Account the person
// and workspace.
//
// Forms: f := newForm(r) reads the posted fields; f.Fail("email", "…")
// marks a field; f.FailErr(err, map[string]string{"account_name":
// "workspace"}) files a domain error (fault.Invalid, Conflict, NotFound)
// next to the form field its fault.Field maps to and reports whether it
// was one; re-render the same page with the form and status 400. After a
// successful post, c.flash(w, "Saved") and c.redirect(w, r, "/path")
// (303, Post/Redirect/Get).
//
// Live pages: every signed-in page subscribes to GET /live (live.go,
// package live) through static/live.js, which re-reads the page on a
// change and swaps the elements with the ids conversation-list, views,
// thread, nav-drafts-count and nav-notifications-count. A page that shows
// desk data keeps what changes inside one of them and what the person
// types (a composer) outside; times render with the template functions
// "when", "at" and "date", which show them in the person's time zone.
//
// Every response carries a strict Content-Security-Policy (no inline
// script or style: put behaviour in static/console.js and looks in
// static/console.css), X-Frame-Options: DENY and nosniff; every unsafe
// cross-site request is refused by http.CrossOriginProtection before any
// handler runs. HTML is never cached.
//
// # For other doors
//
// SignedIn(r) resolves the browser's session (for the OAuth consent page),
// RedirectToSignIn(w, r) sends the browser to sign in and back to the
// current URL afterwards, and Protect(h) wraps another handler with the same
// headers and cross-origin protection.
package console
