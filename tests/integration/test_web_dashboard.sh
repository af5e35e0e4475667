#!/usr/bin/env bash
# The live dashboard in a real browser (issue 16, items 5 and 6): examples/live_orders
# runs on memory:// with its web server; headless Chromium, driven through
# chromedriver's WebDriver API, loads / and waits until the dashboard is live over
# /events and its processed count moves, finds the agent, the table, the partitions
# and a recent warning on the page, and saves a screenshot (BUILD/artifacts/
# dashboard.png, the README's docs/img/dashboard.png); then loads the example's own
# page /live and waits until orders pushed by the agent arrive.  Exits 77 without
# chromium, chromedriver, python3 or curl.
set -u
build=${1:?build dir}
for _prog in chromium chromedriver python3 curl; do
    command -v "$_prog" >/dev/null || { echo "$_prog not installed: skipped"; exit 77; }
done
tmpd=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmpd"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
"$build/examples/live_orders" worker --web-port "$port" -c web.events.interval.ms=250 \
    -c web.lag.interval.ms=500 > "$tmpd/worker.out" 2> "$tmpd/worker.err" &
pid=$!
for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ] && break
    sleep 0.1
done
mkdir -p "$build/artifacts"
python3 - "$port" "$(free_port)" "$build/artifacts/dashboard.png" <<'PY'
import base64, json, subprocess, sys, time, urllib.request

port, dport, shot = sys.argv[1], sys.argv[2], sys.argv[3]
failed = 0
def check(name, ok):
    global failed
    print(("ok - " if ok else "FAIL - ") + name, flush=True)
    failed += not ok

drv = subprocess.Popen(["chromedriver", "--port=" + dport],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
base = "http://127.0.0.1:%s" % dport
def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["value"]
try:
    for _ in range(100):
        try:
            call("GET", "/status"); break
        except Exception:
            time.sleep(0.1)
    caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1400,1000"]}}}}
    sid = call("POST", "/session", caps)["sessionId"]
    s = "/session/" + sid
    def js(code):
        return call("POST", s + "/execute/sync", {"script": code, "args": []})
    def text(id):
        return js("var e = document.getElementById('%s'); return e ? e.textContent : null;" % id)
    def wait(what, fn, secs=20):
        t = time.time() + secs
        while time.time() < t:
            v = fn()
            if v: return v
            time.sleep(0.2)
        return None
    def count(id):
        t = text(id)
        return int(t.replace(",", "")) if t and t.replace(",", "").isdigit() else -1

    call("POST", s + "/url", {"url": "http://127.0.0.1:%s/" % port})
    check("the dashboard connects to /events (live)",
          wait("live", lambda: text("conn") == "live") is not None)
    n1 = count("processed-total")
    check("the dashboard shows a processed count (%d)" % n1, n1 >= 0)
    n2 = wait("moves", lambda: count("processed-total") > n1 and count("processed-total"))
    check("the processed count moves without a reload (%d -> %s)" % (n1, n2), bool(n2))
    check("the agent is listed", "total" in (text("agents") or ""))
    check("the table is listed with its keys", "totals" in (text("tables") or ""))
    check("the assigned partitions are listed with their owner",
          "live-orders" in (text("partitions") or ""))
    check("the workers list this one", "this one" in (text("workers") or ""))
    check("a recent warning shows (an order refused)",
          wait("warn", lambda: "refused" in (text("errors") or "")) is not None)
    check("the state badge says ready", text("state") == "ready")
    time.sleep(0.6)  # one more update, so the rates are filled in
    png = base64.b64decode(call("GET", s + "/screenshot"))
    open(shot, "wb").write(png)
    check("a screenshot was saved (%s, %d bytes)" % (shot, len(png)),
          png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000)

    call("POST", s + "/url", {"url": "http://127.0.0.1:%s/live" % port})
    m1 = wait("orders", lambda: count("n") > 0 and count("n"))
    check("the example's /live page receives the agent's pushed orders (%s)" % m1,
          bool(m1))
    m2 = wait("more", lambda: count("n") > (m1 or 0) and count("n"))
    check("and keeps receiving them (%s -> %s)" % (m1, m2), bool(m2))
    call("DELETE", s)
finally:
    drv.kill()
sys.exit(1 if failed else 0)
PY
rc=$?
kill -0 "$pid" 2>/dev/null; alive=$?
[ $alive -eq 0 ] && echo "ok - the worker is still running" || { echo "FAIL - the worker died"; cat "$tmpd/worker.err"; rc=1; }
exit $rc
