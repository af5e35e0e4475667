#!/usr/bin/env bash
# scripts/chaos.sh [--transport memory|redis|kafka] [--seconds N] [--seed S] [--build DIR]
#
# One chaos run (tests/chaos/): workers of a counting app under a schedule of faults
# chosen by the seed, a producer with a known tally, and a check that no key is
# counted less than its true count (at-least-once).  Prints one summary line:
#   chaos: seed S, faults F, keys K, lost 0, over-count X %, PASS
# and exits 0 on PASS, 1 on FAIL, 77 when the transport's server or tools are
# missing.  The seed chooses the schedule and the injected faults; the machine's
# timing still varies, so a replay of a seed is close to the run, not identical.
set -u
cd "$(dirname "$0")/.."
transport=memory seconds=60 seed= build=build
while [ $# -gt 0 ]; do
    case $1 in
    --transport) transport=${2:?}; shift 2 ;;
    --seconds) seconds=${2:?}; shift 2 ;;
    --seed) seed=${2:?}; shift 2 ;;
    --build) build=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "chaos.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ -n "$seed" ] || seed=$(( (RANDOM << 15 | RANDOM) % 1000000000 + 1 ))
case $transport in
memory)
    [ -x "$build/tools/rill-chaos-memory" ] || { echo "chaos.sh: build first ($build/tools/rill-chaos-memory)" >&2; exit 2; }
    exec "$build/tools/rill-chaos-memory" --seconds "$seconds" --seed "$seed" ;;
redis|kafka)
    exec bash tests/chaos/chaos_procs.sh "$transport" "$build" "$seconds" "$seed" ;;
*) echo "chaos.sh: --transport is memory, redis or kafka, not '$transport'" >&2; exit 2 ;;
esac
