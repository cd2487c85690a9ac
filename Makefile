# Echo-System top-level build.  Everything lands under build/.
#
#   make demo    install what is missing, build, run a local mesh (Ctrl-C stops)
#                NODES=3: that many nodes (default 2); V=1: every build line
#   make test    install what is missing, build, run every test suite
#   make test-real-test-nginx TEST_NGINX_LIB=DIR
#                the same suites under a copy of the real Test::Nginx
#   make build   build the module, the agent, the simulator, the protos and
#                the dashboard
#   make deb     Debian packages into build/deb (ARCH=arm64|armhf: the agent's)
#   make agent ARCH=arm64   the agent, cross-built into build/arm64/bin
#   make compose-up / compose-down
#                the Compose mesh (docker/) with podman + podman-compose;
#                compose-base makes its debian:bookworm with debootstrap

SHELL      := /bin/bash
TOP        := $(CURDIR)
BUILD      := $(TOP)/build
NGX_SRC    ?= /usr/share/nginx/src
NGINX      ?= /usr/sbin/nginx
PROVE      ?= prove
PROVE_ARGS ?= -r
TESTS      ?= t
NODES      ?= 2
V          ?= 0

PROTOS     := $(wildcard proto/*.proto)
PROTO_OUT  := $(BUILD)/proto
PROTO_C    := $(patsubst proto/%.proto,$(PROTO_OUT)/%.pb-c.c,$(PROTOS))

MODULE_SO  := $(BUILD)/nginx/ngx_http_mesh_module.so
MODULE_SRC := $(wildcard ngx_echo_module/*.c ngx_echo_module/*.h) \
              ngx_echo_module/config

# Debian's own flags for modules (dh_nginx), plus -fPIC and warnings as errors.
MOD_CFLAGS := $(shell dpkg-buildflags --get CFLAGS 2>/dev/null) -fPIC \
              -Werror -Wall -Wextra -Wno-unused-parameter \
              -I$(PROTO_OUT)
MOD_LDFLAGS := $(shell dpkg-buildflags --get LDFLAGS 2>/dev/null) -Wl,-z,now -fPIC

# The dashboard: npm ci (npm registry only) when the lock file changes, then
# vite build into build/dashboard when a source changes.  No browser is
# ever downloaded: the tests use Debian's chromium.
DASH_DIR     := dashboard
DASH_OUT     := $(BUILD)/dashboard
DASH_STAMP   := $(DASH_DIR)/node_modules/.package-lock.json
DASH_SRC     := $(shell find $(DASH_DIR)/src -type f 2>/dev/null) \
                $(DASH_DIR)/index.html $(DASH_DIR)/vite.config.js
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

# Official API clients the suites point at the mesh (the openai package
# for t/122): npm ci when the lock file changes, as for the dashboard.
CLIENTS_DIR   := t/clients
CLIENTS_STAMP := $(CLIENTS_DIR)/node_modules/.package-lock.json

export MESH_BUILD := $(BUILD)

# TESTS= on the command line names suites here; the sub-makes have their own
# TESTS (unit test programs), so keep it out of what they inherit.
MAKEOVERRIDES := $(filter-out TESTS=%,$(MAKEOVERRIDES))

.PHONY: all build deps deps-build proto module sim agent dashboard test \
        test-clients \
        test-unit test-valgrind test-memcheck test-real-test-nginx demo \
        demo-build clean fuzz bench bench-cost bench-stream bench-portkey \
        bench-scale bench-agent-mem bench-queue \
        bench-route bench-pipeline deb \
        compose-base compose-build compose-up compose-down

all: build

# t/095 builds the packages, t/096 runs the arm64 agent in qemu-system (and
# under qemu-user where that can start threads),
# t/155 runs the Compose mesh.
deps:
	@tools/install-deps.sh test
	@tools/install-deps.sh cross
	@tools/install-deps.sh compose

deps-build:
	@tools/install-deps.sh build

build: proto module sim agent dashboard

proto: $(PROTO_C)

$(PROTO_OUT)/%.pb-c.c: proto/%.proto
	@mkdir -p $(PROTO_OUT)
	protoc-c --proto_path=proto --c_out=$(PROTO_OUT) $<

module: $(MODULE_SO)

# configure runs again only when the module's config script changes.
$(BUILD)/nginx/Makefile: ngx_echo_module/config
	@mkdir -p $(BUILD)/nginx
	cd $(NGX_SRC) && . ./conf_flags && \
	  MESH_PROTO_DIR=$(PROTO_OUT) ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="$(MOD_CFLAGS)" --with-ld-opt="$(MOD_LDFLAGS)" \
	    --add-dynamic-module=$(TOP)/ngx_echo_module \
	    --builddir=$(BUILD)/nginx > $(BUILD)/nginx-configure.log 2>&1 \
	  || { tail -20 $(BUILD)/nginx-configure.log; exit 1; }

$(MODULE_SO): $(BUILD)/nginx/Makefile $(MODULE_SRC) $(PROTO_C)
	$(MAKE) -s -f $(BUILD)/nginx/Makefile -C $(NGX_SRC) modules

sim: proto
	$(MAKE) -C tools/ollama-sim BUILD=$(BUILD)

agent: proto
	$(MAKE) -C agent BUILD=$(BUILD)

dashboard: $(DASH_OUT)/index.html

$(DASH_STAMP): $(DASH_DIR)/package.json $(DASH_DIR)/package-lock.json
	cd $(DASH_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(DASH_OUT)/index.html: $(DASH_STAMP) $(DASH_SRC)
	cd $(DASH_DIR) && DASHBOARD_OUT=$(DASH_OUT) npx vite build --logLevel warn

test-clients: $(CLIENTS_STAMP)

$(CLIENTS_STAMP): $(CLIENTS_DIR)/package.json $(CLIENTS_DIR)/package-lock.json
	cd $(CLIENTS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

test-unit: build
	cd $(DASH_DIR) && npx vitest run
	$(MAKE) -C ngx_echo_module/tests BUILD=$(BUILD) test-unit
	$(MAKE) -C tools/ollama-sim BUILD=$(BUILD) test-unit
	$(MAKE) -C agent BUILD=$(BUILD) test-unit

# The JSON parsers under libFuzzer (bounded: FUZZ_TIME seconds).
fuzz: proto
	@tools/install-deps.sh fuzz
	$(MAKE) -C ngx_echo_module/tests BUILD=$(BUILD) fuzz

# Issue 13's benchmarks: figures printed, nothing asserted (bench/RESULTS.md)
bench: bench-cost bench-stream bench-portkey bench-scale bench-agent-mem \
       bench-queue

bench-cost: build
	@tools/install-deps.sh bench
	bench/cost/run.sh

bench-stream: build
	@tools/install-deps.sh bench
	bench/stream/run.sh

# the gateway from npm, pinned by bench/portkey/package-lock.json
bench-portkey: build bench/portkey/node_modules/.package-lock.json
	@tools/install-deps.sh bench
	bench/portkey/run.sh

bench/portkey/node_modules/.package-lock.json: bench/portkey/package.json \
        bench/portkey/package-lock.json
	cd bench/portkey && npm ci --no-audit --no-fund --loglevel=error

bench-queue: build
	@tools/install-deps.sh bench
	bench/queue/run.sh

bench-scale: build
	@tools/install-deps.sh bench
	bench/scale/run.sh
	bench/scale/heartbeat_ir.sh

bench-agent-mem: build
	bench/agent/bench.pl --memory

bench-route: module
	$(MAKE) -C bench/route BUILD=$(BUILD) run

bench-pipeline: build
	bench/pipeline/run.sh

# The README's test command.  Each suite starts and stops what it needs.
test: deps
	$(MAKE) build
	$(MAKE) test-clients
	$(MAKE) test-unit
	TEST_NGINX_BINARY=$(NGINX) TEST_NGINX_LOAD_MODULES=$(MODULE_SO) \
	  PERL5LIB=$(TOP)/t/lib $(PROVE) $(PROVE_ARGS) $(TESTS)
	@if [ "$(TESTS)" = t ]; then $(MAKE) test-memcheck; fi

# The module suites with nginx under valgrind memcheck, and the agent suites
# with echo-agent under it (a block fails on an invalid access or a definite
# leak in our code).
MODULE_SUITES = $(wildcard t/01*.t t/05*.t t/06*.t t/07*.t t/08*.t \
                           t/097*.t t/098*.t t/10*.t t/12*.t t/13*.t t/14*.t)
# t/040-042: the agent over TLS and OpenSSL loaded on demand; t/150-154: the agents of the mDNS hosts
# (nginx there runs plainly)
AGENT_SUITES  = $(wildcard t/03*.t t/04[012]*.t t/15[0-4]*.t)

test-memcheck: build test-clients
	TEST_NGINX_BINARY=$(NGINX) TEST_NGINX_LOAD_MODULES=$(MODULE_SO) \
	  TEST_NGINX_USE_VALGRIND=1 PERL5LIB=$(TOP)/t/lib \
	  $(PROVE) $(MODULE_SUITES)
	MESH_VALGRIND=1 PERL5LIB=$(TOP)/t/lib $(PROVE) $(AGENT_SUITES)

# Any suites (TESTS=...) with nginx under valgrind memcheck.
test-valgrind: deps build test-clients
	TEST_NGINX_BINARY=$(NGINX) TEST_NGINX_LOAD_MODULES=$(MODULE_SO) \
	  TEST_NGINX_USE_VALGRIND=1 PERL5LIB=$(TOP)/t/lib \
	  $(PROVE) $(PROVE_ARGS) $(TESTS)

# Every suite but the harness's own (t/00*, which test our runner) and
# the simulator's (t/02*, plain Test::More), under the real Test::Nginx:
# TEST_NGINX_LIB is a copy of openresty/test-nginx (its top folder, or
# its lib/).  The suites see t/lib/Mesh only, never t/lib/Test (a link
# farm in build/realtn-lib), so nothing of our runner can stand in.
# The real one shares t/servroot and port 1984 unless randomized, hence
# TEST_NGINX_RANDOMIZE=1 and one file at a time.
REAL_TN_SUITES = $(wildcard t/01*.t t/03*.t t/0[5-9]*.t t/[1-9]*.t)
REAL_TN_LIB    = $(firstword $(wildcard $(TEST_NGINX_LIB)/lib/Test/Nginx/Socket.pm \
                                        $(TEST_NGINX_LIB)/Test/Nginx/Socket.pm))

test-real-test-nginx:
	@if [ -z "$(REAL_TN_LIB)" ]; then \
	  echo "test-real-test-nginx: TEST_NGINX_LIB=DIR, a copy of" \
	       "openresty/test-nginx (no Test/Nginx/Socket.pm under" \
	       "\"$(TEST_NGINX_LIB)\")" >&2; exit 2; fi
	@tools/install-deps.sh realtn
	$(MAKE) build
	@rm -rf $(BUILD)/realtn-lib && mkdir -p $(BUILD)/realtn-lib
	@ln -s $(TOP)/t/lib/Mesh $(TOP)/t/lib/valgrind.suppress $(BUILD)/realtn-lib/
	TEST_NGINX_BINARY=$(NGINX) TEST_NGINX_LOAD_MODULES=$(MODULE_SO) \
	  TEST_NGINX_RANDOMIZE=1 \
	  PERL5LIB=$(abspath $(dir $(REAL_TN_LIB))/../..):$(BUILD)/realtn-lib \
	  $(PROVE) $(if $(filter t,$(TESTS)),$(REAL_TN_SUITES),$(TESTS))

# The README's main command: a local mesh in the foreground.
demo:
	@tools/install-deps.sh demo
	@$(MAKE) --no-print-directory demo-build
	@MESH_DEMO_NODES=$(NODES) tools/demo.sh

# The build, one line per component; each component's output goes to
# build/build-<component>.log, shown when it fails.  V=1 shows it all.
DEMO_PARTS := proto module sim agent dashboard

demo-build:
ifeq ($(V),1)
	$(MAKE) build
else
	@mkdir -p $(BUILD)
	@for c in $(DEMO_PARTS); do \
	  log=$(BUILD)/build-$$c.log; \
	  if $(MAKE) --no-print-directory $$c > $$log 2>&1; then \
	    echo "build: $$c"; \
	  else \
	    echo "build: $$c FAILED, the end of $$log:"; tail -30 $$log; \
	    exit 1; \
	  fi; \
	done
endif

# Debian packages with Debian's tools, from a copy of the tree (the
# results land in build/deb/); the copy takes the dashboard's node_modules
# along, so the package build runs no npm ci.  ARCH=arm64|armhf: echo-agent
# only, cross-built.
# DEB_VERSION=0.1.1 builds that version (a changelog entry is added to
# the copy).
DEB_DIR     ?= $(BUILD)/deb
DEB_SRC     := $(DEB_DIR)/src/echo-system
ARCH        ?=
DEB_ARCH    := $(if $(ARCH),-a$(ARCH) -Ppkg.echo-system.agent-only -B,-b)

deb:
	@tools/install-deps.sh $(if $(ARCH),cross,deb)
	$(if $(ARCH),,$(MAKE) --no-print-directory $(DASH_STAMP))
	rm -rf $(DEB_SRC) && mkdir -p $(DEB_SRC)
	tar -c --exclude=./build --exclude='./t/servroot*' --exclude=./.git \
	  --exclude=./t/clients/node_modules . \
	  | tar -x -C $(DEB_SRC)
	@if [ -n "$(DEB_VERSION)" ]; then \
	  { printf 'echo-system (%s) unstable; urgency=medium\n\n  * Built as %s.\n\n -- %s  %s\n\n' \
	      "$(DEB_VERSION)" "$(DEB_VERSION)" \
	      "$$(sed -n 's/^Maintainer: //p' debian/control)" "$$(date -R)"; \
	    cat debian/changelog; } > $(DEB_SRC)/debian/changelog; \
	fi
	cd $(DEB_SRC) && dpkg-buildpackage -us -uc $(DEB_ARCH) \
	  > $(DEB_DIR)/build-$(or $(ARCH),native).log 2>&1 \
	  || { tail -30 $(DEB_DIR)/build-$(or $(ARCH),native).log; exit 1; }
	mv -f $(DEB_DIR)/src/*.deb $(DEB_DIR)/src/*.changes \
	  $(DEB_DIR)/src/*.buildinfo $(DEB_DIR)/
	lintian --fail-on error $(DEB_DIR)/*.changes
	@ls $(DEB_DIR)/*.deb

# The Compose mesh (docker/docker-compose.yml) with podman-compose; see
# docker/README.md.  No registry: the base image is made with debootstrap
# (cached in build/compose/rootfs) and imported as debian:bookworm.
compose-base compose-build compose-up compose-down:
	@tools/install-deps.sh compose
	tools/compose.sh $(patsubst compose-%,%,$@)

clean:
	rm -rf $(BUILD) t/servroot*
