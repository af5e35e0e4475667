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

# Brokers back within broker.timeout.ms: a worker that sends nothing (no delivery
# report says the brokers are back) must live on.  It died broker.timeout.ms after
# the first "all brokers down", however soon they came back.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rm -f "/tmp/rill-kafka-mock-$port.topics"
: > "$dir/control"
"$build/tools/rill-kafka-mock" --port "$port" --control "$dir/control" >"$dir/m2.out" 2>"$dir/m2.err" &
m2=$!
trap 'kill -9 $mpid $m2 ${w2:-} 2>/dev/null; rm -f "/tmp/rill-kafka-mock-$port.topics"; rm -rf "$dir"' EXIT
for _ in $(seq 50); do [ -s "$dir/m2.out" ] && break; sleep 0.1; done
web=$((20000 + RANDOM % 9000))
"$build/examples/key_counter" worker --broker "kafka://127.0.0.1:$port" --web-port "$web" \
    -c broker.timeout.ms=3000 >"$dir/w2.out" 2>"$dir/w2.err" &
w2=$!
for _ in $(seq 300); do curl -s "http://127.0.0.1:$web/" | grep -q '"ready":true' && break; sleep 0.1; done
check "an idle worker is ready" $(curl -s "http://127.0.0.1:$web/" | grep -q '"ready":true'; echo $?)
echo "down all" >> "$dir/control"
for _ in $(seq 100); do grep -q 'brokers are down' "$dir/w2.err" && break; sleep 0.1; done
check "it sees every broker down" $(grep -q 'brokers are down' "$dir/w2.err"; echo $?)
echo "up all" >> "$dir/control"
sleep 6 # twice broker.timeout.ms after the brokers came back
check "it lives on when the brokers come back in time" $(kill -0 $w2 2>/dev/null; echo $?)
check "and says nothing of them being unreachable" $(! grep -q 'unreachable for' "$dir/w2.err"; echo $?)
kill -TERM $w2 2>/dev/null; wait $w2 2>/dev/null
kill -TERM $m2; wait $m2 2>/dev/null
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
