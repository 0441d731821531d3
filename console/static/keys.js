// Deskwoot console: keyboard shortcuts (DESIGN §18). Every shortcut does
// what a visible control does (a link, a button, a field), so the page
// works the same without this file. None fires while the person types in
// a field or holds Ctrl, Alt or Meta; "?" lists them in a dialog.
(function () {
  "use strict";

  // typing reports whether a key press belongs to a field being edited.
  function typing(el) {
    if (!el || !el.tagName) return false;
    var t = el.tagName;
    return t === "INPUT" || t === "TEXTAREA" || t === "SELECT" || el.isContentEditable;
  }

  // The list: j and k move a marker over the rows and focus the row's link
  // (Enter then opens it).
  function rows() {
    var list = document.getElementById("conversation-list");
    return list ? Array.prototype.slice.call(list.querySelectorAll("li.row")) : [];
  }

  function move(step) {
    var rs = rows();
    if (!rs.length) return false;
    // The row in focus, else the one marked (the live script may have
    // swapped the list since, keeping the focus but not the mark).
    var focused = document.activeElement && document.activeElement.closest && document.activeElement.closest("li.row");
    var at = rs.findIndex(function (r) { return r === focused; });
    if (at < 0) at = rs.findIndex(function (r) { return r.classList.contains("current"); });
    var next = at < 0 ? (step > 0 ? 0 : rs.length - 1) : Math.min(rs.length - 1, Math.max(0, at + step));
    rs.forEach(function (r) { r.classList.remove("current"); });
    rs[next].classList.add("current");
    var link = rs[next].querySelector("a.row-link");
    if (link) link.focus();
    return true;
  }

  // submit clicks the button of the form with this id, if the page has it
  // (the form's own button, so the same POST happens as with a click).
  function submit(id) {
    var f = document.getElementById(id);
    var b = f && f.querySelector("button[type=submit]");
    if (!b) return false;
    b.click();
    return true;
  }

  // compose focuses the composer; kind is "reply" or "note", which
  // Ctrl+Enter then sends.
  function compose(kind) {
    var form = document.getElementById("composer");
    var box = form && form.querySelector("textarea");
    if (!box) return false;
    form.setAttribute("data-kind", kind);
    box.focus();
    return true;
  }

  function search() {
    var q = document.getElementById("f-q");
    if (q) {
      q.focus();
      q.select();
    } else {
      window.location.href = "/conversations#search";
    }
    return true;
  }

  function help() {
    var d = document.getElementById("shortcuts");
    if (!d || d.open) return false;
    if (d.showModal) d.showModal(); else d.setAttribute("open", "");
    return true;
  }

  var keys = {
    j: function () { return move(1); },
    k: function () { return move(-1); },
    r: function () { return compose("reply"); },
    n: function () { return compose("note"); },
    e: function () { return submit("resolve"); },
    a: function () { return submit("assign-me"); },
    "/": search,
    "?": help
  };

  document.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing) return; // the field's own keys first
    if (typing(ev.target)) {
      if (ev.key === "Escape") ev.target.blur();
      return;
    }
    if (document.querySelector("dialog[open]")) return;
    var fn = keys[ev.key];
    if (fn && fn()) {
      ev.preventDefault();
      swallow = true;
    }
  });

  // The key that moved the focus into a field (r, n, /) must not also
  // type itself there. preventDefault on keydown stops it in a browser's
  // own key handling; input that delivers the character as an event of
  // its own (some input methods, automation) is stopped here, until the
  // key is released.
  var swallow = false;
  document.addEventListener("beforeinput", function (ev) { if (swallow) ev.preventDefault(); }, true);
  document.addEventListener("keyup", function () { swallow = false; }, true);

  // Ctrl+Enter (or Cmd+Enter) in the composer sends with the kind chosen
  // by r or n (a reply unless n was pressed).
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter" || !(ev.ctrlKey || ev.metaKey)) return;
    var form = ev.target.form;
    if (!form || form.id !== "composer") return;
    var kind = form.getAttribute("data-kind") || "reply";
    var b = form.querySelector('button[name=kind][value="' + kind + '"]');
    if (b) {
      ev.preventDefault();
      b.click();
    }
  });

  // Arriving from "/" on another page: the search field takes the focus.
  if (window.location.hash === "#search") {
    var q = document.getElementById("f-q");
    if (q) q.focus();
  }
})();
