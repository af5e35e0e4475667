#!/usr/bin/env bash
# Scale-out on Kafka without faults: one key_counter worker counts a stream, two
# more join mid-stream and the group rebalances twice.  Nothing may be lost, and
# the over-count of the rebalances (events counted twice because their offsets
# were not committed before the partitions moved) is printed: a worker whose
# commit at the revoke is refused by a rebalancing group resumes where it was if
# the partition comes straight back, instead of counting it all again.
set -u
build=${1:?build dir}
. "$(dirname "$0")/kafka_lib.sh"
mock_start events:8
base=$((20000 + RANDOM % 12000)) # below the ephemeral ports (32768-)
worker() {
    "$build/examples/key_counter" worker --broker "kafka://$bs" --web-port $((base + $1)) \
        -c kafka.create.file="$dir/topics" -c commit.interval.ms=1000 \
        -c kafka.session.timeout.ms=6000 -c kafka.heartbeat.interval.ms=300 \
        >"$dir/w$1.out" 2>"$dir/w$1.err" &
    pids+=($!)
}
worker 0
for _ in $(seq 200); do ready $base && break; sleep 0.1; done
sleep 5
gen 0 29999 > "$dir/a"
timeout 60 kcat -b "$bs" -X partitioner=murmur2_random -t events -P -K: -l "$dir/a" 2>/dev/null
check "produced the first 30,000" $?
worker 1
perr=0
for c in $(seq 30 59); do # 1,000 events every ~0.15 s while two workers join
    [ "$c" -eq 40 ] && worker 2
    gen $((c * 1000)) $((c * 1000 + 999)) > "$dir/chunk"
    timeout 30 kcat -b "$bs" -X partitioner=murmur2_random -t events -P -K: -l "$dir/chunk" 2>/dev/null || perr=1
    sleep 0.1
done
check "produced 30,000 more while two workers join" $perr
total() {
    for i in 0 1 2; do curl -s "http://127.0.0.1:$((base+i))/tables/counts" > "$dir/t$i" 2>/dev/null || true; done
    cat "$dir/t0" "$dir/t1" "$dir/t2" | grep -o '"k[0-9]*": [0-9]*' | sort -u -t'"' -k2,2 > "$dir/all"
    echo "$(wc -l < "$dir/all") $(awk -F': ' '{s+=$2} END {print s+0}' "$dir/all")"
}
sleep 3
for _ in $(seq 120); do
    read -r keys sum < <(total)
    [ "$keys" -eq 1000 ] && awk -F': ' '$2 < 60 {bad=1} END {exit bad}' "$dir/all" && break
    sleep 0.5
done
sleep 2; read -r keys sum < <(total)
echo "keys=$keys sum=$sum true=60000 over-count=$(awk -v s="$sum" 'BEGIN {printf "%.2f%%", (s-60000)*100/60000}')"
check "all 1000 keys" $([ "$keys" -eq 1000 ]; echo $?)
check "nothing lost: every key >= 60" $(awk -F': ' '$2 < 60 {bad=1} END {exit bad}' "$dir/all"; echo $?)
for i in 1 2 3; do kill -TERM "${pids[$i]}"; done
rc=0; for i in 1 2 3; do wait "${pids[$i]}" || rc=1; done
check "workers stop cleanly" $rc
if [ $fail -ne 0 ]; then for i in 0 1 2; do echo "--- worker $i stderr (tail)"; tail -20 "$dir/w$i.err"; done; fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
