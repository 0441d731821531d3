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

  // Copy buttons are hidden until this script runs (they need it).
  document.querySelectorAll("button[data-copy][hidden]").forEach(function (b) { b.hidden = false; });
})();
