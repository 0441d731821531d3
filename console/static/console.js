// Deskwoot console: small progressive enhancements. Every page works
// without this file; it adds copy buttons and confirmations.
(function () {
  "use strict";

  // <button data-copy="ID"> copies the value (or text) of element ID.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button[data-copy]");
    if (!btn) return;
    ev.preventDefault();
    var el = document.getElementById(btn.getAttribute("data-copy"));
    if (!el) return;
    var text = "value" in el && el.tagName !== "PRE" ? el.value : el.textContent;
    var done = function () {
      var was = btn.textContent;
      btn.textContent = "Copied";
      setTimeout(function () { btn.textContent = was; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(el); done(); });
    } else {
      fallback(el);
      done();
    }
  });

  function fallback(el) {
    if (el.select) {
      el.select();
    } else {
      var r = document.createRange();
      r.selectNodeContents(el);
      var s = window.getSelection();
      s.removeAllRanges();
      s.addRange(r);
    }
    try { document.execCommand("copy"); } catch (e) { /* the text stays selected */ }
  }

  // <form data-confirm="Question?"> asks before submitting.
  document.addEventListener("submit", function (ev) {
    var q = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (q && !window.confirm(q)) ev.preventDefault();
  });

  // A reply while an AI draft waits in the thread: ask first. The server
  // asks too (the page comes back with "Send reply anyway"), so this is
  // only the quicker way.
  document.addEventListener("submit", function (ev) {
    var form = ev.target, q = form.getAttribute && form.getAttribute("data-draft-question");
    var by = ev.submitter;
    if (!q || !by || by.name !== "kind" || by.value === "note") return;
    if (form.querySelector('input[name="despite_draft"]') || !document.querySelector("[data-pending-draft]")) return;
    if (!window.confirm(q)) {
      ev.preventDefault();
      return;
    }
    var yes = document.createElement("input");
    yes.type = "hidden";
    yes.name = "despite_draft";
    yes.value = "yes";
    form.appendChild(yes);
  });

  // <input data-browser-zone> carries the browser's time zone (sign-in
  // sets it as the person's until they choose one).
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* an old browser: UTC */ }
  document.querySelectorAll("input[data-browser-zone]").forEach(function (i) { i.value = zone; });

  // Copy buttons are hidden until this script runs (they need it).
  document.querySelectorAll("button[data-copy][hidden]").forEach(function (b) { b.hidden = false; });
})();
