#!/usr/bin/env bash
# A record field declared with the wrong kind does not compile, and the compiler
# says which field (issue 12, API item 6): "field 'amount' of order_t is declared
# RILL_INT64 but is not int64_t", not "size of unnamed array is negative".  A file
# that declares every kind with its right C type compiles with -Wall -Wextra
# -pedantic -Werror.  Uses the C compiler the build dir was configured with.
set -u
build=${1:?build dir}
src=$(cd "$(dirname "$0")/../.." && pwd)
cc=$(sed -n 's/^CMAKE_C_COMPILER:FILEPATH=//p' "$build/CMakeCache.txt")
[ -x "$cc" ] || { echo "SKIP: no C compiler in $build/CMakeCache.txt"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
flags=(-std=c11 -Wall -Wextra -pedantic -Werror -fsyntax-only -I "$src/include"
       -I "$build/generated/include")
pass=0; fail=0

cat >"$tmp/types.h" <<'C'
#include <rill/record.h>
typedef struct address { char *street; } address_t;
RILL_RECORD(address_schema, address_t, "shop.Address", RILL_F(address_t, street, STRING));
typedef struct order {
    char *id;
    int64_t count;
    double amount;
    bool paid;
    rill_bytes_t raw;
    int64_t at;
    rill_datetime_t seen;
    rill_decimal_t price;
    address_t *address;
    rill_array_t tags;
    rill_map_t extra;
} order_t;
C

# compile the record table @2 (a file's body after types.h); @1 its name
compile() {
    { echo '#include "types.h"'; echo "$2"; } >"$tmp/$1.c"
    "$cc" "${flags[@]}" "$tmp/$1.c" >"$tmp/$1.out" 2>&1
}

right='RILL_RECORD(order_schema, order_t, "shop.Order", RILL_F(order_t, id, STRING),
    RILL_F(order_t, count, INT64), RILL_F_OPT(order_t, amount, DOUBLE, 1.5),
    RILL_F(order_t, paid, BOOL), RILL_F_OPT_BYTES(order_t, raw),
    RILL_F(order_t, at, DATETIME), RILL_F(order_t, seen, DATETIME),
    RILL_F_DECIMAL(order_t, price, 12, 2),
    RILL_F_OPT_RECORD(order_t, address, &address_schema),
    RILL_F_ARRAY(order_t, tags, &rill_type_string),
    RILL_F_MAP(order_t, extra, &rill_type_int64));'
if compile right "$right"; then
    echo "ok - every kind with its C type compiles"; pass=$((pass+1))
else
    echo "FAIL - the right declarations do not compile:"; head -20 "$tmp/right.out"
    fail=$((fail+1))
fi

# name, declaration, the message it must give
wrong() {
    local name=$1 decl=$2 want=$3
    if compile "$name" "RILL_RECORD(order_schema, order_t, \"shop.Order\", $decl);"; then
        echo "FAIL - $name compiles"; fail=$((fail+1)); return
    fi
    # GCC quotes the message with \' for each '
    if sed "s/\\\\'/'/g" "$tmp/$name.out" | grep -Fq "$want" &&
        ! grep -q "negative" "$tmp/$name.out"; then
        echo "ok - $name: $want"; pass=$((pass+1))
    else
        echo "FAIL - $name: wanted '$want' in:"; head -20 "$tmp/$name.out"
        fail=$((fail+1))
    fi
}
wrong double_as_int64 'RILL_F(order_t, amount, INT64)' \
    "field 'amount' of order_t is declared RILL_INT64 but is not int64_t"
wrong int64_as_string 'RILL_F(order_t, count, STRING)' \
    "field 'count' of order_t is declared RILL_STRING but is not char *"
wrong double_as_datetime 'RILL_F(order_t, amount, DATETIME)' \
    "field 'amount' of order_t is declared RILL_DATETIME but is neither int64_t nor rill_datetime_t"
wrong optional_bool_as_double 'RILL_F_OPT(order_t, paid, DOUBLE, 0.5)' \
    "field 'paid' of order_t is declared RILL_DOUBLE but is not double"
wrong decimal_on_double 'RILL_F_DECIMAL(order_t, amount, 12, 2)' \
    "field 'amount' of order_t is declared RILL_DECIMAL but is not rill_decimal_t"
wrong bytes_on_string 'RILL_F_OPT_BYTES(order_t, id)' \
    "field 'id' of order_t is declared RILL_BYTES but is not rill_bytes_t"
wrong array_on_map 'RILL_F_ARRAY(order_t, extra, &rill_type_int64)' \
    "field 'extra' of order_t is declared RILL_ARRAY but is not rill_array_t"
wrong map_on_array 'RILL_F_MAP(order_t, tags, &rill_type_int64)' \
    "field 'tags' of order_t is declared RILL_MAP but is not rill_map_t"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
