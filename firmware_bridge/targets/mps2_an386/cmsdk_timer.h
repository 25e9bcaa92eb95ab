/* ARM CMSDK APB timers of the MPS2 board: TIMER0 paces DRDY (the ADS1298's
 * data-ready, one interrupt per conversion), TIMER1 free-runs as a cycle
 * counter for measurements. */
#ifndef CMSDK_TIMER_H
#define CMSDK_TIMER_H
#include <stdint.h>

/* Periodic TIMER0 interrupt every period_ticks PCLK cycles, calling fn(). */
void cmsdk_timer0_start(uint32_t period_ticks, void (*fn)(void));
void cmsdk_timer0_set_period(uint32_t period_ticks);
/* TIMER1 counts down from 0xFFFFFFFF at PCLK, no interrupt. */
void cmsdk_timer1_free_run(void);
uint32_t cmsdk_timer1_value(void);

#endif
