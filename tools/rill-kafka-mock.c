/* rill-kafka-mock: librdkafka's mock cluster as a standalone Kafka broker on
 * 127.0.0.1, for development and tests (several worker processes and kcat can
 * share it).  The mock does not implement CreateTopics, so topics come from
 * --topic flags, or from lines "NAME:PARTITIONS[:compact]" appended to the
 * --topics-file, which is re-read continuously (rill's kafka.create.file). */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: rill-kafka-mock [--brokers N] [--topic NAME:PARTITIONS[:compact]]...\n"
        "                       [--topics-file FILE] [--port-file FILE]\n"
        "\n"
        "Runs librdkafka's mock Kafka cluster on 127.0.0.1 until SIGTERM or SIGINT.\n"
        "Prints the bootstrap address (host:port,...) as the first line on stdout.\n"
        "  --brokers N          brokers in the cluster (default 1)\n"
        "  --topic T:P[:compact] create topic T with P partitions (repeatable)\n"
        "  --topics-file FILE   create the topics listed in FILE, one T:P[:compact] a\n"
        "                       line, including lines appended while running\n"
        "  --port-file FILE     also write the bootstrap address to FILE\n");
}

static int create(rd_kafka_mock_cluster_t *mc, const char *spec) {
    char name[256];
    int parts = 0;
    const char *colon = strchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof name) return -1;
    memcpy(name, spec, (size_t)(colon - spec));
    name[colon - spec] = '\0';
    char *end;
    parts = (int)strtol(colon + 1, &end, 10);
    if (parts <= 0 || parts > 10000 || (*end && *end != ':' && *end != '\n')) return -1;
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, name, parts, 1);
    if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        fprintf(stderr, "rill-kafka-mock: topic %s: %s\n", name, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int brokers = 1;
    const char *topics_file = NULL, *port_file = NULL;
    const char *topics[256];
    int ntopics = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--brokers") && v) {
            brokers = atoi(v);
            i++;
            if (brokers < 1 || brokers > 32) {
                fprintf(stderr, "rill-kafka-mock: --brokers needs 1-32, got '%s'\n\n", v);
                usage(stderr);
                return 2;
            }
        } else if (!strcmp(a, "--topic") && v && ntopics < 256) {
            topics[ntopics++] = v;
            i++;
        } else if (!strcmp(a, "--topics-file") && v) {
            topics_file = v;
            i++;
        } else if (!strcmp(a, "--port-file") && v) {
            port_file = v;
            i++;
        } else {
            fprintf(stderr, "rill-kafka-mock: unknown or incomplete argument '%s'\n\n",
                    a);
            usage(stderr);
            return 2;
        }
    }
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rill-kafka-mock: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "rill-kafka-mock: cannot start the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (int i = 0; i < ntopics; i++) {
        if (create(mc, topics[i]) != 0) {
            fprintf(stderr,
                    "rill-kafka-mock: bad --topic '%s' (expected NAME:PARTITIONS)\n",
                    topics[i]);
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return 2;
        }
    }
    const char *bs = rd_kafka_mock_cluster_bootstraps(mc);
    printf("%s\n", bs);
    fflush(stdout);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (f) {
            fprintf(f, "%s\n", bs);
            fclose(f);
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    long done = 0; /* lines of the topics file already created */
    while (!stop) {
        if (topics_file) {
            FILE *f = fopen(topics_file, "r");
            if (f) {
                char line[512];
                long n = 0;
                while (fgets(line, sizeof line, f)) {
                    if (n++ < done || line[0] == '\n' || line[0] == '#') continue;
                    if (create(mc, line) != 0)
                        fprintf(stderr, "rill-kafka-mock: bad line in %s: %s",
                                topics_file, line);
                    done = n;
                }
                fclose(f);
            }
        }
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
