/* Instruction counts of the hot paths on the Cortex-M4, printed over
 * semihosting. Run under QEMU -icount shift=0 (one instruction per ns of
 * virtual time): TIMER1 counts PCLK (25 MHz) of that time, so one tick is
 * 40 instructions, and long runs make that granularity negligible. */
#ifndef BENCH_H
#define BENCH_H
#include "tgll_device.h"

/* dev: initialised, writing to a sink. Returns 0. */
int bench_run(tgll_device_t *dev);

#endif
