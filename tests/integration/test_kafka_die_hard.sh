#!/usr/bin/env bash
# Live happy, die hard: a worker whose Kafka broker disappears exits non-zero with
# a clear message once broker.timeout.ms passes; restarted against a broker it
# works again.
set -u
build=${1:?build dir}
dir=$(mktemp -d)
pass=0; fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; pass=$((pass+1)); else echo "FAIL - $1"; fail=$((fail+1)); fi; }
"$build/tools/rill-kafka-mock" --topic hello-topic:4 --topics-file "$dir/topics" --port-file "$dir/bs" >/dev/null 2>&1 &
mpid=$!
trap 'kill -9 $mpid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do [ -s "$dir/bs" ] && break; sleep 0.1; done
bs=$(head -1 "$dir/bs")
"$build/examples/hello" worker --broker "kafka://$bs" -c broker.timeout.ms=3000 \
    -c kafka.create.file="$dir/topics" >"$dir/out" 2>"$dir/err" &
wpid=$!
for _ in $(seq 150); do grep -q 'Hello from Faust' "$dir/out" && break; sleep 0.1; done
check "worker runs against the broker" $(grep -q 'Hello from Faust' "$dir/out"; echo $?)
kill -9 $mpid; wait $mpid 2>/dev/null
start=$(date +%s)
for _ in $(seq 300); do kill -0 $wpid 2>/dev/null || break; sleep 0.1; done
wait $wpid; rc=$?
took=$(( $(date +%s) - start ))
check "worker exits non-zero when the broker is gone (exit $rc after ${took}s)" $([ $rc -ne 0 ]; echo $?)
check "it says why" $(grep -q 'unreachable for 3000 ms' "$dir/err"; echo $?)
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
