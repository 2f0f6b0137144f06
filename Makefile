# Lifeline — everything a fresh Debian 12 machine needs is installed by `make deps`. The
# README's commands (test, demo, demo-flask, demo-cluster) run it first (cheap when all is
# there); every other target installs nothing: it checks (`check-deps`) and names what is
# missing and the one command that installs it.
#
#   make test        deps, build, every test (what .ci/run calls)
#   make check       the fast inner loop: native, JS unit, Python unit, conformance, lint
#   make demo        deps, build, serve the demo on 127.0.0.1 and print the URL
#   make build       dist/lifeline.{wasm,mjs,js,d.ts}   (WASM_CC=clang: clang + wasi-libc)
#                    and the strict-CSP build dist/lifeline.csp.{mjs,js} (the core as JS)
#   make test-native C tests under ASan+UBSan       make fuzz  libFuzzer, FUZZ_SECONDS=60
#   make demo-flask  the same demo from the Flask server
#   make demo-cluster  the demo from 4 processes (gunicorn: 2 Flask workers, 2 Node) on Redis behind nginx
#   make bench       benchmarks (QUICK=1: the short form)
#   make lint        every linter, type checker and formatter check (part of make test)
#   make format      applies the formatters (Prettier, clang-format, black)

SHELL := /bin/bash
.DEFAULT_GOAL := build

WASM_CC ?= emcc
FUZZ_SECONDS ?= 60
PORT ?= 8080
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

APT_PKGS := clang lld emscripten wasi-libc libclang-rt-14-dev libclang-rt-14-dev-wasm32 \
            binaryen wabt valgrind chromium python3 python3-flask python3-gevent \
            python3-gevent-websocket python3-redis python3-pytest gunicorn redis-server redis-sentinel python3-pytest-xdist \
            nginx-light python3-pip python3-setuptools python3-wheel python3-venv \
            clang-format clang-tidy black flake8 mypy shellcheck
CORE_SRC := $(wildcard wasm/*.c)
CORE_HDR := $(wildcard wasm/*.h)
# What the wasm module exports: every function wasm/lifeline.h declares LL_EXPORT (the
# inputs, the drain, the views; names come from js/constants.js instead).
EXPORTS := ${shell sed -n 's/^LL_EXPORT [^(]*[ *]\(ll_[a-z0-9_]*\)(.*/\1/p' wasm/lifeline.h}
comma := ,
empty :=
space := $(empty) $(empty)

NATIVE_CFLAGS := -std=c11 -g -O1 -Wall -Wextra -Werror -Wshadow -Wconversion \
                 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
WASM_CFLAGS_EMCC := -Oz -flto -mbulk-memory -DNDEBUG -sSTANDALONE_WASM --no-entry -sTOTAL_STACK=32768 -sINITIAL_MEMORY=131072 \
                    -sALLOW_MEMORY_GROWTH=1 -sERROR_ON_UNDEFINED_SYMBOLS=1 \
                    -sEXPORTED_FUNCTIONS=$(subst $(space),$(comma),$(addprefix _,$(EXPORTS)))
WASM_CFLAGS_CLANG := --target=wasm32-wasi -Oz -DNDEBUG -mexec-model=reactor -fvisibility=hidden \
                     -Wl,--strip-all -Wl,-z,stack-size=32768 -Wl,--initial-memory=131072 \
                     $(addprefix -Wl$(comma)--export=,$(EXPORTS))

.PHONY: FORCE protocol wheel test-docs lint lint-js lint-c lint-python lint-shell format bench-core bench-quick deps check-deps check build wasm lua-copies test test-python test-native test-wasm test-js test-servers test-integration test-browser test-cluster fuzz fuzz-short demo demo-flask demo-cluster bench clean

MISSING_APT = for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done; \
	command -v node >/dev/null || echo nodejs; command -v npm >/dev/null || echo npm
NPM_STALE = [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]

deps:
	@missing=$$($(MISSING_APT)); \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing $$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get \
	    -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends $$missing; \
	fi
	@if $(NPM_STALE); then npm ci --no-audit --no-fund; fi

check-deps:
	@missing=$$($(MISSING_APT)); if $(NPM_STALE); then missing="$$missing npm-packages(npm ci)"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "missing: $$(echo $$missing)"; echo "install everything with: make deps"; exit 1; fi

# The wire protocol's one spec, protocol/v1.json, is the source of server/node/protocol.mjs,
# server/flask/lifeline_flask/protocol.py, wasm/protocol.h and the README's and
# server/DESIGN.md's protocol tables; tests/js/protocol-spec.test.mjs fails when one is stale.
protocol:
	node tools/gen-protocol.mjs

# ---- the core ----

build/native/scenarios: Makefile $(CORE_SRC) $(CORE_HDR) tests/native/decode.c tests/native/decode.h tests/native/transcript.c tests/native/transcript.h tests/native/run_scenarios.c
	@mkdir -p $(@D)
	clang $(NATIVE_CFLAGS) -o $@ $(CORE_SRC) tests/native/decode.c tests/native/transcript.c tests/native/run_scenarios.c

build/native/unit: Makefile $(CORE_SRC) $(CORE_HDR) tests/native/decode.c tests/native/decode.h tests/native/unit.c
	@mkdir -p $(@D)
	clang $(NATIVE_CFLAGS) -o $@ $(CORE_SRC) tests/native/decode.c tests/native/unit.c

build/native/fuzz: Makefile $(CORE_SRC) $(CORE_HDR) tests/native/decode.c tests/native/decode.h tests/native/fuzz.c
	@mkdir -p $(@D)
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $(CORE_SRC) tests/native/decode.c tests/native/fuzz.c

build/lifeline.emcc.wasm: $(CORE_SRC) $(CORE_HDR) Makefile
	@mkdir -p $(@D)
	EMSDK_PYTHON=/usr/bin/python3 emcc $(WASM_CFLAGS_EMCC) -o $@ $(CORE_SRC)

build/lifeline.clang.wasm: $(CORE_SRC) $(CORE_HDR) Makefile
	@mkdir -p $(@D)
	clang $(WASM_CFLAGS_CLANG) -o $@ $(CORE_SRC)

# Only the ll_* exports and the memory stay (the toolchains add stack helpers, a table,
# _initialize); wasm-metadce drops the rest and wasm-opt what it alone kept alive.
build/exports.json: Makefile wasm/lifeline.h
	@mkdir -p $(@D)
	@echo '[$(subst $(space),$(comma),$(foreach e,$(EXPORTS) memory,{"name":"$(e)","export":"$(e)","root":true}))]' > $@

# The strict-CSP build runs the same core as JavaScript: binaryen's wasm2js translates the
# emcc module built for the wasm MVP (wasm2js rejects bulk memory and sign-extension ops).
build/lifeline.mvp.wasm: $(CORE_SRC) $(CORE_HDR) build/exports.json Makefile
	@mkdir -p $(@D)
	EMSDK_PYTHON=/usr/bin/python3 emcc $(subst -mbulk-memory,-mno-bulk-memory -mno-sign-ext,$(WASM_CFLAGS_EMCC)) -o build/lifeline.mvp.full.wasm $(CORE_SRC)
	wasm-metadce build/lifeline.mvp.full.wasm -f build/exports.json -o build/lifeline.mvp.dce.wasm >/dev/null
	wasm-opt -Oz build/lifeline.mvp.dce.wasm -o $@
	rm -f build/lifeline.mvp.full.wasm build/lifeline.mvp.dce.wasm

build/lifeline.wasm2js.mjs: build/lifeline.mvp.wasm
	wasm2js -Oz $< -o $@

# What shapes build/lifeline.wasm beyond the sources and the Makefile: the compiler chosen on
# the command line. The file is rewritten only when that changes, so `make build
# WASM_CC=clang && make build` rebuilds with emcc instead of shipping the clang module.
build/wasm-cc.txt: FORCE
	@mkdir -p $(@D)
	@echo '$(WASM_CC)' | cmp -s - $@ || echo '$(WASM_CC)' > $@

# build/lifeline.wasm keeps the ll_* export names (the sources and tests call them);
# js/build.mjs writes dist/lifeline.wasm, the same module with one-letter export names.
build/lifeline.wasm: build/lifeline.$(WASM_CC).wasm build/exports.json build/wasm-cc.txt
	@mkdir -p $(@D)
	wasm-metadce --enable-bulk-memory --enable-sign-ext --enable-mutable-globals $< -f build/exports.json -o $@.tmp >/dev/null
	wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-mutable-globals $@.tmp -o $@
	rm -f $@.tmp

wasm: build/lifeline.wasm

# The size budget (js/build.mjs SIZE_BUDGET) holds for the shipped build, emcc's.
build: check-deps build/lifeline.wasm build/lifeline.wasm2js.mjs
	node js/build.mjs $(if $(filter emcc,$(WASM_CC)),--budget,)
	node tools/client-files.mjs

test-native: check-deps build/native/scenarios build/native/unit
	./build/native/unit
	./build/native/scenarios tests/scenarios/*.txt

# Both compilers must build the module; the JS tests then run against build/lifeline.wasm.
test-wasm: check-deps build/lifeline.emcc.wasm build/lifeline.clang.wasm
	@for w in build/lifeline.emcc.wasm build/lifeline.clang.wasm; do \
	  printf '%s: %s bytes, %s gzip -9\n' $$w $$(stat -c %s $$w) $$(gzip -9c $$w | wc -c); \
	  if wasm-objdump -x -j Import $$w 2>/dev/null | grep -q ' <- '; then \
	    echo "$$w imports something: the core must be self-contained"; wasm-objdump -x -j Import $$w; exit 1; fi; \
	done

fuzz: check-deps build/native/fuzz
	@mkdir -p build/fuzz-corpus
	./build/native/fuzz -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz-corpus tests/fuzz-seeds

fuzz-short: check-deps build/native/fuzz
	@mkdir -p build/fuzz-corpus
	./build/native/fuzz -max_total_time=20 -print_final_stats=1 build/fuzz-corpus tests/fuzz-seeds 2>&1 | tail -12

test-js: build
	node --test tests/js/

# Servers and the fault lab: protocol conformance (Node and Flask servers), the fault proxy,
# Lifeline against real servers through the proxy, and headless Chromium.
# Each conformance file starts its own servers on free ports and mostly waits on them: three
# files at a time (measured: 245 s one at a time in CI, 90 s three at a time, stable).
test-servers: build
	node --test --test-concurrency=3 tests/conformance/ tests/proxy.test.mjs

# The Flask package carries copies of the Redis scripts; server/redis/*.lua is the one
# source; `make lua-copies` refreshes them and server/flask/tests/test_lua_copies.py fails
# when a committed copy differs (make test does not refresh them first).
FLASK_LUA := $(patsubst server/redis/%,server/flask/lifeline_flask/stores/lua/%,$(wildcard server/redis/*.lua))
server/flask/lifeline_flask/stores/lua/%.lua: server/redis/%.lua
	cp $< $@
lua-copies: $(FLASK_LUA)

# The Flask extension's pytest suite (exit code 5 = no tests collected: a failure here) and
# the README's Flask example in Chromium (the shared conformance suite's Flask rows run in
# test-servers).
test-python: build
	/usr/bin/python3 -m pytest server/flask/tests -q -n 3
	node --test server/flask/tests/browser-example.mjs

# Two files at a time, each with its own servers and fault proxies on free ports (measured
# 112 s one at a time, 58 s two at a time, stable).
test-integration: build
	node --test --test-concurrency=2 tests/integration/

test-browser: build
	node --test --test-concurrency=1 tests/browser/

# The guides run as written (docs/*.md; the Flask guide installs the wheel into a venv); two
# files at a time, each in its own temp directory on free ports.
test-docs: wheel
	node --test --test-concurrency=2 tests/docs/

# The quick benchmark runs once so that it never rots (it reports; it asserts nothing).
bench-quick: build
	node bench/run.mjs --quick

# Several processes of both languages on one Redis behind nginx round robin (tests/cluster/:
# the launchers, multi-process chaos, Redis connections per process, the page in Chromium),
# then the cluster bench in its short form (it reports; it asserts nothing). Two files at a
# time: each starts its own Redis, nginx and servers on free ports (measured 113 s one at a
# time, 72 s two at a time).
test-cluster: build
	node --test --test-concurrency=2 tests/cluster/
	node bench/cluster.mjs --quick

# The fast inner loop: the native tests, the JS unit tests, the Python unit tests, the
# conformance suite on the two memory-store rows, and lint.
check: lint test-native build
	node --test tests/js/
	/usr/bin/python3 -m pytest server/flask/tests -q -n 3
	LIFELINE_ROWS=node,flask node --test --test-concurrency=3 tests/conformance/

# ---- the workspace checks itself ----
# `make lint` fails on any finding of the linters, the type checkers and the formatters run
# as checks; `make format` rewrites the tree with the formatters (the tools' configs:
# eslint.config.mjs, .prettierrc.json, tsconfig.json, .clang-format, .clang-tidy, .flake8,
# server/flask/pyproject.toml).
# (wasm/protocol.h is written by tools/gen-protocol.mjs)
C_FILES := $(filter-out wasm/protocol.h,$(wildcard wasm/*.c wasm/*.h tests/native/*.c tests/native/*.h bench/*.c))
PY_DIRS := server/flask demo/flask tests/native/fill.py
BLACK := black -q --config server/flask/pyproject.toml

lint: lint-js lint-c lint-python lint-shell

# tsc follows js/'s imports into build/core-js.mjs and build/wasm-inline.mjs, which
# js/build.mjs writes (make build): built when missing or older than js/build.mjs.
build/core-js.mjs: js/build.mjs
	$(MAKE) build

lint-js: check-deps build/core-js.mjs
	node_modules/.bin/eslint --max-warnings 0 .
	node_modules/.bin/prettier --check --log-level warn '**/*.{js,mjs}'
	node_modules/.bin/tsc -p tsconfig.json

lint-c: check-deps
	clang-format --dry-run -Werror $(C_FILES)
	clang-tidy --quiet $(CORE_SRC) -- -std=c11 2>/dev/null

lint-python: check-deps
	$(BLACK) --check $(PY_DIRS)
	flake8 $(PY_DIRS)
	cd server/flask && mypy

lint-shell: check-deps
	shellcheck .ci/run

format: check-deps
	node_modules/.bin/prettier --write --log-level warn '**/*.{js,mjs}'
	clang-format -i $(C_FILES)
	$(BLACK) $(PY_DIRS)

test: deps lint test-native test-wasm fuzz-short build test-js test-python test-servers test-integration bench-quick test-browser test-docs test-cluster

# The Flask extension as a wheel with the built client inside (lifeline_flask/client/), from a
# copy of server/flask (the checkout gets no build/ or egg-info); Debian's pip, offline:
#   python3 -m venv --system-site-packages venv && venv/bin/pip install build/wheel/lifeline_flask-*.whl
wheel: build
	@rm -rf build/wheel build/flask-src && mkdir -p build/wheel && cp -r server/flask build/flask-src
	/usr/bin/python3 -m pip wheel --no-deps --no-build-isolation --no-index -q -w build/wheel build/flask-src
	@rm -rf build/flask-src; ls build/wheel/*.whl

demo: deps build
	@echo "demo: http://127.0.0.1:$(PORT)/  (Ctrl-C stops it)"
	node demo/server.mjs --host 127.0.0.1 --port $(PORT) --tick 2000

demo-flask: deps build lua-copies
	@echo "demo (Flask): http://127.0.0.1:$(PORT)/  (Ctrl-C stops it)"
	/usr/bin/python3 demo/flask/server.py --host 127.0.0.1 --port $(PORT) --tick 2000

demo-cluster: deps build
	node demo/cluster.mjs --port $(PORT) --tick 2000

bench: build
	node bench/run.mjs $(if $(QUICK),--quick,)
	node bench/cluster.mjs $(if $(QUICK),--quick,)
	node bench/streams.mjs $(if $(QUICK),--quick,)

clean:
	rm -rf build dist

# Instructions per input event, from callgrind (stable on a noisy machine).
build/native/core_cost: Makefile $(CORE_SRC) $(CORE_HDR) bench/core_cost.c
	@mkdir -p $(@D)
	clang -std=c11 -O2 -gdwarf-4 -o $@ $(CORE_SRC) bench/core_cost.c

bench-core: check-deps build/native/core_cost
	@printf '| cycle | events/cycle | instructions per event |\n| --- | --- | --- |\n'
	@for m in poll:2 longpoll:1 ws:1 idle:1; do mode=$${m%%:*}; per=$${m##*:}; \
	  a=$$(valgrind --tool=callgrind --toggle-collect='ll_*' --callgrind-out-file=/dev/null ./build/native/core_cost $$mode 1000 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'); \
	  b=$$(valgrind --tool=callgrind --toggle-collect='ll_*' --callgrind-out-file=/dev/null ./build/native/core_cost $$mode 2000 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'); \
	  printf '| %s | %s | %s |\n' $$mode $$per $$(( (b - a) / (1000 * per) )); done
