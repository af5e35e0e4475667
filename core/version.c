/* Version of the linked library (may differ from the headers compiled against). */
#include "rill/rill.h"

const char *rill_version(void) {
    return RILL_VERSION_STR;
}

int rill_version_num(void) {
    return RILL_VERSION_NUM;
}
