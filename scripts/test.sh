#!/usr/bin/env bash
# Build (if needed) and run every test.  Usage: scripts/test.sh [BUILD_DIR] [cmake args...]
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
cmake -S . -B "$build" "$@" >/dev/null || exit 1
cmake --build "$build" -j"$(nproc)" || exit 1
# A failing test fails the run at once.  Only tests labelled mock-timing (their
# reason is in docs/testing.md: librdkafka's mock cluster's group timing under
# load) run once more after a failure, and the run says which needed it.
ctest --test-dir "$build" --output-on-failure -j2 -LE mock-timing
rc=$?
ctest --test-dir "$build" --output-on-failure -j2 -L mock-timing
if [ $? -ne 0 ]; then
    echo "test.sh: mock-timing tests that failed once, run again:"
    ctest --test-dir "$build" -N --rerun-failed | grep 'Test *#' || true
    ctest --test-dir "$build" --output-on-failure --rerun-failed || rc=1
fi
exit $rc
