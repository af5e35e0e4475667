# Shared by the test_redis_*.sh tests: a redis-server on a free loopback port in a
# temp dir, and XADD of rill-format entries ("key", "value" fields) by redis-cli.
# Sourcing it skips the test (exit 77) without redis-server or curl, makes $tmpd and
# defines check NAME STATUS, which counts into $pass and $fail.
for _prog in redis-server curl; do
    command -v "$_prog" >/dev/null || { echo "$_prog not installed: skipped"; exit 77; }
done
tmpd=$(mktemp -d)
pass=0; fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; pass=$((pass+1)); else echo "FAIL - $1"; fail=$((fail+1)); fi; }
redis_start() { # DIR [extra redis-server args...]: sets redis_port, redis_pid
    local d=$1; shift
    for _ in 1 2 3 4 5; do
        redis_port=$((30000 + RANDOM % 20000))
        redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$d" --save "" \
            --daemonize no --logfile "$d/redis.log" "$@" &
        redis_pid=$!
        for _ in $(seq 50); do
            [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && return 0
            kill -0 "$redis_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$redis_pid" 2>/dev/null
    done
    echo "redis-server did not start"; return 1
}
# redis_restart DIR [args]: same port and dir (with AOF on, the data survives)
redis_restart() {
    local d=$1; shift
    kill -TERM "$redis_pid"; wait "$redis_pid" 2>/dev/null
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$d" --save "" \
        --daemonize no --logfile "$d/redis.log" "$@" &
    redis_pid=$!
    # PONG, not just an answer: while it loads its AOF it answers LOADING (and refuses
    # the XADDs a test would send next)
    for _ in $(seq 100); do [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.1; done
    return 1
}
# xadd_keyed BUILD TOPIC PARTITIONS FROM TO: XADD key=k(i%1000) value=x for i in
# [FROM, TO] to the stream rill's partitioner picks, pipelined (redis-cli --pipe)
xadd_keyed() {
    local build=$1 topic=$2 parts=$3 from=$4 to=$5
    seq 0 999 | awk '{print "k" $1}' | "$build/tools/rill-partition" "$parts" > "$tmpd/parts.$parts"
    seq "$from" "$to" | awk -v t="$topic" -v pf="$tmpd/parts.$parts" '
        function b(s) { return "$" length(s) "\r\n" s "\r\n" }
        BEGIN { while ((getline l < pf) > 0) { split(l, a, " "); p[a[1]] = a[2] } }
        { k = "k" ($1 % 1000); printf "*7\r\n%s%s%s%s%s%s%s", b("XADD"), b(t ":" p[k]), b("*"), b("key"), b(k), b("value"), b("x") }' |
        redis-cli -p "$redis_port" --pipe >/dev/null
}
