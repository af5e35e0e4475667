#!/usr/bin/env bash
# `cmake --install` into a temporary prefix installs the library, the tools, the
# docs and rill(7); a small program then builds and runs against it with
# find_package(rill) (also when the backends' development files are not to be
# found: the shared library does not need them) and with pkg-config, whose
# --cflags do not leak the backends' include directories.
build=${1:?usage: test_install.sh BUILD_DIR}
for _prog in cmake pkg-config cc; do
    command -v "$_prog" >/dev/null || { echo "$_prog not installed: skipped"; exit 77; }
done
tmpd=$(mktemp -d)
trap 'rm -rf "$tmpd"' EXIT
pass=0; fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; pass=$((pass+1)); else echo "FAIL - $1"; fail=$((fail+1)); fi; }

prefix=$tmpd/prefix
cmake --install "$build" --prefix "$prefix" >"$tmpd/install.log" 2>&1
check "cmake --install succeeds" $?
[ -f "$build/tools/rill-kafka-mock" ] && mock=yes
check "rill-partition is installed" $([ -x "$prefix/bin/rill-partition" ]; echo $?)
if [ -n "$mock" ]; then
    check "rill-kafka-mock is installed" $([ -x "$prefix/bin/rill-kafka-mock" ]; echo $?)
fi
check "rill(7) is installed" $([ -f "$prefix/share/man/man7/rill.7" ]; echo $?)
if command -v man >/dev/null; then
    MANPATH=$prefix/share/man man -P cat 7 rill >"$tmpd/man.txt" 2>/dev/null
    check "man 7 rill shows the configuration" $(grep -q "CONFIGURATION" "$tmpd/man.txt"; echo $?)
fi
for d in README.md CONFIGURATION.md kafka.md redis.md; do
    check "the docs: $d is installed" $([ -f "$prefix/share/doc/rill/$d" ]; echo $?)
done
check "the installed rill-partition runs" \
    $([ "$("$prefix/bin/rill-partition" 8 user-1 2>/dev/null | awk '{print $2}')" != "" ]; echo $?)

# the program: an app on memory:// that sends one event to itself and counts it
mkdir -p "$tmpd/app"
cat >"$tmpd/app/main.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <rill/rill.h>

static int seen;
static rill_topic_t *t;
static void say_hello(rill_app_t *app, void *opaque) {
    (void)app;
    (void)opaque;
    rill_send(t, NULL, 0, "hello", 5, NULL);
}
static rill_err_t on_event(rill_event_t *ev, void *opaque) {
    (void)opaque;
    const rill_bytes_t *v = rill_event_value(ev);
    if (v && v->len == 5 && !memcmp(v->data, "hello", 5)) seen++;
    rill_app_stop(rill_event_app(ev));
    return RILL_OK;
}

int main(void) {
    char err[256];
    rill_app_t *app = rill_app_new("installed", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    t = rill_app_topic(app, "greetings", NULL);
    if (!t || !rill_app_agent(app, "greet", t, on_event, NULL, NULL) ||
        rill_app_task(app, "hello", say_hello, NULL) != RILL_OK)
        return fprintf(stderr, "%s\n", rill_app_errmsg(app)), 1;
    rill_err_t rc = rill_app_run(app);
    rill_app_destroy(app);
    printf("%s %d %s\n", rill_version(), seen, rill_err2str(rc));
    return seen == 1 ? 0 : 1;
}
EOF
cat >"$tmpd/app/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(installed C)
find_package(rill REQUIRED)
add_executable(installed main.c)
target_link_libraries(installed PRIVATE rill::rill)
EOF

# A library built with the sanitizers needs their runtime in the program too.
san=""
grep -q "^RILL_SANITIZE:BOOL=ON" "$build/CMakeCache.txt" && san="-fsanitize=address,undefined"

# find_package, with what is installed on this machine
cmake -S "$tmpd/app" -B "$tmpd/b1" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$san" \
    -DCMAKE_EXE_LINKER_FLAGS="$san" >"$tmpd/b1.log" 2>&1 &&
    cmake --build "$tmpd/b1" >>"$tmpd/b1.log" 2>&1
check "a program builds with find_package(rill) and rill::rill" $?
LD_LIBRARY_PATH=$prefix/lib:$prefix/lib64 timeout 20 "$tmpd/b1/installed" >"$tmpd/run1" 2>&1
check "... and runs (an event sent and handled on memory://)" $?

# find_package where pkg-config finds libevent alone (no jansson, hiredis,
# rdkafka, rocksdb or avro-c .pc files): rill::rill must not need them
mkdir -p "$tmpd/pc"
evpc=$(pkg-config --variable=pcfiledir libevent)/libevent.pc
cp "$evpc" "$tmpd/pc/"
check "only libevent.pc is visible" $(PKG_CONFIG_LIBDIR=$tmpd/pc pkg-config --exists hiredis; [ $? -ne 0 ]; echo $?)
PKG_CONFIG_LIBDIR=$tmpd/pc cmake -S "$tmpd/app" -B "$tmpd/b2" -DCMAKE_PREFIX_PATH="$prefix" \
    >"$tmpd/b2.log" 2>&1 && cmake --build "$tmpd/b2" >>"$tmpd/b2.log" 2>&1
rc=$?
check "find_package(rill) needs no backend's development files for rill::rill" $rc
[ $rc -ne 0 ] && tail -20 "$tmpd/b2.log"

# pkg-config
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig:$prefix/lib64/pkgconfig
cflags=$(pkg-config --cflags rill)
check "pkg-config --cflags rill works ($cflags)" $?
check "pkg-config --cflags rill does not leak -I.../hiredis" \
    $(echo "$cflags" | grep -q hiredis; [ $? -ne 0 ]; echo $?)
incdir=$(pkg-config --variable=includedir rill)
check "pkg-config's include dir holds the installed rill/rill.h" \
    $([ "$(cd "$incdir" 2>/dev/null && pwd -P)" = "$(cd "$prefix/include" && pwd -P)" ] &&
      [ -f "$incdir/rill/rill.h" ]; echo $?)
# shellcheck disable=SC2046
cc $san -o "$tmpd/installed-pc" "$tmpd/app/main.c" $cflags $(pkg-config --libs rill) >"$tmpd/pc.log" 2>&1
check "a program builds with pkg-config --cflags --libs rill" $?
LD_LIBRARY_PATH=$prefix/lib:$prefix/lib64 timeout 20 "$tmpd/installed-pc" >"$tmpd/run2" 2>&1
check "... and runs" $?
pkg-config --static --libs rill >"$tmpd/static" 2>&1
if grep -q "^RILL_WITH_REDIS:BOOL=ON" "$build/CMakeCache.txt"; then
    check "pkg-config --static --libs rill lists hiredis for static links" \
        $(grep -q -- "-lhiredis" "$tmpd/static"; echo $?)
fi

echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
