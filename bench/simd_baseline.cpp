// See simd_baseline.h.  Each input is copied into a padded scratch buffer, as
// rill's decoder does (simdjson reads past the end).
#include "simd_baseline.h"

#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "bench.h"
#include "clicks.h"
}

using namespace simdjson;

namespace {
// A click decoded as a bare program that takes the record's schema seriously
// would: every member read and typed (user a string that fits @p key, amount an
// int64), the document ending after the object.  Reading "user" alone, as this
// baseline first did, skips the rest of each record, so malformed or mistyped
// records still count: not the same work as rill's decoder, which refuses them.
int click_decode(ondemand::parser &parser, const char *buf, size_t len, size_t cap,
                 char *key, size_t keycap, int64_t *amount) {
    ondemand::document doc;
    ondemand::object obj;
    if (parser.iterate(buf, len, cap).get(doc) || doc.get_object().get(obj)) return -1;
    bool user = false, amt = false;
    for (auto field : obj) {
        std::string_view k, u;
        if (field.unescaped_key().get(k)) return -1;
        ondemand::value v = field.value();
        if (k == "user") {
            if (v.get_string().get(u) || u.size() >= keycap) return -1;
            std::memcpy(key, u.data(), u.size());
            key[u.size()] = '\0';
            user = true;
        } else if (k == "amount") {
            if (v.get_int64().get(*amount)) return -1;
            amt = true;
        } // a member not in the schema: skipped by the next step of the loop
    }
    const char *trailing; // at the end, there is no location: OUT_OF_BOUNDS
    return user && amt && doc.current_location().get(trailing) ? 0 : -1;
}
} // namespace

double bench_simd_click_count(char *const *json, const size_t *len, uint64_t n,
                              int64_t *total) {
    ondemand::parser parser;
    std::vector<char> buf(4096 + SIMDJSON_PADDING);
    bench_map_t m;
    bench_map_init(&m, 4096);
    char key[256];
    int64_t amount = 0, amounts = 0;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        if (len[i] + SIMDJSON_PADDING > buf.size()) buf.resize(len[i] + SIMDJSON_PADDING);
        std::memcpy(buf.data(), json[i], len[i]);
        if (click_decode(parser, buf.data(), len[i], buf.size(), key, sizeof key, &amount))
            continue;
        bench_map_incr(&m, key);
        amounts += amount;
    }
    double s = (double)(bench_now_ns() - t0) / 1e9;
    uint64_t keys;
    bench_map_finish(&m, &keys, total);
    /* the amounts are decoded and summed so the compiler cannot drop them */
    return amounts < 0 ? -1 : s;
}

namespace {
struct order {
    char *id, *country;
    int64_t amount;
    double price;
    bool paid;
};

char *dup(std::string_view s) {
    char *d = static_cast<char *>(std::malloc(s.size() + 1));
    std::memcpy(d, s.data(), s.size());
    d[s.size()] = '\0';
    return d;
}
} // namespace

double bench_simd_roundtrips(uint64_t n, uint64_t *check) {
    ondemand::parser parser;
    char buf[256 + SIMDJSON_PADDING];
    uint64_t t0 = bench_now_ns(), sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        int len =
            std::snprintf(buf, 256,
                          "{\"id\":\"order-123456\",\"country\":\"NO\",\"amount\":%lld,"
                          "\"price\":9.5,\"paid\":true}",
                          (long long)i);
        ondemand::document doc;
        order o = {};
        std::string_view s;
        if (parser.iterate(buf, (size_t)len, sizeof buf).get(doc)) return -1;
        ondemand::object obj;
        if (doc.get_object().get(obj)) return -1;
        for (auto field : obj) {
            std::string_view k;
            if (field.unescaped_key().get(k)) return -1;
            ondemand::value v = field.value();
            if (k == "id") {
                if (v.get_string().get(s)) return -1;
                o.id = dup(s);
            } else if (k == "country") {
                if (v.get_string().get(s)) return -1;
                o.country = dup(s);
            } else if (k == "amount") {
                if (v.get_int64().get(o.amount)) return -1;
            } else if (k == "price") {
                if (v.get_double().get(o.price)) return -1;
            } else if (k == "paid") {
                if (v.get_bool().get(o.paid)) return -1;
            }
        }
        sum += (uint64_t)o.amount + (o.id ? std::strlen(o.id) : 0);
        std::free(o.id);
        std::free(o.country);
    }
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    *check = sum;
    return sum == n * (n - 1) / 2 + n * 12 ? secs : -1;
}
