#!/usr/bin/env bash
# A worker whose Kafka broker does not answer at start dies cleanly: exit 1 and a
# message naming the broker and the timeout, never a crash.  (It used to end in
# SIGSEGV: closing the half-open transport flushed the producer, which served
# librdkafka's queued "connect failed" errors into the app's handler before the
# app had a transport.)  And a worker with an unreachable broker among its
# bootstrap servers starts and works (the same errors, served while it opened,
# crashed it too).  Nothing listens on 127.0.0.1:1 or :2 (privileged ports).
set -u
build=${1:?build dir}
dir=$(mktemp -d)
mpid=
trap '[ -n "$mpid" ] && kill -9 $mpid 2>/dev/null; rm -rf "$dir"' EXIT
pass=0; fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; pass=$((pass+1)); else echo "FAIL - $1"; fail=$((fail+1)); fi; }

start=$(date +%s)
"$build/examples/hello" worker --broker kafka://127.0.0.1:1 -c kafka.timeout.ms=1500 \
    >"$dir/out" 2>"$dir/err"
rc=$?
took=$(( $(date +%s) - start ))
check "worker is not killed by a signal (exit $rc)" $([ $rc -lt 128 ]; echo $?)
check "worker exits 1 (exit $rc)" $([ $rc -eq 1 ]; echo $?)
check "it says which broker did not answer within which timeout" \
    $(grep -q "no broker of '127.0.0.1:1' answered within 1500 ms" "$dir/err"; echo $?)
check "it gives up after kafka.timeout.ms, not later (${took}s)" $([ $took -le 8 ]; echo $?)
[ $fail -eq 0 ] || { echo "--- stderr:"; tail -5 "$dir/err"; }

"$build/tools/rill-kafka-mock" --topic hello-topic:4 --topics-file "$dir/topics" \
    --port-file "$dir/bs" >/dev/null 2>&1 &
mpid=$!
for _ in $(seq 50); do [ -s "$dir/bs" ] && break; sleep 0.1; done
bs=$(head -1 "$dir/bs")
"$build/examples/hello" worker --broker "kafka://127.0.0.1:1,127.0.0.1:2,$bs" \
    -c kafka.create.file="$dir/topics" >"$dir/out2" 2>"$dir/err2" &
wpid=$!
for _ in $(seq 150); do grep -q 'Hello from Faust' "$dir/out2" && break; sleep 0.1; done
check "worker with two dead bootstrap brokers and one live one runs" \
    $(grep -q 'Hello from Faust' "$dir/out2"; echo $?)
kill -TERM $wpid 2>/dev/null
wait $wpid; rc=$?
check "and stops cleanly on SIGTERM (exit $rc)" $([ $rc -eq 0 ]; echo $?)
[ $fail -eq 0 ] || { echo "--- stderr:"; tail -5 "$dir/err2"; }
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
