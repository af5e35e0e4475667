#!/usr/bin/env python3
"""Writes faust-roundtrip.jsonl: records as Faust (faust-streaming 0.15.2) writes
them with its json codec, for values that a round trip through rill must keep.

Faust's JSON encoder (faust/utils/json.py, on_default) writes a datetime as
o.isoformat() with a trailing "+00:00" turned into "Z", and a Decimal as str(o);
this script applies exactly those rules with Python's own datetime and decimal,
and the separators and ASCII escaping of the vectors in faust-json.jsonl.

    python3 tests/vectors/make_faust_roundtrip.py > tests/vectors/faust-roundtrip.jsonl
"""
import datetime as dt
import json
from decimal import Decimal


def faust_default(o):
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, (dt.date, dt.time)):
        r = o.isoformat()
        if r.endswith("+00:00"):
            r = r[:-6] + "Z"
        return r
    raise TypeError(type(o))


def tz(minutes):
    return dt.timezone(dt.timedelta(minutes=minutes))


def payment(id, at, amount, rate, seen):
    return {"id": id, "at": at, "amount": amount, "rate": rate, "seen": seen,
            "__faust": {"ns": "shop.Payment"}}


rows = [
    # naive datetimes stay naive; "100" stays "100" under rill's scale-2 schema
    payment("p-1", dt.datetime(2024, 3, 10, 8, 15, 0, 250000), Decimal("100"),
            Decimal("0.000001"), [dt.datetime(2024, 3, 10, 8, 15)]),
    # an offset stays that offset; "100.00" keeps its digits
    payment("p-2", dt.datetime(2024, 3, 10, 10, 15, tzinfo=tz(120)), Decimal("100.00"),
            Decimal("1E-7"), [dt.datetime(2024, 3, 10, 10, 15, tzinfo=tz(120)),
                              dt.datetime(2024, 3, 10, 8, 15, tzinfo=dt.timezone.utc)]),
    # UTC is "Z"; a negative offset with microseconds across a year boundary
    payment("p-3", dt.datetime(1999, 12, 31, 18, 29, 59, 999999, tzinfo=tz(-330)),
            Decimal("-12.5"), Decimal("-0"), []),
    # exponents as Python writes them
    payment("p-4", dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=dt.timezone.utc),
            Decimal("1E+2"), Decimal("3.14159"),
            [dt.datetime(2024, 2, 29, 23, 59, 59, 1), dt.datetime(1970, 1, 1)]),
    payment("p-5", dt.datetime(2024, 3, 10, 8, 15, tzinfo=tz(-12 * 60)),
            Decimal("-0.50"), Decimal("1.5E+3"), []),
]
for r in rows:
    text = json.dumps(r, default=faust_default, separators=(",", ":"))
    print(json.dumps({"record": "Payment", "faust_json": text}))
