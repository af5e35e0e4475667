#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each decoder for a bounded time
# (seconds as $1, default 20) from the seed corpus in fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
if ! command -v clang >/dev/null; then echo "fuzz: clang not installed, skipped"; exit 0; fi
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DRILL_BUILD_FUZZ=ON -DRILL_BUILD_TESTS=OFF \
    -DRILL_BUILD_EXAMPLES=OFF -DRILL_BUILD_BENCH=OFF -DRILL_BUILD_TOOLS=OFF \
    -DRILL_WITH_KAFKA=OFF -DRILL_WITH_REDIS=OFF -DRILL_WITH_ROCKSDB=OFF >/dev/null
if ! cmake --build build-fuzz -j"$(nproc)" >/dev/null; then
    echo "fuzz: the libFuzzer targets did not build (clang's libFuzzer runtime,"
    echo "      libclang-rt-14-dev, missing?): fuzzing SKIPPED"
    exit 0
fi
for t in json avro; do
    [ -x "build-fuzz/fuzz/fuzz_$t" ] || continue
    work=$(mktemp -d)
    cp fuzz/corpus/$t/* "$work/"
    leaks=1
    echo "== fuzz_$t for ${secs}s"
    (cd "$work" && "$OLDPWD/build-fuzz/fuzz/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=2048 \
        -detect_leaks=$leaks -print_final_stats=1 . 2>&1 | tail -4)
    rm -rf "$work"
done
