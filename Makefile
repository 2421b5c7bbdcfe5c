# meterd — the two quick-start commands, plus the pieces they are made of.
#   make demo   install missing packages, build (release), run meterd with an agent and meterctl
#   make test   install, build release + ASan/UBSan, run every test through CTest
#   make check-long   the kill -9 loops, the crash-point test and the 100,000-series
#               Prometheus remote_write soak at full length (CI runs a bounded slice of each)
#   make tidy   clang-tidy (.clang-tidy) on the .cc files changed against TIDY_BASE (main)
#   make fuzz   build the libFuzzer targets with clang and run each for FUZZ_SECONDS (60) on a
#               scratch copy of its corpus (tests/README.md, "Fuzzing")
# Binaries land in build/bin/.

JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
# A test gets a second run if its first fails, and ctest prints both: CI runs on shared virtual
# machines whose I/O has been seen to stall for minutes (every meterd of the moment hung on a
# write), which no test can tell from a bug. A real failure fails twice. 300 s bounds what such a
# stall costs (the slowest test takes about 95 s under the sanitizers).
CTEST_FLAGS ?= --output-on-failure --timeout 300 --repeat until-pass:2 -j $(JOBS)
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
# Targets run FUZZ_PARALLEL at a time (each is one process on one core).
FUZZ_PARALLEL ?= 1
FUZZ_TARGETS ?= frame wal segment rollup manifest record_log csv catalog ingest
TIDY_BASE ?= main

.PHONY: all deps build build-asan demo test test-release test-asan check-long fuzz tidy bench format clean

all: build

deps:
	@bash .ci/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Line tables only (-g1): sanitizer reports keep file:line; full debug info cost 8% more compile
# time and much larger test binaries to link.
build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMETERD_SANITIZE=ON \
	  -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DMETERD_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

demo: build
	@BIN=$(BUILD)/bin bash bench/demo/demo.sh

test: test-release test-asan

test-release: build
	@cd $(BUILD) && ctest $(CTEST_FLAGS)

# The sanitizer build runs the unit tests (crash tests kill processes on purpose and are run by
# the release build).
test-asan: build-asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest $(CTEST_FLAGS) -LE crash

# The long runs CI bounds to a slice: each kill -9 loop at 200 iterations, and the crash-point
# test at every one of its file operations (tests/README.md, "Faults").
check-long: build
	@METERD_CRASH_POINTS=all $(BUILD)/bin/crash_point_test
	@METERD_BILLING_CUT_POINTS=all $(BUILD)/bin/fault_test --gtest_filter='BillingDbFaultsTest.*'
	@METERD_CRASH_ITERATIONS=200 $(BUILD)/bin/crash_test
	@METERD_SERVER_CRASH_ITERATIONS=200 $(BUILD)/bin/meterd_crash_test
	@METERD_BILLING_CRASH_ITERATIONS=200 $(BUILD)/bin/meterd_ledger_test --gtest_filter='*Kill*'
	@python3 bench/peers/prometheus_soak.py --series 100000 --seconds 600 --meterd $(BUILD)/bin/meterd

# libFuzzer needs clang; every library is built with coverage, ASan and UBSan (METERD_FUZZ).
# New corpus entries and any crash artifacts stay under $(FUZZ_BUILD)/fuzz-out.
fuzz:
	@bash .ci/install-deps.sh --fuzz
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DMETERD_FUZZ=ON -DMETERD_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets
	@bash tests/fuzz/run_fuzz.sh $(FUZZ_BUILD)/bin $(FUZZ_SECONDS) $(FUZZ_BUILD)/fuzz-out \
	  $(FUZZ_PARALLEL) $(FUZZ_TARGETS)

# clang-tidy needs the compile commands and the generated headers (FlatBuffers, protobuf) of a
# configured build, not the whole build. Not part of `make test` (.ci/tidy-changed.sh).
tidy:
	@bash .ci/install-deps.sh --tidy
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target meterd_wire_schema meterd_prometheus_proto >/dev/null
	@bash .ci/tidy-changed.sh $(TIDY_BASE) $(BUILD) $(JOBS)

bench: build
	@for b in $(BUILD)/bin/*_bench; do $$b --benchmark_repetitions=3 \
	  --benchmark_report_aggregates_only=true; done

format:
	@clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
