# tenantflow — the two commands a fresh machine needs are `make run` and
# `make test`; everything they need is installed or built here.

GO            ?= go
BIN           := $(CURDIR)/bin
STATICCHECK   := $(BIN)/staticcheck
# honnef.co/go/tools v0.8.2 is staticcheck 2026.2.2, which knows Go 1.26.
STATICCHECK_MODULE := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_TIMEOUT  ?= 20m
PKGS          := ./...

CONSOLE       := server/console
CONSOLE_SRC   := $(wildcard $(CONSOLE)/src/*) $(CONSOLE)/build.mjs
CONSOLE_DEPS  := $(CONSOLE)/node_modules/.package-lock.json
CHROMIUM      ?= /usr/bin/chromium

.PHONY: run build console test test-go test-console test-faults test-security chromium lint fmt vet staticcheck bench clean

## run: serve on the embedded default (SQLite under ./data, http://127.0.0.1:8080)
run: build
	$(BIN)/tenantflow serve

## build: bundle the admin console (bpmn-js from npm) and build bin/tenantflow with it embedded
build: console
	$(GO) build -o $(BIN)/tenantflow ./cmd/tenantflow

## console: bundle the admin console into server/console/dist
console: $(CONSOLE)/dist/index.html

$(CONSOLE_DEPS): $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	cd $(CONSOLE) && npm ci --no-audit --no-fund

$(CONSOLE)/dist/index.html: $(CONSOLE_DEPS) $(CONSOLE_SRC)
	cd $(CONSOLE) && npm run --silent build

## test: lint, every Go test with the race detector (PostgreSQL from TENANTFLOW_TEST_DATABASE_URL), then the console in a browser
test: lint test-go test-console

test-go: console
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## test-console: drive the console in headless chromium (installed with apt when missing); screenshots in build/console-screenshots
test-console: build chromium
	cd $(CONSOLE) && CHROMIUM=$(CHROMIUM) node --test --test-reporter=spec test/

## test-faults: real node processes under load while a node is killed (kill -9), a tenant's PostgreSQL cluster stops, or the primary goes away
test-faults:
	$(GO) test -tags faults -count=1 -v -run 'TestFault|TestTwoNodes' -timeout 15m ./cmd/tenantflow/

## test-security: the real binary over PostgreSQL, attacked over HTTP the ways the security review found (lockout, guess bursts, enumeration, revoked access, stale cookies, body and stream floods, cross-tenant and cross-user task work, login CSRF, impersonation, DSN secrets); prints each attack and fails if one succeeds
test-security:
	$(GO) build -o $(BIN)/tenantflow ./cmd/tenantflow
	TENANTFLOW_BINARY=$(BIN)/tenantflow $(GO) test -tags security -count=1 -v -run 'TestAttacks' -timeout 15m ./cmd/tenantflow/

chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing chromium for the console's browser test (once; about a minute)"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null || \
			{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null; }; \
		fi; \
	fi; \
	if [ ! -x $(CHROMIUM) ]; then \
		echo "The console's browser test needs chromium at $(CHROMIUM). Install it with:"; \
		echo "    sudo apt-get install -y chromium"; \
		echo "or point CHROMIUM=/path/to/chromium at another build."; exit 1; \
	fi

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

## bench: Go benchmarks at 1 and 2 CPUs (needs PostgreSQL like make test), then River's no-op burn-down beside the job executor's
bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1,2 -timeout 60m $(PKGS)
	cd jobexec/riverbench && $(GO) run . -jobs 50000

clean:
	rm -rf $(BIN) build $(CONSOLE)/node_modules
	find $(CONSOLE)/dist -mindepth 1 ! -name .gitkeep -delete
