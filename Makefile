# The two commands: `make dev` runs Deskwoot locally, `make test` runs every test.
GO ?= go

.PHONY: dev test build vet policy-test bench

dev:
	$(GO) run ./cmd/deskwoot dev

# One throwaway PostgreSQL for the whole run (cmd/pgrun), shared by every
# package; vet, the race-enabled tests and the Rego policy tests.
test:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) run ./cmd/pgrun -- $(GO) test -race -count=1 ./...
	$(GO) run ./cmd/deskwoot policy test

build:
	$(GO) build -o bin/deskwoot ./cmd/deskwoot

policy-test:
	$(GO) run ./cmd/deskwoot policy test

bench:
	$(GO) run ./cmd/pgrun -- $(GO) test -run XXX -bench . -benchmem ./...
