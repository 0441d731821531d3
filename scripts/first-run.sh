#!/usr/bin/env bash
# A newcomer's first `make dev`, timed: git clone, then make dev until
# /healthz answers, with empty Go module and build caches (temporary
# folders), so nothing earlier on this machine helps. It prints where the
# time goes: the clone, the module download (`go list -deps`, which fetches
# exactly the modules the binary needs, as make dev would), compiling
# (`make dev-build`: what make dev's `go run` would compile), and make
# dev itself (linking, PostgreSQL, migrations, the demo) up to the first
# healthy answer: wall time for each, CPU time (user+sys, which other
# work on a shared machine moves far less) where the phase is a command of
# its own, and the load average.
#
#   scripts/first-run.sh [REPO] [REV]     # default: this checkout, HEAD
set -euo pipefail
repo=${1:-$(git rev-parse --show-toplevel)}
rev=${2:-HEAD}
rev=$(git -C "$repo" rev-parse "$rev" 2>/dev/null || echo "$rev")
work=$(mktemp -d)
export GOMODCACHE=$work/gomodcache GOCACHE=$work/gocache GOFLAGS="$(go env GOFLAGS) -modcacherw" # removable caches
port=$((20000 + RANDOM % 40000))
export DESKWOOT_ADDR=127.0.0.1:$port
dev=
cleanup() {
	if [ -n "$dev" ]; then
		kill -INT -- "-$dev" 2>/dev/null || true # make, go run and deskwoot dev: PostgreSQL stops cleanly
		for _ in $(seq 100); do kill -0 "$dev" 2>/dev/null || break; sleep 0.2; done
	fi
	rm -rf "$work"
}
trap cleanup EXIT

TIMEFORMAT='%R %U %S'
phase() { # name command...: runs it, prints wall and CPU seconds
	local name=$1 t
	shift
	t=$({ time "$@" >"$work/$name.log" 2>&1; } 2>&1) || { echo "$name failed:"; tail -20 "$work/$name.log"; exit 1; }
	set -- $t
	printf '%-28s wall %7.1f s   cpu %7.1f s\n' "$name" "$1" "$(echo "$2 + $3" | bc)"
	echo "$1" >>"$work/walls"
}

echo "first run of $rev on $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
phase "git clone" sh -c "git clone -q '$repo' '$work/deskwoot' && git -C '$work/deskwoot' checkout -q '$rev'"
cd "$work/deskwoot"
phase "module download" go list -deps ./cmd/deskwoot
echo "  $(du -sh "$GOMODCACHE" | cut -f1) of modules; $(go list -deps ./cmd/deskwoot | wc -l) packages in the binary"

# Compiling first, as a phase of its own, gives its CPU time (user+sys of
# the go command and the compilers it waits for), which a busy machine
# moves far less than wall time; make dev then finds the build cached.
phase "compile (make dev-build)" make -s dev-build

start=$(date +%s.%N)
setsid make dev >"$work/dev.log" 2>&1 &
dev=$!
until curl -fsS "http://$DESKWOOT_ADDR/healthz" >/dev/null 2>&1; do
	if ! kill -0 "$dev" 2>/dev/null; then
		echo "make dev exited:"
		tail -20 "$work/dev.log"
		exit 1
	fi
	sleep 0.2
done
wall=$(echo "$(date +%s.%N) - $start" | bc)
printf '%-28s wall %7.1f s   (link, PostgreSQL, migrate, seed)\n' "make dev → /healthz" "$wall"
echo "$wall" >>"$work/walls"
printf '%-28s wall %7.1f s   load average now %s\n' "total" "$(paste -sd+ "$work/walls" | bc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
