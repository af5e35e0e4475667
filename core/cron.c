/* Crontab expressions: parsing the five fields and finding the next minute they
 * match, in a timezone (the C library's TZ database through TZ and localtime_r).
 * Layer 0. */
#include "cron_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct field {
    const char *name;
    int lo, hi;
    const char *const *names; /* names[i] is lo + i */
} field_t;

static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                     "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const field_t fields[5] = {{"minute", 0, 59, NULL},
                                  {"hour", 0, 23, NULL},
                                  {"day of month", 1, 31, NULL},
                                  {"month", 1, 12, months},
                                  {"day of week", 0, 7, days}};

/* A number or a name at *p; -1 if neither. */
static int atom(const field_t *f, const char **p) {
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s) && v < 1000)
            v = v * 10 + (*s++ - '0');
        *p = s;
        return (int)v;
    }
    for (int i = 0; f->names && f->names[i]; i++)
        if (!strncasecmp(s, f->names[i], 3)) {
            *p = s + 3;
            return f->lo + i;
        }
    return -1;
}

/* One field's text [s, e) into bits. */
static int parse_field(const field_t *f, const char *s, const char *e, uint64_t *bits,
                       bool *any, char *err, size_t errlen) {
    *bits = 0;
    *any = e - s == 1 && *s == '*';
    while (s < e) {
        const char *c = memchr(s, ',', (size_t)(e - s));
        const char *end = c ? c : e;
        int a, b, step = 1;
        const char *p = s;
        if (*p == '*') {
            a = f->lo;
            b = f->hi;
            p++;
        } else {
            if ((a = atom(f, &p)) < 0) goto bad;
            b = a;
            if (p < end && *p == '-') {
                p++;
                if ((b = atom(f, &p)) < 0) goto bad;
            }
        }
        if (p < end && *p == '/') {
            p++;
            if ((step = atom(&(field_t){0}, &p)) <= 0) goto bad;
            if (a == b && s[0] != '*') b = f->hi; /* "a/n": from a to the end */
        }
        if (p != end) goto bad;
        if (a < f->lo || b > f->hi || a > b) {
            snprintf(err, errlen, "cron: %s '%.*s' out of range %d-%d", f->name,
                     (int)(end - s), s, f->lo, f->hi);
            return -1;
        }
        for (int v = a; v <= b; v += step)
            *bits |= 1ull << v;
        s = c ? c + 1 : e;
        if (c && s == e) goto bad; /* trailing comma */
        continue;
    bad:
        snprintf(err, errlen, "cron: bad %s '%.*s' (use *, N, N-M, */S, N-M/S or lists)",
                 f->name, (int)(end - s), s);
        return -1;
    }
    return 0;
}

int rill__cron_parse(const char *expr, rill__cron_t *out, char *err, size_t errlen) {
    static const struct {
        const char *name, *expr;
    } macros[] = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
                  {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
                  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                  {"@hourly", "0 * * * *"}};
    memset(out, 0, sizeof *out);
    if (!expr) {
        snprintf(err, errlen, "cron: no expression");
        return -1;
    }
    while (isspace((unsigned char)*expr))
        expr++;
    if (*expr == '@') {
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
            if (!strcmp(expr, macros[i].name))
                return rill__cron_parse(macros[i].expr, out, err, errlen);
        snprintf(err, errlen,
                 "cron: unknown '%s' (@yearly, @monthly, @weekly, @daily, "
                 "@hourly)",
                 expr);
        return -1;
    }
    const char *p = expr;
    uint64_t bits[5];
    bool any[5];
    for (int i = 0; i < 5; i++) {
        while (isspace((unsigned char)*p))
            p++;
        const char *s = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (s == p) {
            snprintf(err, errlen,
                     "cron: '%s' has %d fields; it needs 5 (minute hour day-of-month "
                     "month day-of-week)",
                     expr, i);
            return -1;
        }
        if (parse_field(&fields[i], s, p, &bits[i], &any[i], err, errlen)) return -1;
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p) {
        snprintf(err, errlen, "cron: '%s' has more than 5 fields", expr);
        return -1;
    }
    out->minute = bits[0];
    out->hour = (uint32_t)bits[1];
    out->dom = (uint32_t)bits[2];
    out->month = (uint32_t)bits[3];
    out->dow = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f); /* 7 is Sunday */
    out->dom_any = any[2];
    out->dow_any = any[4];
    return 0;
}

bool rill__cron_tz_valid(const char *tz) {
    if (!tz || !*tz || !strcmp(tz, "UTC")) return true;
    if (tz[0] == '/' || strstr(tz, "..") || strlen(tz) > 200) return false;
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz);
    return access(path, R_OK) == 0;
}

static bool day_ok(const rill__cron_t *c, const struct tm *tm) {
    bool d = c->dom >> tm->tm_mday & 1, w = c->dow >> tm->tm_wday & 1;
    if (c->dom_any || c->dow_any) return d && w;
    return d || w; /* both restricted: either (cron's rule) */
}

int64_t rill__cron_next(const rill__cron_t *c, const char *tz, int64_t after) {
    char *saved = NULL;
    bool set = tz && *tz;
    if (set) {
        const char *old = getenv("TZ");
        if (old && !(saved = strdup(old))) return -1;
        setenv("TZ", tz, 1);
        tzset();
    }
    int64_t limit = after + 5LL * 366 * 24 * 3600, found = -1;
    time_t t = (time_t)((after >= 0 ? after / 60 : (after - 59) / 60) + 1) * 60;
    while ((int64_t)t <= limit) {
        struct tm tm;
        if (!localtime_r(&t, &tm)) break;
        time_t next = t;
        if (!(c->month >> (tm.tm_mon + 1) & 1)) { /* first day of the next month */
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
            tm.tm_isdst = -1;
            next = mktime(&tm);
        } else if (!day_ok(c, &tm)) { /* the next midnight */
            tm.tm_mday++;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
            tm.tm_isdst = -1;
            next = mktime(&tm);
        } else if (!(c->hour >> tm.tm_hour & 1)) {
            next = t + 3600 - tm.tm_min * 60 - tm.tm_sec;
        } else if (!(c->minute >> tm.tm_min & 1)) {
            next = t + 60 - tm.tm_sec;
        } else {
            time_t prev = t - 3600; /* a DST fold repeats this local time: fire once */
            struct tm pt;
            if (localtime_r(&prev, &pt) && pt.tm_mday == tm.tm_mday &&
                pt.tm_hour == tm.tm_hour && pt.tm_min == tm.tm_min) {
                t += 60;
                continue;
            }
            found = (int64_t)t;
            break;
        }
        t = next > t ? next : t + 60; /* always forward (DST folds) */
    }
    if (set) {
        if (saved)
            setenv("TZ", saved, 1);
        else
            unsetenv("TZ");
        tzset();
        free(saved);
    }
    return found;
}
