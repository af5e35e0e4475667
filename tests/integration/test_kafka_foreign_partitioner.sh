#!/usr/bin/env bash
# Keys placed by a producer that does not use murmur2: kcat's default partitioner
# (librdkafka's consistent_random, like most non-Java producers).  One key_counter
# worker on rill-kafka-mock counts every one of 50,000 keyed events (a key is
# stored in the table partition of its event, as Faust and Kafka Streams do) and
# warns once per partition, not once per event; one orders_by_country worker
# counts every unkeyed order under its country (orders_by_country[country] += 1).
set -u
export LC_ALL=C
build=${1:?build dir}
. "$(dirname "$0")/kafka_lib.sh"
mock_start events:8 orders:8
port=$((20000 + RANDOM % 12000)) # below the ephemeral ports (32768-)
common=(-c kafka.create.file="$dir/topics" -c commit.interval.ms=200
        -c kafka.session.timeout.ms=3000 -c kafka.heartbeat.interval.ms=300)
"$build/examples/key_counter" worker --broker "kafka://$bs" --web-port "$port" "${common[@]}" \
    >"$dir/kc.out" 2>"$dir/kc.err" &
pids+=($!)
"$build/examples/orders_by_country" worker --broker "kafka://$bs" --web-port $((port + 1)) \
    "${common[@]}" >"$dir/obc.out" 2>"$dir/obc.err" &
pids+=($!)
for _ in $(seq 200); do ready "$port" && ready $((port + 1)) && break; sleep 0.1; done

# 50,000 events over 1000 keys, and 5,000 orders without a key, by kcat's default
# partitioner (no -X partitioner=murmur2_random)
seq 0 49999 | awk '{print "k" ($1 % 1000) ":x"}' > "$dir/events"
timeout 60 kcat -b "$bs" -t events -P -K: -l "$dir/events" 2>/dev/null
check "kcat produced 50,000 keyed events with its default partitioner" $?
seq 1 5000 | awk '{c = ($1 % 3 == 0) ? "NO" : ($1 % 3 == 1) ? "SE" : "DK";
                   printf "{\"id\": \"o%d\", \"country_origin\": \"%s\"}\n", $1, c}' > "$dir/orders"
timeout 60 kcat -b "$bs" -t orders -P -l "$dir/orders" 2>/dev/null
check "kcat produced 5,000 unkeyed orders" $?

# where kcat put each key, and which partitions got a key murmur2 puts elsewhere
timeout 60 kcat -b "$bs" -t events -C -e -q -f '%k %p\n' 2>/dev/null | sort -u > "$dir/placed"
cut -d' ' -f1 "$dir/placed" | "$build/tools/rill-partition" 8 | sort -u > "$dir/murmur2"
join "$dir/placed" "$dir/murmur2" | awk '$2 != $3 {print $2}' | sort -u > "$dir/foreign_parts"
foreign_keys=$(join "$dir/placed" "$dir/murmur2" | awk '$2 != $3' | wc -l)
echo "keys kcat placed off their murmur2 partition: $foreign_keys of $(wc -l < "$dir/placed")"
check "kcat placed some keys off their murmur2 partition" $([ "$foreign_keys" -gt 0 ]; echo $?)

sum_of() { # table at port: the sum of its counts
    curl -s "http://127.0.0.1:$1/tables/$2" | grep -o '": [0-9]*' | awk -F': ' '{s+=$2} END {print s+0}'
}
for _ in $(seq 120); do
    sum=$(sum_of "$port" counts)
    [ "$sum" -ge 50000 ] && break
    sleep 0.5
done
sleep 1 # anything past 50,000 would show now
sum=$(sum_of "$port" counts)
echo "counts: sum=$sum"
check "every one of the 50,000 events is counted, once" $([ "$sum" -eq 50000 ]; echo $?)

warned=$(grep 'table.key_partition_check' "$dir/kc.err" | grep -o 'from events\[[0-9]*\]' \
    | grep -o '[0-9]*' | sort -n)
n_warn=$(grep -c 'table.key_partition_check' "$dir/kc.err")
echo "warnings: $n_warn, for partitions: $(echo $warned)"
check "one warning per partition that got a foreign key (not one per event)" \
    $([ "$warned" = "$(sort -n "$dir/foreign_parts")" ] && [ "$n_warn" -eq "$(wc -l < "$dir/foreign_parts")" ]; echo $?)
check "the warning names the fix" \
    $(grep 'table.key_partition_check' "$dir/kc.err" | head -1 | grep -q 'murmur2_random.*rill_stream_group_by'; echo $?)

for _ in $(seq 120); do
    osum=$(sum_of $((port + 1)) orders_by_country)
    [ "$osum" -ge 5000 ] && break
    sleep 0.5
done
echo "orders_by_country: sum=$osum (5,000 from kcat, a few from its own feed timer)"
check "orders_by_country counts every unkeyed order" $([ "$osum" -ge 5000 ]; echo $?)
check "orders_by_country skipped no order" $(! grep -q 'handler failed' "$dir/obc.err"; echo $?)

for p in "${pids[1]}" "${pids[2]}"; do kill -TERM "$p"; done
wait "${pids[1]}"; r1=$?; wait "${pids[2]}"; r2=$?
check "the workers stop cleanly" $([ $r1 -eq 0 ] && [ $r2 -eq 0 ]; echo $?)
if [ $fail -ne 0 ]; then
    echo "--- key_counter stderr (tail)"; tail -20 "$dir/kc.err"
    echo "--- orders_by_country stderr (tail)"; tail -20 "$dir/obc.err"
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
