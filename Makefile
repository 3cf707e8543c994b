# podwire — the two commands a fresh machine needs (see README.md):
#   make run    install what is missing, build release, replay the default topology
#   make test   install what is missing, run the whole test suite
SWIFT       ?= swift
TOPOLOGY    ?= topologies/single-node.yaml
APT_PACKAGES = libpcap-dev tshark tcpdump

.PHONY: run test deps build bench benchmarks benchmarks-update kernel-twins clean

# Installs the Debian packages podwire needs, only when one is missing (non-interactive:
# tshark's "may non-superusers capture" question is answered with the default).
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing </dev/null; \
	fi

build: deps
	$(SWIFT) build -c release --product podwire

run: build
	.build/release/podwire run $(TOPOLOGY)

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# podwire's own speed, as one JSON line (see README "Performance").
bench: build
	.build/release/podwire bench --json

# The ordo-one/benchmark suite (malloc counts, thresholds): Benchmarks/README.md. Runs every
# benchmark and checks it against Benchmarks/Thresholds/ (exit 2: a regression, 4: better
# than recorded by more than the tolerance). By hand only: not part of `make test` or CI.
benchmarks: deps
	cd Benchmarks && $(SWIFT) package benchmark thresholds check --no-progress

# Re-records Benchmarks/Thresholds/ from a fresh run (after an intended change; commit them).
benchmarks-update: deps
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark thresholds update --no-progress

# Re-records Tests/kernel-twin/ (Linux running podwire's rules and traffic in network
# namespaces it makes and deletes; root). By hand only, after a change to the rules or the
# twins' traffic; commit what changed. `make test` reads the recordings, not the kernel.
kernel-twins: build
	bash Tests/kernel-twin/record.sh .build/release/podwire

clean:
	rm -rf .build Benchmarks/.build
