#!/usr/bin/env bash
# rill-kafka-mock is a real Kafka-protocol broker: kcat produces to it and consumes
# from it, and a rill worker reads what kcat wrote.
set -u
build=${1:?build dir}
mock="$build/tools/rill-kafka-mock"
if ! command -v kcat >/dev/null; then echo "kcat not installed: skipped"; exit 77; fi
dir=$(mktemp -d)
pass=0; fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; pass=$((pass+1)); else echo "FAIL - $1"; fail=$((fail+1)); fi; }
"$mock" --topic kcat-test:3 --topic hello-topic:4 --topics-file "$dir/topics" --port-file "$dir/bootstrap" >"$dir/out" 2>"$dir/err" &
mpid=$!
trap 'kill -TERM $mpid 2>/dev/null; wait $mpid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do [ -s "$dir/bootstrap" ] && break; sleep 0.1; done
bs=$(head -1 "$dir/bootstrap")
check "mock prints its bootstrap address" $([ -n "$bs" ] && [ "$(head -1 "$dir/out")" = "$bs" ]; echo $?)

seq 1 1000 | awk '{print "key" $1 ":value" $1}' > "$dir/msgs"
timeout 30 kcat -b "$bs" -t kcat-test -P -K: -l "$dir/msgs" 2>"$dir/kcat-p.err"
check "kcat produces 1000 keyed messages" $?
timeout 30 kcat -b "$bs" -t kcat-test -C -e -q -f '%k=%s\n' > "$dir/got" 2>"$dir/kcat-c.err"
check "kcat consumes them back" $?
n=$(wc -l < "$dir/got")
check "all 1000 came back ($n)" $([ "$n" -eq 1000 ]; echo $?)
check "content intact" $(grep -qx 'key500=value500' "$dir/got"; echo $?)
check "metadata lists the topic with 3 partitions" $(timeout 10 kcat -b "$bs" -L -t kcat-test 2>/dev/null | grep -q '3 partitions'; echo $?)

echo "late-topic:2" >> "$dir/topics"
sleep 0.5
check "topics appended to --topics-file are created" $(timeout 10 kcat -b "$bs" -L -t late-topic 2>/dev/null | grep -q '2 partitions'; echo $?)

# a rill worker reads what kcat wrote (hello's record as JSON)
echo '{"from_name":"kcat","to_name":"rill"}' | timeout 20 kcat -b "$bs" -t hello-topic -P 2>/dev/null
timeout 20 "$build/examples/hello" worker --broker "kafka://$bs" -c kafka.create.file="$dir/topics" >"$dir/worker.out" 2>"$dir/worker.err" &
wpid=$!
for _ in $(seq 150); do grep -q 'Hello from kcat to rill' "$dir/worker.out" && break; sleep 0.1; done
kill -TERM $wpid 2>/dev/null; wait $wpid; rc=$?
check "a rill worker consumes kcat's message" $(grep -q 'Hello from kcat to rill' "$dir/worker.out"; echo $?)
check "the worker stops cleanly (exit $rc)" $([ $rc -eq 0 ]; echo $?)
[ $rc -eq 0 ] || { echo "--- worker stderr (tail)"; tail -15 "$dir/worker.err"; }
kill -TERM $mpid; wait $mpid; rc=$?
check "mock exits 0 on SIGTERM" $([ $rc -eq 0 ]; echo $?)
"$mock" --brokers 0 >/dev/null 2>&1; rc=$?
check "bad arguments exit 2" $([ $rc -eq 2 ]; echo $?)
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
