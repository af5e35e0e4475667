/* The seed's first example: a Greeting record, an agent printing greetings, and a
 * timer sending one every second.
 *
 *   ./build/examples/hello worker              (memory://, nothing else needed)
 *   ./build/examples/hello worker --broker kafka://localhost:9092
 *   ./build/examples/hello send hello-topic '{"from_name":"me","to_name":"you"}'
 */
#include <stdio.h>

#include <rill/rill.h>

typedef struct greeting {
    char *from_name;
    char *to_name;
} greeting_t;

RILL_RECORD(greeting_schema, greeting_t, "gen.Greeting",
            RILL_F(greeting_t, from_name, STRING), RILL_F(greeting_t, to_name, STRING));

static rill_topic_t *topic;

static rill_err_t hello(rill_event_t *ev, void *opaque) {
    (void)opaque;
    const greeting_t *g = rill_event_value(ev);
    printf("Hello from %s to %s\n", g->from_name, g->to_name);
    fflush(stdout);
    return RILL_OK;
}

static void example_sender(rill_app_t *app, void *opaque) {
    (void)opaque;
    greeting_t g = {.from_name = "Faust", .to_name = "you"};
    if (rill_send(topic, NULL, 0, &g, sizeof g, NULL) != RILL_OK)
        rill_app_log(app, RILL_LOG_WARN, "send: %s", rill_app_errmsg(app));
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("hello-app", NULL, err, sizeof err);
    if (!app) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rill_topic_opts_t opts = {.value_type = RILL_TYPE_RECORD(&greeting_schema)};
    topic = rill_app_topic(app, "hello-topic", &opts);
    if (!topic || !rill_app_agent(app, "hello", topic, hello, NULL, NULL) ||
        !rill_app_timer(app, "example_sender", 1.0, example_sender, NULL)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
