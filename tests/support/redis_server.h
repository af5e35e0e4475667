/* A real redis-server for tests: started on a free 127.0.0.1 port in a fresh temp
 * dir (no RDB snapshots; AOF only when asked), stopped and removed afterwards. */
#ifndef RILL_TEST_REDIS_SERVER_H
#define RILL_TEST_REDIS_SERVER_H

#include <stdbool.h>

typedef struct rill_test_redis rill_test_redis_t;

/** Start one; NULL (with a message on stderr) when redis-server is missing or does
 * not come up within 10 s. */
rill_test_redis_t *rill_test_redis_start(bool aof);
/** "redis://127.0.0.1:<port>" */
const char *rill_test_redis_url(const rill_test_redis_t *s);
int rill_test_redis_port(const rill_test_redis_t *s);
/** SIGTERM and wait (with AOF on, the data is kept in the dir). */
void rill_test_redis_stop(rill_test_redis_t *s);
/** Start again on the same port and dir; false if it does not come up. */
bool rill_test_redis_restart(rill_test_redis_t *s);
/** Stop if running and remove the dir. */
void rill_test_redis_destroy(rill_test_redis_t *s);

#endif
