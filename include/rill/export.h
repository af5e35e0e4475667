/* rill - export macro for public symbols. */
#ifndef RILL_EXPORT_H
#define RILL_EXPORT_H

#if defined(_WIN32)
#if defined(RILL_BUILDING)
#define RILL_API __declspec(dllexport)
#else
#define RILL_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define RILL_API __attribute__((visibility("default")))
#else
#define RILL_API
#endif

#if defined(__GNUC__)
#define RILL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RILL_PRINTF(a, b)
#endif

#ifdef __cplusplus
#define RILL_BEGIN_DECLS extern "C" {
#define RILL_END_DECLS }
#else
#define RILL_BEGIN_DECLS
#define RILL_END_DECLS
#endif

#endif
