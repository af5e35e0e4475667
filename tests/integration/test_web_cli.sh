#!/usr/bin/env bash
# The command line against a running worker (issue 16, item 7): `APP tables` lists
# the app's tables; `APP table NAME --web URL` prints every key of the worker's
# partitions (key TAB value, through GET /table/<name> pages), `APP table NAME KEY`
# one value (GET /table/<name>/<key>); errors for an unknown table, a worker that
# is not there and a missing --web.  Exits 77 without curl or python3.
set -u
build=${1:?build dir}
for _prog in curl python3; do
    command -v "$_prog" >/dev/null || { echo "$_prog not installed: skipped"; exit 77; }
done
tmpd=$(mktemp -d)
pid=""
pass=0; fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; pass=$((pass+1)); else echo "FAIL - $1"; fail=$((fail+1)); fi; }
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmpd"; }
trap cleanup EXIT
app="$build/examples/live_orders"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$app" worker --web-port "$port" > "$tmpd/worker.out" 2> "$tmpd/worker.err" &
pid=$!
for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ] && break
    sleep 0.1
done
sleep 1 # every one of the 12 customers has ordered (an order every 50 ms)
"$app" tables > "$tmpd/tables"
check "tables lists the table" $(grep -q '^totals' "$tmpd/tables"; echo $?)
web="http://127.0.0.1:$port"
"$app" table totals --web "$web" > "$tmpd/all" 2> "$tmpd/all.err"
rc=$?
check "table NAME exits 0" $rc
check "table NAME prints the 12 customers, one 'key<TAB>value' line each ($(wc -l < "$tmpd/all"))" \
    $([ "$(grep -cE '^c[0-9]+	[0-9]+$' "$tmpd/all")" = 12 ]; echo $?)
"$app" table totals c1 --web "$web" > "$tmpd/one" 2> "$tmpd/one.err"
rc=$?
check "table NAME KEY exits 0 ($(cat "$tmpd/one.err"))" $rc
want=$(curl -s "$web/table/totals/c1" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("value", ""))')
check "table NAME KEY prints the value the worker has ($(cat "$tmpd/one") vs $want)" \
    $([ -n "$want" ] && [ "$(cat "$tmpd/one")" -le "$want" ] && [ "$(cat "$tmpd/one")" -gt 0 ]; echo $?)
"$app" table nope --web "$web" > /dev/null 2> "$tmpd/nope.err"
rc=$?
check "an unknown table exits 1 naming it ($(cat "$tmpd/nope.err"))" \
    $([ $rc = 1 ] && grep -q "nope: HTTP 404: no such table" "$tmpd/nope.err"; echo $?)
"$app" table totals --web "http://127.0.0.1:1" > /dev/null 2> "$tmpd/gone.err"
rc=$?
check "no worker there: exit 1 ($(cat "$tmpd/gone.err"))" $([ $rc = 1 ]; echo $?)
"$app" table totals > /dev/null 2> "$tmpd/noweb.err"
rc=$?
check "without --web or web.port: exit 2 asking for --web" \
    $([ $rc = 2 ] && grep -q -- "--web URL" "$tmpd/noweb.err"; echo $?)
"$app" table totals --web "ftp://x" > /dev/null 2> "$tmpd/ftp.err"
check "a URL that is not http:// is refused" $(grep -q "expects http://" "$tmpd/ftp.err"; echo $?)
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
