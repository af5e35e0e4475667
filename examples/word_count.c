/* Word count with a table.  Sentences arrive on "sentences"; an agent splits them
 * and sends each word keyed by itself to "words", so the counting agent's
 * partition owns the word's table entry (the repartition step Faust does with
 * group_by). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <rill/rill.h>

static rill_topic_t *sentences, *words;
static rill_table_t *counts;

static rill_err_t split(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t len;
    const char *s = rill_event_value_bytes(ev, &len);
    size_t i = 0;
    while (i < len) {
        while (i < len && !isalnum((unsigned char)s[i]))
            i++;
        size_t start = i;
        char w[64];
        size_t n = 0;
        while (i < len && isalnum((unsigned char)s[i])) {
            if (n < sizeof w - 1) w[n++] = (char)tolower((unsigned char)s[i]);
            i++;
        }
        if (i == start) continue;
        rill_err_t rc = rill_send(words, w, n, "1", 1, NULL);
        if (rc != RILL_OK) return rc;
    }
    return RILL_OK;
}

static rill_err_t count(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t len;
    const char *w = rill_event_key_bytes(ev, &len);
    int64_t n;
    rill_err_t rc = rill_table_incr(counts, ev, w, len, 1, &n);
    if (rc != RILL_OK) return rc;
    printf("%.*s: %lld\n", (int)len, w, (long long)n);
    fflush(stdout);
    return RILL_OK;
}

static void feed(rill_app_t *app, void *opaque) {
    static const char *text[] = {"the quick brown fox", "jumps over the lazy dog",
                                 "the dog sleeps"};
    static int n;
    (void)app;
    (void)opaque;
    const char *s = text[n++ % 3];
    rill_send(sentences, NULL, 0, s, strlen(s), NULL);
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("word-count", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    sentences = rill_app_topic(app, "sentences", NULL);
    words = rill_app_topic(app, "words", NULL);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = words};
    counts = rill_app_table(app, "word_counts", &tab);
    if (!sentences || !words || !counts ||
        !rill_app_agent(app, "split", sentences, split, NULL, NULL) ||
        !rill_app_agent(app, "count", words, count, NULL, NULL) ||
        !rill_app_timer(app, "feed", 1.0, feed, NULL)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
