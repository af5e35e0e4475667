/* Internal: table lookups routed to the owner (web_route.c, layer 6). */
#ifndef RILL_WEB_ROUTE_INT_H
#define RILL_WEB_ROUTE_INT_H

#include <event2/http.h>
#include <stdbool.h>

struct rill_web;

/* GET /table/<name>/<key> (this worker's value when it owns the key's partition,
 * else the owner's, proxied; ?redirect=1: a 307 to it; ?standby=1: a standby copy
 * while the owner recovers) and GET /router/<name>/<key> (who owns it).  False
 * when @p path is neither (the caller goes on matching). */
bool rill__web_route(struct rill_web *w, struct evhttp_request *req, const char *path,
                     const char *query);

#endif
