// The json serializer's simdjson decoder: see json_simdjson.h.
//
// simdjson's DOM parser validates the whole document (structure, UTF-8,
// numbers) in two SIMD passes into one reused tape: no allocation per value,
// unlike jansson.  The input is copied into a padded scratch buffer per thread
// (simdjson reads up to SIMDJSON_PADDING bytes past the end).  The walk mirrors
// json.c's dec_value/dec_record; on anything it does not take exactly as
// jansson would, it returns an error and json.c lets jansson decide.
#include "json_simdjson.h"

#include <simdjson.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <string>
#include <vector>

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
static_assert(std::is_trivially_copyable<element>::value &&
                  std::is_trivially_destructible<element>::value,
              "dec_record keeps elements in raw storage");

struct scratch {
    simdjson::dom::parser parser;
    std::vector<char> buf;
};

thread_local scratch tls;

// One decode: the serializer (its string arena) and whether to check __faust.ns.
struct ctx {
    rill_serializer_t *self;
    bool check_ns;
};

rill_err_t dec_value(const ctx &c, const rill_type_t *t, element j, void *v);

// What simdjson accepts and jansson refuses: integers beyond int64 and object
// keys holding a NUL, anywhere in the document.  The decode checks what it
// decodes itself (dec_value refuses a UINT64 for every kind, dec_record a key
// with a NUL); this walks only what it skips: members the record does not have
// and duplicates a later member replaces.  Recursion is bounded by simdjson's
// depth limit (1024).
bool jansson_takes(element j) {
    switch (j.type()) {
    case element_type::UINT64: // (beyond uint64 simdjson's parse fails)
        return false;
    case element_type::ARRAY: {
        simdjson::dom::array a = j.get_array().value_unsafe();
        for (element e : a)
            if (!jansson_takes(e)) return false;
        return true;
    }
    case element_type::OBJECT: {
        simdjson::dom::object o = j.get_object().value_unsafe();
        for (auto kv : o)
            if (std::memchr(kv.key.data(), '\0', kv.key.size()) ||
                !jansson_takes(kv.value))
                return false;
        return true;
    }
    default:
        return true;
    }
}

// A map key: malloc()ed, as json.c's are.
rill_err_t dup_string(std::string_view s, char **out) {
    if (std::memchr(s.data(), '\0', s.size())) return RILL_EDECODE;
    char *d = static_cast<char *>(std::malloc(s.size() + 1));
    if (!d) return RILL_ENOMEM;
    std::memcpy(d, s.data(), s.size());
    d[s.size()] = '\0';
    std::free(*out);
    *out = d;
    return RILL_OK;
}

// A STRING field: carved from the event's string arena, as json.c's are.
rill_err_t arena_string(const ctx &c, std::string_view s, char **out) {
    if (std::memchr(s.data(), '\0', s.size())) return RILL_EDECODE;
    char *d = rill_serializer_strdup(c.self, s.data(), s.size());
    if (!d) return RILL_ENOMEM;
    if (*out) rill_serializer_strfree(c.self, *out); /* a default */
    *out = d;
    return RILL_OK;
}

rill_err_t dec_record(const ctx &c, const rill_schema_t *s, element j, void *rec) {
    simdjson::dom::object o;
    if (j.get_object().get(o)) return RILL_EDECODE;
    if (c.check_ns && s->ns) {
        element meta, ns;
        std::string_view nsv;
        if (o["__faust"].get(meta) || meta.type() != element_type::OBJECT ||
            meta["ns"].get(ns) || ns.get_string().get(nsv) || nsv != s->ns)
            return RILL_EDECODE;
    }
    // Fields in declaration order, each the last of its name in the document (as
    // jansson's object keeps the last of duplicate keys).
    // no allocation for records of up to SMALL fields
    // (raw storage: an element is trivially copyable, and written before it is
    // read, so the 32 need no construction per decode)
    constexpr size_t SMALL = 32;
    alignas(element) unsigned char small_raw[SMALL * sizeof(element)];
    element *small = reinterpret_cast<element *>(small_raw);
    bool small_seen[SMALL] = {};
    std::vector<element> big;
    std::unique_ptr<bool[]> big_seen;
    element *found = small;
    bool *seen = small_seen;
    if (s->nfields > SMALL) {
        big.resize(s->nfields);
        big_seen.reset(new bool[s->nfields]());
        found = big.data();
        seen = big_seen.get();
    }
    size_t hint = 0; // fields usually come in declaration order
    for (auto kv : o) {
        std::string_view key = kv.key;
        if (std::memchr(key.data(), '\0', key.size())) return RILL_EDECODE;
        size_t i = s->nfields;
        size_t at = hint < s->nfields ? hint : 0; // after the last field: the first
        for (size_t k = 0; k < s->nfields; k++, at = at + 1 < s->nfields ? at + 1 : 0) {
            // key holds no NUL: strncmp stops at the end of a shorter name, so
            // name[key.size()] is read only when name is at least that long (no
            // strlen of every name tried, no division to wrap around)
            const char *name = s->fields[at].name;
            if (!std::strncmp(name, key.data(), key.size()) && !name[key.size()]) {
                i = at;
                break;
            }
        }
        if (i == s->nfields) { // not in the record: skipped, so checked here
            if (!jansson_takes(kv.value)) return RILL_EDECODE;
            continue;
        }
        if (seen[i] && !jansson_takes(found[i])) return RILL_EDECODE; // replaced
        new (&found[i]) element(kv.value);
        seen[i] = true;
        hint = i + 1;
    }
    for (size_t i = 0; i < s->nfields; i++) {
        const rill_field_t *f = &s->fields[i];
        void *m = static_cast<char *>(rec) + f->offset;
        bool present = seen[i];
        if (!present || found[i].is_null()) {
            if (!(f->flags & RILL_FIELD_OPTIONAL)) return RILL_EDECODE;
            if (present && f->type.kind == RILL_T_RECORD) {
                rill_record_free(f->type.record, *static_cast<void **>(m));
                *static_cast<void **>(m) = nullptr;
            } else if (present &&
                       (f->type.kind == RILL_T_STRING || f->type.kind == RILL_T_BYTES)) {
                rill_value_clear(&f->type, m);
            }
            continue;
        }
        rill_err_t rc = dec_value(c, &f->type, found[i], m);
        if (rc) return rc;
    }
    return RILL_OK;
}

rill_err_t dec_value(const ctx &c, const rill_type_t *t, element j, void *v) {
    switch (t->kind) {
    case RILL_T_STRING: {
        std::string_view s;
        if (j.get_string().get(s)) return RILL_EDECODE;
        return arena_string(c, s, static_cast<char **>(v));
    }
    case RILL_T_INT64: {
        int64_t x;
        if (j.type() != element_type::INT64 || j.get_int64().get(x)) return RILL_EDECODE;
        *static_cast<int64_t *>(v) = x;
        return RILL_OK;
    }
    case RILL_T_DOUBLE: {
        double x;
        // simdjson reads "-0" as -0.0, jansson as the integer 0: jansson decides
        if (j.type() == element_type::UINT64 || j.get_double().get(x) ||
            (x == 0 && std::signbit(x)))
            return RILL_EDECODE;
        *static_cast<double *>(v) = x;
        return RILL_OK;
    }
    case RILL_T_BOOL: {
        bool x;
        if (j.get_bool().get(x)) return RILL_EDECODE;
        *static_cast<bool *>(v) = x;
        return RILL_OK;
    }
    case RILL_T_BYTES: {
        std::string_view s;
        if (j.get_string().get(s)) return RILL_EDECODE;
        rill_bytes_t x = {nullptr, 0};
        rill_err_t rc = rill__json_b64_decode(s.data(), s.size(), &x);
        if (rc) return rc;
        auto *b = static_cast<rill_bytes_t *>(v);
        std::free(b->data);
        *b = x;
        return RILL_OK;
    }
    case RILL_T_DATETIME: {
        std::string_view s;
        if (j.get_string().get(s) || std::memchr(s.data(), '\0', s.size()))
            return RILL_EDECODE;
        std::string z(s);
        rill_err_t rc =
            t->zoned
                ? rill_datetime_parse_zoned(z.c_str(), static_cast<rill_datetime_t *>(v))
                : rill_datetime_parse(z.c_str(), static_cast<int64_t *>(v));
        return rc == RILL_OK ? RILL_OK : RILL_EDECODE;
    }
    case RILL_T_DECIMAL: {
        char buf[64];
        std::string z;
        const char *text;
        std::string_view s;
        if (j.type() == element_type::STRING) {
            if (j.get_string().get(s)) return RILL_EDECODE;
            if (std::memchr(s.data(), '\0', s.size())) return RILL_EDECODE;
            z.assign(s);
            text = z.c_str();
        } else if (j.type() == element_type::INT64) {
            std::snprintf(buf, sizeof buf, "%lld",
                          static_cast<long long>(j.get_int64().value_unsafe()));
            text = buf;
        } else if (j.type() == element_type::DOUBLE) {
            std::snprintf(buf, sizeof buf, "%.15g", j.get_double().value_unsafe());
            text = buf;
        } else {
            return RILL_EDECODE;
        }
        rill_decimal_t d;
        if (rill_decimal_parse_scaled(text, t->scale, &d) != RILL_OK) return RILL_EDECODE;
        *static_cast<rill_decimal_t *>(v) = d;
        return RILL_OK;
    }
    case RILL_T_RECORD: {
        if (j.type() != element_type::OBJECT) return RILL_EDECODE;
        void *r = rill_record_new(t->record);
        if (!r) return RILL_ENOMEM;
        rill_record_free(t->record, *static_cast<void **>(v));
        *static_cast<void **>(v) = r;
        return dec_record(c, t->record, j, r);
    }
    case RILL_T_ARRAY: {
        simdjson::dom::array a;
        if (j.get_array().get(a)) return RILL_EDECODE;
        auto *out = static_cast<rill_array_t *>(v);
        rill_value_clear(t, out);
        size_t n = a.size(), sz = rill_type_csize(t->elem);
        if (!n) return RILL_OK;
        if (!(out->items = std::calloc(n, sz))) return RILL_ENOMEM;
        out->len = n; // so a failure part-way is released by rill_value_clear
        size_t i = 0;
        for (element e : a) {
            rill_err_t rc =
                dec_value(c, t->elem, e, static_cast<char *>(out->items) + i * sz);
            if (rc) return rc;
            i++;
        }
        return RILL_OK;
    }
    case RILL_T_MAP: {
        simdjson::dom::object o;
        if (j.get_object().get(o)) return RILL_EDECODE;
        auto *m = static_cast<rill_map_t *>(v);
        rill_value_clear(t, m);
        size_t n = o.size(), sz = rill_type_csize(t->elem);
        if (!n) return RILL_OK;
        // jansson keeps the last of duplicate keys, in first-seen order: refuse
        // duplicates here rather than reproduce that (json.c's jansson decides)
        if (!(m->keys = static_cast<char **>(std::calloc(n, sizeof *m->keys))) ||
            !(m->values = std::calloc(n, sz))) {
            std::free(m->keys);
            m->keys = nullptr;
            return RILL_ENOMEM;
        }
        m->len = n;
        size_t i = 0;
        for (auto kv : o) {
            for (size_t k = 0; k < i; k++)
                if (kv.key == m->keys[k]) return RILL_EDECODE;
            if (dup_string(kv.key, &m->keys[i])) return RILL_ENOMEM;
            rill_err_t rc =
                dec_value(c, t->elem, kv.value, static_cast<char *>(m->values) + i * sz);
            if (rc) return rc;
            i++;
        }
        return RILL_OK;
    }
    }
    return RILL_EDECODE;
}

} // namespace

extern "C" rill_err_t rill__json_simd_decode(rill_serializer_t *self, const rill_type_t *type,
                                             const void *data, size_t len, void *value,
                                             bool check_ns) {
    try {
        scratch &s = tls;
        if (s.buf.size() < len + simdjson::SIMDJSON_PADDING)
            s.buf.resize(len + simdjson::SIMDJSON_PADDING);
        if (len) std::memcpy(s.buf.data(), data, len);
        std::memset(s.buf.data() + len, 0, simdjson::SIMDJSON_PADDING);
        // a byte order mark: simdjson may skip it, jansson refuses it
        if (len >= 3 && !std::memcmp(data, "\xef\xbb\xbf", 3)) return RILL_EDECODE;
        element root;
        if (s.parser.parse(s.buf.data(), len, false).get(root)) return RILL_EDECODE;
        const ctx c = {self, check_ns};
        if (type->kind == RILL_T_RECORD) {
            if (root.type() != element_type::OBJECT) return RILL_EDECODE;
            return dec_record(c, type->record, root, value);
        }
        return dec_value(c, type, root, value);
    } catch (...) { // std::bad_alloc: jansson decides
        return RILL_ENOMEM;
    }
}
