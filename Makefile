# sensorcast — build, test and cross-compile.
#
#   make            build bin/sensorcast for this machine
#   make run        build and run it (dashboard on http://localhost:8080/)
#   make test       gofmt check, go vet, every test with the race detector, all suites,
#                   a one-minute soak (SOAK=60s) and the Pi in a box
#   make arm64      bin/sensorcast-linux-arm64  (Pi 3/4/5/Zero 2 W, 64-bit OS)
#   make armv7      bin/sensorcast-linux-armv7  (Pi 2/3/4, 32-bit OS)
#   make armv6      bin/sensorcast-linux-armv6  (Pi 1/Zero/Zero W)
#   make cross      all three
#   make dist       all three plus SHA256SUMS in dist/
#   make deb        .deb packages for arm64, armhf and armel in dist/
#   make fuzz       run every fuzz target briefly (FUZZTIME, default 60s each)
#   make bench      ours against gorilla, gws, coder, gobwas: the table of BENCHMARKS.md (BENCHARGS)
#   make assets     check the committed uPlot files against the npm lockfile
#   make pi-in-a-box  the arm64 binary on an emulated Pi (qemu, i2c-stub, gpio-sim); in make test
#   make soak       the binary under load for SOAK (default 30m): 200 clients, broker restarts
#   make clean

GO       ?= go
BINDIR   ?= bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
# Release builds: static, no cgo, reproducible paths, stripped, version stamped.
# nethttpomithttp2 leaves net/http's HTTP/2 out (about 390 kB of an arm64
# binary): sensorcast serves plain HTTP/1.1, where HTTP/2 is never used.
# Packages off the streaming path (TLS and x509 for MQTT, JSON, TOML, the
# MQTT client, periph, HTTP request parsing, fmt, reflect) build without
# inlining (-l): about 460 kB less arm64 code. Nothing that a reading, a
# broadcast or a frame write runs through changes (the runtime, net, time,
# strconv, encoding/binary, ws, the hub keep their inlining), nor do the
# big-number and curve cores of TLS (bigmod, nistec), whose handshakes
# would be up to 2x slower without it; what pays is rare work: HA
# discovery JSON, config parsing, HTTP request parsing.
COLDPKGS := crypto/... vendor/... golang.org/x/... math/big encoding/json encoding/asn1 encoding/pem encoding/hex \
	compress/... mime/... net/http/... net/url fmt reflect flag \
	github.com/BurntSushi/toml/... github.com/eclipse/paho.mqtt.golang/... github.com/gorilla/websocket/... periph.io/x/...
HOTCRYPTO := crypto/internal/fips140/bigmod crypto/internal/fips140/nistec/...
GCFLAGS  := $(foreach p,$(COLDPKGS),-gcflags=$(p)=-l) $(foreach p,$(HOTCRYPTO),-gcflags=$(p)=)
RELEASE  := CGO_ENABLED=0 $(GO) build -trimpath -tags nethttpomithttp2 $(GCFLAGS) -ldflags '$(LDFLAGS)'
FUZZTIME ?= 60s
ARGS     ?=
BENCHARGS ?=
# Test-only modules (their own go.mod, so the Pi binary never links their
# peer libraries): every go.mod below the root.
TESTMODS := $(patsubst ./%/go.mod,%,$(shell find . -mindepth 2 -name go.mod -not -path '*/node_modules/*' | sort))

DISTDIR  ?= dist

# The dashboard's chart library, uPlot, is committed under
# dashboard/static/vendor/ (pinned by dashboard/web/package-lock.json), so a
# plain go build or go install embeds the same page as make. make assets
# checks those files against the lockfile's version (dashboard/web/vendor.sum,
# and node_modules when npm ci ran); dashboard/vendor_test.go says how to
# move to another version.

# The Pi in a box: kernel, modules and initramfs are built under PIBOX,
# downloads cached by kernel version.
PIBOX    ?= build/pibox
PIBOXTOOLS := qemu-system-aarch64 aarch64-linux-gnu-gcc cpio patch

.PHONY: all assets build run test vet fmt-check arm64 armv7 armv6 cross dist deb fuzz clean pi-in-a-box bench soak

all: build

assets:
	$(GO) test -count=1 -run '^TestVendoredUPlot$$' ./dashboard/

build: assets
	$(RELEASE) -o $(BINDIR)/sensorcast ./cmd/sensorcast

run: build
	./$(BINDIR)/sensorcast $(ARGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

vet: assets
	$(GO) vet ./...
	@for m in $(TESTMODS); do echo "cd $$m && $(GO) vet ./..."; (cd $$m && $(GO) vet ./...) || exit 1; done

test: fmt-check vet assets
	$(GO) test -race -timeout 20m ./...
	@for m in $(TESTMODS); do echo "cd $$m && $(GO) test -race ./..."; (cd $$m && $(GO) test -race -timeout 20m ./...) || exit 1; done
	@$(MAKE) --no-print-directory soak SOAK=60s
	@$(MAKE) --no-print-directory pi-in-a-box

# Skipped with a message where its tools are missing, except under CI=true.
pi-in-a-box:
	@for t in $(PIBOXTOOLS); do command -v $$t >/dev/null 2>&1 && continue; \
	  if [ "$$CI" = true ]; then echo "pi-in-a-box: $$t is missing: .ci/run must install it"; exit 1; fi; \
	  echo "pi-in-a-box: SKIPPED: $$t is missing (apt-get install qemu-system-arm gcc-aarch64-linux-gnu cpio patch)"; exit 0; \
	done; \
	$(MAKE) --no-print-directory arm64 BINDIR=$(PIBOX)/bin && \
	deploy/rpi/pibox/build.sh $(PIBOX) $(PIBOX)/bin/sensorcast-linux-arm64 deploy/rpi/pibox/box.toml && \
	PIBOX_DIR=$(abspath $(PIBOX)) $(GO) test -count=1 -run '^TestPiInABox$$' -v ./cmd/sensorcast/

arm64: assets
	GOOS=linux GOARCH=arm64 $(RELEASE) -o $(BINDIR)/sensorcast-linux-arm64 ./cmd/sensorcast

armv7: assets
	GOOS=linux GOARCH=arm GOARM=7 $(RELEASE) -o $(BINDIR)/sensorcast-linux-armv7 ./cmd/sensorcast

armv6: assets
	GOOS=linux GOARCH=arm GOARM=6 $(RELEASE) -o $(BINDIR)/sensorcast-linux-armv6 ./cmd/sensorcast

cross: arm64 armv7 armv6

dist: cross
	mkdir -p $(DISTDIR)
	cp $(BINDIR)/sensorcast-linux-arm64 $(BINDIR)/sensorcast-linux-armv7 $(BINDIR)/sensorcast-linux-armv6 $(DISTDIR)/
	cd $(DISTDIR) && sha256sum sensorcast-linux-arm64 sensorcast-linux-armv7 sensorcast-linux-armv6 > SHA256SUMS
	@cat $(DISTDIR)/SHA256SUMS

# Both 32-bit packages carry the GOARM=6 build: Raspberry Pi OS's armhf port
# targets ARMv6 (Pi 1, Zero), where a GOARM=7 binary crashes.
deb: arm64 armv6
	deploy/rpi/mkdeb.sh arm64 $(BINDIR)/sensorcast-linux-arm64 $(VERSION) $(DISTDIR)
	deploy/rpi/mkdeb.sh armhf $(BINDIR)/sensorcast-linux-armv6 $(VERSION) $(DISTDIR)
	deploy/rpi/mkdeb.sh armel $(BINDIR)/sensorcast-linux-armv6 $(VERSION) $(DISTDIR)

# A few minutes, bounded load, loopback only; not part of make test (its
# smoke variant is bench/compare's go test).
bench:
	cd bench && $(GO) run ./cmd/benchtable $(BENCHARGS)

# The soak test (cmd/sensorcast/soak_test.go): the binary for SOAK with
# sensors at 20 Hz, 200 WebSocket clients with churn, /api/history in a loop
# and the broker restarted every minute; it prints the figures of
# BENCHMARKS.md. SOAK=60s runs it in a minute.
soak:
	SOAK=$(or $(SOAK),30m) $(GO) test -race -count=1 -run '^TestSoak$$' -timeout 4h -v ./cmd/sensorcast/

# Each fuzz target on its own: go test -fuzz takes one target per run.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BINDIR) $(DISTDIR) $(PIBOX) dashboard/web/node_modules
	$(GO) clean -testcache
