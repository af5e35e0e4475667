#!/usr/bin/env bash
# A bounded chaos run on memory:// (issue 13): faulty+memory:// workers under a
# seeded schedule of scale-outs, leaves, lost revokes and stalls past the lease; no
# key may be counted less than its true count.  A fixed seed, then a random one
# (printed, so a failure can be replayed with scripts/chaos.sh --seed).
set -u
build=${1:?build dir}
"$build/tools/rill-chaos-memory" --seconds 15 --seed 1 || exit 1
exec "$build/tools/rill-chaos-memory" --seconds 10
