#!/usr/bin/env bash
# rill-kafka-mock's faults and first-hour defaults (issue 13 item 2, issue 15 item 8):
# a worker needs no extra flags (the mock's topics side channel); --port makes a
# restarted mock listen where clients expect it, and a worker carries on across the
# restart; --control pushes request errors and takes the broker down and up.
set -u
build=${1:?build dir}
source "$(dirname "$0")/kafka_lib.sh"
mock="$build/tools/rill-kafka-mock"
hello="$build/examples/hello"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
command -v python3 >/dev/null || { echo "python3 not installed: skipped"; exit 77; }

# ---- no extra flags ---------------------------------------------------------------
"$mock" >"$dir/m1.out" 2>"$dir/m1.err" &
m1=$!; pids+=($m1)
for _ in $(seq 50); do [ -s "$dir/m1.out" ] && break; sleep 0.1; done
bs=$(head -1 "$dir/m1.out")
"$hello" worker --broker "kafka://$bs" >"$dir/h1.out" 2>"$dir/h1.err" &
h1=$!; pids+=($h1)
for _ in $(seq 300); do grep -q 'Hello from Faust' "$dir/h1.out" && break; sleep 0.1; done
check "hello worker --broker kafka://<mock> works with no extra flags" $(grep -q 'Hello from Faust' "$dir/h1.out"; echo $?)
check "the mock created the declared topic with its count" $(timeout 10 kcat -b "$bs" -L -t hello-topic 2>/dev/null | grep -q '8 partitions'; echo $?)
kill -TERM $h1; wait $h1 2>/dev/null
kill -TERM $m1; wait $m1 2>/dev/null
check "the side channel is removed when the mock exits" $([ ! -e "/tmp/rill-kafka-mock-${bs##*:}.topics" ]; echo $?)

# ---- --port and a restart --------------------------------------------------------
port=$(free_port)
rm -f "/tmp/rill-kafka-mock-$port.topics"
"$mock" --port "$port" >"$dir/m2.out" 2>"$dir/m2.err" &
m2=$!; pids+=($m2)
for _ in $(seq 50); do [ -s "$dir/m2.out" ] && break; sleep 0.1; done
check "--port: the mock listens on 127.0.0.1:$port" $([ "$(head -1 "$dir/m2.out")" = "127.0.0.1:$port" ]; echo $?)
"$mock" --port "$port" >"$dir/busy.out" 2>"$dir/busy.err"; rc=$?
check "a port in use is refused with a clear message" $([ $rc -eq 1 ] && grep -q "cannot listen on 127.0.0.1:$port" "$dir/busy.err"; echo $?)
"$hello" worker --broker "kafka://127.0.0.1:$port" >"$dir/h2.out" 2>"$dir/h2.err" &
h2=$!; pids+=($h2)
for _ in $(seq 300); do grep -q 'Hello from Faust' "$dir/h2.out" && break; sleep 0.1; done
check "a worker runs on the fixed port" $(grep -q 'Hello from Faust' "$dir/h2.out"; echo $?)
kill -9 $m2; wait $m2 2>/dev/null
"$mock" --port "$port" >"$dir/m3.out" 2>"$dir/m3.err" &
m3=$!; pids+=($m3)
for _ in $(seq 50); do [ -s "$dir/m3.out" ] && break; sleep 0.1; done
check "the restarted mock listens on the same port" $([ "$(head -1 "$dir/m3.out")" = "127.0.0.1:$port" ]; echo $?)
check "it recreated the topics a worker had declared" $(timeout 10 kcat -b "127.0.0.1:$port" -L -t hello-topic 2>/dev/null | grep -q '8 partitions'; echo $?)
before=$(grep -c 'Hello from Faust' "$dir/h2.out")
for _ in $(seq 600); do
    [ "$(grep -c 'Hello from Faust' "$dir/h2.out")" -gt $((before + 1)) ] && break
    kill -0 $h2 2>/dev/null || break
    sleep 0.1
done
check "the worker reconnected and carries on after the restart" $([ "$(grep -c 'Hello from Faust' "$dir/h2.out")" -gt $((before + 1)) ]; echo $?)
kill -TERM $h2; wait $h2 2>/dev/null
kill -TERM $m3; wait $m3 2>/dev/null
rm -f "/tmp/rill-kafka-mock-$port.topics"

# ---- --control ----------------------------------------------------------------------
: > "$dir/control"
"$mock" --topic t1:1 --control "$dir/control" >"$dir/m4.out" 2>"$dir/m4.err" &
m4=$!; pids+=($m4)
for _ in $(seq 50); do [ -s "$dir/m4.out" ] && break; sleep 0.1; done
bs=$(head -1 "$dir/m4.out")
echo "error Produce TOPIC_AUTHORIZATION_FAILED" >> "$dir/control"
for _ in $(seq 50); do grep -q 'control: error Produce' "$dir/m4.err" && break; sleep 0.1; done
echo "x" | timeout 20 kcat -b "$bs" -t t1 -P 2>"$dir/k1.err"
check "a pushed Produce error fails the next produce with it" $(grep -qi 'authorization' "$dir/k1.err"; echo $?)
echo "x" | timeout 20 kcat -b "$bs" -t t1 -P 2>"$dir/k2.err"; rc=$?
check "the one after it succeeds" $([ $rc -eq 0 ] && ! grep -qi 'authorization' "$dir/k2.err"; echo $?)
echo "down 1" >> "$dir/control"
for _ in $(seq 50); do grep -q 'control: down 1' "$dir/m4.err" && break; sleep 0.1; done
timeout 10 kcat -b "$bs" -L -m 2 >/dev/null 2>&1; rc=$?
check "down 1 takes the broker down" $([ $rc -ne 0 ]; echo $?)
echo "up 1" >> "$dir/control"
for _ in $(seq 50); do grep -q 'control: up 1' "$dir/m4.err" && break; sleep 0.1; done
check "up 1 brings it back" $(timeout 10 kcat -b "$bs" -L -m 5 2>/dev/null | grep -q 't1'; echo $?)
echo "rtt 1 20" >> "$dir/control"
echo "frobnicate 1" >> "$dir/control"
for _ in $(seq 50); do grep -q 'frobnicate' "$dir/m4.err" && break; sleep 0.1; done
check "rtt is applied" $(grep -q 'control: rtt 1 20' "$dir/m4.err"; echo $?)
check "an unknown command is refused by name" $(grep -q "unknown control command 'frobnicate'" "$dir/m4.err"; echo $?)
kill -TERM $m4; wait $m4 2>/dev/null

# ---- down all / up all: a broker restart that keeps the data ------------------------
: > "$dir/control2"
"$mock" --brokers 2 --topic t2:2 --control "$dir/control2" >"$dir/m5.out" 2>"$dir/m5.err" &
m5=$!; pids+=($m5)
for _ in $(seq 50); do [ -s "$dir/m5.out" ] && break; sleep 0.1; done
bs=$(head -1 "$dir/m5.out")
printf 'a\nb\nc\n' | timeout 20 kcat -b "$bs" -t t2 -P 2>/dev/null
echo "down all" >> "$dir/control2"
for _ in $(seq 50); do grep -q 'control: down all' "$dir/m5.err" && break; sleep 0.1; done
timeout 10 kcat -b "${bs%%,*}" -L -m 2 >/dev/null 2>&1; rc1=$?
timeout 10 kcat -b "${bs##*,}" -L -m 2 >/dev/null 2>&1; rc2=$?
check "down all takes every broker down" $([ $rc1 -ne 0 ] && [ $rc2 -ne 0 ]; echo $?)
echo "up all" >> "$dir/control2"
for _ in $(seq 50); do grep -q 'control: up all' "$dir/m5.err" && break; sleep 0.1; done
check "up all brings them back with the messages kept" $([ "$(timeout 20 kcat -b "$bs" -C -t t2 -e -q 2>/dev/null | wc -l)" -eq 3 ]; echo $?)
kill -TERM $m5; wait $m5 2>/dev/null

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
