#!/usr/bin/env bash
# Distribution over Redis Streams: three worker processes of key_counter share the
# "events" streams through rill's partition ownership on Redis; one is SIGKILLed
# half-way; its partitions go to the survivors (after redis.session.timeout.ms),
# which claim its pending entries and resume from its committed IDs.  The events are
# XADDed by redis-cli (another program writing rill's documented fields), and the
# survivors' tables (over HTTP) must hold every key with at least its true count.
set -u
build=${1:?build dir}
. "$(dirname "$0")/redis_lib.sh" # skips without redis-server or curl; tmpd, check()
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; kill -9 "$redis_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmpd"; }
trap cleanup EXIT
redis_start "$tmpd" || exit 1
url="redis://127.0.0.1:$redis_port"
base=$((20000 + RANDOM % 9000))
for i in 0 1 2; do
    "$build/examples/key_counter" worker --broker "$url" --web-port $((base + i)) \
        -c commit.interval.ms=200 -c redis.heartbeat.interval.ms=200 \
        -c redis.session.timeout.ms=2000 >"$tmpd/w$i.out" 2>"$tmpd/w$i.err" &
    pids+=($!)
done
ready() { curl -s "http://127.0.0.1:$1/" | grep -q '"ready":true,"recovering":false'; }
for _ in $(seq 200); do ready $base && ready $((base+1)) && ready $((base+2)) && break; sleep 0.1; done
sleep 2 # the members see each other and settle the assignment
owned() { redis-cli -p "$redis_port" --scan --pattern 'rill:key-counter:owner:events:*' | wc -l; }
check "the 8 partitions are owned" $([ "$(owned)" -eq 8 ]; echo $?)
xadd_keyed "$build" events 8 0 49999
check "redis-cli XADDed the first 50,000 keyed events" $?
sleep 1
kill -9 "${pids[0]}"  # worker 0, mid-stream
xadd_keyed "$build" events 8 50000 99999
check "XADDed the second 50,000" $?
total() {
    for p in $((base+1)) $((base+2)); do curl -s "http://127.0.0.1:$p/tables/counts" > "$tmpd/t$p" || true; done
    cat "$tmpd/t$((base+1))" "$tmpd/t$((base+2))" | grep -o '"k[0-9]*": [0-9]*' | sort -u -t'"' -k2,2 > "$tmpd/all"
    echo "$(wc -l < "$tmpd/all") $(awk -F': ' '{s+=$2} END {print s+0}' "$tmpd/all")"
}
for _ in $(seq 120); do
    read -r keys sum < <(total)
    if [ "$keys" -eq 1000 ] && [ "$sum" -ge 100000 ]; then break; fi
    sleep 0.5
done
echo "keys=$keys sum=$sum"
check "the survivors hold all 1000 keys" $([ "$keys" -eq 1000 ]; echo $?)
check "no event lost: every key counted at least 100 times" $(awk -F': ' '$2 < 100 {bad=1} END {exit bad}' "$tmpd/all"; echo $?)
check "the dead worker's partitions moved: 8 owned by the survivors" $([ "$(owned)" -eq 8 ]; echo $?)
check "the two survivors are alive and ready" $(ready $((base+1)) && ready $((base+2)); echo $?)
for p in "${pids[1]}" "${pids[2]}"; do kill -TERM "$p"; done
wait "${pids[1]}"; r1=$?; wait "${pids[2]}"; r2=$?
check "survivors stop cleanly" $([ $r1 -eq 0 ] && [ $r2 -eq 0 ]; echo $?)
check "a clean stop releases ownership" $([ "$(owned)" -eq 0 ]; echo $?)
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
