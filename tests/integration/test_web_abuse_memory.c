/* The worker's web server under abuse (issue 13, item 7; issue 16, item 8): a
 * worker process on memory:// counts events it sends itself (a timer), with its
 * HTTP server on a loopback port; the test process sends it garbage over TCP,
 * partial requests it holds open, 1,000 concurrent connections (past
 * web.max_connections, 64), a huge URL and huge headers.  After each, the worker
 * is still counting and answers /health; every one of the 1,000 connections gets
 * a complete answer (200, or 503 past the limit), none a reset.
 *
 * Memory: the whole abuse is run twice.  The bar is RSS back within 10 %
 * of before, after each round.  Memory in use (mallinfo2, read from the
 * worker's own /heap page) is the measure that tells a leak from retention: it
 * grows 60-140 KB in the first round (libevent's fd map and the server's table
 * sized for the descriptors open at once) and 0-33 KB in each later one, while
 * RSS grows 0.23-0.27 MB (+5.2 to +6.2 % of a 4.4 MB worker: what glibc keeps of
 * the heap the abuse needed once the server gave the free pages back,
 * core/web_trim.c; 0.34-0.57 MB before it did, 1.2-1.4 MB when a burst was
 * taken all at once).  So: RSS within 10 % of before after each round, and
 * within 2 MB of the first after the second (a ceiling: it catches 1.5 KB per
 * connection, a connection's buffers left behind); in use (the least of three
 * samples) 64 KB from round to round (a leak of 48 bytes per connection fails
 * it, as one put in on purpose did); open descriptors not at all.  Under
 * AddressSanitizer memory in use is its allocator's count and RSS is not bounded
 * (freed memory waits in its quarantine); LeakSanitizer checks the rest at exit.
 *
 * The worker sends itself 20 events/s: enough to see it counting, few enough
 * that its own log (memory://, max.messages=200) is steady during the test.  At
 * 10,000 events/s its RSS grows 5.3 -> 12.9 MB in 40 s with no HTTP traffic at
 * all (the memory transport's chunks, transports/memory.c), which is what the
 * first version of this test measured. */
#include <arpa/inet.h>
#include <errno.h>
#include <dirent.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>
#include <rill/web.h>

static pid_t worker;
static int port;

/* ---- the worker (child process) ------------------------------------------------ */

static rill_topic_t *wtopic;
static uint64_t wsent;

static rill_err_t count(rill_event_t *ev, void *opaque) {
    size_t klen;
    const void *k = rill_event_key_bytes(ev, &klen);
    return rill_table_incr(opaque, ev, k, klen, 1, NULL) == RILL_OK ? RILL_OK
                                                                    : RILL_ERETRY;
}

static void tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what, (void)arg;
    for (int i = 0; i < 1; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "k%d", (int)(wsent % 100));
        if (rill_send(wtopic, key, (size_t)n, "x", 1, &rill_send_encoded) != RILL_OK)
            break; /* full: the next tick */
        wsent++;
    }
}

/* GET /heap: the bytes malloc holds for live allocations (mallinfo2: in use in
 * the heap and mapped), which unlike RSS does not count what free() kept. */
#ifdef __SANITIZE_ADDRESS__
/* AddressSanitizer's allocator replaces malloc's (mallinfo2 says 0): its own
 * count of the bytes allocated and not freed is the same measure. */
size_t __sanitizer_get_current_allocated_bytes(void);
#define IN_USE_BYTES() __sanitizer_get_current_allocated_bytes()
#else
#define IN_USE_BYTES() (mallinfo2().uordblks + mallinfo2().hblkhd)
#endif

static rill_err_t heap_page(rill_web_request_t *req, void *opaque) {
    (void)opaque;
    char json[64];
    snprintf(json, sizeof json, "{\"in_use\":%zu}", (size_t)IN_USE_BYTES());
    return rill_web_reply_json(req, 200, json);
}

static void run_worker(int p) {
    char err[512], ps[16];
    snprintf(ps, sizeof ps, "%d", p);
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", "memory://abuse?keep=false&max.messages=200", err,
                  sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "100", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_conf_set(c, "web.port", ps, err, sizeof err);
    rill_conf_set(c, "web.timeout.ms", "1000", err, sizeof err);
    rill_app_t *app = rill_app_new("abuse", c, err, sizeof err);
    rill_topic_opts_t to = {.partitions = 4, .value_type = &rill_type_bytes};
    wtopic = rill_app_topic(app, "events", &to);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = wtopic};
    rill_table_t *t = rill_app_table(app, "counts", &tab);
    if (!t || !rill_app_agent(app, "count", wtopic, count, t, NULL) ||
        rill_app_page(app, "/heap", heap_page, NULL) != RILL_OK ||
        rill_app_start(app, err, sizeof err) != RILL_OK) {
        fprintf(stderr, "worker: %s %s\n", err, rill_app_errmsg(app));
        _exit(3);
    }
    struct event_base *base = rill_app_base(app);
    struct event *ev = event_new(base, -1, EV_PERSIST, tick, NULL);
    struct timeval ms = {0, 50000};
    event_add(ev, &ms);
    event_base_dispatch(base);
    _exit(0);
}

/* ---- a small HTTP client ------------------------------------------------------- */

static int dial(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return -1;
    }
    return s;
}

static void send_all(int s, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = send(s, buf, len, MSG_NOSIGNAL);
        if (n <= 0) return; /* the server may close on us: that is allowed */
        buf += n;
        len -= (size_t)n;
    }
}

/* Read until EOF or @p cap; the HTTP status of what came, 0 for none, -2 when
 * nothing came within the receive timeout (a connection left hanging). */
static int read_status(int s, char *body, size_t cap) {
    size_t got = 0;
    ssize_t n = 0;
    while (got + 1 < cap && (n = recv(s, body + got, cap - 1 - got, 0)) > 0)
        got += (size_t)n;
    body[got] = '\0';
    if (n < 0 && got == 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return -2;
    int status = 0;
    if (sscanf(body, "HTTP/1.%*d %d", &status) != 1) status = 0;
    return status;
}

static int get(const char *path, char *body, size_t cap) {
    int s = dial();
    if (s < 0) return -1;
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    send_all(s, req, (size_t)n);
    int st = read_status(s, body, cap);
    close(s);
    return st;
}

static long processed(void) {
    static char body[65536];
    if (get("/", body, sizeof body) != 200) return -1;
    const char *p = strstr(body, "\"count\":{\"processed\":");
    return p ? atol(p + strlen("\"count\":{\"processed\":")) : -1;
}

static long heap_kb(void) {
    char body[4096];
    if (get("/heap", body, sizeof body) != 200) return -1;
    const char *p = strstr(body, "\"in_use\":");
    return p ? atol(p + strlen("\"in_use\":")) / 1024 : -1;
}

static long fds(void) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)worker);
    DIR *d = opendir(path);
    long n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d) closedir(d);
    return d ? n : -1;
}

static long rss_kb(void) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)worker);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int worker_status = -1; /* waitpid's status once it ended */

/* The worker process is still running (else: how it ended). */
static void assert_worker_running(void) {
    int st;
    if (worker_status < 0 && waitpid(worker, &st, WNOHANG) == worker) worker_status = st;
    if (worker_status >= 0)
        printf("the worker ended: %s %d\n",
               WIFSIGNALED(worker_status) ? "signal" : "exit",
               WIFSIGNALED(worker_status) ? WTERMSIG(worker_status)
                                          : WEXITSTATUS(worker_status));
    assert_int_equal(worker_status, -1);
}

/* The worker answers /health and has counted more since @p before. */
static void assert_alive_and_counting(long before) {
    assert_worker_running();
    char body[4096];
    assert_int_equal(get("/health", body, sizeof body), 200);
    long now = before;
    for (int i = 0; i < 100 && now <= before; i++) {
        sleep_ms(50);
        now = processed();
    }
    assert_true(now > before);
}

/* What the worker holds once the connections of a round are closed. */
typedef struct held {
    long fds, heap_kb, rss_kb;
} held_t;
static held_t before;

static int measure(held_t *h) {
    sleep_ms(1500); /* past web.timeout.ms: every connection of the round is closed */
    h->fds = fds(); /* before /heap's own connection */
    h->heap_kb = h->rss_kb = -1;
    for (int i = 0; i < 3; i++) { /* the least of three: not a passing allocation */
        long heap = heap_kb(), rss = rss_kb();
        if (h->heap_kb < 0 || heap < h->heap_kb) h->heap_kb = heap;
        if (h->rss_kb < 0 || rss < h->rss_kb) h->rss_kb = rss;
        sleep_ms(100);
    }
    return h->fds > 0 && h->heap_kb > 0 && h->rss_kb > 0 ? 0 : -1;
}

static int setup(void **state) {
    (void)state;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 4096 && rl.rlim_max >= 4096) rl.rlim_cur = 4096;
    setrlimit(RLIMIT_NOFILE, &rl);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &al);
    port = ntohs(a.sin_port);
    close(s);
    worker = fork();
    if (worker == 0) run_worker(port);
    char body[4096];
    for (int i = 0; i < 200 && get("/health", body, sizeof body) != 200; i++)
        sleep_ms(50);
    if (get("/health", body, sizeof body) != 200) return -1;
    sleep_ms(3000); /* warm: the table's keys, the log at its bound */
    return measure(&before);
}

static int teardown(void **state) {
    (void)state;
    kill(worker, SIGKILL);
    waitpid(worker, NULL, 0);
    return 0;
}

/* ---- the abuse ----------------------------------------------------------------- */

static void garbage_over_tcp_does_not_stop_the_worker(void **state) {
    (void)state;
    long before = processed();
    assert_true(before >= 0);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int c = 0; c < 300; c++) {
        int s = dial();
        assert_true(s >= 0);
        char junk[2048];
        size_t len = 1 + (size_t)(x % sizeof junk);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            junk[i] = (char)x;
        }
        if (c % 3 == 0) memcpy(junk, "GET ", 4); /* a request line of garbage */
        send_all(s, junk, len);
        if (c % 2) { /* read what it says (an error, or a close) */
            char resp[4096];
            read_status(s, resp, sizeof resp);
        }
        close(s);
    }
    assert_alive_and_counting(before);
}

static void partial_requests_held_open_do_not_block_health(void **state) {
    (void)state;
    long before = processed();
    int held[40];
    for (int i = 0; i < 40; i++) {
        held[i] = dial();
        assert_true(held[i] >= 0);
        const char *part = i % 2 ? "GET /health HTTP/1.1\r\nHost: x\r\n" : "GE";
        send_all(held[i], part, strlen(part));
    }
    /* while they are held (within web.max_connections) the worker answers */
    assert_alive_and_counting(before);
    /* and past web.timeout.ms (1 s here) it closes them itself */
    int closed = 0;
    for (int i = 0; i < 40; i++) {
        char buf[512];
        struct pollfd p = {held[i], POLLIN, 0};
        if (poll(&p, 1, 5000) == 1 && recv(held[i], buf, sizeof buf, 0) >= 0) closed++;
        close(held[i]);
    }
    assert_int_equal(closed, 40);
}

static void a_thousand_concurrent_connections_are_each_answered(void **state) {
    (void)state;
    long before = processed();
    enum { N = 1000 };
    static int s[N];
    for (int i = 0; i < N; i++) {
        s[i] = dial();
        assert_true(s[i] >= 0);
    }
    const char *req = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < N; i++)
        send_all(s[i], req, strlen(req));
    int ok = 0, busy = 0, none = 0, hung = 0;
    for (int i = 0; i < N; i++) {
        char body[4096];
        int st = read_status(s[i], body, sizeof body);
        ok += st == 200;
        busy += st == 503;
        none += st == 0;
        hung += st == -2;
        close(s[i]);
    }
    printf("1,000 concurrent: %d answered 200, %d answered 503 (web.max_connections), "
           "%d reset without an answer, %d left hanging\n",
           ok, busy, none, hung);
    assert_alive_and_counting(before);
    assert_int_equal(hung, 0);
    assert_true(ok > 0);
    /* every connection gets its answer: a 503 written then closed with the
     * request unread is a reset, which can reach the client before the answer */
    assert_int_equal(ok + busy, N);
}

static void huge_urls_and_headers_are_refused(void **state) {
    (void)state;
    long before = processed();
    size_t big = 1 << 20;
    char *buf = malloc(big + 256);
    /* a 1 MB URL */
    int s = dial();
    assert_true(s >= 0);
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', big);
    strcpy(buf + 5 + big, " HTTP/1.1\r\nHost: x\r\n\r\n");
    send_all(s, buf, strlen(buf));
    char resp[4096];
    int st = read_status(s, resp, sizeof resp);
    close(s);
    assert_true(st == 0 || st >= 400); /* refused, or closed */
    /* 1 MB of headers */
    s = dial();
    assert_true(s >= 0);
    size_t n = (size_t)sprintf(buf, "GET /health HTTP/1.1\r\nHost: x\r\n");
    while (n + 64 < big)
        n += (size_t)sprintf(buf + n, "X-Filler-%zu: %040zu\r\n", n, n);
    n += (size_t)sprintf(buf + n, "\r\n");
    send_all(s, buf, n);
    st = read_status(s, resp, sizeof resp);
    close(s);
    assert_true(st == 0 || st >= 400);
    free(buf);
    assert_alive_and_counting(before);
}

/* After the first round (the four tests above): a burst is taken a few
 * connections at a time (core/web.c, FRESH_BATCH and MAX_DRAINS), so the heap
 * it needs is bounded, and once it is over the free pages of the heap go back
 * to the system (core/web_trim.c).  Taking all 1,000 at once grew RSS 1.2-1.4
 * MB here; taken in batches 0.34-0.57 MB (+7.7 to +13 %, 6 runs); given back
 * after, 0.23-0.27 MB (+5.2 to +6.2 %, 4 runs). */
static held_t first;

static long heap_trims(void) {
    static char body[65536];
    if (get("/metrics", body, sizeof body) != 200) return -1;
    const char *p = strstr(body, "\nrill_http_heap_trims_total{app=\"abuse\"} ");
    return p ? atol(p + strlen("\nrill_http_heap_trims_total{app=\"abuse\"} ")) : -1;
}

static void the_first_round_leaves_rss_within_ten_percent_of_before(void **state) {
    (void)state;
    assert_int_equal(measure(&first), 0);
    printf("worker RSS before the abuse / after one round: %ld / %ld KB (%+.1f %%)\n",
           before.rss_kb, first.rss_kb,
           100.0 * (double)(first.rss_kb - before.rss_kb) / (double)before.rss_kb);
#ifndef __SANITIZE_ADDRESS__ /* ASan keeps freed memory in quarantine: RSS grows */
    assert_true(first.rss_kb * 100 <= before.rss_kb * 110);
#endif
}

static void the_heap_went_back_after_the_bursts(void **state) {
    (void)state;
    assert_true(heap_trims() >= 1);
}

static void a_second_round_of_abuse_leaves_no_more_held_than_the_first(void **state) {
    held_t second;
    garbage_over_tcp_does_not_stop_the_worker(state);
    partial_requests_held_open_do_not_block_health(state);
    a_thousand_concurrent_connections_are_each_answered(state);
    huge_urls_and_headers_are_refused(state);
    assert_int_equal(measure(&second), 0);
    printf("worker before the abuse / after one round / after two: in use %ld / %ld / "
           "%ld KB, RSS %ld / %ld / %ld KB, descriptors %ld / %ld / %ld\n",
           before.heap_kb, first.heap_kb, second.heap_kb, before.rss_kb, first.rss_kb,
           second.rss_kb, before.fds, first.fds, second.fds);
    assert_true(second.heap_kb <= first.heap_kb + 64);
#ifndef __SANITIZE_ADDRESS__ /* ASan keeps freed memory in quarantine: RSS grows */
    assert_true(second.rss_kb <= first.rss_kb + 2048);
    assert_true(second.rss_kb * 100 <= before.rss_kb * 110);
#endif
    assert_true(second.fds <= first.fds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(garbage_over_tcp_does_not_stop_the_worker),
        cmocka_unit_test(partial_requests_held_open_do_not_block_health),
        cmocka_unit_test(a_thousand_concurrent_connections_are_each_answered),
        cmocka_unit_test(huge_urls_and_headers_are_refused),
        cmocka_unit_test(the_first_round_leaves_rss_within_ten_percent_of_before),
        cmocka_unit_test(the_heap_went_back_after_the_bursts),
        cmocka_unit_test(a_second_round_of_abuse_leaves_no_more_held_than_the_first),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
