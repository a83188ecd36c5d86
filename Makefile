# tenantflow — the two commands a fresh machine needs are `make run` and
# `make test`; everything they need is installed or built here.

GO            ?= go
BIN           := $(CURDIR)/bin
STATICCHECK   := $(BIN)/staticcheck
# honnef.co/go/tools v0.8.2 is staticcheck 2026.2.2, which knows Go 1.26.
STATICCHECK_MODULE := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_TIMEOUT  ?= 20m
PKGS          := ./...

.PHONY: run build test lint fmt vet staticcheck bench clean

## run: serve on the embedded default (SQLite under ./data, http://127.0.0.1:8080)
run: build
	$(BIN)/tenantflow serve

## build: build bin/tenantflow
build:
	$(GO) build -o $(BIN)/tenantflow ./cmd/tenantflow

## test: lint, then every test with the race detector (PostgreSQL from TENANTFLOW_TEST_DATABASE_URL)
test: lint
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## lint: gofmt, go vet and staticcheck must be clean
lint: fmt vet staticcheck

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install $(STATICCHECK_MODULE)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) $(PKGS)

## bench: Go benchmarks at 1 and 2 CPUs (needs PostgreSQL like make test)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1,2 -timeout 60m $(PKGS)

clean:
	rm -rf $(BIN)
