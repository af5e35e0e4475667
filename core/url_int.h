/* Internal: keeping credentials out of logs, pages and error messages. */
#ifndef RILL_URL_INT_H
#define RILL_URL_INT_H

#include <stdbool.h>
#include <stddef.h>

/* Copy @p text to @p out (always NUL-terminated, truncated to @p outlen) with the
 * password of every "scheme://user:password@" in it shown as "***":
 * "redis://:s3cret@h:6379" -> "redis://:***@h:6379".  A user without a password
 * is kept.  @returns @p out. */
char *rill__url_redact(const char *text, char *out, size_t outlen);

/* True for config keys whose values are secrets: any key containing "password"
 * or "secret" (case-insensitive), such as kafka.sasl.password. */
bool rill__key_is_secret(const char *key);

/* @p value as it may be shown for @p key: "***" for secrets, URLs redacted. */
const char *rill__conf_value_shown(const char *key, const char *value, char *buf,
                                   size_t buflen);

#endif
