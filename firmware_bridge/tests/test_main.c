/* C unit-test runner for the firmware bridge (make -C firmware_bridge test). */
#include <stdio.h>

#include "test_util.h"

int tgll_test_failures = 0;
int tgll_test_checks = 0;

static void run(const char *name, void (*suite)(void))
{
    int before = tgll_test_failures;
    int checks = tgll_test_checks;
    suite();
    printf("%-10s %s (%d checks)\n", name, tgll_test_failures == before ? "ok" : "FAILED",
           tgll_test_checks - checks);
}

int main(void)
{
    run("core", test_core);
    run("app", test_app);
    run("ads1298", test_ads1298);
    run("vectors", test_vectors);
    printf("%d checks, %d failed\n", tgll_test_checks, tgll_test_failures);
    return tgll_test_failures == 0 ? 0 : 1;
}
