/* The operator runtime: runs an agent's stream operators (filter, map, enumerate,
 * echo, through, group_by, take) on each event before its handler.  Layer 4
 * (docs/architecture.md); the builder is stream.c. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record_int.h"
#include "event_int.h"

/* Bytes of the event's current value: the received bytes, or the mapped value
 * encoded with @p dest's serializer. */
static rill_err_t value_bytes(rill_event_t *ev, rill_topic_t *dest, const void **v,
                              size_t *vlen, rill_buf_t *buf) {
    if (!ev->value || ev->vtype == ev->agent->topic->vtype) {
        *v = ev->msg.value;
        *vlen = ev->msg.value_len;
        return RILL_OK;
    }
    if (ev->vtype->kind == RILL_T_BYTES) {
        const rill_bytes_t *b = ev->value;
        *v = b->data;
        *vlen = b->len;
        return RILL_OK;
    }
    char why[256] = "";
    rill_buf_reset(buf);
    rill_err_t rc =
        rill_serializer_encode(dest->vser, ev->vtype, ev->value, buf, why, sizeof why);
    if (rc != RILL_OK) {
        rill_log(ev->app->log, RILL_LOG_ERROR, ev->agent->name, "encoding for '%s': %s",
                 dest->name, why);
        return rc;
    }
    *v = buf->data;
    *vlen = buf->len;
    return RILL_OK;
}

rill_err_t rill__forward_to(rill_event_t *ev, rill_topic_t *dest, const void *key,
                            size_t klen, const rill_header_t *extra, size_t nextra) {
    rill_buf_t buf = RILL_BUF_INIT;
    const void *v;
    size_t vlen;
    rill_header_t hs[64];
    size_t nh = 0, nin;
    const rill_header_t *in = rill_msg_headers(&ev->msg, &nin);
    for (size_t i = 0; i < nin && nh < 62; i++)
        hs[nh++] = in[i];
    for (size_t i = 0; i < nextra && nh < 64; i++)
        hs[nh++] = extra[i];
    rill_err_t rc = value_bytes(ev, dest, &v, &vlen, &buf);
    if (rc == RILL_OK) {
        rill_send_opts_t o =
            RILL__SEND_OPTS(.headers = hs, .nheaders = nh, .event = ev,
                            .timestamp_ms = ev->msg.timestamp_ms, .encoded = true);
        rc = rill_send(dest, key, klen, ev->msg.value ? (v ? v : "") : NULL, vlen, &o);
    }
    rill_buf_free(&buf);
    return rc;
}

int rill__ops_run(rill_event_t *ev) {
    rill_agent_t *a = ev->agent;
    for (size_t i = 0; i < a->nops; i++) {
        rill_op_t *op = &a->ops[i];
        switch (op->kind) {
        case RILL_OP_FILTER: {
            bool keep = true;
            rill_err_t rc = op->filter(ev, &keep, op->opaque);
            if (rc != RILL_OK) {
                rill__handler_result(ev, rc);
                return RILL__OPS_DONE;
            }
            if (!keep) {
                a->processed++;
                return RILL__OPS_DONE;
            }
            break;
        }
        case RILL_OP_MAP: {
            const rill_type_t *t = op->out_type;
            size_t sz = rill__value_csize(t);
            void *out = calloc(1, sz ? sz : 1);
            if (!out) {
                rill__handler_result(ev, RILL_ENOMEM);
                return RILL__OPS_DONE;
            }
            if (t->kind == RILL_T_RECORD) rill_record_init(t->record, out);
            rill_err_t rc = op->map(ev, out, op->opaque);
            if (rc != RILL_OK) {
                rill_value_clear(t, out);
                free(out);
                rill__handler_result(ev, rc);
                return RILL__OPS_DONE;
            }
            if (ev->value) {
                rill__value_clear_in(ev->vtype, ev->value, &ev->strings);
                free(ev->value);
            }
            ev->value = out;
            ev->vtype = t;
            break;
        }
        case RILL_OP_ENUMERATE:
            ev->index = a->enum_next++;
            break;
        case RILL_OP_ECHO:
            for (size_t j = 0; j < op->ntopics; j++) {
                rill_err_t rc = rill__forward_to(ev, op->topics[j], ev->msg.key,
                                                 ev->msg.key_len, NULL, 0);
                if (rc != RILL_OK) {
                    rill__handler_result(ev, rc);
                    return RILL__OPS_DONE;
                }
            }
            break;
        case RILL_OP_FORWARD: {
            const void *k = ev->msg.key;
            size_t klen = ev->msg.key_len;
            if (op->key) {
                rill_buf_reset(&a->keybuf);
                rill_err_t rc = op->key(ev, &a->keybuf, op->opaque);
                if (rc == RILL_ENOENT) { /* the key function drops it */
                    a->processed++;
                    return RILL__OPS_DONE;
                }
                if (rc != RILL_OK) {
                    rill__handler_result(ev, rc);
                    return RILL__OPS_DONE;
                }
                k = a->keybuf.data ? a->keybuf.data : (const uint8_t *)"";
                klen = a->keybuf.len;
            }
            rill_err_t rc = rill__forward_to(ev, op->dest, k, klen, NULL, 0);
            rill__handler_result(ev, rc);
            return RILL__OPS_DONE;
        }
        }
    }
    if (a->take_n) {
        rill__take_add(ev);
        return RILL__OPS_HELD;
    }
    return RILL__OPS_CALL;
}
