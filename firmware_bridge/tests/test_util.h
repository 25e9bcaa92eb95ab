/* Minimal test harness: CHECK macros that count and report, no framework. */
#ifndef TGLL_TEST_UTIL_H
#define TGLL_TEST_UTIL_H
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern int tgll_test_failures;
extern int tgll_test_checks;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        tgll_test_checks++;                                                         \
        if (!(cond)) {                                                              \
            tgll_test_failures++;                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

#define CHECK_EQ(a, b)                                                                   \
    do {                                                                                 \
        long long va_ = (long long)(a), vb_ = (long long)(b);                            \
        tgll_test_checks++;                                                              \
        if (va_ != vb_) {                                                                \
            tgll_test_failures++;                                                        \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", __FILE__, \
                    __LINE__, #a, va_, #b, vb_);                                         \
        }                                                                                \
    } while (0)

#define CHECK_MEM(a, b, n)                                                             \
    do {                                                                               \
        tgll_test_checks++;                                                            \
        if (memcmp((a), (b), (n)) != 0) {                                              \
            tgll_test_failures++;                                                      \
            fprintf(stderr, "%s:%d: CHECK_MEM failed: %s vs %s (%lu bytes)\n", __FILE__, \
                    __LINE__, #a, #b, (unsigned long)(n));                             \
        }                                                                              \
    } while (0)

/* Suites */
void test_core(void);
void test_app(void);
void test_ads1298(void);
void test_vectors(void);

#endif
