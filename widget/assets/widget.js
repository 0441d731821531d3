// Deskwoot chat widget: a launcher and a chat panel in a shadow root (the
// host page's CSS does not reach in), talking to /widget/v1/ of the server
// it was loaded from. Every text that a customer or an agent wrote is put
// on the page with textContent, never as HTML.
(function () {
  'use strict';
  var me = document.currentScript;
  if (!me) return;
  var base = new URL(me.src).origin;
  var inbox = me.getAttribute('data-deskwoot-inbox') || '';
  var api = base + '/widget/v1/' + encodeURIComponent(inbox);
  var identity = window.deskwootSettings || null;
  var storeKey = 'deskwoot:' + inbox + (identity && identity.user_id ? ':user:' + identity.user_id : '');
  var token = load('token');
  var cfg = null;
  var shown = {}; // message ids on the page
  var lastID = 0;
  var seenQueue = [];
  var promptTimer = null;
  var streaming = false;
  var refused = false;

  function load(k) { try { return localStorage.getItem(storeKey + ':' + k); } catch (e) { return null; } }
  function save(k, v) { try { if (v == null) localStorage.removeItem(storeKey + ':' + k); else localStorage.setItem(storeKey + ':' + k, v); } catch (e) {} }

  function el(tag, attrs, text) {
    var n = document.createElement(tag);
    for (var k in attrs || {}) n.setAttribute(k, attrs[k]);
    if (text != null) n.textContent = text;
    return n;
  }

  var css = ':host{all:initial}*{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:15px;line-height:1.4}' +
    '.launch{position:fixed;right:20px;bottom:20px;z-index:2147483000;background:#1f5fbf;color:#fff;border:0;border-radius:999px;padding:12px 20px;font-weight:600;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)}' +
    '.launch:focus-visible,button:focus-visible,input:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #ffb000;outline-offset:2px}' +
    '.badge[hidden]{display:none}.badge{display:inline-block;min-width:1.4em;margin-left:8px;padding:0 6px;border-radius:999px;background:#fff;color:#1f5fbf;font-size:13px}' +
    '.panel{position:fixed;right:20px;bottom:84px;z-index:2147483001;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);background:#fff;color:#1b1b1b;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:flex;flex-direction:column;overflow:hidden}' +
    '.panel[hidden]{display:none}' +
    'header{background:#1f5fbf;color:#fff;padding:12px 14px;display:flex;align-items:center;justify-content:space-between;gap:8px}' +
    'h2{margin:0;font-size:17px;color:#fff}header button{background:transparent;color:#fff;border:1px solid rgba(255,255,255,.6);border-radius:6px;padding:4px 10px;cursor:pointer}' +
    '.body{flex:1;overflow-y:auto;padding:12px 14px;display:flex;flex-direction:column;gap:10px}' +
    '.greeting{margin:0;color:#333}label{display:block;font-weight:600;margin-bottom:4px;color:#1b1b1b}' +
    'input,textarea{width:100%;border:1px solid #8a8a8a;border-radius:6px;padding:8px;color:#1b1b1b;background:#fff}textarea{resize:none;height:64px}' +
    '.results{list-style:none;margin:6px 0 0;padding:0}.results li{margin:0 0 6px}.results button{all:unset;cursor:pointer;display:block;width:100%;box-sizing:border-box;padding:6px 8px;border:1px solid #d0d7e2;border-radius:6px;color:#1f5fbf;font-weight:600}' +
    '.results small{display:block;color:#444;font-weight:400}.article{border:1px solid #d0d7e2;border-radius:8px;padding:10px}.article h3{margin:0 0 6px;font-size:16px}.article div{white-space:pre-wrap;word-wrap:break-word}' +
    '.log{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:8px}.log li{max-width:85%;padding:8px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}' +
    '.log .visitor{align-self:flex-end;background:#1f5fbf;color:#fff}.log .agent{align-self:flex-start;background:#eef1f6;color:#1b1b1b}.who{display:block;font-size:12px;font-weight:600;opacity:.85}' +
    'form{margin:0}.compose{border-top:1px solid #d0d7e2;padding:10px 14px;display:flex;flex-direction:column;gap:6px}.row{display:flex;gap:8px;align-items:flex-end}.row>div{flex:1}' +
    '.primary{background:#1f5fbf;color:#fff;border:0;border-radius:6px;padding:9px 16px;font-weight:600;cursor:pointer}.primary:disabled,textarea:disabled{opacity:.5;cursor:not-allowed}.link{background:none;border:0;color:#1f5fbf;padding:0;cursor:pointer;text-decoration:underline}' +
    '.err{color:#b00020;margin:0}.err:empty{display:none}.emailbox{background:#fff8e1;border:1px solid #e0c060;border-radius:8px;padding:10px}.emailbox p{margin:0 0 6px}' +
    '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}' +
    '@media (max-width:480px){.panel{inset:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0}.launch{right:12px;bottom:12px}}';

  var host = el('div', { 'data-deskwoot': 'widget' });
  var root = host.attachShadow({ mode: 'open' });
  try {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } catch (e) {
    root.appendChild(el('style', {}, css));
  }

  var launch = el('button', { type: 'button', 'class': 'launch', 'aria-expanded': 'false', 'aria-controls': 'dw-panel' }, 'Chat with us');
  var badge = el('span', { 'class': 'badge', hidden: '' });
  launch.appendChild(badge);
  var panel = el('section', { id: 'dw-panel', 'class': 'panel', role: 'dialog', 'aria-labelledby': 'dw-title', hidden: '' });
  var header = el('header');
  var title = el('h2', { id: 'dw-title' }, 'Chat');
  var close = el('button', { type: 'button', 'aria-label': 'Close chat' }, 'Close');
  header.appendChild(title);
  header.appendChild(close);

  var body = el('div', { 'class': 'body' });
  var greeting = el('p', { 'class': 'greeting' });
  var searchForm = el('form', { role: 'search' });
  searchForm.appendChild(el('label', { 'for': 'dw-search' }, 'Search articles'));
  var searchRow = el('div', { 'class': 'row' });
  var searchBox = el('div');
  var search = el('input', { id: 'dw-search', type: 'search', maxlength: '500', autocomplete: 'off' });
  searchBox.appendChild(search);
  searchRow.appendChild(searchBox);
  searchRow.appendChild(el('button', { type: 'submit', 'class': 'primary' }, 'Search'));
  searchForm.appendChild(searchRow);
  var results = el('ul', { 'class': 'results', 'aria-label': 'Articles found' });
  var article = el('div', { 'class': 'article', hidden: '' });
  var log = el('ol', { 'class': 'log', role: 'log', 'aria-live': 'polite', 'aria-label': 'Conversation' });
  var emailBox = el('form', { 'class': 'emailbox', hidden: '' });
  emailBox.appendChild(el('p', {}, 'No reply yet. Leave your email and we will write to you there.'));
  emailBox.appendChild(el('label', { 'for': 'dw-email' }, 'Email'));
  var emailRow = el('div', { 'class': 'row' });
  var emailWrap = el('div');
  var email = el('input', { id: 'dw-email', type: 'email', maxlength: '254', autocomplete: 'email', required: '' });
  emailWrap.appendChild(email);
  emailRow.appendChild(emailWrap);
  emailRow.appendChild(el('button', { type: 'submit', 'class': 'primary' }, 'Save email'));
  emailBox.appendChild(emailRow);
  var err = el('p', { 'class': 'err', role: 'alert' });
  [greeting, searchForm, results, article, log, emailBox].forEach(function (n) { body.appendChild(n); });

  var compose = el('form', { 'class': 'compose' });
  compose.appendChild(err);
  compose.appendChild(el('label', { 'for': 'dw-message' }, 'Message'));
  var row = el('div', { 'class': 'row' });
  var msgWrap = el('div');
  var message = el('textarea', { id: 'dw-message', maxlength: '100000', 'aria-describedby': 'dw-hint' });
  msgWrap.appendChild(message);
  row.appendChild(msgWrap);
  var send = el('button', { type: 'submit', 'class': 'primary' }, 'Send');
  row.appendChild(send);
  compose.appendChild(row);
  compose.appendChild(el('span', { id: 'dw-hint', 'class': 'sr' }, 'Enter sends, Shift+Enter starts a new line.'));

  panel.appendChild(header);
  panel.appendChild(body);
  panel.appendChild(compose);
  root.appendChild(panel);
  root.appendChild(launch);

  function call(method, path, data, auth) {
    var h = {};
    if (data) h['Content-Type'] = 'application/json';
    if (auth !== false && token) h.Authorization = 'Bearer ' + token;
    return fetch(api + path, { method: method, headers: h, body: data ? JSON.stringify(data) : undefined, mode: 'cors', credentials: 'omit' })
      .catch(function () {
        // A refused origin gets no CORS headers, so the browser shows no answer.
        throw new Error('The chat is not available here: this site is not allowed to show it, or the connection failed.');
      })
      .then(function (res) {
        return res.text().then(function (t) {
          var j = null;
          try { j = t ? JSON.parse(t) : null; } catch (e) {}
          if (!res.ok) {
            var e2 = new Error((j && j.error && j.error.message) || ('The chat is not available (' + res.status + ').'));
            e2.status = res.status;
            throw e2;
          }
          return j;
        });
      });
  }

  function showError(e) { err.textContent = e ? (e.message || String(e)) : ''; }

  function render(m) {
    if (shown[m.id]) return;
    shown[m.id] = true;
    lastID = Math.max(lastID, m.id);
    var li = el('li', { 'class': m.from === 'visitor' ? 'visitor' : 'agent' });
    li.appendChild(el('span', { 'class': 'who' }, m.from === 'visitor' ? 'You' : (m.author || 'Support')));
    li.appendChild(document.createTextNode(m.content));
    log.appendChild(li);
    body.scrollTop = body.scrollHeight;
    if (m.from !== 'visitor') {
      clearTimeout(promptTimer);
      emailBox.hidden = true;
      seenQueue.push(m.id);
      if (panel.hidden) {
        badge.textContent = String((parseInt(badge.textContent, 10) || 0) + 1);
        badge.hidden = false;
      } else flushSeen();
    }
  }

  // A reply counts as delivered once it is on screen with the panel open.
  function flushSeen() {
    if (!seenQueue.length || panel.hidden || !token) return;
    var ids = seenQueue.splice(0, 100);
    call('POST', '/seen', { message_ids: ids }).catch(function () {});
  }

  function armPrompt() {
    if (!cfg || load('email')) return;
    clearTimeout(promptTimer);
    promptTimer = setTimeout(function () { emailBox.hidden = false; }, cfg.email_prompt_after_minutes * 60000);
  }

  function stream() {
    if (streaming || !token || refused) return;
    streaming = true;
    var h = { Authorization: 'Bearer ' + token };
    fetch(api + '/stream?after=' + lastID, { headers: h, mode: 'cors', credentials: 'omit' }).then(function (res) {
      if (res.status === 401) { forget(); throw new Error('signed out'); }
      if (!res.ok || !res.body) throw new Error('stream ' + res.status);
      var reader = res.body.getReader();
      var dec = new TextDecoder();
      var buf = '';
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) return;
          buf += dec.decode(r.value, { stream: true });
          var i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            var block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            var ev = 'message', data = '';
            block.split('\n').forEach(function (line) {
              if (line.indexOf('event:') === 0) ev = line.slice(6).trim();
              else if (line.indexOf('data:') === 0) data += line.slice(5).trim();
            });
            if (ev === 'message' && data) { try { render(JSON.parse(data)); } catch (e) {} }
          }
          return pump();
        });
      }
      return pump();
    }).catch(function () {}).then(function () {
      streaming = false;
      if (token && !refused) setTimeout(stream, 2000);
    });
  }

  function forget() { token = null; save('token', null); }

  function history() {
    return call('GET', '/messages').then(function (j) { (j.messages || []).forEach(render); });
  }

  function identify() {
    if (!identity || !identity.user_id) return Promise.resolve();
    return call('POST', '/identify', {
      user_id: String(identity.user_id), email: identity.email || '', name: identity.name || '', user_hash: identity.user_hash || ''
    }, false).then(function (j) { token = j.token; save('token', token); }, function (e) {
      if (e.status === 403) e.message = 'This site could not confirm who you are, so the chat is closed. (' + e.message + ')';
      throw e;
    });
  }

  function start() {
    return call('GET', '/config', null, false).then(function (c) {
      cfg = c;
      title.textContent = c.name || 'Chat';
      greeting.textContent = c.greeting || 'Hi! Ask us anything.';
      return identify();
    }).then(function () {
      if (cfg.require_identity && !token) throw new Error('This chat is for signed-in users of the site; sign in, then open the chat again.');
      if (token) return history().then(stream, function (e) { if (e.status === 401) forget(); else throw e; });
    }).catch(function (e) {
      refused = true;
      send.disabled = true;
      message.disabled = true;
      showError(e);
    });
  }

  var started = null;
  function open() {
    panel.hidden = false;
    launch.setAttribute('aria-expanded', 'true');
    badge.hidden = true;
    badge.textContent = '';
    if (!started) started = start();
    started.then(flushSeen);
    message.focus();
  }
  function shut() {
    panel.hidden = true;
    launch.setAttribute('aria-expanded', 'false');
    launch.focus();
  }

  launch.addEventListener('click', function () { if (panel.hidden) open(); else shut(); });
  close.addEventListener('click', shut);
  panel.addEventListener('keydown', function (e) { if (e.key === 'Escape') shut(); });
  message.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); compose.requestSubmit ? compose.requestSubmit() : compose.dispatchEvent(new Event('submit')); }
  });

  compose.addEventListener('submit', function (e) {
    e.preventDefault();
    var text = message.value;
    if (!text.trim() || refused) return;
    send.disabled = true;
    showError(null);
    (started || (started = start())).then(function () {
      return call('POST', '/messages', { content: text });
    }).then(function (j) {
      if (j.token) { token = j.token; save('token', token); }
      message.value = '';
      render(j.message);
      armPrompt();
      stream();
    }).catch(function (e2) {
      if (e2.status === 401) forget();
      showError(e2);
    }).then(function () { send.disabled = refused; message.focus(); });
  });

  searchForm.addEventListener('submit', function (e) {
    e.preventDefault();
    var q = search.value.trim();
    article.hidden = true;
    while (results.firstChild) results.removeChild(results.firstChild);
    if (!q) return;
    call('GET', '/articles?q=' + encodeURIComponent(q), null, false).then(function (j) {
      var list = j.articles || [];
      if (!list.length) results.appendChild(el('li', {}, 'No articles match.'));
      list.forEach(function (a) {
        var li = el('li');
        var b = el('button', { type: 'button' }, a.title);
        if (a.snippet) b.appendChild(el('small', {}, a.snippet));
        b.addEventListener('click', function () { showArticle(a.id); });
        li.appendChild(b);
        results.appendChild(li);
      });
    }).catch(showError);
  });

  function showArticle(id) {
    call('GET', '/articles/' + id, null, false).then(function (a) {
      while (article.firstChild) article.removeChild(article.firstChild);
      article.appendChild(el('h3', { tabindex: '-1' }, a.title));
      article.appendChild(el('div', {}, a.body));
      var back = el('button', { type: 'button', 'class': 'link' }, 'Back to results');
      back.addEventListener('click', function () { article.hidden = true; search.focus(); });
      article.appendChild(back);
      article.hidden = false;
      article.firstChild.focus();
    }).catch(showError);
  }

  emailBox.addEventListener('submit', function (e) {
    e.preventDefault();
    call('POST', '/email', { email: email.value.trim() }).then(function () {
      save('email', '1');
      emailBox.hidden = true;
      var li = el('li', { 'class': 'agent' }, 'Thanks! If you miss a reply here, we will email it to you.');
      log.appendChild(li);
    }).catch(showError);
  });

  function mount() {
    document.body.appendChild(host);
    if (token) { started = start(); }
  }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
})();
