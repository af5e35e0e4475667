# Shared by the Kafka shell tests that run worker processes on rill-kafka-mock.
# Sourcing it (with $build set) skips the test (exit 77) without kcat or curl, makes
# $dir (kept with KEEP=1), defines check NAME STATUS (counting into $pass and
# $fail), kills every pid in $pids at exit (resuming stopped ones first), and
# mock_start TOPIC:PARTITIONS... starts rill-kafka-mock with the bootstrap in $bs.
for _prog in kcat curl; do
    command -v "$_prog" >/dev/null || { echo "$_prog not installed: skipped"; exit 77; }
done
dir=$(mktemp -d)
pass=0; fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; pass=$((pass+1)); else echo "FAIL - $1"; fail=$((fail+1)); fi; }
pids=()
echo "dir: $dir"
cleanup() { for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done; rm -rf "$dir"; }
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT
mock_start() { # TOPIC:PARTITIONS...
    local args=()
    for t in "$@"; do args+=(--topic "$t"); done
    "$build/tools/rill-kafka-mock" "${args[@]}" --topics-file "$dir/topics" --port-file "$dir/bs" >/dev/null 2>"$dir/mock.err" &
    pids+=($!)
    for _ in $(seq 50); do [ -s "$dir/bs" ] && break; sleep 0.1; done
    bs=$(head -1 "$dir/bs")
}
# ready PORT: the worker's web page says it is ready and not recovering
ready() { curl -s "http://127.0.0.1:$1/" | grep -q '"ready":true,"recovering":false'; }
# gen FROM TO: lines "k<i % 1000>:x" for kcat -K:
gen() { seq "$1" "$2" | awk '{print "k" ($1 % 1000) ":x"}'; }
