#!/usr/bin/env bash
# Live happy, die hard on Redis: redis-server (AOF on) is restarted under a running
# worker, which reconnects and goes on counting with nothing lost; then the server
# stays away longer than broker.timeout.ms and the worker exits non-zero with a clear
# message; restarted once Redis is back, a worker resumes from the committed IDs.
set -u
build=${1:?build dir}
. "$(dirname "$0")/redis_lib.sh" # skips without redis-server or curl; tmpd, check()
wpid=
cleanup() { [ -n "$wpid" ] && kill -9 "$wpid" 2>/dev/null; kill -9 "$redis_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmpd"; }
trap cleanup EXIT
aof=(--appendonly yes --appendfsync always)
redis_start "$tmpd" "${aof[@]}" || exit 1
url="redis://127.0.0.1:$redis_port"
port=$((20000 + RANDOM % 9000))
start_worker() {
    "$build/examples/key_counter" worker --broker "$url" --web-port "$port" \
        -c broker.timeout.ms=3000 -c commit.interval.ms=100 \
        -c redis.heartbeat.interval.ms=200 -c redis.session.timeout.ms=2000 \
        > "$tmpd/w$1.out" 2> "$tmpd/w$1.err" &
    wpid=$!
}
sum() { curl -s "http://127.0.0.1:$port/tables/counts" | grep -o '"k[0-9]*": [0-9]*' | awk -F': ' '{s+=$2} END {print s+0}'; }
wait_sum() { for _ in $(seq 150); do [ "$(sum)" -ge "$1" ] && return 0; sleep 0.1; done; return 1; }

start_worker 1
xadd_keyed "$build" events 8 0 999
check "a worker counts 1,000 events" $(wait_sum 1000; echo $?)
redis_restart "$tmpd" "${aof[@]}"
check "redis-server restarts with its AOF" $?
xadd_keyed "$build" events 8 1000 1999
check "the worker reconnects and counts 1,000 more" $(wait_sum 2000; echo $?)
check "... exactly: nothing lost or counted twice" $([ "$(sum)" -eq 2000 ]; echo $?)
check "the worker logged the reconnect" $(grep -q "reconnected" "$tmpd/w1.err"; echo $?)

sleep 0.5 # a commit interval
kill -TERM "$redis_pid"; wait "$redis_pid" 2>/dev/null
t0=$(date +%s%N)
for _ in $(seq 100); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.1; done
wait "$wpid"; rc=$?; wpid=
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "worker exited $rc after ${ms} ms without Redis"
check "with Redis gone past broker.timeout.ms the worker exits non-zero" $([ $rc -ne 0 ]; echo $?)
check "... after about broker.timeout.ms (3 s), not at once" $([ $ms -ge 2500 ]; echo $?)
check "... naming the cause" $(grep -q "unreachable for 3000 ms (broker.timeout.ms)" "$tmpd/w1.err"; echo $?)

redis_restart "$tmpd" "${aof[@]}" 2>/dev/null || redis_start "$tmpd" "${aof[@]}"
xadd_keyed "$build" events 8 2000 2999
start_worker 2
check "a restarted worker recovers the table and counts the new events" $(wait_sum 3000; echo $?)
check "... resuming from the committed IDs (no event counted twice)" $([ "$(sum)" -eq 3000 ]; echo $?)
kill -TERM "$wpid"; wait "$wpid"; r=$?; wpid=
check "it stops cleanly" $([ $r -eq 0 ]; echo $?)
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
