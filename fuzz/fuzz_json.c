/* libFuzzer target: the json decoder on arbitrary bytes; with simdjson built in,
 * also differential: the default decoder (simdjson, jansson deciding on what it
 * does not take) must accept exactly what the jansson decoder accepts. */
#include "fuzz_decode.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static rill_serializer_t *jansson_ser;

static void fini_jansson(void) {
    rill_serializer_destroy(jansson_ser);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_init("json");
    char err[256];
    rill_conf_t *c = rill_conf_new();
    if (rill_conf_set(c, "json.decoder", "jansson", err, sizeof err) != RILL_CONF_OK ||
        !(jansson_ser = rill_serializer_new("json", c, err, sizeof err)))
        abort();
    rill_conf_destroy(c);
    atexit(fini_jansson);
    return 0;
}

static rill_err_t decode_all(rill_serializer_t *s, const uint8_t *data, size_t size) {
    char err[256];
    fz_all_t v;
    rill_record_init(&fz_all_schema, &v);
    rill_err_t rc = rill_serializer_decode(s, RILL_TYPE_RECORD(&fz_all_schema), data,
                                           size, &v, err, sizeof err);
    rill_record_clear(&fz_all_schema, &v);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_decode(data, size);
    if ((decode_all(fuzz_ser, data, size) == RILL_OK) !=
        (decode_all(jansson_ser, data, size) == RILL_OK))
        abort(); /* the decoders disagree on this input */
    return 0;
}
