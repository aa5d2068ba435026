# Thin wrapper over Meson. The two commands a new user needs:
#   make demo    install missing packages (as root), build, run the demo on SoftHSM2
#   make check   install missing packages (as root), build three ways, run every
#                test once (under 10 minutes on 2 cores; scripts/check says how)
#   make check-full  every test in both builds, fuzz targets for minutes each
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build

.PHONY: all deps build demo check check-full mutate install fuzz bench clean

all: build

deps:
	@./scripts/ensure-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	./scripts/demo $(BUILD)

check: deps
	./scripts/check

check-full: deps
	./scripts/check --full

# each hostile-build-node defence removed in turn: its test must fail
mutate: deps
	./tests/mutation/hostile-build-node.py

install: build
	meson configure $(BUILD) -Dprefix=$(PREFIX)
	DESTDIR=$(DESTDIR) meson install -C $(BUILD) --no-rebuild

fuzz: deps
	ROMBSR_FUZZ_SECONDS=$${ROMBSR_FUZZ_SECONDS:-300} ./scripts/fuzz

bench: build
	./$(BUILD)/bench/sign-throughput
	./$(BUILD)/bench/queue-throughput

clean:
	rm -rf build build-asan build-fuzz build*.log
