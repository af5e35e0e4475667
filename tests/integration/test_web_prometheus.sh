#!/usr/bin/env bash
# /metrics as Prometheus sees it (issue 16, item 2): two key_counter workers on a
# real redis-server share 1,000 events; promtool accepts each worker's /metrics; a
# real Prometheus server (loopback, temp dir) scrapes both, and the sum of
# rill_events_processed_total read back through its HTTP API is 1,000; the
# commit, send, delayed-forward and table-operation series are there.  Also
# prints how long one scrape of a 64-partition worker takes (not asserted).
set -u
build=${1:?build dir}
for _prog in prometheus promtool; do
    command -v "$_prog" >/dev/null || { echo "$_prog not installed: skipped"; exit 77; }
done
. "$(dirname "$0")/redis_lib.sh" # skips without redis-server or curl; tmpd, check()
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    kill -9 "$redis_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmpd"
}
trap cleanup EXIT
redis_start "$tmpd" || exit 1
url="redis://127.0.0.1:$redis_port"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
w1=$(free_port); w2=$(free_port); pp=$(free_port); w3=$(free_port)
for p in $w1 $w2; do
    "$build/examples/key_counter" worker --broker "$url" --web-port "$p" \
        -c commit.interval.ms=100 > "$tmpd/w$p.out" 2> "$tmpd/w$p.err" &
    pids+=($!)
done
ready() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/ready"; }
for _ in $(seq 100); do [ "$(ready $w1)" = 200 ] && [ "$(ready $w2)" = 200 ] && break; sleep 0.1; done
check "both workers are ready" $([ "$(ready $w1)" = 200 ] && [ "$(ready $w2)" = 200 ]; echo $?)
# ready comes before the group has spread the partitions: wait until both own some
assigned() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^rill_partitions_assigned\{.*topic="events"/ {s += $2} END {print s + 0}'; }
for _ in $(seq 150); do
    [ "$(assigned $w1)" -gt 0 ] && [ "$(assigned $w2)" -gt 0 ] &&
        [ $(( $(assigned $w1) + $(assigned $w2) )) -eq 8 ] && break
    sleep 0.1
done
check "the group spread the 8 partitions over both ($(assigned $w1) + $(assigned $w2))" \
    $([ "$(assigned $w1)" -gt 0 ] && [ "$(assigned $w2)" -gt 0 ]; echo $?)
xadd_keyed "$build" events 8 0 999
processed() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^rill_events_processed_total\{.*agent="count"/ {s += $2} END {print s + 0}'; }
for _ in $(seq 100); do [ $(( $(processed $w1) + $(processed $w2) )) -ge 1000 ] && break; sleep 0.1; done
check "the workers processed 1,000 events between them" \
    $([ $(( $(processed $w1) + $(processed $w2) )) -eq 1000 ]; echo $?)
check "each worker processed some" $([ "$(processed $w1)" -gt 0 ] && [ "$(processed $w2)" -gt 0 ]; echo $?)
for p in $w1 $w2; do
    curl -s "http://127.0.0.1:$p/metrics" > "$tmpd/m$p"
    promtool check metrics < "$tmpd/m$p" > "$tmpd/promtool$p" 2>&1
    check "promtool check metrics accepts worker $p's /metrics" $?
done
# the commit, send, delayed-forward and table-operation series, on a real scrape
for m in rill_commits_total rill_commit_latency_seconds rill_send_errors_total \
    rill_send_latency_seconds rill_forwards_delayed_pending \
    rill_forwards_delayed_fired_total rill_table_operations_total; do
    grep -q "^# TYPE $m " "$tmpd/m$w1"
    check "worker $w1's /metrics has $m" $?
done
# the scrape above may come before the first commit (every 100 ms) of what the
# worker processed last: wait for one, 5 s at most
commits() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^rill_commits_total\{.*result="ok"/ {s += $2} END {print s + 0}'; }
for _ in $(seq 50); do [ "$(commits $w1)" -ge 1 ] && break; sleep 0.1; done
ok=$(commits $w1)
check "worker $w1 committed (rill_commits_total{result=\"ok\"} = ${ok:-none})" \
    $([ "${ok:-0}" -ge 1 ]; echo $?)

cat > "$tmpd/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: rill
    static_configs:
      - targets: ['127.0.0.1:$w1', '127.0.0.1:$w2']
EOF
prometheus --config.file="$tmpd/prometheus.yml" --storage.tsdb.path="$tmpd/tsdb" \
    --web.listen-address="127.0.0.1:$pp" > "$tmpd/prom.log" 2>&1 &
pids+=($!)
query() { curl -s "http://127.0.0.1:$pp/api/v1/query" --data-urlencode "query=$1"; }
total=""
for _ in $(seq 200); do
    total=$(query 'sum(rill_events_processed_total{app="key-counter",agent="count",topic="events"})' |
        grep -o '"value":\[[0-9.]*,"[0-9]*"' | grep -o '"[0-9]*"$' | tr -d '"')
    [ "$total" = 1000 ] && break
    sleep 0.2
done
check "Prometheus scraped both workers: sum(rill_events_processed_total) = 1000 (got ${total:-nothing})" \
    $([ "$total" = 1000 ]; echo $?)
up=""
for _ in $(seq 50); do # the second target's first scrape may come a little later
    up=$(query 'sum(up{job="rill"})' | grep -o '"[0-9]*"\]' | tr -d '"]')
    [ "$up" = 2 ] && break
    sleep 0.2
done
check "both targets are up for Prometheus" $([ "$up" = 2 ]; echo $?)

# One worker owning 64 partitions: the time of one /metrics scrape, printed.
"$build/examples/key_counter" worker --broker "memory://scrape" --web-port "$w3" \
    -c topic.partitions=64 > "$tmpd/w3.out" 2> "$tmpd/w3.err" &
pids+=($!)
for _ in $(seq 100); do [ "$(ready $w3)" = 200 ] && break; sleep 0.1; done
curl -s -o /dev/null "http://127.0.0.1:$w3/metrics"
best=""
for _ in $(seq 20); do
    t=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$w3/metrics")
    best=$(echo "$t ${best:-$t}" | awk '{print ($1 < $2) ? $1 : $2}')
done
echo "a /metrics scrape of a 64-partition worker: best of 20 ${best}s (curl's time_total)"
lines=$(curl -s "http://127.0.0.1:$w3/metrics" | grep -c '^rill_')
echo "  ($lines series; no events, so no committed offsets among them)"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
