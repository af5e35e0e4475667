/* See redis_server.h. */
#include "redis_server.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <time.h>
#include <unistd.h>

struct rill_test_redis {
    pid_t pid;
    int port;
    bool aof;
    char dir[256];
    char url[64];
};

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static bool pings(int port) {
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool ok = false;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS;
        if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    return ok;
}

static bool launch(rill_test_redis_t *s) {
    char port[16], log[300];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(log, sizeof log, "%s/redis.log", s->dir);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* do not outlive a crashed test or bench */
#endif
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
               "--dir", s->dir, "--save", "", "--appendonly", s->aof ? "yes" : "no",
               "--appendfsync", "always", "--logfile", log, "--daemonize", "no",
               (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 200; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "redis-server exited at start (see %s)\n", log);
            s->pid = 0;
            return false;
        }
        if (pings(s->port)) return true;
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    fprintf(stderr, "redis-server did not answer on port %d within 10 s\n", s->port);
    return false;
}

rill_test_redis_t *rill_test_redis_start(bool aof) {
    rill_test_redis_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->aof = aof;
    snprintf(s->dir, sizeof s->dir, "/tmp/rill-redis-XXXXXX");
    if (!mkdtemp(s->dir)) {
        free(s);
        return NULL;
    }
    for (int attempt = 0; attempt < 5; attempt++) { /* the port may be taken meanwhile */
        s->port = free_port();
        snprintf(s->url, sizeof s->url, "redis://127.0.0.1:%d", s->port);
        if (s->port > 0 && launch(s)) return s;
        rill_test_redis_stop(s);
    }
    rill_test_redis_destroy(s);
    return NULL;
}

const char *rill_test_redis_url(const rill_test_redis_t *s) {
    return s->url;
}

int rill_test_redis_port(const rill_test_redis_t *s) {
    return s->port;
}

void rill_test_redis_stop(rill_test_redis_t *s) {
    if (!s || s->pid <= 0) return;
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

bool rill_test_redis_restart(rill_test_redis_t *s) {
    rill_test_redis_stop(s);
    return launch(s);
}

void rill_test_redis_destroy(rill_test_redis_t *s) {
    if (!s) return;
    rill_test_redis_stop(s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", s->dir);
    free(s);
}
