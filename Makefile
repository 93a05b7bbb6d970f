# Velocity: build the velocity tool, make and boot images, run the tests.
# Every target that needs Debian packages runs scripts/deps.sh first.

GO       ?= go
APP      ?= ./images/demo
BUILD    := build
VELOCITY := $(BUILD)/velocity
ISO      := $(BUILD)/velocity.iso
# Extra flags for velocity run, e.g. RUNFLAGS='-smp 2 -uefi'.
RUNFLAGS ?=

.PHONY: all build image run debug test bench conformance deps clean

all: build

# The tool embeds the kernel sources, so rebuild it whenever anything changes
# (go build is incremental).
build:
	$(GO) build -o $(VELOCITY) ./cmd/velocity

image: deps build
	$(VELOCITY) image -o $(ISO) $(APP)

run: image
	$(VELOCITY) run -i $(RUNFLAGS) $(ISO)

# Boot APP waiting for gdb on COM2 (localhost:$(GDBPORT)); velocity prints
# the gdb command to attach with.
GDBPORT ?= 1234
debug: deps build
	$(VELOCITY) debug -gdb-port $(GDBPORT) $(RUNFLAGS) $(APP)

test: deps
	$(GO) vet ./...
	$(GO) test -timeout 20m ./...

bench: deps build
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh; else echo "bench: no benchmark suite yet (scripts/bench.sh)"; fi

conformance: deps build
	@if [ -x scripts/conformance.sh ]; then scripts/conformance.sh; else echo "conformance: no conformance suite yet (scripts/conformance.sh)"; fi

deps:
	@scripts/deps.sh

clean:
	rm -rf $(BUILD)
