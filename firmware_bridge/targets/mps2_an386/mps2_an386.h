/* QEMU's mps2-an386 board (ARM AN386: Cortex-M4 on an MPS2 FPGA), the parts
 * this target touches. Addresses and IRQ numbers: AN386 and QEMU
 * hw/arm/mps2.c (UART0 RX/TX = IRQ 0/1, TIMER0/1 = IRQ 8/9, PCLK 25 MHz). */
#ifndef MPS2_AN386_H
#define MPS2_AN386_H
#include <stdint.h>

#define MPS2_PCLK_HZ 25000000u

#define MPS2_UART0_BASE 0x40004000u
#define MPS2_TIMER0_BASE 0x40000000u
#define MPS2_TIMER1_BASE 0x40001000u

#define MPS2_IRQ_UART0_RX 0u
#define MPS2_IRQ_UART0_TX 1u
#define MPS2_IRQ_TIMER0 8u
#define MPS2_IRQ_TIMER1 9u

/* Cortex-M4 system control space. */
#define MPS2_REG(addr) (*(volatile uint32_t *)(addr))
#define NVIC_ISER0 MPS2_REG(0xE000E100u)
#define NVIC_ICER0 MPS2_REG(0xE000E180u)
#define NVIC_ICPR0 MPS2_REG(0xE000E280u)
#define SCB_CPACR MPS2_REG(0xE000ED88u)

static inline void mps2_irq_enable(uint32_t irq)
{
    NVIC_ISER0 = 1u << irq;
}

/* Masked on return: the barriers make sure the handler cannot run after it. */
static inline void mps2_irq_disable(uint32_t irq)
{
    NVIC_ICER0 = 1u << irq;
    __asm__ __volatile__("dsb\n\tisb" ::: "memory");
}

/* 1 in an exception handler (IPSR != 0), 0 in thread mode. */
static inline uint32_t mps2_in_handler(void)
{
    uint32_t ipsr;
    __asm__ __volatile__("mrs %0, ipsr" : "=r"(ipsr));
    return ipsr != 0u;
}

static inline void mps2_irq_off(void)
{
    __asm__ __volatile__("cpsid i" ::: "memory");
}

static inline void mps2_irq_on(void)
{
    __asm__ __volatile__("cpsie i" ::: "memory");
}

/* Sleep until an interrupt is pending (wakes even with PRIMASK set). */
static inline void mps2_wfi(void)
{
    __asm__ __volatile__("wfi" ::: "memory");
}

#endif
