# EServer — the two commands a newcomer needs are `make run` and `make test`.
#
# The SQLite driver needs the FTS5 build tag for history search; it is set
# here once, for build, run, test, bench and fuzz alike. Fyne's no_emoji tag
# would save ~4.4 MiB of heap per text style a window shows (BENCHMARKS.md),
# but emoji in messages would then depend on the desktop having an emoji font
# and show as boxes where it has none: a messenger keeps Fyne's bundled one.
# nolibopusfile builds the Opus bindings (node/call/audio) against libopus
# alone: calls never read .opus files, so libopusfile is not needed. Tags
# are comma-separated: GOFLAGS splits on spaces.
TAGS     := sqlite_fts5,nolibopusfile
GO       ?= go
GOFLAGS  := -tags=$(TAGS)
export GOFLAGS
PROFILE  ?= default
BIN      := bin
FUZZTIME ?= 1m
# VERSION is what Help > About shows: FyneApp.toml's version and the commit.
VERSION  ?= $(shell sed -n 's/^Version *= *"\(.*\)"/\1/p' FyneApp.toml)$(shell git rev-parse --short HEAD 2>/dev/null | sed 's/^/ (/; s/$$/)/')
LDFLAGS  := -X 'main.version=$(VERSION)'
# Packages whose tests are quick enough to run under the race detector in CI.
RACE_PKGS := ./node/... ./supernode/... ./authserver/... ./sqlite/...

.PHONY: all build run test vet unit gui fuzz fuzz-short bench membench proto deps clean package install uninstall screenshots golden soak soak-short soak-bin

all: build

# deps installs what a fresh Debian machine lacks: a C compiler for cgo,
# Fyne's X11/GL headers, libXss for the desktop-wide idle time (auto-away),
# libopus (and pkg-config, which finds it) for voice calls' codec,
# and Xvfb + xdotool for the test that drives the real window, iproute2 +
# iputils-ping (the call benchmark's baseline across the lab) +
# nftables for the NAT lab test, jq and python3 for the test that runs
# docs/API.md's example bots, postgresql for the auth server's tests on
# PostgreSQL (internal/pgtest starts its own server from these binaries;
# the tests fail, never skip, without them). Nothing is installed when
# everything is already present.
DEB_PKGS := gcc pkg-config libgl1-mesa-dev xorg-dev libxkbcommon-dev libxss-dev libopus-dev xvfb xdotool iproute2 iputils-ping nftables jq python3 postgresql
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	@mkdir -p $(BIN)
	$(GO) build -ldflags="$(LDFLAGS)" -o $(BIN)/eserver .
	$(GO) build -o $(BIN)/eserver-auth ./authserver/cmd/eserver-auth
	$(GO) build -o $(BIN)/eserver-node ./node/cmd/eserver-node
	$(GO) build -o $(BIN)/eserver-supernode ./supernode/cmd/eserver-supernode

# run opens the messenger with profile $(PROFILE); `make run PROFILE=bob`
# opens a second one. With no server configured, the app starts the bundled
# auth server on 127.0.0.1:1864 (or uses the one another profile started).
run: build
	$(BIN)/eserver --profile $(PROFILE)

test: deps vet unit soak-short fuzz-short

vet:
	$(GO) vet ./...

# The attack tests (internal/attack) skip under -race, which slows the
# servers so far that a burst measures the detector, not the limits; they run
# here on their own, one package at a time, so they starve no timing test.
ATTACK_TESTS := MemoryAttacks|PerAddressLimit

unit:
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)
	$(GO) test -count=1 -p 1 -timeout 10m -run '$(ATTACK_TESTS)' ./node/ ./supernode/ ./authserver/
	$(GO) test -count=1 -timeout 10m . ./app/... ./assets/... ./internal/...

# soak runs the chaos soak (internal/soak) as root: namespaces, NAT
# routers, shaped links, supernodes and nodes killed with SIGKILL, nodes
# stopped and signed out, LANs cut off; it prints one line and fails on
# anything lost, duplicated or reordered, mail left in a mailbox, plaintext
# at a server or a process over its descriptor bound. 100,000 messages at
# 30/s (about an hour); SOAK_MESSAGES, SOAK_SEED, SOAK_NODES, ... (see
# internal/soak/cmd/eserver-soak) change the run: 5 supernodes and 30 node
# daemons, as issue 16 asks. It runs the built binary,
# not `go run`, so an interrupt reaches the harness, which removes
# everything it made. Without root it says so and does nothing.
SOAK_MESSAGES ?= 100000
SOAK_RATE     ?= 30
SOAK_NODES    ?= 30
SOAK_SUPERNODES ?= 5
soak: soak-bin
	SOAK_MESSAGES=$(SOAK_MESSAGES) SOAK_RATE=$(SOAK_RATE) SOAK_NODES=$(SOAK_NODES) SOAK_SUPERNODES=$(SOAK_SUPERNODES) $(BIN)/eserver-soak --bin $(BIN)

# soak-short is a short run of the same harness, part of make test: 3,000
# messages at 30/s with a fault every few seconds, every kind at least
# once, on the harness's smaller network (3 supernodes, 12 daemons) so that
# it stays within a few minutes. It skips, saying so, when not root.
soak-short: soak-bin
	SOAK_MESSAGES=3000 SOAK_RATE=30 SOAK_PERIOD=5s SOAK_SETTLE=3m $(BIN)/eserver-soak --bin $(BIN) --every-fault

soak-bin:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/eserver-auth ./authserver/cmd/eserver-auth
	$(GO) build -o $(BIN)/eserver-node ./node/cmd/eserver-node
	$(GO) build -o $(BIN)/eserver-supernode ./supernode/cmd/eserver-supernode
	$(GO) build -o $(BIN)/eserver-soak ./internal/soak/cmd/eserver-soak

# fuzz-short runs every Fuzz target for 5s; `make fuzz` runs each for
# FUZZTIME (default 1m; e.g. `make fuzz FUZZTIME=10m`).
fuzz-short: FUZZTIME := 5s
fuzz-short: fuzz
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 -timeout 30m ./node/... ./authserver/... ./supernode ./app | tee bench.out
	$(GO) run ./supernode/cmd/snbench -n $(or $(SNBENCH_N),1000) | tee -a bench.out
	$(GO) run ./supernode/cmd/roombench -n $(or $(ROOMBENCH_N),1000) | tee -a bench.out
	$(GO) run ./internal/attack/framebench | tee -a bench.out
	test -x $(BIN)/croc || GOBIN=$(CURDIR)/$(BIN) $(GO) install github.com/schollz/croc/v10@v10.7.0
	$(GO) run ./node/cmd/xferbench -croc $(BIN)/croc -size $(or $(XFER_SIZE),1073741824) | tee -a bench.out
	$(MAKE) --no-print-directory membench MEMBENCH_OUT=bench.out
	@$(GO) run ./node/cmd/benchtable < bench.out

# membench measures the desktop app's memory under a private Xvfb beside a
# bare Fyne app of the same Fyne version (scripts/membench): the main window
# 10 s after sign-in, each chat window's increment. The bare app is built
# with Fyne's default tags, as anyone's Fyne app is. MEMBENCH_RUNS (default
# 3) runs, medians shown; `make bench` runs it and adds its lines to its
# table.
MEMBENCH_OUT ?= membench.out
membench: build
	@$(MAKE) --no-print-directory deps DEB_PKGS="xvfb xdotool imagemagick"
	$(GO) build -tags= -o $(BIN)/barefyne ./app/cmd/barefyne
	$(GO) run ./scripts/membench -app $(BIN)/eserver -bare $(BIN)/barefyne -runs $(or $(MEMBENCH_RUNS),3) | tee -a $(MEMBENCH_OUT)

proto:
	cd node/wire && protoc --go_out=. --go_opt=paths=source_relative wire.proto
	cd node/ratchet && protoc --go_out=. --go_opt=paths=source_relative ratchet.proto
	cd node/livestream && protoc --go_out=. --go_opt=paths=source_relative livestream.proto
	cd node/transfer && protoc --go_out=. --go_opt=paths=source_relative transfer.proto

# package makes the Linux bundle bin/EServer.tar.xz with the fyne CLI: the
# binary, its .desktop file and icon, and a Makefile to install them. The
# CLI is pinned and installed into bin/ on first use; it packages the binary
# `go build` made (with our build tags), stripped of debug symbols.
FYNE_CLI := fyne.io/tools/cmd/fyne@v1.7.4
$(BIN)/fyne:
	@mkdir -p $(BIN)
	GOBIN=$(CURDIR)/$(BIN) $(GO) install $(FYNE_CLI)

package: deps $(BIN)/fyne
	@mkdir -p $(BIN)/package
	$(GO) build -ldflags="-s -w $(LDFLAGS)" -o $(BIN)/package/eserver .
	$(BIN)/fyne package --target linux --executable $(BIN)/package/eserver --name EServer
	mv EServer.tar.xz $(BIN)/EServer.tar.xz
	@echo "bin/EServer.tar.xz: make install puts it in ~/.local for you alone"

# install unpacks the bundle into ~/.local (bin, applications, icons) for
# the current user: EServer then starts from the desktop's menu or a
# double-click. `make uninstall` removes it again.
install: package
	rm -rf $(BIN)/package/EServer && mkdir -p $(BIN)/package/EServer
	tar -xJf $(BIN)/EServer.tar.xz -C $(BIN)/package/EServer --strip-components=1
	$(MAKE) --no-print-directory -C $(BIN)/package/EServer user-install
	@# Menus that cache .desktop files pick the new one up at once.
	@if command -v update-desktop-database >/dev/null; then update-desktop-database $(HOME)/.local/share/applications; fi
	@echo "installed: ~/.local/bin/eserver and EServer in the applications menu"

uninstall:
	@test -f $(BIN)/package/EServer/Makefile || { echo "run make install first (it knows what to remove)"; exit 1; }
	$(MAKE) --no-print-directory -C $(BIN)/package/EServer user-uninstall

# screenshots photographs the real app under a private Xvfb for the README
# (docs/screenshots/*.png): two people sign up at the bundled auth server,
# become contacts, chat and send files (scripts/screenshots).
SHOT_PKGS := xvfb xdotool imagemagick
screenshots: build
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(SHOT_PKGS)"
	$(GO) run ./scripts/screenshots -app $(BIN)/eserver -out docs/screenshots

# golden accepts what the render tests (app/render_test.go) drew as the new
# golden images. Look at app/testdata/failed/*.png first.
golden:
	-$(GO) test -count=1 -run '^TestRender' ./app/
	@if ls app/testdata/failed/*.png >/dev/null 2>&1; then \
		mv app/testdata/failed/*.png app/testdata/ && rmdir app/testdata/failed && git status --short app/testdata; \
	else echo "the render tests match their golden images"; fi

clean:
	rm -rf $(BIN) bench.out
