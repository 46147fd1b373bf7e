# acr-chaos — two commands for a newcomer: `make demo` and `make test`.
# System packages come from Debian (apt-get, as root or via sudo).

SHELL := /bin/bash
CARGO ?= cargo
# Debian packages the lab needs: the real registry, the real puller, the packet filter.
LAB_PACKAGES := containerd docker-registry nftables prometheus prometheus-alertmanager
# The binaries those packages provide (checked before installing anything).
LAB_BINARIES := containerd docker-registry nft prometheus prometheus-alertmanager

.PHONY: all build deps demo test bench lint fmt clean

all: build

build:
	$(CARGO) build --workspace

## deps: install missing Debian packages for the lab (idempotent).
deps:
	@scripts/deps.sh $(LAB_PACKAGES) -- $(LAB_BINARIES)

## demo: build, start the embedded lab, run every built-in scenario, write reports/.
demo: deps
	$(CARGO) build --release --workspace
	./target/release/acr-chaos run scenarios/ --report-dir reports

## test: the whole test suite, lab end-to-end tests included.
test: deps
	$(CARGO) test --workspace --no-fail-fast

## bench: benchmarks; figures written to reports/bench.json.
bench: deps
	$(CARGO) build --release --workspace --bins
	./target/release/acr-chaos-bench --out reports/bench.json

## lint: formatting and clippy, warnings are errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
