/* UART transport: the stream on the chosen `tgll,stream-uart` (app.overlay:
 * uart0 at 921600 baud with RTS/CTS, the nRF52840 DK's USB virtual COM port).
 * Interrupt driven with two lock-free SPSC rings: TX (sender thread -> ISR)
 * and RX (ISR -> sender thread). */
#include <zephyr/drivers/clock_control.h>
#include <zephyr/drivers/clock_control/nrf_clock_control.h>
#include <zephyr/drivers/uart.h>
#include <zephyr/logging/log.h>
#include <zephyr/sys/ring_buffer.h>

#include "tgll_protocol.h"
#include "transport.h"

LOG_MODULE_REGISTER(tgll_uart, LOG_LEVEL_INF);

BUILD_ASSERT(CONFIG_TGLL_UART_TX_BUF_SIZE >= TGLL_MAX_WIRE, "the TX ring must hold the largest packet");

static const struct device *const uart = DEVICE_DT_GET(DT_CHOSEN(tgll_stream_uart));
RING_BUF_DECLARE(tgll_tx_ring, CONFIG_TGLL_UART_TX_BUF_SIZE);
RING_BUF_DECLARE(tgll_rx_ring, 256);
static K_SEM_DEFINE(tx_space, 0, 1);
static struct k_sem *wake_sem;
static uint32_t dropped_packets;
static uint32_t rx_overruns;

static void uart_isr(const struct device *dev, void *user_data)
{
    ARG_UNUSED(user_data);
    while (uart_irq_update(dev) && uart_irq_is_pending(dev)) {
        if (uart_irq_rx_ready(dev)) {
            uint8_t buf[32];
            int n = uart_fifo_read(dev, buf, sizeof(buf));

            if (n > 0) {
                if (ring_buf_put(&tgll_rx_ring, buf, (uint32_t)n) < (uint32_t)n) {
                    rx_overruns++; /* the command decoder resyncs on the next 0x00 */
                }
                k_sem_give(wake_sem);
            }
        }
        if (uart_irq_tx_ready(dev)) {
            uint8_t *p;
            uint32_t n = ring_buf_get_claim(&tgll_tx_ring, &p, 64);

            if (n == 0) {
                uart_irq_tx_disable(dev); /* drained: no TX interrupts until the next write */
            } else {
                int sent = uart_fifo_fill(dev, p, (int)n);

                ring_buf_get_finish(&tgll_tx_ring, sent > 0 ? (uint32_t)sent : 0);
                k_sem_give(&tx_space);
            }
        }
    }
}

/* 921600 baud is 941176 on the nRF52 (+2.1 %, UARTE BAUDRATE table): that
 * leaves no margin for the internal RC oscillator's error, so keep the
 * crystal (HFXO) running while the UART streams (~0.25 mA). */
static void hfxo_on(void)
{
    static struct onoff_client cli; /* the request completes asynchronously */
    struct onoff_manager *mgr = z_nrf_clock_control_get_onoff(CLOCK_CONTROL_NRF_SUBSYS_HF);

    sys_notify_init_spinwait(&cli.notify);
    if (mgr == NULL || onoff_request(mgr, &cli) < 0) {
        LOG_WRN("HFXO request failed: baud rate from the RC oscillator");
    }
}

int transport_init(const char *device_id, struct k_sem *wake)
{
    ARG_UNUSED(device_id);
    if (!device_is_ready(uart)) {
        return -ENODEV;
    }
    hfxo_on();
    wake_sem = wake;
    uart_irq_callback_user_data_set(uart, uart_isr, NULL);
    uart_irq_rx_enable(uart);
    return 0;
}

void transport_write(void *ctx, const uint8_t *data, size_t n)
{
    int64_t deadline = k_uptime_get() + CONFIG_TGLL_TX_TIMEOUT_MS;

    ARG_UNUSED(ctx);
    /* Whole packets or none: a packet cut short would also cost the host the
     * next one (it resyncs only on a 0x00), a dropped one is an exact gap. */
    while (ring_buf_space_get(&tgll_tx_ring) < n) {
        uart_irq_tx_enable(uart);
        if (k_uptime_get() >= deadline) {
            if (dropped_packets++ % 100 == 0) {
                LOG_WRN("UART not draining (RTS held?): %u packets dropped", dropped_packets);
            }
            return;
        }
        k_sem_take(&tx_space, K_MSEC(5));
    }
    ring_buf_put(&tgll_tx_ring, data, (uint32_t)n);
    uart_irq_tx_enable(uart);
}

size_t transport_read(uint8_t *buf, size_t cap)
{
    return ring_buf_get(&tgll_rx_ring, buf, (uint32_t)cap);
}

bool transport_link_up(void)
{
    return true; /* a UART has no notion of a listener: the host just reads */
}
