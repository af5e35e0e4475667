/* The JSON serializer: Faust's own records byte for byte, every kind, and a clear
 * error naming the field for every kind of bad input. */
#include "json_suite.h"

int main(void) {
    return rill_json_suite_run("json (auto decoder)", "auto");
}
