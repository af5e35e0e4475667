#!/usr/bin/env bash
# Interop with Redis tools: what rill produces is readable with redis-cli XRANGE as
# the documented fields (key, value, headers as JSON), and an entry another program
# XADDs in that format (including headers) is consumed by a rill worker.
set -u
build=${1:?build dir}
. "$(dirname "$0")/redis_lib.sh" # skips without redis-server or curl; tmpd, check()
wpid=
cleanup() { [ -n "$wpid" ] && kill -9 "$wpid" 2>/dev/null; kill -9 "$redis_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmpd"; }
trap cleanup EXIT
redis_start "$tmpd" || exit 1
url="redis://127.0.0.1:$redis_port"
kc="$build/examples/key_counter"

"$kc" send events --key user-1 hello --broker "$url" > "$tmpd/sent" 2>&1
check "rill sends an event to redis://" $?
p=$("$build/tools/rill-partition" 8 user-1 | cut -d' ' -f2)
redis-cli -p "$redis_port" XRANGE "events:$p" - + > "$tmpd/xrange"
check "redis-cli XRANGE events:$p shows the entry's key field" $(grep -A1 -x key "$tmpd/xrange" | grep -qx user-1; echo $?)
check "... and its value field" $(grep -A1 -x value "$tmpd/xrange" | grep -qx hello; echo $?)
check "rill's report names the same stream entry" $(grep -q "sent to events\[$p\]" "$tmpd/sent"; echo $?)
check "the topic's partition count is in rill:topic:events" \
    $([ "$(redis-cli -p "$redis_port" HGET rill:topic:events partitions)" = 8 ]; echo $?)

port=$((20000 + RANDOM % 9000))
"$kc" worker --broker "$url" --web-port "$port" -c redis.heartbeat.interval.ms=200 \
    > "$tmpd/w.out" 2> "$tmpd/w.err" &
wpid=$!
p2=$("$build/tools/rill-partition" 8 from-outside | cut -d' ' -f2)
redis-cli -p "$redis_port" XADD "events:$p2" '*' key from-outside value v1 headers '{"trace":"abc"}' >/dev/null
redis-cli -p "$redis_port" XADD "events:$p2" '*' key from-outside value v2 >/dev/null
for _ in $(seq 100); do
    curl -s "http://127.0.0.1:$port/tables/counts" | grep -q '"from-outside": 2' && break
    sleep 0.1
done
curl -s "http://127.0.0.1:$port/tables/counts" > "$tmpd/counts"
check "entries XADDed by redis-cli are consumed: from-outside counted twice" $(grep -q '"from-outside": 2' "$tmpd/counts"; echo $?)
check "rill's own earlier event is counted too" $(grep -q '"user-1": 1' "$tmpd/counts"; echo $?)
for _ in $(seq 50); do
    [ "$(redis-cli -p "$redis_port" XPENDING "events:$p2" key-counter | head -1)" = 0 ] && break
    sleep 0.1
done
check "consumed entries are XACKed (nothing pending in the group)" \
    $([ "$(redis-cli -p "$redis_port" XPENDING "events:$p2" key-counter | head -1)" = 0 ]; echo $?)
# the commit comes at the next commit.interval.ms (1 s), maybe after the checks above
for _ in $(seq 50); do
    redis-cli -p "$redis_port" HGET rill:key-counter:committed "events:$p2" | grep -Eq '^[0-9]+-[0-9]+$' && break
    sleep 0.1
done
check "the committed ID is kept in rill:key-counter:committed" \
    $(redis-cli -p "$redis_port" HGET rill:key-counter:committed "events:$p2" | grep -Eq '^[0-9]+-[0-9]+$'; echo $?)
kill -TERM "$wpid"; wait "$wpid"; r=$?; wpid=
check "the worker stops cleanly" $([ $r -eq 0 ]; echo $?)
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
