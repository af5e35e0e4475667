/* rill-bench [SCENARIO...] [--events N] [--broker URL] [--store URL] [--repeat R]
 * One JSON object per scenario on stdout; a human table on stderr.
 *
 * Every repeat of a scenario runs in a child process of its own, so its peak RSS
 * and CPU time are its own (wait4's rusage counts every thread of the child,
 * librdkafka's too), a crash or hang of one scenario does not take the others with
 * it, and --repeat gives R independent same-run ratios (median, min, max). */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern const bench_scenario_t bench_memory_window_count;       /* window_count.c */
extern const bench_scenario_t bench_memory_window_sliding;     /* window_sliding.c */
extern const bench_scenario_t bench_memory_join_stream_table;  /* join_stream_table.c */
extern const bench_scenario_t bench_memory_join_stream_stream; /* join_stream_stream.c */
extern const bench_scenario_t bench_soak, bench_idle_memory;   /* soak.c, idle.c */
#ifdef RILL_HAVE_REDIS
extern const bench_scenario_t bench_idle_redis; /* idle.c */
#endif
#ifdef RILL_HAVE_KAFKA
extern const bench_scenario_t bench_idle_kafka; /* idle.c */
#endif
static const bench_scenario_t *const scenarios[] = {
    &bench_memory_passthrough,
    &bench_memory_filter_map,
    &bench_memory_take,
    &bench_memory_table_count,
    &bench_recovery,
    &bench_recovery_checkpoint,
    &bench_codec_json,
    &bench_memory_table_count_web,
    &bench_web_metrics_scrape,
    &bench_memory_window_count,
    &bench_memory_window_sliding,
    &bench_memory_join_stream_table,
    &bench_memory_join_stream_stream,
#ifdef RILL_HAVE_AVRO
    &bench_codec_avro,
#endif
#ifdef RILL_HAVE_KAFKA
    &bench_kafka_passthrough,
    &bench_kafka_produce,
    &bench_kafka_table_count,
    &bench_kafka_faust_greetings,
#endif
#ifdef RILL_HAVE_REDIS
    &bench_redis_passthrough,
    &bench_redis_table_count,
#endif
    &bench_soak,
    &bench_idle_memory,
#ifdef RILL_HAVE_REDIS
    &bench_idle_redis,
#endif
#ifdef RILL_HAVE_KAFKA
    &bench_idle_kafka,
#endif
};
#define NSCEN (sizeof scenarios / sizeof scenarios[0])

void bench_fresh_store(const char *store, char *out, size_t n, const char *tag) {
    static unsigned seq;
    if (strncmp(store, "rocksdb://", 10) == 0)
        snprintf(out, n, "%s-%s-%d-%u", store, tag, (int)getpid(), ++seq);
    else
        snprintf(out, n, "%s", store);
}

void bench_rm_store(const char *url) {
    if (strncmp(url, "rocksdb://", 10) != 0) return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", url + 10);
    if (system(cmd) != 0) fprintf(stderr, "bench: could not remove %s\n", url + 10);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median of the finite values of @p v (NAN if none), leaving v as it is. */
static double median_of(const double *v, int n) {
    double t[99];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) t[k++] = v[i];
    return k ? bench_median(t, k) : NAN;
}

static void usage(FILE *f) {
    fprintf(
        f, "usage: rill-bench [SCENARIO...] [--events N] [--broker URL] [--store URL] "
           "[--repeat R] [--serializer json|avro] [--json-decoder auto|simdjson|jansson] "
           "[--timeout S]\n\nscenarios:\n");
    for (size_t i = 0; i < NSCEN; i++)
        fprintf(f, "  %-24s %s\n", scenarios[i]->name, scenarios[i]->description);
}

/* What a child sends back: the result, with its strings copied in. */
typedef struct child_msg {
    int rc;
    bench_result_t r;
    char transport[32], store[32], serializer[32];
} child_msg_t;

typedef struct rep {
    child_msg_t m;
    struct rusage ru; /* the child's, from wait4 */
} rep_t;

static void copy_str(char *dst, size_t n, const char *src) {
    snprintf(dst, n, "%s", src ? src : "");
}

/* Run one repeat of @p s in a child; 0 with @p out filled, or BENCH_SKIPPED or -1
 * with out->m.r.note. */
static int run_child(const bench_scenario_t *s, const bench_opts_t *o, int timeout_s,
                     rep_t *out) {
    memset(out, 0, sizeof *out);
    int fd[2];
    if (pipe(fd) != 0) {
        snprintf(out->m.r.note, sizeof out->m.r.note, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(out->m.r.note, sizeof out->m.r.note, "fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        close(fd[0]);
        bench_opts_t co = *o;
        co.repeat = 1;
        static child_msg_t m;
        bench_result_init(&m.r);
        m.rc = s->run(&co, &m.r);
        copy_str(m.transport, sizeof m.transport, m.r.transport);
        copy_str(m.store, sizeof m.store, m.r.store);
        copy_str(m.serializer, sizeof m.serializer, m.r.serializer);
        m.r.transport = m.r.store = m.r.serializer = NULL;
        const char *p = (const char *)&m;
        size_t left = sizeof m;
        while (left) {
            ssize_t w = write(fd[1], p, left);
            if (w <= 0) break;
            p += w;
            left -= (size_t)w;
        }
        close(fd[1]);
        exit(0); /* atexit handlers stop what the scenario started (redis-server) */
    }
    close(fd[1]);
    char *p = (char *)&out->m;
    size_t got = 0;
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_s * 1000000000ull;
    bool timed_out = false;
    while (got < sizeof out->m) {
        uint64_t now = bench_now_ns();
        if (now >= deadline) {
            timed_out = true;
            break;
        }
        struct pollfd pfd = {fd[0], POLLIN, 0};
        int pr = poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        ssize_t r = read(fd[0], p + got, sizeof out->m - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd[0]);
    if (timed_out) kill(pid, SIGKILL);
    int status = 0;
    while (wait4(pid, &status, 0, &out->ru) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        snprintf(out->m.r.note, sizeof out->m.r.note, "timed out after %d s (--timeout)",
                 timeout_s);
        return -1;
    }
    if (got < sizeof out->m) {
        snprintf(out->m.r.note, sizeof out->m.r.note, "scenario process %s %d",
                 WIFSIGNALED(status) ? "killed by signal" : "exited with",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        return -1;
    }
    out->m.r.transport = out->m.transport;
    out->m.r.store = out->m.store;
    out->m.r.serializer = out->m.serializer;
    return out->m.rc;
}

static void put_num(const char *key, double v, const char *fmt) {
    printf(",\"%s\":", key);
    if (isfinite(v))
        printf(fmt, v);
    else
        printf("null");
}

static void put_json_str(const char *key, const char *s) {
    printf(",\"%s\":\"", key);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static double ru_cpu(const struct rusage *ru) {
    return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) +
           (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e6;
}

/* One scenario's line from its @p n repeats. */
static void report(const bench_scenario_t *s, rep_t *reps, int n) {
    double eps[99], beps[99], ratio[99], p50[99], p99[99], p999[99], bp50[99], bp99[99],
        bp999[99], cpu[99], bcpu[99], child_cpu[99], su[99], bsu[99], seps[99],
        sratio[99], smean[99], scount[99], cratio[99];
    long rss = -1, brss = -1, child_rss = 0;
    double smax = NAN;
    for (int i = 0; i < n; i++) {
        const bench_result_t *r = &reps[i].m.r;
        double ev = (double)r->events;
        /* no events (the idle scenarios): no rate was measured */
        eps[i] = r->events && r->seconds > 0 ? ev / r->seconds : NAN;
        beps[i] = r->events && r->baseline_seconds > 0 ? ev / r->baseline_seconds : NAN;
        ratio[i] = isfinite(eps[i]) && isfinite(beps[i]) ? eps[i] / beps[i] : NAN;
        p50[i] = r->p50_us;
        p99[i] = r->p99_us;
        p999[i] = r->p999_us;
        bp50[i] = r->baseline_p50_us;
        bp99[i] = r->baseline_p99_us;
        bp999[i] = r->baseline_p999_us;
        cpu[i] = r->rill.peak_rss_kb >= 0 ? r->rill.cpu_seconds * 1e6 / ev : NAN;
        bcpu[i] = r->base.peak_rss_kb >= 0 ? r->base.cpu_seconds * 1e6 / ev : NAN;
        child_cpu[i] = ru_cpu(&reps[i].ru);
        seps[i] = r->simd_seconds > 0 ? ev / r->simd_seconds : NAN;
        sratio[i] = isfinite(seps[i]) && isfinite(eps[i]) ? eps[i] / seps[i] : NAN;
        cratio[i] = r->control_seconds > 0 && r->seconds > 0
                        ? r->control_seconds / r->seconds
                        : NAN;
        smean[i] = r->scrape_ms_mean;
        scount[i] = r->scrapes ? (double)r->scrapes : NAN;
        if (r->scrape_ms_max > smax || (isfinite(r->scrape_ms_max) && !isfinite(smax)))
            smax = r->scrape_ms_max;
        su[i] = r->startup_share;
        bsu[i] = r->baseline_startup_share;
        if (r->rill.peak_rss_kb > rss) rss = r->rill.peak_rss_kb;
        if (r->base.peak_rss_kb > brss) brss = r->base.peak_rss_kb;
        /* clear_refs also resets what wait4 reports: the child's peak is the max */
        long peak = reps[i].ru.ru_maxrss;
        if (r->rill.peak_rss_kb > peak) peak = r->rill.peak_rss_kb;
        if (r->base.peak_rss_kb > peak) peak = r->base.peak_rss_kb;
        if (peak > child_rss) child_rss = peak;
    }
    double rmin = INFINITY, rmax = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!isfinite(ratio[i])) continue;
        if (ratio[i] < rmin) rmin = ratio[i];
        if (ratio[i] > rmax) rmax = ratio[i];
    }
    const bench_result_t *r = &reps[0].m.r;
    double med_eps = median_of(eps, n), med_beps = median_of(beps, n);
    double med_ratio = median_of(ratio, n);
    printf("{\"scenario\":\"%s\"", s->name);
    put_json_str("transport", r->transport);
    put_json_str("store", r->store);
    put_json_str("serializer", r->serializer);
    printf(",\"events\":%llu", (unsigned long long)r->events);
    put_num("seconds", isfinite(med_eps) ? (double)r->events / med_eps : NAN, "%.6f");
    put_num("events_per_sec", med_eps, "%.0f");
    put_num("p50_us", median_of(p50, n), "%.2f");
    put_num("p99_us", median_of(p99, n), "%.2f");
    put_num("p999_us", median_of(p999, n), "%.2f");
    /* rill's side alone when the scenario measured it, else the whole child */
    printf(",\"peak_rss_kb\":%ld", rss >= 0 ? rss : child_rss);
    put_num("cpu_s_per_mevents", median_of(cpu, n), "%.3f");
    put_num("baseline_events_per_sec", med_beps, "%.0f");
    put_num("ratio", med_ratio, "%.4f");
    put_num("ratio_min", isfinite(rmin) ? rmin : NAN, "%.4f");
    put_num("ratio_max", isfinite(rmax) ? rmax : NAN, "%.4f");
    printf(",\"repeat\":%d", n);
    put_num("baseline_p50_us", median_of(bp50, n), "%.2f");
    put_num("baseline_p99_us", median_of(bp99, n), "%.2f");
    put_num("baseline_p999_us", median_of(bp999, n), "%.2f");
    put_num("baseline_peak_rss_kb", brss >= 0 ? (double)brss : NAN, "%.0f");
    put_num("baseline_cpu_s_per_mevents", median_of(bcpu, n), "%.3f");
    printf(",\"scenario_peak_rss_kb\":%ld", child_rss);
    put_num("scenario_cpu_seconds", median_of(child_cpu, n), "%.3f");
    put_num("simdjson_baseline_events_per_sec", median_of(seps, n), "%.0f");
    put_num("simdjson_ratio", median_of(sratio, n), "%.4f");
    put_num("startup_share", median_of(su, n), "%.4f");
    put_num("baseline_startup_share", median_of(bsu, n), "%.4f");
    if (r->has_checksum)
        printf(",\"checksum\":%llu,\"baseline_checksum\":%llu",
               (unsigned long long)r->checksum, (unsigned long long)r->baseline_checksum);
    put_num("scrapes", median_of(scount, n), "%.0f");
    put_num("scrape_ms_mean", median_of(smean, n), "%.3f");
    put_num("scrape_ms_max", smax, "%.3f");
    put_num("control_ratio", median_of(cratio, n), "%.4f");
    put_json_str("latency", *r->lat_what ? r->lat_what : "none");
    put_json_str("note", r->note);
    printf("}\n");
    fflush(stdout);
    char p99s[32] = "-", cpus[32] = "-", epss[32] = "-", bepss[32] = "-",
         ratios[48] = "-";
    double p99m = median_of(p99, n), cpum = median_of(cpu, n), srm = median_of(sratio, n);
    if (isfinite(p99m)) snprintf(p99s, sizeof p99s, "%.1f", p99m);
    if (isfinite(cpum)) snprintf(cpus, sizeof cpus, "%.2f", cpum);
    if (isfinite(med_eps)) snprintf(epss, sizeof epss, "%.0f", med_eps);
    if (isfinite(med_beps)) snprintf(bepss, sizeof bepss, "%.0f", med_beps);
    if (isfinite(med_ratio))
        snprintf(ratios, sizeof ratios, "%6.3f [%5.3f-%5.3f]", med_ratio, rmin, rmax);
    fprintf(stderr,
            "%-22s %-6s %-7s %-6s %9llu %11s %11s %-20s %9s %7.1f "
            "%6s%s%s\n",
            s->name, r->transport, r->store, r->serializer, (unsigned long long)r->events,
            epss, bepss, ratios, p99s, (double)(rss >= 0 ? rss : child_rss) / 1024.0,
            cpus, *r->note ? "  " : "", r->note);
    if (isfinite(median_of(smean, n)))
        fprintf(stderr, "%-22s /metrics: %.0f scrapes a run, %.3f ms mean, %.3f ms max\n",
                "", median_of(scount, n), median_of(smean, n), smax);
    if (isfinite(median_of(cratio, n)))
        fprintf(stderr, "%-22s against a stand-in server scraped alike: %.3f\n", "",
                median_of(cratio, n));
    if (isfinite(srm))
        fprintf(stderr, "%-22s vs the simdjson baseline (%.0f ev/s): ratio %.3f\n", "",
                median_of(seps, n), srm);
}

int main(int argc, char **argv) {
    bench_opts_t o = {.events = 0, .repeat = 3};
    int timeout_s = 600;
    const char *names[64];
    int nnames = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--events") && i + 1 < argc) {
            char *end;
            o.events = strtoull(argv[++i], &end, 10);
            if (*end || !o.events) {
                fprintf(stderr, "error: --events needs a positive number\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--broker") && i + 1 < argc) {
            o.broker = argv[++i];
        } else if (!strcmp(argv[i], "--store") && i + 1 < argc) {
            o.store = argv[++i];
        } else if (!strcmp(argv[i], "--json-decoder") && i + 1 < argc) {
            o.json_decoder = argv[++i];
        } else if (!strcmp(argv[i], "--serializer") && i + 1 < argc) {
            o.serializer = argv[++i];
        } else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
            o.repeat = atoi(argv[++i]);
            if (o.repeat < 1 || o.repeat > 99) {
                fprintf(stderr, "error: --repeat needs 1-99\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            timeout_s = atoi(argv[++i]);
            if (timeout_s < 1) {
                fprintf(stderr, "error: --timeout needs a positive number of seconds\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "error: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (nnames < 64) {
            names[nnames++] = argv[i];
        }
    }
    for (int i = 0; i < nnames; i++) {
        bool found = false;
        for (size_t j = 0; j < NSCEN; j++)
            found |= !strcmp(names[i], scenarios[j]->name);
        if (!found) {
            fprintf(stderr, "error: unknown scenario '%s'\n", names[i]);
            usage(stderr);
            return 2;
        }
    }
    fprintf(stderr, "%-22s %-6s %-7s %-6s %9s %11s %11s %6s %13s %9s %7s %6s\n",
            "scenario", "trans", "store", "ser", "events", "rill ev/s", "raw ev/s",
            "ratio", "[min-max]", "p99 us", "rss MB", "cpu/M");
    int failed = 0;
    static rep_t reps[99];
    for (size_t j = 0; j < NSCEN; j++) {
        const bench_scenario_t *s = scenarios[j];
        bool wanted = nnames == 0 && (!s->needs_server || o.broker);
        for (int i = 0; i < nnames; i++)
            wanted |= !strcmp(names[i], s->name);
        if (!wanted) continue;
        int ok = 0, rc = 0;
        for (int i = 0; i < o.repeat; i++) {
            if ((rc = run_child(s, &o, timeout_s, &reps[ok])) != 0) {
                fprintf(stderr, "%-22s %s: %s\n", s->name,
                        rc == BENCH_SKIPPED ? "skipped" : "failed", reps[ok].m.r.note);
                break;
            }
            ok++;
        }
        if (ok < o.repeat) {
            /* a failure always counts; a skip when the scenario was asked for */
            failed += rc != BENCH_SKIPPED || nnames > 0;
            continue;
        }
        report(s, reps, ok);
    }
    return failed ? 1 : 0;
}
