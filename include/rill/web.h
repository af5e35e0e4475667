/**
 * @file web.h
 * @brief The app's own web views on the worker's web server (web.port), Faust's
 * @app.page: endpoints with path parameters, answers in JSON, table reads, and
 * Server-Sent Events streams an app pushes its own events to.  docs/web.md.
 *
 * Everything runs on the app's loop: a page's handler answers before it returns
 * (rill_web_reply*), and must not block.
 */
#ifndef RILL_WEB_H
#define RILL_WEB_H

#include "app.h"
#include "table.h"

RILL_BEGIN_DECLS

typedef struct rill_web_request rill_web_request_t;

/** @brief A page's handler.  It answers with one of rill_web_reply*; one that
 * returns without answering gets 500 (with the error's text when not RILL_OK). */
typedef rill_err_t (*rill_page_fn)(rill_web_request_t *req, void *opaque);

/**
 * @brief Serve GET (and HEAD) @p pattern with @p fn.  A pattern is a path whose
 * segments are either text or "{name}", which matches one non-empty segment
 * (rill_web_param() reads it): "/orders/{id}".  The built-in paths (/, /health,
 * /ready, /metrics, /status, /events, /dashboard.js, /table/..., /tables/...,
 * /router/...) cannot be taken.  Before or after rill_app_start().
 * @returns RILL_OK, RILL_EINVAL (a bad or taken pattern), RILL_EEXIST (the same
 * pattern twice), RILL_ENOMEM.
 */
RILL_API rill_err_t rill_app_page(rill_app_t *app, const char *pattern, rill_page_fn fn,
                                  void *opaque);

/** @brief The text of path parameter @p name ("{name}" in the pattern; decoded),
 * or NULL. */
RILL_API const char *rill_web_param(const rill_web_request_t *req, const char *name);
/** @brief The value of query parameter @p name (decoded), or NULL. */
RILL_API const char *rill_web_query(const rill_web_request_t *req, const char *name);
/** @brief The request's path (decoded). */
RILL_API const char *rill_web_path(const rill_web_request_t *req);
RILL_API rill_app_t *rill_web_app(const rill_web_request_t *req);

/** @brief Answer @p status with @p len bytes of @p body (copied) of @p content_type. */
RILL_API rill_err_t rill_web_reply(rill_web_request_t *req, int status,
                                   const char *content_type, const void *body,
                                   size_t len);
/** @brief Answer @p status with @p json (a JSON text, application/json). */
RILL_API rill_err_t rill_web_reply_json(rill_web_request_t *req, int status,
                                        const char *json);
/** @brief Answer @p status with {"error": @p message}. */
RILL_API rill_err_t rill_web_reply_error(rill_web_request_t *req, int status,
                                         const char *message);
/**
 * @brief Answer the row of @p key in @p t as JSON: 200 {"table", "key",
 * "partition", "value"} (the value by the json serializer), 404 when there is no
 * row, 421 {"error", "table", "partition"} when this worker does not own the key's
 * partition (or has not recovered it: ask the owner, GET /router/<table>/<key>).
 */
RILL_API rill_err_t rill_web_reply_table(rill_web_request_t *req, rill_table_t *t,
                                         const void *key, size_t klen);

/**
 * @brief Serve @p path as a Server-Sent Events stream (text/event-stream) that
 * rill_app_push() writes to: a browser reads it with new EventSource(path).
 * Subscribers are bounded (web.events.max_subscribers, 503 past it) and one that
 * reads too slowly is dropped (web.events.buffer.bytes).
 * @returns RILL_OK, RILL_EINVAL (a bad or taken path), RILL_EEXIST, RILL_ENOMEM.
 */
RILL_API rill_err_t rill_app_event_stream(rill_app_t *app, const char *path);
/**
 * @brief Send one event to every subscriber of stream @p path: "event: @p event"
 * (NULL: a plain message) and @p len bytes of @p data (each line a data: line).
 * Never blocks.  Without a web server (web.port 0) there is no one to send to:
 * RILL_OK.
 * @returns RILL_OK, RILL_EINVAL (no such stream).
 */
RILL_API rill_err_t rill_app_push(rill_app_t *app, const char *path, const char *event,
                                  const char *data, size_t len);
/** @brief Subscribers of stream @p path now (0 without a web server). */
RILL_API size_t rill_app_push_subscribers(rill_app_t *app, const char *path);

RILL_END_DECLS

#endif
