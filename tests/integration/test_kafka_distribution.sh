#!/usr/bin/env bash
# Distribution over Kafka: three worker processes of key_counter share a topic
# through the consumer group; one is SIGKILLed half-way; the group rebalances and
# the survivors' tables (read over HTTP) still hold every key with at least its
# true count (at-least-once: nothing lost).
set -u
build=${1:?build dir}
. "$(dirname "$0")/kafka_lib.sh"
mock_start events:8
base=$((20000 + RANDOM % 20000))
for i in 0 1 2; do
    "$build/examples/key_counter" worker --broker "kafka://$bs" --web-port $((base + i)) \
        -c kafka.create.file="$dir/topics" -c commit.interval.ms=200 \
        -c kafka.session.timeout.ms=3000 -c kafka.heartbeat.interval.ms=300 ${DEBUGW:-} \
        >"$dir/w$i.out" 2>"$dir/w$i.err" &
    pids+=($!)
done
for _ in $(seq 200); do ready $base && ready $((base+1)) && ready $((base+2)) && break; sleep 0.1; done
sleep 8 # the mock's group settles (first join of an empty group waits ~3 s)
gen 0 49999 > "$dir/a"; gen 50000 99999 > "$dir/b"
timeout 60 kcat -b "$bs" -X partitioner=murmur2_random -t events -P -K: -l "$dir/a" 2>/dev/null
check "produced the first 50,000 keyed events" $?
sleep 2
kill -9 "${pids[1]}"  # worker 0, mid-stream
timeout 60 kcat -b "$bs" -X partitioner=murmur2_random -t events -P -K: -l "$dir/b" 2>/dev/null
check "produced the second 50,000" $?
total() {
    local sum=0 keys=0
    for p in $((base+1)) $((base+2)); do
        curl -s "http://127.0.0.1:$p/tables/counts" > "$dir/t$p" || true
    done
    cat "$dir/t$((base+1))" "$dir/t$((base+2))" | grep -o '"k[0-9]*": [0-9]*' | sort -u -t'"' -k2,2 > "$dir/all"
    keys=$(wc -l < "$dir/all")
    sum=$(awk -F': ' '{s+=$2} END {print s+0}' "$dir/all")
    echo "$keys $sum"
}
ok=1
for _ in $(seq 120); do
    read -r keys sum < <(total)
    if [ "$keys" -eq 1000 ] && [ "$sum" -ge 100000 ]; then ok=0; break; fi
    sleep 0.5
done
echo "keys=$keys sum=$sum"
check "the survivors hold all 1000 keys" $([ "$keys" -eq 1000 ]; echo $?)
check "no increment lost: every key counted at least 100 times" $(awk -F': ' '$2 < 100 {bad=1} END {exit bad}' "$dir/all"; echo $?)
check "the two survivors are alive and ready" $(ready $((base+1)) && ready $((base+2)); echo $?)
for p in "${pids[2]}" "${pids[3]}"; do kill -TERM "$p"; done
wait "${pids[2]}"; r1=$?; wait "${pids[3]}"; r2=$?
check "survivors stop cleanly" $([ $r1 -eq 0 ] && [ $r2 -eq 0 ]; echo $?)
if [ $fail -ne 0 ]; then for i in 0 1 2; do echo "--- worker $i stderr (tail)"; tail -20 "$dir/w$i.err"; done; fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
