/* Internal, layer 7 (docs/architecture.md): what app.c offers the command
 * line (cli.c): setting a key and opening the backends before a command */
#ifndef RILL_APP_SETUP_INT_H
#define RILL_APP_SETUP_INT_H

#include "ctx_int.h"

rill_err_t rill__app_set(rill_app_t *app, const char *key, const char *value,
                         char *errstr, size_t errlen);
rill_err_t rill__app_open(rill_app_t *app, char *errstr, size_t errlen);

#endif
