# The commands of the README: `make run`, `make test` and `make bench`. Each
# installs what is missing first, so all work on a fresh Debian machine.

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
# address,undefined or thread; builds into its own directory.
SANITIZE ?=
JOBS ?= $(shell nproc)
comma := ,

ifneq ($(SANITIZE),)
BUILD_DIR := build-$(subst $(comma),-,$(SANITIZE))
endif

.PHONY: deps configure build run test unit integration test-sanitize faults fuzz conformance bench image image-test fmt docs clean

# `make run` needs Java only to start a local broker: not with PUBLISHER_TYPE=log
# or a broker of your own in PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS. With
# PUBLISHER_TYPE=pubsub it starts Google's Pub/Sub emulator instead of Kafka;
# with PUBLISHER_TYPE=kinesis, kinesalite (Node).
RUN_DEPS := build
RUN_PUBLISHER := $(shell echo '$(PUBLISHER_TYPE)' | tr A-Z a-z)
ifeq ($(RUN_PUBLISHER),pubsub)
RUN_DEPS += pubsub
else ifeq ($(RUN_PUBLISHER),kinesis)
RUN_DEPS += kinesis
else ifeq ($(PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS),)
ifneq ($(RUN_PUBLISHER),log)
RUN_DEPS += kafka
endif
endif

deps:
	@bash scripts/install-deps.sh

configure:
	@bash scripts/install-deps.sh build
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DRACCOON_SANITIZE=$(SANITIZE) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@bash scripts/install-deps.sh $(RUN_DEPS)
	@bash scripts/run.sh $(BUILD_DIR)/src/raccoon

test: deps build
	@cd $(BUILD_DIR) && ctest --output-on-failure --timeout 900

unit: deps build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L unit

integration: deps build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L integration

# A sanitizer's first report ends the process and fails its test (the build
# side is -fno-sanitize-recover=all, in CMakeLists.txt).
SANITIZER_ENV := ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
ASAN_BUILD_DIR ?= build-address-undefined
TSAN_BUILD_DIR ?= build-thread
# The unit tests of the concurrent parts, run under TSan: core (channel,
# workers, acks), the Kafka and Kinesis publishers, the server. Not the Pub/Sub
# publisher: its threads meet inside gRPC, whose synchronisation Debian's
# uninstrumented gRPC and Abseil hide from TSan (docs/reliability.md).
TSAN_UNIT_TESTS := core/core_test publisher/kafka/kafka_publisher_test \
	publisher/kinesis/kinesis_publisher_test server/server_test
# 1,030 topics on librdkafka's mock cluster take six minutes under TSan, and
# their threads are those of any other Kafka test.
TSAN_SKIPS := -kafka_publisher.topics_beyond_the_kept_handles_are_delivered_all_the_same

# What runs none of our C++ (the documents' and deployment files' checks, the
# clients' own unit tests and linters) is left out of the sanitized suites.
SANITIZER_SKIPS := '^(docs\.|deploy\.|clients\.[a-z]+\.(unit|lint)$$)'

# The unit and integration suites under ASan+UBSan, then the concurrent parts'
# unit tests under TSan, each in a build directory of its own
# (docs/reliability.md). `.ci/run` runs it after `make test`.
test-sanitize: deps
	@$(MAKE) --no-print-directory build SANITIZE=address,undefined BUILD_DIR=$(ASAN_BUILD_DIR)
	@cd $(ASAN_BUILD_DIR) && $(SANITIZER_ENV) ctest --output-on-failure --timeout 900 \
		-L 'unit|integration' -E $(SANITIZER_SKIPS)
	@$(MAKE) --no-print-directory configure SANITIZE=thread BUILD_DIR=$(TSAN_BUILD_DIR)
	@cmake --build $(TSAN_BUILD_DIR) -j $(JOBS) --target $(notdir $(TSAN_UNIT_TESTS))
	@for test in $(TSAN_UNIT_TESTS); do \
		echo "TSan: $$test"; \
		$(SANITIZER_ENV) $(TSAN_BUILD_DIR)/tests/unit/$$test --gtest_brief=1 \
			--gtest_filter=$(TSAN_SKIPS) || exit 1; \
	done

# The fault suite (tests/faults): each broker killed and restarted or paused
# past the ack deadline, the server stopped and killed, under load from every
# transport; a success-acked event missing from the broker fails it. About 3
# minutes; the figures go to $(BUILD_DIR)/faults/report.md (docs/reliability.md).
faults: deps build
	@mkdir -p $(BUILD_DIR)/faults
	@RACCOON_BIN=$(abspath $(BUILD_DIR))/src/raccoon \
		RACCOON_PYTHON_PROTO=$(abspath $(BUILD_DIR))/tests/integration/python \
		RACCOON_FAULTS_REPORT=$(abspath $(BUILD_DIR))/faults/report.json \
		$(SANITIZER_ENV) /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/faults; \
		status=$$?; cat $(BUILD_DIR)/faults/report.md 2>/dev/null; exit $$status

# The libFuzzer targets (docs/fuzzing.md), each for FUZZ_SECONDS, in the clang
# build `make test` makes for its short runs of them; what they find stays in
# its corpus for the next run.
FUZZ_SECONDS ?= 600
FUZZ_BUILD_DIR = $(BUILD_DIR)/tests/fuzz/clang
fuzz:
	@bash scripts/install-deps.sh build fuzz
	@FUZZ_JOBS=$(JOBS) bash tests/fuzz/fuzz.sh build $(FUZZ_BUILD_DIR)
	@bash tests/fuzz/fuzz.sh run $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS)

# Every case of the WebSocket conformance suite against the server with the log
# publisher, written into docs/websocket-conformance.md; `make test` runs its
# quick cases. About 15 s once built.
conformance: configure
	@bash scripts/install-deps.sh test
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target raccoon integration_python_proto
	@cd tests/integration && CONFORMANCE=all CONFORMANCE_REPORT=$(CURDIR)/docs/websocket-conformance.md \
		RACCOON_BIN=$(abspath $(BUILD_DIR))/src/raccoon \
		RACCOON_PYTHON_PROTO=$(abspath $(BUILD_DIR))/tests/integration/python \
		/usr/bin/python3 -m pytest -q -p no:cacheprovider websocket_conformance

# The benchmark suite against a local Kafka, the Pub/Sub emulator and kinesalite:
# writes docs/benchmarks.md and docs/benchmarks/. About 15 minutes; BENCH_QUICK=1
# for a short smoke run.
bench: configure
	@bash scripts/install-deps.sh kafka pubsub kinesis bench js java
	@bash scripts/clients-setup.sh $(BUILD_DIR)/clients
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target raccoon raccoon-loadgen
	@/usr/bin/python3 bench/run_benchmarks.py --raccoon $(BUILD_DIR)/src/raccoon \
		--loadgen $(BUILD_DIR)/bench/raccoon-loadgen --clients-tools $(BUILD_DIR)/clients

# The container image (docker/Dockerfile) built with podman, no Docker daemon;
# the debian:bookworm-slim base is made with debootstrap when missing. About
# 5 minutes the first time on 2 cores (IMAGE_JOBS=2, under nice).
IMAGE ?= raccoon:latest
image:
	@bash scripts/install-deps.sh container
	@bash scripts/image.sh build $(IMAGE)

# The built image's contents run as a container would run them (podman image
# mount, chroot as its user) against a local Kafka: an event, the health
# checks, SIGTERM. About 15 s; not part of `make test`.
image-test:
	@bash scripts/install-deps.sh container kafka test
	@IMAGE=$(IMAGE) /usr/bin/python3 -m pytest -q -s -p no:cacheprovider tests/image

# config/raccoon.yaml and docs/configuration.md's table, from the settings
# table in the code; a unit test fails when they differ from it.
docs: build
	@bash scripts/update-config-docs.sh $(BUILD_DIR)/src/raccoon

fmt:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	@rm -rf build build-*
