/* rocksdb:///path store: one column family per table partition ("<table>:<n>"),
 * and a metadata column family "rill.offsets" holding each partition's changelog
 * offset.  A write batch carries the data and the offset together, so after a
 * restart on the same disk the table replays only the changelog tail. */
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rill/store.h"

#define META_CF "rill.offsets"

typedef struct rdb {
    /* props */
    bool sync;
    bool create_if_missing;
    int64_t write_buffer_size;
    int64_t max_open_files;
    int64_t block_cache_mb;
    /* state */
    char *path;
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_cache_t *cache;
    rocksdb_block_based_table_options_t *topts;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;
    rocksdb_column_family_handle_t *meta;
    struct rill_store_part *parts; /* every column family, open or not */
} rdb_t;

struct rill_store_part {
    rdb_t *db;
    char *name; /* "<table>:<partition>" */
    rocksdb_column_family_handle_t *cf;
    bool open;
    struct rill_store_part *next;
};

static const rill_prop_t rdb_props[] = {
    {"sync", RILL_PROP_BOOL, "false", offsetof(rdb_t, sync),
     "fsync the WAL on every write (flush() always syncs)"},
    {"create_if_missing", RILL_PROP_BOOL, "true", offsetof(rdb_t, create_if_missing),
     "Create the database directory when it does not exist"},
    {"write_buffer_size", RILL_PROP_INT, "0", offsetof(rdb_t, write_buffer_size),
     "Memtable size in bytes (0: RocksDB's default)", .min = 0, .max = INT64_MAX},
    {"max_open_files", RILL_PROP_INT, "-1", offsetof(rdb_t, max_open_files),
     "Open file limit (-1: unlimited)", .min = -1, .max = INT32_MAX},
    {"block_cache_mb", RILL_PROP_INT, "0", offsetof(rdb_t, block_cache_mb),
     "Block cache size in MiB (0: RocksDB's default)", .min = 0, .max = 1 << 24},
    {NULL},
};

#define CHECK(err, what)                                                                 \
    do {                                                                                 \
        if (err) {                                                                       \
            snprintf(errstr, errlen, "rocksdb %s: %s", what, err);                       \
            rocksdb_free(err);                                                           \
            return RILL_ESTORE;                                                          \
        }                                                                                \
    } while (0)

static struct rill_store_part *part_add(rdb_t *d, const char *name,
                                        rocksdb_column_family_handle_t *cf) {
    struct rill_store_part *p = calloc(1, sizeof *p);
    if (!p || !(p->name = strdup(name))) {
        free(p);
        return NULL;
    }
    p->db = d;
    p->cf = cf;
    p->next = d->parts;
    d->parts = p;
    return p;
}

static rill_err_t rdb_open(rill_store_t *s, const rill_url_t *url,
                           const rill_conf_t *conf, char *errstr, size_t errlen) {
    (void)conf;
    rdb_t *d = s->impl;
    if (!url->path || !*url->path || !strcmp(url->path, "/")) {
        snprintf(errstr, errlen,
                 "rocksdb store URL '%s' needs a directory: rocksdb:///var/lib/app",
                 url->raw);
        return RILL_EURL;
    }
    if (*url->host) {
        snprintf(
            errstr, errlen,
            "rocksdb store URL '%s' has a host part; use three slashes: rocksdb:///path",
            url->raw);
        return RILL_EURL;
    }
    if (!(d->path = strdup(url->path))) return RILL_ENOMEM;
    d->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(d->opts, d->create_if_missing);
    rocksdb_options_set_create_missing_column_families(d->opts, 1);
    rocksdb_options_set_max_open_files(d->opts, (int)d->max_open_files);
    if (d->write_buffer_size > 0)
        rocksdb_options_set_write_buffer_size(d->opts, (size_t)d->write_buffer_size);
    if (d->block_cache_mb > 0) {
        d->topts = rocksdb_block_based_options_create();
        d->cache = rocksdb_cache_create_lru((size_t)d->block_cache_mb << 20);
        rocksdb_block_based_options_set_block_cache(d->topts, d->cache);
        rocksdb_options_set_block_based_table_factory(d->opts, d->topts);
    }
    d->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(d->wopts, d->sync);
    d->ropts = rocksdb_readoptions_create();

    /* Open every existing column family (RocksDB requires it), plus ours. */
    char *err = NULL;
    size_t n = 0;
    char **names = rocksdb_list_column_families(d->opts, d->path, &n, &err);
    if (err) { /* a new database */
        rocksdb_free(err);
        err = NULL;
        if (names) rocksdb_list_column_families_destroy(names, n);
        names = NULL;
        n = 0;
    }
    size_t total = n + 2;
    const char **cfn = calloc(total, sizeof *cfn);
    const rocksdb_options_t **cfo = calloc(total, sizeof *cfo);
    rocksdb_column_family_handle_t **h = calloc(total, sizeof *h);
    if (!cfn || !cfo || !h) {
        free(cfn);
        free(cfo);
        free(h);
        if (names) rocksdb_list_column_families_destroy(names, n);
        return RILL_ENOMEM;
    }
    size_t k = 0;
    bool have_default = false, have_meta = false;
    for (size_t i = 0; i < n; i++) {
        have_default |= !strcmp(names[i], "default");
        have_meta |= !strcmp(names[i], META_CF);
        cfn[k++] = names[i];
    }
    if (!have_default) cfn[k++] = "default";
    if (!have_meta) cfn[k++] = META_CF;
    for (size_t i = 0; i < k; i++)
        cfo[i] = d->opts;
    d->db = rocksdb_open_column_families(d->opts, d->path, (int)k, cfn, cfo, h, &err);
    rill_err_t rc = RILL_OK;
    if (err) {
        snprintf(errstr, errlen, "rocksdb open '%s': %s", d->path, err);
        rocksdb_free(err);
        rc = RILL_ESTORE;
    } else {
        for (size_t i = 0; i < k; i++) {
            if (!strcmp(cfn[i], META_CF))
                d->meta = h[i];
            else if (!strcmp(cfn[i], "default"))
                rocksdb_column_family_handle_destroy(h[i]);
            else if (!part_add(d, cfn[i], h[i]))
                rc = RILL_ENOMEM;
        }
    }
    if (names) rocksdb_list_column_families_destroy(names, n);
    free(cfn);
    free(cfo);
    free(h);
    return rc;
}

static rill_err_t rdb_part_open(rill_store_t *s, const char *table, int32_t partition,
                                rill_store_part_t **out, char *errstr, size_t errlen) {
    rdb_t *d = s->impl;
    char name[512];
    snprintf(name, sizeof name, "%s:%d", table, partition);
    struct rill_store_part *p = NULL;
    for (struct rill_store_part *x = d->parts; x; x = x->next)
        if (!strcmp(x->name, name)) p = x;
    if (p && p->open) {
        snprintf(errstr, errlen, "table '%s' partition %d is already open", table,
                 partition);
        return RILL_EEXIST;
    }
    if (!p) {
        char *err = NULL;
        rocksdb_column_family_handle_t *cf =
            rocksdb_create_column_family(d->db, d->opts, name, &err);
        CHECK(err, "create column family");
        if (!(p = part_add(d, name, cf))) {
            rocksdb_column_family_handle_destroy(cf);
            return RILL_ENOMEM;
        }
    }
    p->open = true;
    *out = p;
    return RILL_OK;
}

static rill_err_t rdb_get(rill_store_part_t *p, const void *key, size_t klen,
                          rill_buf_t *out) {
    char *err = NULL;
    size_t vlen = 0;
    char *v = rocksdb_get_cf(p->db->db, p->db->ropts, p->cf, key, klen, &vlen, &err);
    if (err) {
        rocksdb_free(err);
        return RILL_ESTORE;
    }
    if (!v) return RILL_ENOENT;
    rill_buf_reset(out);
    rill_err_t rc = rill_buf_reserve(out, vlen ? vlen : 1);
    if (rc == RILL_OK) rc = rill_buf_append(out, v, vlen);
    rocksdb_free(v);
    return rc;
}

static rill_err_t rdb_put(rill_store_part_t *p, const void *key, size_t klen,
                          const void *val, size_t vlen) {
    char *err = NULL;
    rocksdb_put_cf(p->db->db, p->db->wopts, p->cf, key, klen, val ? val : "", vlen, &err);
    if (err) {
        rocksdb_free(err);
        return RILL_ESTORE;
    }
    return RILL_OK;
}

static rill_err_t rdb_del(rill_store_part_t *p, const void *key, size_t klen) {
    char *err = NULL;
    rocksdb_delete_cf(p->db->db, p->db->wopts, p->cf, key, klen, &err);
    if (err) {
        rocksdb_free(err);
        return RILL_ESTORE;
    }
    return RILL_OK;
}

static void be64(uint8_t out[8], int64_t v) {
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--, u >>= 8)
        out[i] = (uint8_t)u;
}

static rill_err_t rdb_write(rill_store_part_t *p, const rill_store_op_t *ops, size_t n,
                            int64_t changelog_offset) {
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    for (size_t i = 0; i < n; i++) {
        if (ops[i].kind == RILL_STORE_PUT)
            rocksdb_writebatch_put_cf(wb, p->cf, ops[i].key, ops[i].klen,
                                      ops[i].val ? ops[i].val : "", ops[i].vlen);
        else
            rocksdb_writebatch_delete_cf(wb, p->cf, ops[i].key, ops[i].klen);
    }
    if (changelog_offset >= 0) { /* in the same batch: data and offset are atomic */
        uint8_t v[8];
        be64(v, changelog_offset);
        rocksdb_writebatch_put_cf(wb, p->db->meta, p->name, strlen(p->name), (char *)v,
                                  8);
    }
    char *err = NULL;
    rocksdb_write(p->db->db, p->db->wopts, wb, &err);
    rocksdb_writebatch_destroy(wb);
    if (err) {
        rocksdb_free(err);
        return RILL_ESTORE;
    }
    return RILL_OK;
}

static rill_err_t rdb_scan(rill_store_part_t *p, const void *start, size_t slen,
                           const void *end, size_t elen, rill_store_scan_cb cb,
                           void *opaque) {
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    if (end) rocksdb_readoptions_set_iterate_upper_bound(ro, end, elen);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(p->db->db, ro, p->cf);
    if (start)
        rocksdb_iter_seek(it, start, slen);
    else
        rocksdb_iter_seek_to_first(it);
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        if (cb(k, kl, v, vl, opaque)) break;
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (err) {
        rocksdb_free(err);
        return RILL_ESTORE;
    }
    return RILL_OK;
}

static rill_err_t rdb_offset(rill_store_part_t *p, int64_t *out) {
    char *err = NULL;
    size_t vlen = 0;
    char *v = rocksdb_get_cf(p->db->db, p->db->ropts, p->db->meta, p->name,
                             strlen(p->name), &vlen, &err);
    if (err) {
        rocksdb_free(err);
        return RILL_ESTORE;
    }
    *out = RILL_OFFSET_INVALID;
    if (v && vlen == 8) {
        uint64_t u = 0;
        for (int i = 0; i < 8; i++)
            u = u << 8 | (uint8_t)v[i];
        *out = (int64_t)u;
    }
    if (v) rocksdb_free(v);
    return RILL_OK;
}

static int count_one(const void *k, size_t kl, const void *v, size_t vl, void *opaque) {
    (void)k;
    (void)v;
    rill_store_stats_t *s = opaque;
    s->keys++;
    s->bytes += kl + vl;
    return 0;
}

static rill_err_t rdb_stats(rill_store_part_t *p, rill_store_stats_t *out) {
    memset(out, 0, sizeof *out); /* exact: a full scan (tables call it rarely) */
    return rdb_scan(p, NULL, 0, NULL, 0, count_one, out);
}

static void rdb_part_close(rill_store_part_t *p) {
    p->open = false;
}

static rill_err_t rdb_drop(rill_store_t *s, const char *table, int32_t partition,
                           char *errstr, size_t errlen) {
    rdb_t *d = s->impl;
    char name[512];
    snprintf(name, sizeof name, "%s:%d", table, partition);
    for (struct rill_store_part **pp = &d->parts; *pp; pp = &(*pp)->next) {
        struct rill_store_part *p = *pp;
        if (strcmp(p->name, name) != 0) continue;
        if (p->open) {
            snprintf(errstr, errlen, "table '%s' partition %d is open: close it first",
                     table, partition);
            return RILL_ESTATE;
        }
        char *err = NULL;
        rocksdb_delete_cf(d->db, d->wopts, d->meta, name, strlen(name), &err);
        if (err) {
            rocksdb_free(err);
            err = NULL;
        }
        rocksdb_drop_column_family(d->db, p->cf, &err);
        rocksdb_column_family_handle_destroy(p->cf);
        *pp = p->next;
        free(p->name);
        free(p);
        CHECK(err, "drop column family");
        return RILL_OK;
    }
    return RILL_OK;
}

static rill_err_t rdb_flush(rill_store_t *s) {
    rdb_t *d = s->impl;
    char *err = NULL;
    rocksdb_flush_wal(d->db, 1, &err);
    if (err) {
        rocksdb_free(err);
        return RILL_ESTORE;
    }
    return RILL_OK;
}

static void rdb_close(rill_store_t *s) {
    rdb_t *d = s->impl;
    if (d->db) { /* memtables to SST files: the next open need not replay the WAL */
        rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
        rocksdb_flushoptions_set_wait(fo, 1);
        char *err = NULL;
        for (struct rill_store_part *p = d->parts; p; p = p->next) {
            rocksdb_flush_cf(d->db, fo, p->cf, &err);
            if (err) {
                rocksdb_free(err);
                err = NULL;
            }
        }
        if (d->meta) rocksdb_flush_cf(d->db, fo, d->meta, &err);
        if (err) rocksdb_free(err);
        rocksdb_flushoptions_destroy(fo);
    }
    while (d->parts) {
        struct rill_store_part *p = d->parts;
        d->parts = p->next;
        rocksdb_column_family_handle_destroy(p->cf);
        free(p->name);
        free(p);
    }
    if (d->meta) rocksdb_column_family_handle_destroy(d->meta);
    if (d->db) rocksdb_close(d->db);
    if (d->wopts) rocksdb_writeoptions_destroy(d->wopts);
    if (d->ropts) rocksdb_readoptions_destroy(d->ropts);
    if (d->opts) rocksdb_options_destroy(d->opts);
    if (d->topts) rocksdb_block_based_options_destroy(d->topts);
    if (d->cache) rocksdb_cache_destroy(d->cache);
    free(d->path);
}

const struct rill_store_ops rill_store_rocksdb = {
    .abi = RILL_STORE_ABI,
    .scheme = "rocksdb",
    .description = "RocksDB on local disk: a column family per table partition",
    .features = RILL_STORE_F_PERSISTENT,
    .props = rdb_props,
    .impl_size = sizeof(rdb_t),
    .open = rdb_open,
    .part_open = rdb_part_open,
    .get = rdb_get,
    .put = rdb_put,
    .del = rdb_del,
    .write = rdb_write,
    .scan = rdb_scan,
    .offset = rdb_offset,
    .stats = rdb_stats,
    .part_close = rdb_part_close,
    .drop = rdb_drop,
    .flush = rdb_flush,
    .close = rdb_close,
};
