/* rill-kafka-mock: librdkafka's mock cluster as a standalone Kafka broker on
 * 127.0.0.1, for development and tests (several worker processes and kcat can
 * share it).
 *
 * Topics: the mock does not implement CreateTopics, so they come from --topic
 * flags, or from lines "NAME:PARTITIONS[:compact]" appended to a topics file,
 * re-read continuously.  Without --topics-file that file is
 * /tmp/rill-kafka-mock-<port>.topics, where rill's Kafka transport finds it by
 * itself for a broker on 127.0.0.1:<port> (so a worker declares its topics with no
 * extra flags).
 *
 * Faults: --port binds a fixed port (librdkafka 2.0.2's mock always takes a free
 * one; this binary interposes bind() while the cluster starts), so a mock
 * restarted on it is found again by every client; --control FILE takes commands
 * appended while it runs: request errors, broker down/up, RTT. */
#include <arpa/inet.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

/* ---- a fixed port ------------------------------------------------------------------ */

static int fixed_port; /* the next broker's port while the cluster starts, else 0 */
static int bind_errno;

/* librdkafka's mock binds each broker to 127.0.0.1 port 0.  While the cluster
 * starts, this definition (the executable's, so it interposes libc's) gives those
 * binds the ports asked for instead; every other bind passes through. */
int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    struct sockaddr_in sin;
    if (fixed_port && addr && addr->sa_family == AF_INET && len >= sizeof sin) {
        memcpy(&sin, addr, sizeof sin);
        if (sin.sin_port == 0 && sin.sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
            sin.sin_port = htons((uint16_t)fixed_port++);
            int rc = (int)syscall(SYS_bind, fd, (const struct sockaddr *)&sin, len);
            if (rc != 0) bind_errno = errno;
            return rc;
        }
    }
    return (int)syscall(SYS_bind, fd, addr, len);
}

/* ---- topics -------------------------------------------------------------------------
 */

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

/* ---- control commands ------------------------------------------------------------ */

static const struct {
    const char *name;
    int16_t key;
} apis[] = {
    {"Produce", 0},          {"Fetch", 1},
    {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},
    {"SyncGroup", 14},       {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

static int api_key(const char *s) {
    for (size_t i = 0; i < sizeof apis / sizeof *apis; i++)
        if (!strcasecmp(s, apis[i].name)) return apis[i].key;
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= 0 && v < 100 ? (int)v : -1;
}

/* "NOT_LEADER_FOR_PARTITION", "_TRANSPORT" (a disconnect) or a number. */
static bool err_code(const char *s, rd_kafka_resp_err_t *out) {
    const struct rd_kafka_err_desc *d;
    size_t n;
    rd_kafka_get_err_descs(&d, &n);
    for (size_t i = 0; i < n; i++)
        if (d[i].name && !strcasecmp(s, d[i].name)) return *out = d[i].code, true;
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end) return false;
    *out = (rd_kafka_resp_err_t)v;
    return true;
}

static int32_t nbrokers = 1; /* --brokers */

static int32_t broker_id(const char *s) {
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    return s && *s && !*end && v > 0 && v <= 32 ? (int32_t)v : -1;
}

/* One line of the control file; 0 when applied. */
static int control(rd_kafka_mock_cluster_t *mc, char *line) {
    char *save, *w[40];
    int n = 0;
    for (char *t = strtok_r(line, " \t\r\n", &save); t && n < 40;
         t = strtok_r(NULL, " \t\r\n", &save))
        w[n++] = t;
    if (n == 0 || w[0][0] == '#') return 0;
    if (!strcmp(w[0], "error") && n >= 3) { /* error API ERR [ERR...] */
        int key = api_key(w[1]);
        rd_kafka_resp_err_t errs[38];
        if (key < 0)
            return fprintf(stderr, "rill-kafka-mock: unknown API '%s'\n", w[1]), -1;
        for (int i = 2; i < n; i++)
            if (!err_code(w[i], &errs[i - 2]))
                return fprintf(stderr, "rill-kafka-mock: unknown error '%s'\n", w[i]), -1;
        rd_kafka_mock_push_request_errors_array(mc, (int16_t)key, (size_t)(n - 2), errs);
        return 0;
    }
    bool all = n == 2 && !strcmp(w[1], "all");
    if ((!strcmp(w[0], "down") || !strcmp(w[0], "up")) && n == 2 &&
        (all || broker_id(w[1]) > 0)) {
        /* "all": every broker of the cluster, the nearest a mock that keeps its
         * data in memory comes to a broker restart (see docs/testing.md) */
        rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int32_t id = all ? 1 : broker_id(w[1]);
             !e && id <= (all ? nbrokers : broker_id(w[1])); id++)
            e = w[0][0] == 'd' ? rd_kafka_mock_broker_set_down(mc, id)
                               : rd_kafka_mock_broker_set_up(mc, id);
        if (e)
            fprintf(stderr, "rill-kafka-mock: %s %s: %s\n", w[0], w[1],
                    rd_kafka_err2str(e));
        return e ? -1 : 0;
    }
    if (!strcmp(w[0], "rtt") && n == 3 && broker_id(w[1]) > 0) {
        char *end;
        long ms = strtol(w[2], &end, 10);
        if (*end || ms < 0) return -1;
        return rd_kafka_mock_broker_set_rtt(mc, broker_id(w[1]), (int)ms) ? -1 : 0;
    }
    if (!strcmp(w[0], "topic") && n == 2) return create(mc, w[1]);
    fprintf(stderr,
            "rill-kafka-mock: unknown control command '%s' (error API ERR..., "
            "down ID|all, up ID|all, rtt ID MS, topic NAME:PARTITIONS)\n",
            w[0]);
    return -1;
}

/* Apply the lines of @p path past the first *@p done, with @p fn. */
static void follow(rd_kafka_mock_cluster_t *mc, const char *path, long *done,
                   int (*fn)(rd_kafka_mock_cluster_t *, char *), const char *what) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[1024];
    long n = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n')) break; /* a line still being written */
        if (n++ < *done) continue;
        *done = n;
        if (line[0] == '\n' || line[0] == '#') continue;
        char copy[sizeof line];
        snprintf(copy, sizeof copy, "%s", line);
        if (fn(mc, line) != 0)
            fprintf(stderr, "rill-kafka-mock: bad %s line in %s: %s", what, path, copy);
        else if (fn == control)
            fprintf(stderr, "rill-kafka-mock: control: %s", copy);
    }
    fclose(f);
}

static int topic_line(rd_kafka_mock_cluster_t *mc, char *line) {
    return create(mc, line);
}

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: rill-kafka-mock [--brokers N] [--port P] [--topic "
        "NAME:PARTITIONS[:compact]]...\n"
        "                       [--topics-file FILE] [--port-file FILE] [--control "
        "FILE]\n"
        "                       [--debug CONTEXTS]\n"
        "\n"
        "Runs librdkafka's mock Kafka cluster on 127.0.0.1 until SIGTERM or SIGINT.\n"
        "Prints the bootstrap address (host:port,...) as the first line on stdout.\n"
        "  --brokers N          brokers in the cluster (default 1)\n"
        "  --port P             broker 1 listens on port P, broker i on P+i-1 (default:\n"
        "                       free ports); a mock restarted on P is found again\n"
        "  --topic T:P[:compact] create topic T with P partitions (repeatable)\n"
        "  --topics-file FILE   create the topics listed in FILE, one T:P[:compact] a\n"
        "                       line, including lines appended while running (default:\n"
        "                       /tmp/rill-kafka-mock-<port>.topics, which rill's Kafka\n"
        "                       transport finds by itself)\n"
        "  --port-file FILE     also write the bootstrap address to FILE\n"
        "  --control FILE       apply commands appended to FILE while running:\n"
        "                         error API ERR [ERR...]  the next requests of API\n"
        "                             (Produce, Fetch, OffsetCommit, JoinGroup, ... or "
        "a\n"
        "                             number) fail with these errors (librdkafka names:\n"
        "                             NOT_LEADER_FOR_PARTITION, REBALANCE_IN_PROGRESS,\n"
        "                             _TRANSPORT for a disconnect, or numbers)\n"
        "                         down ID | up ID         take broker ID down or up\n"
        "                         down all | up all       every broker (a cluster "
        "restart\n"
        "                             that keeps the data)\n"
        "                         rtt ID MS               delay broker ID's responses\n"
        "                         topic NAME:PARTITIONS   create a topic\n"
        "  --debug CONTEXTS     librdkafka's debug contexts on stderr (e.g. mock: the\n"
        "                       group coordinator's decisions)\n");
}

int main(int argc, char **argv) {
    int brokers = 1, port = 0;
    const char *topics_file = NULL, *port_file = NULL, *control_file = NULL;
    const char *debug = NULL;
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
        } else if (!strcmp(a, "--port") && v) {
            port = atoi(v);
            i++;
            if (port < 1 || port > 65535 - 32) {
                fprintf(stderr, "rill-kafka-mock: --port needs 1-65503, got '%s'\n\n", v);
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
        } else if (!strcmp(a, "--control") && v) {
            control_file = v;
            i++;
        } else if (!strcmp(a, "--debug") && v) {
            debug = v;
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
    rd_kafka_conf_set(conf, "log_level", debug ? "7" : "3", err, sizeof err);
    if (debug && rd_kafka_conf_set(conf, "debug", debug, err, sizeof err)) {
        fprintf(stderr, "rill-kafka-mock: --debug: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rill-kafka-mock: %s\n", err);
        return 1;
    }
    /* librdkafka 2.0.2 aborts when a broker cannot bind: check the ports first */
    for (int i = 0; port && i < brokers; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0), on = 1;
        struct sockaddr_in sin = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)(port + i)),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (s < 0 || bind(s, (struct sockaddr *)&sin, sizeof sin) != 0) {
            fprintf(stderr, "rill-kafka-mock: cannot listen on 127.0.0.1:%d: %s\n",
                    port + i, strerror(errno));
            if (s >= 0) close(s);
            rd_kafka_destroy(rk);
            return 1;
        }
        close(s);
    }
    fixed_port = port;
    nbrokers = brokers;
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    fixed_port = 0;
    if (!mc) {
        if (port)
            fprintf(stderr, "rill-kafka-mock: cannot listen on 127.0.0.1:%d-%d: %s\n",
                    port, port + brokers - 1, strerror(bind_errno ? bind_errno : EINVAL));
        else
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
    /* the side channel a worker on 127.0.0.1:<port> finds (transports/kafka) */
    char found[256] = "";
    if (!topics_file) {
        const char *colon = strrchr(strtok(strdup(bs), ","), ':');
        snprintf(found, sizeof found, "/tmp/rill-kafka-mock-%s.topics",
                 colon ? colon + 1 : "0");
        /* a fixed port keeps its topics across restarts (re-read below) */
        FILE *f = fopen(found, port ? "a" : "w");
        if (f) fclose(f);
        topics_file = found;
    }
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
    long topics_done = 0, control_done = 0;
    while (!stop) {
        follow(mc, topics_file, &topics_done, topic_line, "topic");
        if (control_file) follow(mc, control_file, &control_done, control, "control");
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (*found && !port) unlink(found);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
