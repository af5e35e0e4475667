#!/usr/bin/env bash
# Zombie fencing on Kafka: two key_counter workers share a topic; one is frozen
# with SIGSTOP past its session timeout while events flow, the other takes its
# partitions over, then the first is resumed (SIGCONT) and events go on.  The
# frozen one must not write its stale table values (it drops its partitions as
# lost before anything else runs), so every key's final count is >= its true
# count, on the workers and in the changelog (read back by a fresh worker that
# recovers the whole table from it).
#
# The frozen worker's producer is given a long linger (1 s) so that it still holds
# unsent changelog records when it is frozen, as a loaded machine makes likely
# (this is how CI lost a third of the counts: librdkafka sent those stale records
# when the process woke, after the other worker had taken the partitions over;
# fixed by never sending a record older than the lease, see transports/kafka).
set -u
build=${1:?build dir}
. "$(dirname "$0")/kafka_lib.sh"
mock_start events:8
base=$((20000 + RANDOM % 12000)) # below the ephemeral ports (32768-)
worker() { # worker N
    "$build/examples/key_counter" worker --broker "kafka://$bs" --web-port $((base + $1)) \
        -c kafka.create.file="$dir/topics" -c commit.interval.ms=1500 \
        -c kafka.session.timeout.ms=3000 -c kafka.heartbeat.interval.ms=300 -c kafka.linger.ms=1000 ${DEBUGW:-} \
        >>"$dir/w$1.out" 2>>"$dir/w$1.err" &
    pids+=($!)
}
worker 0; worker 1
a=${pids[1]}; b=${pids[2]}
for _ in $(seq 200); do ready $base && ready $((base+1)) && break; sleep 0.1; done
sleep 8 # the mock's group settles (first join of an empty group waits ~3 s)
chunks() { # chunks FROM TO: 1,000 events each, one every ~0.15 s
    for c in $(seq "$1" "$2"); do
        gen $((c * 1000)) $((c * 1000 + 999)) > "$dir/chunk"
        timeout 30 kcat -b "$bs" -X partitioner=murmur2_random -t events -P -K: -l "$dir/chunk" 2>/dev/null || echo "chunk $c failed" >> "$dir/produce.err"
        sleep 0.1
    done
}
# how many partitions of events a worker's log says it was assigned, summed over its
# rebalances (one line each: "assigned events[0-3], key-counter-counts-changelog[0-3]")
events_assigned() {
    grep -o 'assigned .*' "$1" | grep -oE '(^| )events\[[0-9,-]*\]' | sed 's/.*\[//; s/\]//' | tr ',' '\n' |
        awk -F- 'NF { for (p = $1; p <= (NF > 1 ? $2 : $1); p++) print p }' | wc -l
}
# events flow when worker 0 is frozen, so it has unflushed table writes
chunks 0 59 &
producer=$!
sleep 3
kill -STOP "$a"
wait $producer
# the session (3 s) expires, the group gives every partition to worker 1
for _ in $(seq 200); do
    curl -s "http://127.0.0.1:$((base+1))/" > "$dir/s1" 2>/dev/null
    grep -q '"ready":true,"recovering":false' "$dir/s1" && [ "$(events_assigned "$dir/w1.err")" -ge 12 ] && break
    sleep 0.1
done
check "worker 1 took the partitions over" $([ "$(events_assigned "$dir/w1.err")" -ge 12 ]; echo $?)
sleep 2
kill -CONT "$a"   # the zombie wakes with its old table values
sleep 6           # it rejoins; the partitions are spread over both again
chunks 60 69
check "produced 70,000 keyed events around the freeze" $([ ! -s "$dir/produce.err" ]; echo $?)
total() { # keys sum from both workers' tables
    for p in $base $((base+1)); do curl -s "http://127.0.0.1:$p/tables/counts" > "$dir/t$p" 2>/dev/null || true; done
    cat "$dir/t$base" "$dir/t$((base+1))" | grep -o '"k[0-9]*": [0-9]*' | sort -u -t'"' -k2,2 > "$dir/all"
    echo "$(wc -l < "$dir/all") $(awk -F': ' '{s+=$2} END {print s+0}' "$dir/all")"
}
for _ in $(seq 120); do
    read -r keys sum < <(total)
    [ "$keys" -eq 1000 ] && awk -F': ' '$2 < 70 {bad=1} END {exit bad}' "$dir/all" && break
    sleep 0.5
done
echo "workers: keys=$keys sum=$sum true=70000 over-count=$(awk -v s="$sum" 'BEGIN {printf "%.2f%%", (s-70000)*100/70000}')"
check "the workers hold all 1000 keys" $([ "$keys" -eq 1000 ]; echo $?)
check "no count lost on the workers: every key >= 70" $(awk -F': ' '$2 < 70 {bad=1} END {exit bad}' "$dir/all"; echo $?)
check "worker 0 saw its partitions lost" $(grep -q 'lost' "$dir/w0.err"; echo $?)
for p in "$a" "$b"; do kill -TERM "$p" 2>/dev/null; done
wait "$a"; ra=$?; wait "$b"; rb=$?
check "both stop cleanly (exit $ra, $rb)" $([ $ra -eq 0 ] && [ $rb -eq 0 ]; echo $?)
# A fresh worker recovers the table from the changelog alone.
worker 2
for _ in $(seq 300); do ready $((base+2)) && break; sleep 0.1; done
for _ in $(seq 60); do
    curl -s "http://127.0.0.1:$((base+2))/tables/counts" > "$dir/t2" 2>/dev/null
    [ "$(grep -o '"k[0-9]*": [0-9]*' "$dir/t2" | wc -l)" -eq 1000 ] && break
    sleep 0.5
done
grep -o '"k[0-9]*": [0-9]*' "$dir/t2" > "$dir/cl"
clsum=$(awk -F': ' '{s+=$2} END {print s+0}' "$dir/cl")
echo "changelog: keys=$(wc -l < "$dir/cl") sum=$clsum"
check "the changelog holds all 1000 keys" $([ "$(wc -l < "$dir/cl")" -eq 1000 ]; echo $?)
check "no count lost in the changelog: every key >= 70" $(awk -F': ' '$2 < 70 {bad=1} END {exit bad}' "$dir/cl"; echo $?)
if [ $fail -ne 0 ]; then for i in 0 1 2; do echo "--- worker $i stderr (tail)"; tail -25 "$dir/w$i.err"; done; fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
