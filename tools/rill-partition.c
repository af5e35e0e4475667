/* rill-partition: which partition rill (and Kafka's default partitioner) gives a
 * key.  For producing from other programs into rill's topics, e.g. XADD to the
 * right "<topic>:<p>" stream on Redis:
 *
 *   rill-partition 8 user-1 user-2        prints "user-1 5" ...
 *   printf 'a\nb\n' | rill-partition 8    one key per input line */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

static void one(const char *key, int32_t parts) {
    printf("%s %d\n", key, (int)rill_partition_for_key(key, strlen(key), parts));
}

int main(int argc, char **argv) {
    char *end = NULL;
    long parts = argc > 1 ? strtol(argv[1], &end, 10) : 0;
    if (argc < 2 || *end || parts < 1 || parts > 1000000) {
        fprintf(stderr, "usage: rill-partition PARTITIONS [KEY...]  (keys from stdin "
                        "when none are given)\n");
        return 2;
    }
    for (int i = 2; i < argc; i++)
        one(argv[i], (int32_t)parts);
    if (argc == 2) {
        char line[4096];
        while (fgets(line, sizeof line, stdin)) {
            line[strcspn(line, "\r\n")] = '\0';
            one(line, (int32_t)parts);
        }
    }
    return 0;
}
