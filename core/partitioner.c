/* Kafka's default partitioner, so keys land where Java and librdkafka clients put
 * them (murmur2, seed 0x9747b28c, positive by masking the sign bit). */
#include "rill/transport.h"

uint32_t rill_murmur2(const void *key, size_t len) {
    const uint32_t seed = 0x9747b28c, m = 0x5bd1e995;
    const int r = 24;
    uint32_t h = seed ^ (uint32_t)len;
    const unsigned char *data = key;
    while (len >= 4) {
        uint32_t k = (uint32_t)data[0] | (uint32_t)data[1] << 8 |
                     (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
        data += 4;
        len -= 4;
    }
    switch (len) {
    case 3:
        h ^= (uint32_t)data[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)data[1] << 8;
        /* fall through */
    case 1:
        h ^= data[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t rill_partition_for_key(const void *key, size_t len, int32_t partitions) {
    if (partitions <= 0) return 0;
    return (int32_t)((rill_murmur2(key, len) & 0x7fffffff) % (uint32_t)partitions);
}
