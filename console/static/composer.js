// Deskwoot console: offers in the composer (DESIGN §18). Typing "/" and
// the start of a short code offers the matching canned responses; typing
// "@" and the start of a name offers teammates to mention in a private
// note. Each offer is a list under the field: arrow keys move, Enter or
// Tab inserts, Escape closes, and a click inserts too. Each list is read
// once, when the person first types its sign (the textarea's data-canned
// and data-mentions name the URLs).
(function () {
  "use strict";

  var box = document.querySelector("textarea[data-canned]");
  if (!box) return;

  var offers = [
    {
      sign: "/",
      id: "canned",
      label: "Canned responses",
      url: box.getAttribute("data-canned"),
      list: "canned_responses",
      key: function (c) { return c.short_code; },
      text: function (c) { return c.content; },
      show: function (c) { return ["/" + c.short_code, " " + c.content.replace(/\s+/g, " ").slice(0, 80)]; }
    },
    {
      sign: "@",
      id: "mention",
      label: "People to mention",
      url: box.getAttribute("data-mentions"),
      list: "people",
      key: function (p) { return p.handle; },
      text: function (p) { return "@" + p.handle + " "; },
      show: function (p) { return ["@" + p.handle, p.name !== p.handle ? " " + p.name : ""]; }
    }
  ].filter(function (o) { return o.url; });

  offers.forEach(function (o) {
    o.items = null; // once read
    o.loading = false;
    o.menu = document.createElement("ul");
    o.menu.id = o.id + "-menu";
    o.menu.className = "canned-menu";
    o.menu.setAttribute("role", "listbox");
    o.menu.setAttribute("aria-label", o.label);
    o.menu.hidden = true;
    box.parentNode.appendChild(o.menu);
  });
  box.setAttribute("aria-autocomplete", "list");
  box.setAttribute("aria-expanded", "false");

  var open = null; // the offer whose list shows
  var matches = [];
  var active = -1;

  // typed is the sign and word right before the caret, at the start of
  // the text or after white space; null when there is none.
  function typed(o) {
    var before = box.value.slice(0, box.selectionStart);
    var m = new RegExp("(^|\\s)" + (o.sign === "/" ? "\\/" : o.sign) + "([\\p{L}\\p{N}._-]*)$", "u").exec(before);
    return m ? { word: m[2], start: before.length - m[2].length - 1 } : null;
  }

  function load(o) {
    if (o.items || o.loading) return;
    o.loading = true;
    fetch(o.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : {}; })
      .then(function (body) { o.items = body[o.list] || []; update(); })
      .catch(function () { o.items = []; })
      .then(function () { o.loading = false; });
  }

  function close() {
    offers.forEach(function (o) { o.menu.hidden = true; o.menu.textContent = ""; });
    open = null;
    matches = [];
    active = -1;
    box.setAttribute("aria-expanded", "false");
    box.removeAttribute("aria-controls");
    box.removeAttribute("aria-activedescendant");
  }

  function update() {
    var o = null, t = null;
    for (var i = 0; i < offers.length && !t; i++) {
      if ((t = typed(offers[i]))) o = offers[i];
    }
    if (!t) return close();
    if (!o.items) return load(o);
    var word = t.word.toLowerCase();
    var found = o.items.filter(function (it) { return o.key(it).toLowerCase().indexOf(word) === 0; }).slice(0, 8);
    if (!found.length) return close();
    if (open !== o) close();
    open = o;
    matches = found;
    o.menu.textContent = "";
    found.forEach(function (it, j) {
      var li = document.createElement("li");
      li.id = o.id + "-" + j;
      li.setAttribute("role", "option");
      var parts = o.show(it);
      var strong = document.createElement("strong");
      strong.textContent = parts[0];
      var rest = document.createElement("span");
      rest.textContent = parts[1];
      li.appendChild(strong);
      li.appendChild(rest);
      li.addEventListener("mousedown", function (ev) {
        ev.preventDefault(); // keep the focus in the field
        insert(j);
      });
      o.menu.appendChild(li);
    });
    o.menu.hidden = false;
    box.setAttribute("aria-controls", o.menu.id);
    box.setAttribute("aria-expanded", "true");
    select(Math.min(Math.max(active, 0), found.length - 1));
  }

  function select(i) {
    active = i;
    Array.prototype.forEach.call(open.menu.children, function (li, j) {
      li.setAttribute("aria-selected", j === i ? "true" : "false");
    });
    box.setAttribute("aria-activedescendant", open.id + "-" + i);
  }

  // insert replaces the typed sign and word with the choice's text.
  function insert(i) {
    var o = open;
    var t = o && typed(o);
    var it = matches[i];
    if (!t || !it) return close();
    var text = o.text(it);
    var end = box.selectionStart;
    box.value = box.value.slice(0, t.start) + text + box.value.slice(end);
    var caret = t.start + text.length;
    box.setSelectionRange(caret, caret);
    close();
    box.focus();
  }

  // Like keydown's preventDefault, for input that delivers the key's
  // character as an event of its own (some input methods, automation).
  var swallow = false;
  box.addEventListener("beforeinput", function (ev) { if (swallow) ev.preventDefault(); });
  box.addEventListener("keyup", function () { swallow = false; });
  box.addEventListener("input", update);
  box.addEventListener("blur", function () { setTimeout(close, 100); });
  box.addEventListener("keydown", function (ev) {
    if (!open) return;
    switch (ev.key) {
      case "ArrowDown":
        select((active + 1) % matches.length);
        break;
      case "ArrowUp":
        select((active - 1 + matches.length) % matches.length);
        break;
      case "Enter":
      case "Tab":
        if (ev.ctrlKey || ev.metaKey) return;
        insert(active);
        swallow = true; // the Enter that chose must not also break the line
        break;
      case "Escape":
        close();
        break;
      default:
        return;
    }
    ev.preventDefault();
  });
})();
