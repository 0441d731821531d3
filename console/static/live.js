// Deskwoot console: live updates. Every page works without this file.
//
// A signed-in page subscribes to GET /live (server-sent events of the
// workspace's changes the person may see). On a change it re-reads its own
// URL and swaps the parts that live, which every page keeps under stable
// ids; everything else (the composer above all) stays as the person left
// it. Values typed into a swapped part, and the focus, are carried over.
(function () {
  "use strict";

  var body = document.body;
  var url = body.getAttribute("data-live");
  if (!url || !window.EventSource || !window.fetch || !window.DOMParser) return;

  // The parts that live, by id.
  var LIVE = ["conversation-list", "views", "thread", "drafts-list", "notifications-list", "nav-drafts-count", "nav-notifications-count"];
  // A change of what the page shows is applied after SOON; one that can
  // only move the counts (another conversation) after LATER, batched.
  var SOON = 200, LATER = 2000;

  var lastId = body.getAttribute("data-live-cursor") || "";
  var timer = null, due = 0, reading = false, readAgain = false;
  var source = null, retry = 2000, over = false;

  function thisConversation() {
    var t = document.getElementById("thread");
    return t ? t.getAttribute("data-conversation-id") : null;
  }

  function schedule(delay) {
    var at = Date.now() + delay;
    if (timer && due <= at) return; // one is due sooner already
    clearTimeout(timer);
    due = at;
    timer = setTimeout(function () { timer = null; read(); }, delay);
  }

  function read() {
    if (reading) { readAgain = true; return; }
    reading = true;
    fetch(location.href, { credentials: "same-origin", cache: "no-store", headers: { "X-Deskwoot-Live": "1" } })
      .then(function (res) {
        // Signed out meanwhile (sent to sign in), or an error page: keep
        // what is on screen.
        if (!res.ok || res.redirected) return null;
        return res.text();
      })
      .then(function (html) { if (html) swap(new DOMParser().parseFromString(html, "text/html")); })
      .catch(function () { /* offline for a moment: the next change reads again */ })
      .then(function () {
        reading = false;
        if (readAgain) { readAgain = false; schedule(SOON); }
      });
  }

  function swap(doc) {
    LIVE.forEach(function (id) {
      var cur = document.getElementById(id), next = doc.getElementById(id);
      if (!cur || !next || cur.innerHTML === next.innerHTML) return;
      keepTyping(cur, next);
      var focused = document.activeElement, focusId = focused && cur.contains(focused) ? focused.id : "";
      var start = focusId && "selectionStart" in focused ? focused.selectionStart : null;
      var end = focusId && "selectionEnd" in focused ? focused.selectionEnd : null;
      next = document.adoptNode(next);
      cur.replaceWith(next);
      if (focusId) {
        var again = document.getElementById(focusId);
        if (again) {
          again.focus();
          try { if (start !== null) again.setSelectionRange(start, end); } catch (e) { /* not a text field */ }
        }
      }
    });
  }

  // keepTyping copies what the person changed in cur's fields (typed text,
  // ticked boxes, chosen options) onto the same fields (by id) in next.
  function keepTyping(cur, next) {
    cur.querySelectorAll("input[id], textarea[id], select[id]").forEach(function (el) {
      var to = next.querySelector("#" + CSS.escape(el.id));
      if (!to || to.tagName !== el.tagName) return;
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.checked !== el.defaultChecked) to.checked = el.checked;
      } else if (el.tagName === "SELECT") {
        var changed = Array.prototype.some.call(el.options, function (o) { return o.selected !== o.defaultSelected; });
        if (changed) to.value = el.value;
      } else if (el.value !== el.defaultValue) {
        to.value = el.value;
      }
    });
  }

  function onChange(ev) {
    lastId = ev.lastEventId || lastId;
    var change;
    try { change = JSON.parse(ev.data); } catch (e) { return; }
    var conv = thisConversation();
    var mine = !conv || String(change.conversation_id) === conv;
    schedule(mine ? SOON : LATER);
  }

  function connect() {
    if (over) return;
    var src = new EventSource(url + (lastId ? "?cursor=" + encodeURIComponent(lastId) : ""));
    source = src;
    src.onopen = function () { retry = 2000; };
    src.onmessage = onChange;
    src.addEventListener("ping", function (ev) { lastId = ev.lastEventId || lastId; });
    // The feed could not go on from the page's place: read the page afresh.
    src.addEventListener("reset", function () { schedule(SOON); });
    src.addEventListener("end", function () { stop(); });
    src.onerror = function () {
      // The browser reconnects by itself after a dropped connection; a
      // refused one (429, 503, 401) is closed for good, so try later.
      if (src.readyState === EventSource.CLOSED && !over) {
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 300000);
      }
    };
  }

  // stop ends live updates for good: the session is over.
  function stop() {
    over = true;
    if (source) source.close();
    var main = document.getElementById("main");
    if (main && !document.getElementById("live-ended")) {
      var p = document.createElement("p");
      p.id = "live-ended";
      p.className = "banner warn";
      p.setAttribute("role", "status");
      p.appendChild(document.createTextNode("You are signed out, so this page no longer updates. "));
      var a = document.createElement("a");
      a.href = "/signin?next=" + encodeURIComponent(location.pathname + location.search);
      a.textContent = "Sign in again";
      p.appendChild(a);
      main.insertBefore(p, main.firstChild);
    }
  }

  connect();
})();
