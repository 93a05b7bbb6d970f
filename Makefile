# Velocity: build the velocity tool, make and boot images, run the tests.
# Every target that needs Debian packages runs scripts/deps.sh first.

GO       ?= go
APP      ?= ./images/demo
BUILD    := build
VELOCITY := $(BUILD)/velocity
ISO      := $(BUILD)/velocity.iso
# Extra flags for velocity run, e.g. RUNFLAGS='-smp 2 -uefi'.
RUNFLAGS ?=
# Module pack make image puts in the image's file system (at its absolute
# path; images/modules finds it): the example modules, added to a fresh
# store in this order (imports first) and packed with velocity mod pack.
# MODPACK= leaves it out.
MODPACK    ?= $(BUILD)/modules.pack
MODSTORE   := $(BUILD)/modstore
MODSOURCES := arith stats checksum combo

.PHONY: all build image modpack run debug test bench conformance kernel-pgo deps clean

all: build

# The tool embeds the kernel sources, so rebuild it whenever anything changes
# (go build is incremental).
build:
	$(GO) build -o $(VELOCITY) ./cmd/velocity

image: deps build modpack
	$(VELOCITY) image -o $(ISO) $(if $(MODPACK),-fs $(abspath $(MODPACK))) $(APP)

# make image APP=./images/modules boots a program that loads the pack into
# the module table, runs the modules with the JIT and prints the table.
modpack: build
ifneq ($(MODPACK),)
	rm -rf $(MODSTORE)
	for m in $(MODSOURCES); do $(VELOCITY) mod -store $(MODSTORE) add examples/modules/$$m.vel || exit 1; done
	$(VELOCITY) mod -store $(MODSTORE) pack -o $(MODPACK)
endif

# The canvas shows in a QEMU window where a display exists ($$DISPLAY or
# $$WAYLAND_DISPLAY); headless, QEMU runs with -display none and the tour is
# on serial only. DISPLAYMODE=none forces headless.
DISPLAYMODE ?= auto
run: image
	$(VELOCITY) run -i -display $(DISPLAYMODE) $(RUNFLAGS) $(ISO)

# Boot APP waiting for gdb on COM2 (localhost:$(GDBPORT)); velocity prints
# the gdb command to attach with.
GDBPORT ?= 1234
debug: deps build
	$(VELOCITY) debug -gdb-port $(GDBPORT) $(RUNFLAGS) $(APP)

# go vet ./... cannot see the kernel (runtime/ and friends compile only as
# part of GOROOT's package runtime); internal/kernelvet vets it with the
# build's overlay and the velocity tag.
test: deps
	@scripts/deps-npm.sh
	$(GO) vet ./...
	$(GO) run ./internal/kernelvet
	$(GO) test -timeout 20m ./...

bench: deps build
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh; else echo "bench: no benchmark suite yet (scripts/bench.sh)"; fi

# make conformance ALL=1: the whole standard library (scripts/conformance.sh -all),
# every package with -short, table in docs/conformance-all.md.
conformance: deps build
	@if [ -x scripts/conformance.sh ]; then scripts/conformance.sh $(if $(ALL),-all); else echo "conformance: no conformance suite yet (scripts/conformance.sh)"; fi
	# The network's long runs: 10,000 connections and a 1 GiB upload in the kernel (not with ALL=1).
	$(if $(ALL),@true,VELOCITY_LONG=1 $(GO) test -count=1 -v -timeout 45m -run 'TestNetInKernelLong' ./tests/netboot)

# Refresh internal/build/kernel.pgo, the profile every kernel with networking
# is built with: the kernel's CPU profile over bench/netbench's rows, cut down
# to the network stack's own functions (docs/net.md, "Profile-guided builds of
# the stack"). PGONET=tap (as root) profiles over a tap device, as the
# committed profile was; the default, user networking, needs no root.
PGONET ?= user
kernel-pgo: deps build
	$(GO) build -o $(BUILD)/netbench-runner ./bench/netbench
	VELOCITY_SRC=$(CURDIR) $(BUILD)/netbench-runner -net $(PGONET) -profile $(BUILD)/netbench.pprof -kernel-pgo internal/build/kernel.pgo

deps:
	@scripts/deps.sh

clean:
	rm -rf $(BUILD)
