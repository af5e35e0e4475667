/* Stream-stream windowed join: an ad view on "views" and a click on "clicks" (key:
 * the user, value: the ad) are joined when the click comes at most 10 s after the
 * view (or 1 s before it, clocks differ); a left join, so views nobody clicked are
 * printed too, once the stream time has passed their window.  Both sides are
 * buffered in the tables "view-clicks-left"/"-right", backed by changelogs: a
 * worker that dies mid-window finds its buffers on restart.  The two topics must
 * have the same partition count.
 *
 *   ./build/examples/join_clicks worker
 */
#include <stdio.h>

#include <rill/rill.h>

static rill_err_t on_pair(rill_event_t *ev, const rill_join_pair_t *p, void *opaque) {
    (void)ev;
    (void)opaque;
    if (!p->right)
        printf("%.*s saw %.*s and did not click\n", (int)p->klen, (const char *)p->key,
               (int)p->left_len, (const char *)p->left);
    else
        printf("%.*s clicked %.*s %lld ms after the view\n", (int)p->klen,
               (const char *)p->key, (int)p->right_len, (const char *)p->right,
               (long long)(p->right_ts - p->left_ts));
    return RILL_OK;
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("join-clicks", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    rill_topic_t *views = rill_app_topic(app, "views", NULL);
    rill_topic_t *clicks = rill_app_topic(app, "clicks", NULL);
    rill_stream_join_opts_t o = {
        .mode = RILL_JOIN_LEFT, .before_ms = 1000, .after_ms = 10000, .fn = on_pair};
    rill_stream_join_stream(rill_app_stream(app, views), rill_app_stream(app, clicks),
                            "view-clicks", &o);
    return rill_app_main(app, argc, argv); /* refuses to start naming a failed step */
}
