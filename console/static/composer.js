// Deskwoot console: canned responses in the composer (DESIGN §18). Typing
// "/" and the start of a short code offers the matching responses in a
// list under the field; arrow keys move, Enter or Tab inserts, Escape
// closes, and a click inserts too. The responses are read once, when the
// person first types "/" (the textarea's data-canned names the URL).
(function () {
  "use strict";

  var box = document.querySelector("textarea[data-canned]");
  if (!box) return;

  var canned = null; // the responses, once read
  var loading = false;
  var matches = [];
  var active = -1;
  var menu = document.createElement("ul");
  menu.id = "canned-menu";
  menu.className = "canned-menu";
  menu.setAttribute("role", "listbox");
  menu.setAttribute("aria-label", "Canned responses");
  menu.hidden = true;
  box.parentNode.appendChild(menu);
  box.setAttribute("aria-controls", menu.id);
  box.setAttribute("aria-autocomplete", "list");
  box.setAttribute("aria-expanded", "false");

  // typed is the "/code" right before the caret, at the start of the text
  // or after white space; null when there is none.
  function typed() {
    var before = box.value.slice(0, box.selectionStart);
    var m = /(^|\s)\/([A-Za-z0-9_-]*)$/.exec(before);
    return m ? { code: m[2], start: before.length - m[2].length - 1 } : null;
  }

  function load() {
    if (canned || loading) return;
    loading = true;
    fetch(box.getAttribute("data-canned"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { canned_responses: [] }; })
      .then(function (body) { canned = body.canned_responses || []; update(); })
      .catch(function () { canned = []; })
      .then(function () { loading = false; });
  }

  function close() {
    menu.hidden = true;
    menu.textContent = "";
    matches = [];
    active = -1;
    box.setAttribute("aria-expanded", "false");
    box.removeAttribute("aria-activedescendant");
  }

  function update() {
    var t = typed();
    if (!t) return close();
    if (!canned) return load();
    var code = t.code.toLowerCase();
    matches = canned.filter(function (c) { return c.short_code.toLowerCase().indexOf(code) === 0; }).slice(0, 8);
    if (!matches.length) return close();
    menu.textContent = "";
    matches.forEach(function (c, i) {
      var li = document.createElement("li");
      li.id = "canned-" + i;
      li.setAttribute("role", "option");
      var strong = document.createElement("strong");
      strong.textContent = "/" + c.short_code;
      var text = document.createElement("span");
      text.textContent = " " + c.content.replace(/\s+/g, " ").slice(0, 80);
      li.appendChild(strong);
      li.appendChild(text);
      li.addEventListener("mousedown", function (ev) {
        ev.preventDefault(); // keep the focus in the field
        insert(i);
      });
      menu.appendChild(li);
    });
    menu.hidden = false;
    box.setAttribute("aria-expanded", "true");
    select(Math.min(Math.max(active, 0), matches.length - 1));
  }

  function select(i) {
    active = i;
    Array.prototype.forEach.call(menu.children, function (li, j) {
      li.setAttribute("aria-selected", j === i ? "true" : "false");
    });
    box.setAttribute("aria-activedescendant", "canned-" + i);
  }

  // insert replaces the typed "/code" with the response's content.
  function insert(i) {
    var t = typed();
    var c = matches[i];
    if (!t || !c) return close();
    var end = box.selectionStart;
    box.value = box.value.slice(0, t.start) + c.content + box.value.slice(end);
    var caret = t.start + c.content.length;
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
    if (menu.hidden) return;
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
