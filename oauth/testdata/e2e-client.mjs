// An OAuth-only MCP client, built from the official MCP TypeScript SDK, for
// oauth/e2e_test.go. It discovers the authorization server from /api/mcp's
// 401, registers itself (RFC 7591), prints the authorization URL for the
// test's browser, receives the code on its loopback redirect URI, then
// lists and calls tools. After the test revokes the grant (it writes
// "revoked" on stdin) it tries a call and a refresh, and reports both.
//
// Usage: node e2e-client.mjs MCP_URL
// Output: one line per event, "EVENT {json}".
import http from 'node:http';
import readline from 'node:readline';
import { auth, refreshAuthorization, discoverAuthorizationServerMetadata } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const serverUrl = new URL(process.argv[2]);
const say = (event, data) => console.log(`${event} ${JSON.stringify(data ?? {})}`);

// The loopback redirect URI receives the code (RFC 8252).
let gotCode;
const codeArrived = new Promise((resolve) => { gotCode = resolve; });
const callback = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://127.0.0.1');
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('You can close this window.');
  if (u.pathname === '/callback') gotCode({ code: u.searchParams.get('code'), error: u.searchParams.get('error'), state: u.searchParams.get('state') });
});
await new Promise((r) => callback.listen(0, '127.0.0.1', r));
const redirectUrl = `http://127.0.0.1:${callback.address().port}/callback`;

// An in-memory OAuthClientProvider.
const store = {};
const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return { client_name: 'SDK e2e client', redirect_uris: [redirectUrl], grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'], token_endpoint_auth_method: 'none' };
  },
  state() { return 'e2e-state-' + Math.random().toString(36).slice(2); },
  clientInformation() { return store.client; },
  saveClientInformation(c) { store.client = c; say('REGISTERED', { client_id: c.client_id }); },
  tokens() { return store.tokens; },
  saveTokens(t) { store.tokens = t; say('TOKENS', { access: t.access_token.slice(0, 7), refresh: (t.refresh_token || '').slice(0, 7), expires_in: t.expires_in, scope: t.scope }); },
  redirectToAuthorization(url) { say('AUTHORIZE', { url: url.toString() }); },
  saveCodeVerifier(v) { store.verifier = v; },
  codeVerifier() { return store.verifier; },
};

const fail = (where, e) => { say('ERROR', { where, name: e?.name, message: String(e?.message ?? e) }); process.exit(1); };

try {
  let result = await auth(provider, { serverUrl });
  if (result !== 'REDIRECT') fail('auth', new Error('expected a redirect, got ' + result));
  const { code, error } = await codeArrived;
  if (!code) fail('callback', new Error('no code: ' + error));
  result = await auth(provider, { serverUrl, authorizationCode: code });
  if (result !== 'AUTHORIZED') fail('auth with code', new Error(result));
} catch (e) { fail('auth', e); }

const client = new Client({ name: 'deskwoot-e2e', version: '1.0.0' });
try {
  await client.connect(new StreamableHTTPClientTransport(serverUrl, { authProvider: provider }));
  const tools = await client.listTools();
  say('TOOLS', { names: tools.tools.map((t) => t.name).sort() });
  const call = await client.callTool({ name: 'list_inboxes', arguments: {} });
  say('CALL', { isError: !!call.isError, structured: call.structuredContent });
} catch (e) { fail('mcp', e); }

// Wait for the test to revoke the grant.
const savedRefresh = store.tokens.refresh_token;
const savedAccess = store.tokens.access_token;
say('READY', {});
const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) { if (line.trim() === 'revoked') break; }

// The same request by hand shows the server's answer itself.
const raw = await fetch(serverUrl, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  headers: { authorization: 'Bearer ' + savedAccess, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' } });
say('AFTER_REVOKE_STATUS', { status: raw.status, challenge: raw.headers.get('www-authenticate') });
try {
  const tools = await client.listTools();
  say('AFTER_REVOKE_CALL', { ok: true, count: tools.tools.length });
} catch (e) {
  say('AFTER_REVOKE_CALL', { ok: false, name: e?.name, message: String(e?.message ?? e), code: e?.code });
}
try {
  const asUrl = new URL('/', serverUrl);
  const metadata = await discoverAuthorizationServerMetadata(asUrl);
  await refreshAuthorization(asUrl, { metadata, clientInformation: store.client, refreshToken: savedRefresh, resource: serverUrl });
  say('REFRESH', { ok: true });
} catch (e) {
  say('REFRESH', { ok: false, name: e?.name, message: String(e?.message ?? e) });
}
callback.close();
process.exit(0);
