# tug: a daemonless container engine.
GO      ?= go
PREFIX  ?= /usr/local
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
BUILT   ?= $(shell git log -1 --format=%cI 2>/dev/null)
LDFLAGS := -s -w -X tug/commands.Version=$(VERSION) -X tug/commands.GitCommit=$(COMMIT) -X tug/commands.BuildTime=$(BUILT)
# urfave/cli's markdown and man page writers (and blackfriday's init,
# 0.2 ms of every tug start, the container's re-exec included) stay out
TAGS    := urfave_cli_no_docs

.PHONY: build test test-v2 bench install demo clean

# tug embeds its Kubernetes and compose helpers (kube/helper/README,
# compose/helper/README), built first
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o kube/helper/tug-kube ./kube/cmd/tug-kube
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o compose/helper/tug-compose ./compose/cmd/tug-compose
	CGO_ENABLED=0 $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o tug .

# Unit and end-to-end tests; the end-to-end ones need root and Debian's
# docker-registry and busybox-static (.ci/run installs them).
test: build
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	@if [ "$$(id -u)" = 0 ] && command -v qemu-system-x86_64 >/dev/null; then bash .ci/v2/run; \
	else echo "test-v2: skipped (it needs root and qemu-system-x86)"; fi

# The end-to-end suite again in a Debian 12 guest with systemd as PID 1
# and pure cgroup v2, booted under qemu (.ci/v2; README).
test-v2:
	bash .ci/v2/run

# Pull throughput and peak RSS against a local docker-registry; compared
# with podman when podman is installed.
bench: build
	$(GO) run ./internal/bench

# tug; the boot unit that starts containers with a restart policy
# (config/systemd/tug-restart.service); and the API's socket and service
# (tug.socket, tug.service). Enable a unit to use it.
install: build
	install -D -m 0755 tug $(DESTDIR)$(PREFIX)/bin/tug
	for kind in system user; do \
		mkdir -p $(DESTDIR)$(PREFIX)/lib/systemd/$$kind && \
		for unit in tug-restart.service tug.service tug.socket; do \
			sed 's|@BINDIR@|$(PREFIX)/bin|' config/systemd/$$unit > $(DESTDIR)$(PREFIX)/lib/systemd/$$kind/$$unit || exit 1; \
		done; \
	done

# Build tug and run a container (as root: rootless comes later). With no
# internet, the image is built locally from busybox-static and loaded
# instead of pulled.
demo: build
	@set -e; \
	if ./tug pull -q busybox >/dev/null 2>&1; then echo "pulled busybox from Docker Hub"; \
	else $(GO) run ./internal/cmd/mkbusybox -o busybox.tar && ./tug load -i busybox.tar && rm -f busybox.tar; fi; \
	./tug images busybox; \
	./tug run --rm busybox sh -c 'echo "hello from $$(hostname), pid $$$$ in its own namespaces"; uname -sr'; \
	echo "now try: sudo ./tug run -it --rm busybox sh"

clean:
	rm -f tug busybox.tar kube/helper/tug-kube compose/helper/tug-compose
