#!/usr/bin/env bash
# The chaos run with worker processes (scripts/chaos.sh --transport redis|kafka):
# key_counter workers on a real redis-server with AOF (or on rill-kafka-mock on a
# fixed port), batches of events with a known tally (k0..k999 once per batch), and
# faults chosen by the seed between batches: SIGKILL and restart of a worker,
# SIGSTOP past the session then SIGCONT (a zombie), scale out, scale in, and for
# Redis a restart of the server on the same port (AOF), for Kafka injected request
# errors (OffsetCommit REBALANCE_IN_PROGRESS, Produce NOT_LEADER_FOR_PARTITION,
# Fetch errors, disconnects), the broker down for a second, a broker restart (every
# broker down for 2-6 s, its data kept), and added RTT.  At the
# end a fresh worker owns every partition, recovers the table from the changelog
# and consumes what is left: every key must reach at least its true count
# (at-least-once); the over-count is reported.  Every worker meant to run must be
# alive, or have died with a message.
# $CHAOS_ONLY (words: kill stop out in broker restart) restricts the schedule to
# those faults, to measure what each costs ("restart" alone: of the broker faults,
# restarts only); "none" runs the producer only.
# usage: chaos_procs.sh redis|kafka BUILD_DIR SECONDS SEED
set -u
transport=${1:?redis or kafka}
build=${2:?build dir}
seconds=${3:-60}
seed=${4:-$RANDOM}
RANDOM=$seed
tmpd=$(mktemp -d)
redis_pid=
if [ "$transport" = redis ]; then
    rm -rf "$tmpd"
    . "$(dirname "$0")/../integration/redis_lib.sh" # exits 77 without redis-server/curl
else
    for p in kcat curl python3; do command -v $p >/dev/null || { echo "$p not installed: skipped"; exit 77; }; done
fi
echo "chaos: $transport, seed $seed, $seconds s"
declare -A port_of
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
    [ -n "$redis_pid" ] && kill -9 "$redis_pid" 2>/dev/null
    [ -n "${mock_pid:-}" ] && kill -9 "$mock_pid" 2>/dev/null
    [ -n "${mock_port:-}" ] && rm -f "/tmp/rill-kafka-mock-$mock_port.topics"
    [ -n "${KEEP:-}" ] && echo "kept $tmpd" || rm -rf "$tmpd"
}
trap cleanup EXIT

# ---- the broker ---------------------------------------------------------------------
if [ "$transport" = redis ]; then
    aof=(--appendonly yes --appendfsync always)
    redis_start "$tmpd" "${aof[@]}" || exit 1
    url="redis://127.0.0.1:$redis_port"
    session=(-c redis.heartbeat.interval.ms=200 -c redis.session.timeout.ms=2000)
    session_s=2
else
    mock_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    rm -f "/tmp/rill-kafka-mock-$mock_port.topics"
    : > "$tmpd/control"
    "$build/tools/rill-kafka-mock" --port "$mock_port" --control "$tmpd/control" ${CHAOS_MOCK_ARGS:-} >"$tmpd/mock.out" 2>"$tmpd/mock.err" &
    mock_pid=$!
    disown "$mock_pid"
    for _ in $(seq 50); do [ -s "$tmpd/mock.out" ] && break; sleep 0.1; done
    bs="127.0.0.1:$mock_port"
    url="kafka://$bs"
    session=(-c kafka.session.timeout.ms=3000 -c kafka.heartbeat.interval.ms=300)
    session_s=3
    control() { echo "$*" >> "$tmpd/control"; }
fi

# ---- workers ------------------------------------------------------------------------
webbase=$((20000 + RANDOM % 9000))
nstarted=0
start_worker() {
    local port=$((webbase + nstarted))
    "$build/examples/key_counter" worker --broker "$url" --web-port "$port" \
        -c commit.interval.ms=200 "${session[@]}" \
        >"$tmpd/w$nstarted.out" 2>"$tmpd/w$nstarted.err" &
    local pid=$!
    disown "$pid" # no job reports for the kills below
    pids+=($pid)
    port_of[$pid]=$port
    echo "$pid $nstarted" >> "$tmpd/workers"
    nstarted=$((nstarted + 1))
}
ready() { curl -s "http://127.0.0.1:$1/" | grep -q '"ready":true,"recovering":false'; }
live=() # pids of workers meant to be running
start_live() { start_worker; live+=(${pids[-1]}); }
drop_live() { local keep=(); for p in "${live[@]}"; do [ "$p" != "$1" ] && keep+=($p); done; live=("${keep[@]}"); }
gone() { for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
for _ in 1 2 3; do start_live; done
for _ in $(seq 300); do ready "${port_of[${live[0]}]}" && break; sleep 0.1; done

# ---- events ---------------------------------------------------------------------------
batches=0
produce() { # one batch: k0..k999 once each
    local from=$((batches * 1000))
    if [ "$transport" = redis ]; then
        xadd_keyed "$build" events 8 "$from" $((from + 999))
    else
        seq "$from" $((from + 999)) | awk '{print "k" ($1 % 1000) ":x"}' > "$tmpd/batch"
        # kcat gives up at once when it finds every broker down (the "down 1"
        # fault, or the moment before the mock reads "up 1"): a producer sends
        # its batch again, as an application would (a batch sent twice in part
        # is over-counted, never lost, and the checker allows over-counts).
        local try=0
        until timeout 60 kcat -b "$bs" -X partitioner=murmur2_random -t events -P -K: \
                -l "$tmpd/batch" 2>>"$tmpd/produce.err"; do
            try=$((try + 1))
            [ $try -lt 5 ] || { echo "chaos: batch $batches not produced: $(grep -v "^%7" "$tmpd/produce.err" | tail -2 | tr "\n" " ")"; exit 1; }
            echo "chaos: batch $batches: kcat failed (broker down?), sending it again"
            sleep 1
        done
    fi
    batches=$((batches + 1))
}

# ---- the schedule -------------------------------------------------------------------
faults=0
end=$(( $(date +%s) + seconds ))
while [ "$(date +%s)" -lt "$end" ]; do
    produce; produce
    sleep 0.$((RANDOM % 5 + 1))
    n=${#live[@]}
    victim=${live[$((RANDOM % n))]}
    kind=$((RANDOM % 7))
    if [ -n "${CHAOS_ONLY:-}" ]; then
        names=(kill stop out in broker broker broker)
        only=" $CHAOS_ONLY "
        [ "$transport" = kafka ] && only=${only/ restart / broker }
        case "$only" in *" ${names[$kind]} "*) ;; *) continue ;; esac
    fi
    case $kind in
    0) echo "chaos: SIGKILL worker $victim, start another"
       kill -9 "$victim"; drop_live "$victim"; start_live ;;
    1) echo "chaos: SIGSTOP worker $victim past the session, then SIGCONT"
       kill -STOP "$victim"; produce; sleep $((session_s + 1)); kill -CONT "$victim" ;;
    2) [ "$n" -lt 5 ] || continue
       echo "chaos: scale out"; start_live ;;
    3) [ "$n" -gt 1 ] || continue
       echo "chaos: scale in: SIGTERM worker $victim"
       kill -TERM "$victim"; drop_live "$victim"; gone "$victim" ;;
    4|5|6)
       if [ "$transport" = redis ]; then
           [ $((RANDOM % 3)) -eq 0 ] || continue
           echo "chaos: restart redis-server (AOF) on port $redis_port"
           redis_restart "$tmpd" "${aof[@]}" || { echo "chaos: redis did not come back"; exit 1; }
       else
           sub=$((RANDOM % 7))
           case " ${CHAOS_ONLY:-} " in *" restart "*) case " $CHAOS_ONLY " in *" broker "*) ;; *) sub=6 ;; esac ;; esac
           case $sub in
           0) f="error OffsetCommit REBALANCE_IN_PROGRESS REBALANCE_IN_PROGRESS" ;;
           1) f="error Produce NOT_LEADER_FOR_PARTITION NOT_LEADER_FOR_PARTITION" ;;
           2) f="error Fetch NOT_LEADER_FOR_PARTITION UNKNOWN_TOPIC_OR_PART" ;;
           3) f="error Heartbeat _TRANSPORT" ;;
           4) f="rtt 1 $((RANDOM % 300))" ;;
           5) f="down 1" ;;
           6) f="down all" ;;
           esac
           if [ "$f" = "down all" ]; then
               # A broker restart: every broker down (connections dropped, requests
               # refused) and up again with its data, for longer than "down 1" and,
               # from 3 s on, past the session (every member expires).  Not a restart
               # of the rill-kafka-mock process: that would lose every topic's data,
               # which a real broker keeps in its log on disk (docs/testing.md).
               secs=$((RANDOM % 5 + 2))
               echo "chaos: mock: broker restart: every broker down for $secs s, then up"
               control "down all"; sleep "$secs"; control "up all"
               faults=$((faults + 1)); continue
           fi
           echo "chaos: mock: $f"; control "$f"
           if [ "$f" = "down 1" ]; then sleep 1; control "up 1"; fi
           case $f in rtt*) sleep 1; control "rtt 1 0" ;; esac
       fi ;;
    esac
    faults=$((faults + 1))
done
true_count=$batches
echo "chaos: $batches batches sent ($((batches * 1000)) events), $faults faults"
if [ "$transport" = kafka ] && ! kill -0 "$mock_pid" 2>/dev/null; then
    echo "chaos: rill-kafka-mock died: $(grep -v '^%7' "$tmpd/mock.err" | tail -1)"
    echo "chaos: seed $seed, faults $faults, keys 0, lost $((batches * 1000)), over-count 0 %, FAIL"
    exit 1
fi

# every worker meant to run is alive; every other one ended on purpose or says why
unclear=0
for p in "${live[@]}"; do
    kill -0 "$p" 2>/dev/null && continue
    i=$(awk -v p="$p" '$1 == p {print $2}' "$tmpd/workers")
    last=$(grep -E 'ERROR|FATAL|error' "$tmpd/w$i.err" | tail -1)
    echo "chaos: worker $p died: ${last:-no message}"
    [ -n "$last" ] || unclear=$((unclear + 1))
done
sleep 2 # the last commits land
for p in "${live[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${live[@]}"; do gone "$p"; done

# ---- the check -----------------------------------------------------------------------
start_worker
cport=${port_of[${pids[-1]}]}
counts() { curl -s "http://127.0.0.1:$cport/tables/counts" | grep -o '"k[0-9]*": [0-9]*' | tr -d '":' | sort -u -k1,1 > "$tmpd/counts"; }
for _ in $(seq 240); do
    if ready "$cport"; then
        counts
        [ "$(wc -l < "$tmpd/counts")" -eq 1000 ] && awk -v w="$true_count" '$2 < w {bad=1} END {exit bad}' "$tmpd/counts" && break
    fi
    sleep 0.25
done
counts
# What the events topic holds per key: more than the tally when the producer
# retried a write whose answer was lost (the broker down, a disconnect).
input_over=0
if [ "$transport" = kafka ]; then
    timeout 60 kcat -b "$bs" -C -t events -e -q -f '%k\n' 2>/dev/null | sort | uniq -c |
        awk '{print $2, $1}' > "$tmpd/input"
    input_over=$(awk -v want="$true_count" '{s += $2 - want} END {printf "%.2f", want ? s * 100 / (want * 1000) : 0}' "$tmpd/input")
fi
read -r keys lost over < <(awk -v want="$true_count" '
    { n++; sum += $2; if ($2 < want) lost += want - $2 }
    END { printf "%d %d %.2f\n", n, lost, want ? (sum - want * 1000) * 100 / (want * 1000) : 0 }' "$tmpd/counts")
lost=$((lost + (1000 - keys) * true_count))
verdict=PASS
[ "$lost" -eq 0 ] && [ "$keys" -eq 1000 ] && [ "$unclear" -eq 0 ] || verdict=FAIL
[ "$transport" = kafka ] && echo "chaos: of the over-count, $input_over % are duplicates in the events topic (producer retries), the rest replays from the last commit"
echo "chaos: seed $seed, faults $faults, keys $keys, lost $lost, over-count $over %, $verdict"
[ "$verdict" = PASS ]
