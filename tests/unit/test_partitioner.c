/* murmur2 and the key partitioner match Kafka's Java client and librdkafka. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <rill/rill.h>

static void murmur2_matches_librdkafka_vectors(void **state) {
    (void)state;
    const char *unaligned = "PreAmbleWillBeRemoved,ThePrePartThatIs";
    struct {
        const char *key;
        uint32_t hash;
    } v[] = {
        {"kafka", 0xd067cf64},
        {"giberish123456789", 0x8f552b0c},
        {"1234", 0x9fc97b14},
        {"234", 0xe7c009ca},
        {"34", 0x873930da},
        {"4", 0x5a4b5ca1},
        {unaligned, 0x78424f1c},
        {unaligned + 1, 0x4a62b377},
        {unaligned + 2, 0xe0e4e09e},
        {unaligned + 3, 0x62b8b43f},
        {"", 0x106e08d9},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        assert_int_equal(rill_murmur2(v[i].key, strlen(v[i].key)), v[i].hash);
}

static void murmur2_matches_java_client_vectors(void **state) {
    (void)state;
    /* org.apache.kafka.common.utils.UtilsTest */
    struct {
        const char *key;
        int32_t hash;
    } v[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
        {"abc", 479470107},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        assert_int_equal((int32_t)rill_murmur2(v[i].key, strlen(v[i].key)), v[i].hash);
}

static void partition_for_key_is_positive_murmur2_modulo(void **state) {
    (void)state;
    /* Java: Utils.toPositive(Utils.murmur2(key)) % numPartitions */
    assert_int_equal(rill_partition_for_key("kafka", 5, 10), 0x5067cf64 % 10);
    assert_int_equal(rill_partition_for_key("test", 4, 10), 9);
    assert_int_equal(rill_partition_for_key("21", 2, 8),
                     (int32_t)((0xC5F2F8ECu & 0x7fffffff) % 8));
    for (int32_t n = 1; n < 64; n++) {
        int32_t p = rill_partition_for_key("some-key", 8, n);
        assert_true(p >= 0 && p < n);
    }
}

static void partition_for_key_with_no_partitions_is_zero(void **state) {
    (void)state;
    assert_int_equal(rill_partition_for_key("k", 1, 0), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(murmur2_matches_librdkafka_vectors),
        cmocka_unit_test(murmur2_matches_java_client_vectors),
        cmocka_unit_test(partition_for_key_is_positive_murmur2_modulo),
        cmocka_unit_test(partition_for_key_with_no_partitions_is_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
