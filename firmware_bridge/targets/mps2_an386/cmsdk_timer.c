#include "cmsdk_timer.h"

#include "mps2_an386.h"

typedef struct {
    volatile uint32_t ctrl;      /* bit 0 enable, bit 3 interrupt enable */
    volatile uint32_t value;
    volatile uint32_t reload;
    volatile uint32_t intstatus; /* write 1: clear */
} cmsdk_timer_regs_t;

#define TIMER0 ((cmsdk_timer_regs_t *)MPS2_TIMER0_BASE)
#define TIMER1 ((cmsdk_timer_regs_t *)MPS2_TIMER1_BASE)
#define CTRL_EN 0x1u
#define CTRL_IRQ_EN 0x8u

static void (*g_timer0_fn)(void);

void cmsdk_timer0_start(uint32_t period_ticks, void (*fn)(void))
{
    TIMER0->ctrl = 0;
    g_timer0_fn = fn;
    TIMER0->reload = period_ticks - 1u;
    TIMER0->value = period_ticks - 1u;
    TIMER0->intstatus = 1u;
    TIMER0->ctrl = CTRL_EN | CTRL_IRQ_EN;
    mps2_irq_enable(MPS2_IRQ_TIMER0);
}

void cmsdk_timer0_set_period(uint32_t period_ticks)
{
    TIMER0->reload = period_ticks - 1u; /* from the next period on */
}

void TIMER0_Handler(void);
void TIMER0_Handler(void)
{
    TIMER0->intstatus = 1u;
    if (g_timer0_fn != 0) {
        g_timer0_fn();
    }
}

void cmsdk_timer1_free_run(void)
{
    TIMER1->ctrl = 0;
    TIMER1->reload = 0xFFFFFFFFu;
    TIMER1->value = 0xFFFFFFFFu;
    TIMER1->ctrl = CTRL_EN;
}

uint32_t cmsdk_timer1_value(void)
{
    return TIMER1->value;
}
