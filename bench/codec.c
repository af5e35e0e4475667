/* codec-json and codec-avro: encode + decode of one record, N times, through rill's
 * serializers against the bare library doing the same round trip (jansson
 * dumps/loads of the same document; avro-c generic value write/read). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

#include "bench.h"
#ifdef RILL_HAVE_SIMDJSON
#include "simd_baseline.h"
#endif

#ifdef RILL_HAVE_AVRO
#include <avro.h>
#include <rill/avro.h>
#endif

typedef struct order {
    char *id;
    char *country;
    int64_t amount;
    double price;
    bool paid;
} order_t;

RILL_RECORD(codec_schema, order_t, "bench.Order", RILL_F(order_t, id, STRING),
            RILL_F(order_t, country, STRING), RILL_F(order_t, amount, INT64),
            RILL_F(order_t, price, DOUBLE), RILL_F(order_t, paid, BOOL));

/* One round trip in 64 is timed on its own: the per-event latency. */
static bench_hist_t rill_lat, base_lat;
static uint64_t rill_check, base_check;
#define SAMPLED(i) (((i)&63) == 0)

static double rill_roundtrips(const char *ser, uint64_t n, char *note, size_t nlen) {
    char err[256];
    rill_serializer_t *s = rill_serializer_new(ser, NULL, err, sizeof err);
    if (!s) {
        snprintf(note, nlen, "%.200s", err);
        return -1;
    }
    const rill_type_t *t = RILL_TYPE_RECORD(&codec_schema);
    order_t o = {"order-123456", "NO", 42, 9.5, true};
    rill_buf_t b = RILL_BUF_INIT;
    uint64_t t0 = bench_now_ns(), check = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t s0 = SAMPLED(i) ? bench_now_ns() : 0;
        o.amount = (int64_t)i;
        rill_buf_reset(&b);
        rill_serializer_encode(s, t, &o, &b, err, sizeof err);
        order_t back;
        rill_record_init(&codec_schema, &back);
        rill_serializer_decode(s, t, b.data, b.len, &back, err, sizeof err);
        check += (uint64_t)back.amount + (uint64_t)strlen(back.id);
        rill_record_clear(&codec_schema, &back);
        if (s0) bench_hist_add(&rill_lat, bench_now_ns() - s0);
    }
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    rill_buf_free(&b);
    rill_serializer_destroy(s);
    rill_check = check;
    return check == n * (n - 1) / 2 + n * 12 ? secs : -1;
}

static double jansson_roundtrips(uint64_t n) {
    uint64_t t0 = bench_now_ns(), check = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t s0 = SAMPLED(i) ? bench_now_ns() : 0;
        json_t *o = json_pack("{s:s,s:s,s:I,s:f,s:b}", "id", "order-123456", "country",
                              "NO", "amount", (json_int_t)i, "price", 9.5, "paid", 1);
        char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        json_error_t e;
        json_t *back = json_loads(text, 0, &e);
        check += (uint64_t)json_integer_value(json_object_get(back, "amount")) +
                 (uint64_t)strlen(json_string_value(json_object_get(back, "id")));
        json_decref(back);
        free(text);
        if (s0) bench_hist_add(&base_lat, bench_now_ns() - s0);
    }
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    base_check = check;
    return check == n * (n - 1) / 2 + n * 12 ? secs : -1;
}

#ifdef RILL_HAVE_AVRO
static double avro_roundtrips(uint64_t n) {
    rill_buf_t js = RILL_BUF_INIT;
    rill_avro_schema_json(&codec_schema, &js);
    avro_schema_t sc;
    avro_schema_from_json_length((const char *)js.data, js.len, &sc);
    rill_buf_free(&js);
    avro_value_iface_t *iface = avro_generic_class_from_schema(sc);
    avro_value_t v, back;
    avro_generic_value_new(iface, &v);
    avro_generic_value_new(iface, &back);
    char buf[256];
    uint64_t t0 = bench_now_ns(), check = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t s0 = SAMPLED(i) ? bench_now_ns() : 0;
        avro_value_t f;
        avro_value_reset(&v);
        avro_value_get_by_index(&v, 0, &f, NULL);
        avro_value_set_string(&f, "order-123456");
        avro_value_get_by_index(&v, 1, &f, NULL);
        avro_value_set_string(&f, "NO");
        avro_value_get_by_index(&v, 2, &f, NULL);
        avro_value_set_long(&f, (int64_t)i);
        avro_value_get_by_index(&v, 3, &f, NULL);
        avro_value_set_double(&f, 9.5);
        avro_value_get_by_index(&v, 4, &f, NULL);
        avro_value_set_boolean(&f, 1);
        avro_writer_t w = avro_writer_memory(buf, sizeof buf);
        avro_value_write(w, &v);
        int64_t len = avro_writer_tell(w);
        avro_writer_free(w);
        avro_reader_t r = avro_reader_memory(buf, len);
        avro_value_reset(&back);
        avro_value_read(r, &back);
        avro_reader_free(r);
        int64_t a = 0;
        avro_value_get_by_index(&back, 2, &f, NULL);
        avro_value_get_long(&f, &a);
        const char *id = NULL;
        size_t idlen = 0;
        avro_value_get_by_index(&back, 0, &f, NULL);
        avro_value_get_string(&f, &id, &idlen);
        check += (uint64_t)a + (uint64_t)(idlen ? idlen - 1 : 0);
        if (s0) bench_hist_add(&base_lat, bench_now_ns() - s0);
    }
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    base_check = check;
    avro_value_decref(&v);
    avro_value_decref(&back);
    avro_value_iface_decref(iface);
    avro_schema_decref(sc);
    return check == n * (n - 1) / 2 + n * 12 ? secs : -1;
}
#endif

static int run_codec(const bench_opts_t *o, bench_result_t *r, const char *ser) {
    uint64_t n = o->events ? o->events : 500000;
    double rs[99], bs[99];
    for (int i = 0; i < o->repeat; i++) {
        bench_side_begin(&r->rill);
        rs[i] = rill_roundtrips(ser, n, r->note, sizeof r->note);
        bench_side_end(&r->rill);
        bench_side_begin(&r->base);
#ifdef RILL_HAVE_AVRO
        bs[i] = !strcmp(ser, "avro") ? avro_roundtrips(n) : jansson_roundtrips(n);
#else
        bs[i] = jansson_roundtrips(n);
#endif
        bench_side_end(&r->base);
#ifdef RILL_HAVE_SIMDJSON
        uint64_t sc = 0;
        if (!strcmp(ser, "json")) r->simd_seconds = bench_simd_roundtrips(n, &sc);
        if (r->simd_seconds < 0) {
            snprintf(r->note, sizeof r->note, "simdjson round trip mismatch");
            return -1;
        }
#endif
        if (rs[i] < 0 || bs[i] < 0) {
            if (!*r->note) snprintf(r->note, sizeof r->note, "round trip mismatch");
            return -1;
        }
    }
    r->transport = "";
    r->store = "";
    r->serializer = ser;
    r->events = n;
    r->seconds = bench_median(rs, o->repeat);
    r->baseline_seconds = bench_median(bs, o->repeat);
    r->has_checksum = true;
    r->checksum = rill_check;
    r->baseline_checksum = base_check;
    bench_result_lat(r, &rill_lat, false);
    bench_result_lat(r, &base_lat, true);
    snprintf(r->lat_what, sizeof r->lat_what, "one encode+decode, 1 in 64 timed");
    snprintf(r->note, sizeof r->note, "encode+decode round trips/s; baseline: bare %s",
             !strcmp(ser, "avro") ? "avro-c" : "jansson");
    return 0;
}

static int run_json(const bench_opts_t *o, bench_result_t *r) {
    return run_codec(o, r, "json");
}

const bench_scenario_t bench_codec_json = {
    .name = "codec-json",
    .description = "encode+decode of a record with rill's json vs bare jansson",
    .run = run_json,
};

#ifdef RILL_HAVE_AVRO
static int run_avro(const bench_opts_t *o, bench_result_t *r) {
    return run_codec(o, r, "avro");
}

const bench_scenario_t bench_codec_avro = {
    .name = "codec-avro",
    .description = "encode+decode of a record with rill's avro vs bare avro-c",
    .run = run_avro,
};
#endif
