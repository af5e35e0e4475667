/* Error code names and strings, expanded from RILL_ERRNO_MAP. */
#include "rill/err.h"

const char *rill_err2str(rill_err_t err) {
    switch (err) {
#define RILL__ERR_STR(name, val, str)                                                    \
    case RILL_##name:                                                                    \
        return str;
        RILL_ERRNO_MAP(RILL__ERR_STR)
#undef RILL__ERR_STR
    }
    return "unknown error";
}

const char *rill_err_name(rill_err_t err) {
    switch (err) {
#define RILL__ERR_NAME(name, val, str)                                                   \
    case RILL_##name:                                                                    \
        return "RILL_" #name;
        RILL_ERRNO_MAP(RILL__ERR_NAME)
#undef RILL__ERR_NAME
    }
    return "RILL_E?";
}
