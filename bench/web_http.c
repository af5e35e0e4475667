/* The HTTP client of the web scenarios (web_poll.c, web_scrape.c): one GET on a
 * fresh loopback connection, read to the end, timed from connect to the last byte. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

int64_t bench_http_get(int port, const char *path, uint64_t *bytes) {
    uint64_t t0 = bench_now_ns();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    bool ok = false;
    ssize_t total = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
        static __thread char buf[65536];
        char head[12];
        ssize_t r;
        while ((r = recv(fd, buf, sizeof buf, 0)) > 0) {
            if (total < 12)
                memcpy(head + total, buf, (size_t)(r < 12 - total ? r : 12 - total));
            total += r;
        }
        ok = total > 12 && !memcmp(head, "HTTP/1.1 200", 12);
    }
    close(fd);
    if (bytes) *bytes = (uint64_t)total;
    return ok ? (int64_t)(bench_now_ns() - t0) : -1;
}

int bench_free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &n) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0) close(s);
    return port;
}
