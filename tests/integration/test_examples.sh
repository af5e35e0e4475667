#!/usr/bin/env bash
# Every example of the seed runs as a worker on memory:// and prints what it should;
# each exits 0 when stopped with SIGTERM.
set -u
build=${1:?build dir}
pass=0; fail=0
run() { # name seconds regex [env...]
    local name=$1 secs=$2 re=$3; shift 3
    local out err
    out=$(mktemp); err=$(mktemp)
    env "$@" "$build/examples/$name" worker >"$out" 2>"$err" &
    local pid=$!
    sleep "$secs"
    kill -TERM $pid 2>/dev/null
    wait $pid; local rc=$?
    if [ $rc -eq 0 ] && grep -Eq "$re" "$out"; then
        echo "ok - $name"; pass=$((pass+1))
    else
        echo "FAIL - $name (exit $rc), wanted /$re/; stdout:"; head -5 "$out"; echo "stderr:"; tail -5 "$err"
        fail=$((fail+1))
    fi
    rm -f "$out" "$err"
}
run iterate_orders 2 '^product-[0-9]'
run async_orders 2 'order order-1: product info \{"uri":"/api/order-1/"'
run distribute_iterable 1.5 '^8$'
run take_batches 2 '^batch of 100 orders'
run orders_by_country 3 '^Orders for NO: [0-9]+'
run orders_by_country_window 2 'orders in the current 2-day window'
run word_count 2.5 '^the: 2$'
run forward_delayed 5 "received 'task-1' on other_topic" FORWARD_DELAY_S=1
run custom_serializer 2 'on the wire: "sensor-1,1[0-9]"'
run window_final 3 '^window \[[0-9]+, [0-9]+\) closed: /(home|cart) viewed [0-9]+ times'
run window_sessions 3 '^visit of user-1: 3 clicks in [0-9]+ ms'
run window_sliding 3 '^alert: card-1 made 3 payments within 1000 ms'
run table_ttl 2.5 '^users remembered: 1, forgotten: 1'
run stream_timer 2.5 '^partition [0-9]+: sensor-1 sent 10 readings in the 10 s of stream time before [0-9]+'
run join_profiles 2.5 '^profile user-1: Ann speaks Norwegian'
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
