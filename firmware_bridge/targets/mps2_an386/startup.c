/* Reset and vector table for the Cortex-M4: copy .data, zero .bss, enable the
 * FPU (the build is -mfloat-abi=hard), run main, report its status over
 * semihosting so QEMU exits with it. */
#include <stdint.h>
#include <string.h>

#include "mps2_an386.h"
#include "semihost.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[];
extern uint32_t _estack[];
int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
/* Peripheral handlers: the drivers define the ones they use. */
void UART0RX_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UART0TX_Handler(void) __attribute__((weak, alias("Default_Handler")));
void TIMER0_Handler(void) __attribute__((weak, alias("Default_Handler")));

#define MPS2_EXT_IRQS 32

typedef struct {
    uint32_t *initial_sp;
    void (*exceptions[15])(void);   /* Reset .. SysTick */
    void (*irqs[MPS2_EXT_IRQS])(void);
} vector_table_t;

__attribute__((section(".vectors"), used)) const vector_table_t g_vectors = {
    _estack,
    {
        Reset_Handler, Default_Handler, HardFault_Handler, HardFault_Handler,
        HardFault_Handler, HardFault_Handler, 0, 0, 0, 0, Default_Handler, Default_Handler, 0,
        Default_Handler, Default_Handler,
    },
    {
        [MPS2_IRQ_UART0_RX] = UART0RX_Handler,
        [MPS2_IRQ_UART0_TX] = UART0TX_Handler,
        [MPS2_IRQ_TIMER0] = TIMER0_Handler,
    },
};

void Reset_Handler(void)
{
    size_t data_bytes = (size_t)((uintptr_t)_edata - (uintptr_t)_sdata);
    size_t bss_bytes = (size_t)((uintptr_t)_ebss - (uintptr_t)_sbss);
    memcpy(_sdata, _sidata, data_bytes);
    memset(_sbss, 0, bss_bytes);
    SCB_CPACR |= 0xFu << 20; /* CP10 + CP11 full access */
    __asm__ __volatile__("dsb\n\tisb" ::: "memory");
    semihost_exit(main());
}

void Default_Handler(void)
{
    semihost_puts("tgll_m4: unexpected exception\n");
    semihost_exit(3);
}

void HardFault_Handler(void)
{
    semihost_puts("tgll_m4: fault\n");
    semihost_exit(4);
}
