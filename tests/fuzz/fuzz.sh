#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz (docs/fuzzing.md).
#
#   fuzz.sh build DIR                  a clang RACCOON_FUZZ build of the targets and the
#                                      modules they link, in DIR
#   fuzz.sh run DIR SECONDS [TARGET..] each target (all when none is named) for SECONDS on
#                                      its seeds (tests/fuzz/corpus/TARGET) and what earlier
#                                      runs in DIR found (DIR/corpus/TARGET); a crash, leak,
#                                      timeout or sanitizer report fails the run and leaves
#                                      the input in DIR/artifacts/TARGET/
#
# FUZZ_JOBS sets the build's parallelism (default: the number of cores).
set -euo pipefail

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
repo_dir=$(cd "$fuzz_dir/../.." && pwd)
all_targets=(protobuf_request json_request websocket_frames http_request)

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

build() {
    local dir=$1
    local cxx
    cxx=$(command -v clang++-19 || command -v clang++ || true)
    if [ -z "$cxx" ]; then
        echo "fuzz.sh: no clang++; run scripts/install-deps.sh fuzz" >&2
        exit 1
    fi
    # -O1 and line tables: what libFuzzer's documentation suggests, at a
    # fraction of -O2 -g's compile time; without NDEBUG, so Beast's and our
    # assertions are checked too.
    cmake -S "$repo_dir" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
        -DRACCOON_FUZZ=ON >/dev/null
    local started=$SECONDS
    nice cmake --build "$dir" -j "${FUZZ_JOBS:-$(nproc)}" --target raccoon_fuzzers
    echo "fuzz.sh: built the fuzz targets in $((SECONDS - started)) s"
}

# The last value of `key` in libFuzzer's final statistics or progress lines.
stat_of() {
    local log=$1 key=$2
    grep -o "$key[: ]*[0-9]*" "$log" | tail -1 | grep -o '[0-9]*$' || echo "?"
}

run_target() {
    local dir=$1 seconds=$2 target=$3
    local binary=$dir/tests/fuzz/fuzz_$target
    if [ ! -x "$binary" ]; then
        echo "fuzz.sh: no $binary; run fuzz.sh build $dir first" >&2
        return 1
    fi
    local corpus=$dir/corpus/$target artifacts=$dir/artifacts/$target/ log=$dir/logs/$target.log
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    local options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536
        -print_final_stats=1 -artifact_prefix="$artifacts")
    [ -f "$fuzz_dir/$target.dict" ] && options+=(-dict="$fuzz_dir/$target.dict")
    local status=0
    ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer-19 || command -v llvm-symbolizer || true) \
        ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            "$binary" "${options[@]}" "$corpus" "$fuzz_dir/corpus/$target" >"$log" 2>&1 || status=$?
    local runs execs coverage features
    runs=$(stat_of "$log" stat::number_of_executed_units)
    execs=$(stat_of "$log" stat::average_exec_per_sec)
    coverage=$(stat_of "$log" 'cov:')
    features=$(stat_of "$log" 'ft:')
    echo "fuzz $target: $runs runs in ${seconds} s ($execs/s), coverage $coverage edges," \
        "$features features, corpus $(find "$corpus" -type f | wc -l) files"
    if [ "$status" -ne 0 ]; then
        echo "fuzz $target: FAILED (exit $status); log $log, input in $artifacts" >&2
        grep -E -A40 'ERROR: |runtime error|==[0-9]+==' "$log" | head -80 >&2 || tail -40 "$log" >&2
        return 1
    fi
}

run() {
    local dir=$1 seconds=$2
    shift 2
    local targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
    local failed=0
    for target in "${targets[@]}"; do
        run_target "$dir" "$seconds" "$target" || failed=1
    done
    return $failed
}

case "${1:-}" in
    build) [ $# -eq 2 ] || usage; build "$2" ;;
    run) [ $# -ge 3 ] || usage; shift; run "$@" ;;
    *) usage ;;
esac
