#!/usr/bin/env bash
# Table lookups routed to the owner (docs/web.md, "Routing") over Kafka: three
# key_counter workers on rill-kafka-mock; every one of 1,000 keys looked up through
# every worker answers the owner's value; after a SIGKILL of one worker and the
# rebalance, lookups through the survivors follow the new owners.
set -u
build=${1:?build dir}
. "$(dirname "$0")/kafka_lib.sh"
mock_start events:8
base=$((20000 + RANDOM % 12000)) # below the ephemeral ports (32768-)
for i in 0 1 2; do
    "$build/examples/key_counter" worker --broker "kafka://$bs" --web-port $((base + i)) \
        -c kafka.create.file="$dir/topics" -c commit.interval.ms=200 \
        -c kafka.session.timeout.ms=3000 -c kafka.heartbeat.interval.ms=300 \
        >"$dir/w$i.out" 2>"$dir/w$i.err" &
    pids+=($!)
done
for _ in $(seq 200); do ready $base && ready $((base+1)) && ready $((base+2)) && break; sleep 0.1; done
sleep 8 # the mock's group settles (first join of an empty group waits ~3 s)
gen 0 2999 > "$dir/a" # every key three times
timeout 60 kcat -b "$bs" -X partitioner=murmur2_random -t events -P -K: -l "$dir/a" 2>/dev/null
check "produced 3,000 keyed events" $?
urls() { # PORT PATH-PREFIX: the URL of every key
    for k in $(seq 0 999); do echo "http://127.0.0.1:$1$2/k$k"; done
}
# owners PORTS...: "kN value" as the owners hold them (each dump lists owned partitions)
owners() {
    for p in "$@"; do curl -s "http://127.0.0.1:$p/tables/counts"; done |
        grep -o '"k[0-9]*": [0-9]*' | tr -d '":' | sort -u > "$dir/owners"
    wc -l < "$dir/owners"
}
# lookups PORTS...: key i through the (i mod n)th port; "kN value" for 200 answers
lookups() {
    local ports=("$@") n=$#
    : > "$dir/looked"
    for j in $(seq 0 $((n - 1))); do
        for k in $(seq "$j" "$n" 999); do echo "url = \"http://127.0.0.1:${ports[$j]}/table/counts/k$k\""; done > "$dir/cfg$j"
        curl -s -K "$dir/cfg$j" >> "$dir/looked"
    done
    grep -o '"key":"k[0-9]*","partition":[0-9]*,"value":[0-9]*' "$dir/looked" |
        sed 's/"key":"\(k[0-9]*\)","partition":[0-9]*,"value":\([0-9]*\)/\1 \2/' | sort -u > "$dir/answers"
    wc -l < "$dir/answers"
}
ok=1
for _ in $(seq 120); do
    if [ "$(owners $base $((base+1)) $((base+2)))" -eq 1000 ] &&
       [ "$(awk '{s+=$2} END {print s+0}' "$dir/owners")" -eq 3000 ] &&
       [ "$(lookups $base $((base+1)) $((base+2)))" -eq 1000 ]; then ok=0; break; fi
    sleep 0.5
done
check "all 1,000 keys answered through the three workers" $ok
check "each answer is the owner's value" $(cmp -s "$dir/owners" "$dir/answers"; echo $?)
check "every key counted 3 times" $(awk '$2 != 3 {bad=1} END {exit bad}' "$dir/answers"; echo $?)
# through every worker, not only one in three
for i in 0 1 2; do
    for k in $(seq 0 999); do echo "url = \"http://127.0.0.1:$((base+i))/table/counts/k$k\""; done > "$dir/all$i"
    n=$(curl -s -K "$dir/all$i" | grep -c '"value":3,')
    check "worker $i answers all 1,000 keys with the owner's value" $([ "$n" -eq 1000 ]; echo $?)
done
proxied=$(curl -s -D - -o /dev/null -K "$dir/all0" | grep -c '^X-Rill-Routed-To')
echo "worker 0 proxied $proxied of 1000"
check "a worker proxies the keys it does not own" $([ "$proxied" -gt 0 ] && [ "$proxied" -lt 1000 ]; echo $?)

kill -9 "${pids[2]}" # worker 1
dead="http://127.0.0.1:$((base+1))"
ok=1
for _ in $(seq 120); do
    if [ "$(owners $base $((base+2)))" -eq 1000 ] && [ "$(lookups $base $((base+2)))" -eq 1000 ] &&
       cmp -s "$dir/owners" "$dir/answers"; then ok=0; break; fi
    sleep 0.5
done
check "after the SIGKILL and the rebalance, all 1,000 keys answered through the survivors" $ok
check "each answer is the new owner's value" $(cmp -s "$dir/owners" "$dir/answers"; echo $?)
check "no count lost: every key at least 3" $(awk '$2 < 3 {bad=1} END {exit bad}' "$dir/answers"; echo $?)
for k in $(seq 0 999); do echo "url = \"http://127.0.0.1:$base/router/counts/k$k\""; done > "$dir/router"
curl -s -K "$dir/router" > "$dir/routes"
check "the router names a survivor for every key" $([ "$(grep -c '"state":"active"' "$dir/routes")" -eq 1000 ] && ! grep -q "\"url\":\"$dead\"" "$dir/routes"; echo $?)
for p in "${pids[1]}" "${pids[3]}"; do kill -TERM "$p"; done
wait "${pids[1]}"; r1=$?; wait "${pids[3]}"; r2=$?
check "survivors stop cleanly" $([ $r1 -eq 0 ] && [ $r2 -eq 0 ]; echo $?)
if [ $fail -ne 0 ]; then for i in 0 1 2; do echo "--- worker $i stderr (tail)"; tail -20 "$dir/w$i.err"; done; fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
