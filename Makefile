# The two commands: `make dev` runs Deskwoot locally, `make test` runs every test.
GO ?= go

.PHONY: dev dev-build test build vet policy-test bench bench-go fuzz

# make dev compiles without optimisations or inlining, as a debugger build
# does: a first run on a fresh 2-core machine compiles about 790 packages,
# and this takes a quarter off that (the wait is mostly compiling). A local
# server for one person does not need the optimiser; `make dev DEVFLAGS=`
# builds it optimised, and `make build` (what you deploy) always is.
DEVFLAGS ?= -gcflags='all=-N -l'
dev:
	$(GO) run $(DEVFLAGS) ./cmd/deskwoot dev

# Compiles what make dev runs, without running it (scripts/first-run.sh
# times it as a phase of its own).
dev-build:
	$(GO) build $(DEVFLAGS) -o /dev/null ./cmd/deskwoot

# One throwaway PostgreSQL for the whole run (cmd/pgrun), shared by every
# package; vet, the race-enabled tests and the Rego policy tests.
# -timeout 30m: go test's default of 10 minutes a package is too short for
# the api and console packages under -race on a busy 2-core machine.
test:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) run ./cmd/pgrun -- $(GO) test -race -count=1 -timeout 30m ./...
	$(GO) run ./cmd/deskwoot policy test

build:
	$(GO) build -o bin/deskwoot ./cmd/deskwoot

policy-test:
	$(GO) run ./cmd/deskwoot policy test

# The performance table of DESIGN §16, short: small dataset, 2 s a figure.
bench:
	$(GO) run ./cmd/deskwoot bench --scale small --duration 2s

bench-go:
	$(GO) run ./cmd/pgrun -- $(GO) test -run XXX -bench . -benchmem ./...

# Fuzzing: each target runs for FUZZTIME (go test -fuzz takes one target at
# a time) against one throwaway PostgreSQL. make test runs the committed
# seed corpora (testdata/fuzz/...) as ordinary tests.
FUZZTIME ?= 1m
FUZZ_TARGETS = ./mcp:FuzzToolCall ./mcp:FuzzNeutralise ./api:FuzzRESTBody ./api:FuzzCursor ./mailserver:FuzzParse ./billing:FuzzWebhook ./policy:FuzzDecide ./policy:FuzzTenantRules
fuzz:
	$(GO) run ./cmd/pgrun -- sh -c 'set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $$t"; $(GO) test "$${t%%:*}" -run '"'"'^$$'"'"' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME); done'
