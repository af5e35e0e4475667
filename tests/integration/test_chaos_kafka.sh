#!/usr/bin/env bash
# A bounded chaos run on rill-kafka-mock (issue 13): key_counter workers under a
# seeded schedule of SIGKILLs, SIGSTOPs past the session, scale out and in, and
# faults pushed into the mock (request errors, the broker down, added RTT); no key
# may be counted less than its true count.  A fixed seed, then a random one
# (printed: replay it with scripts/chaos.sh --transport kafka --seed S).  Each run
# prints its over-count and how much of it the events topic itself holds twice
# (producer retries); the rest is replay from the last commit (docs/testing.md).
# Skipped (exit 77) without kcat, curl or python3.
set -u
build=${1:?build dir}
chaos="$(dirname "$0")/../chaos/chaos_procs.sh"
bash "$chaos" kafka "$build" 30 7
rc=$?
[ $rc -eq 0 ] || exit $rc
seed=$(( (RANDOM << 15 | RANDOM) % 1000000000 + 1 ))
echo "random seed: $seed"
bash "$chaos" kafka "$build" 20 "$seed"
