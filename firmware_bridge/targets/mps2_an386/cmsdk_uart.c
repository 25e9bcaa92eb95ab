#include "cmsdk_uart.h"

#include "mps2_an386.h"

typedef struct {
    volatile uint32_t data;
    volatile uint32_t state;     /* bit 0 TX full, bit 1 RX full */
    volatile uint32_t ctrl;      /* bit 0 TX en, 1 RX en, 2 TX int en, 3 RX int en */
    volatile uint32_t intstatus; /* read: pending; write 1: clear (INTCLEAR) */
    volatile uint32_t bauddiv;
} cmsdk_uart_regs_t;

#define UART ((cmsdk_uart_regs_t *)MPS2_UART0_BASE)
#define STATE_TX_FULL 0x1u
#define STATE_RX_FULL 0x2u
#define CTRL_TX_EN 0x1u
#define CTRL_RX_EN 0x2u
#define CTRL_TX_INT 0x4u
#define CTRL_RX_INT 0x8u
#define INT_TX 0x1u
#define INT_RX 0x2u

/* The RX holding register is one byte deep: the handler moves bytes here. */
#define RX_RING 128u
static uint8_t g_rx[RX_RING];
static volatile uint32_t g_rx_head; /* handler */
static volatile uint32_t g_rx_tail; /* sender loop */
static volatile uint32_t g_rx_overruns;

void cmsdk_uart_init(uint32_t pclk_hz, uint32_t baud)
{
    UART->ctrl = 0;
    UART->bauddiv = pclk_hz / baud; /* >= 16 required */
    UART->intstatus = INT_TX | INT_RX;
    UART->ctrl = CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT;
    mps2_irq_enable(MPS2_IRQ_UART0_RX);
    mps2_irq_enable(MPS2_IRQ_UART0_TX);
}

void UART0RX_Handler(void);
void UART0RX_Handler(void)
{
    /* Clear first: a byte arriving after the loop raises the interrupt again. */
    UART->intstatus = INT_RX;
    while (UART->state & STATE_RX_FULL) {
        uint8_t b = (uint8_t)UART->data;
        uint32_t head = g_rx_head;
        if (head - g_rx_tail < RX_RING) {
            g_rx[head % RX_RING] = b;
            __asm__ __volatile__("" ::: "memory");
            g_rx_head = head + 1u;
        } else {
            g_rx_overruns++;
        }
    }
}

/* Only wakes the sleeping writer; the writer turns it on and off. */
void UART0TX_Handler(void);
void UART0TX_Handler(void)
{
    UART->intstatus = INT_TX;
}

/* Sleep until TX is not full. TX_INT is enabled before the second look, so a
 * byte that leaves in between either shows up in the look or wakes the WFI. */
static void wait_tx_room(void)
{
    while (UART->state & STATE_TX_FULL) {
        UART->ctrl |= CTRL_TX_INT;
        if (UART->state & STATE_TX_FULL) {
            mps2_wfi();
        }
        UART->ctrl &= ~CTRL_TX_INT;
    }
}

void cmsdk_uart_write(const uint8_t *data, size_t n)
{
    while (n-- > 0) {
        wait_tx_room();
        UART->data = *data++;
    }
}

void cmsdk_uart_drain(void)
{
    wait_tx_room();
}

size_t cmsdk_uart_read(uint8_t *buf, size_t cap)
{
    size_t n = 0;
    uint32_t tail = g_rx_tail;
    uint32_t head = g_rx_head;
    __asm__ __volatile__("" ::: "memory");
    while (tail != head && n < cap) {
        buf[n++] = g_rx[tail % RX_RING];
        tail++;
    }
    __asm__ __volatile__("" ::: "memory");
    g_rx_tail = tail;
    return n;
}

int cmsdk_uart_rx_pending(void)
{
    return g_rx_head != g_rx_tail;
}

uint32_t cmsdk_uart_rx_overruns(void)
{
    return g_rx_overruns;
}
