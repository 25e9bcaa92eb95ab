/* Thin HAL: every ADS1298 decision lives in driver/ads1298.c; this file only
 * moves bytes and pin levels.
 *
 * DRDY: Zephyr's SPI API blocks (it waits for the transfer to finish), so it
 * cannot run in the GPIO interrupt. The interrupt counts the edge and wakes a
 * cooperative thread that reads the frame and pushes it into the core's ring
 * (tgll_device_drdy); that thread is the ring's single producer. A frame must
 * be read within one period (2 ms at 500 SPS); when the thread gets there
 * late, the chip has kept only the newest frame, so the edges it slept
 * through are reported as missed and become an exact gap (EVENT 3). */
#include "ads1298_hal_zephyr.h"

#include <string.h>
#include <zephyr/drivers/gpio.h>
#include <zephyr/drivers/spi.h>
#include <zephyr/kernel.h>
#include <zephyr/sys/atomic.h>
#include <zephyr/sys/util.h>

#define ADS_NODE DT_NODELABEL(ads1298)

/* Mode 1 (CPOL 0, CPHA 1), MSB first, 8-bit words. CS is NOT the bus's
 * cs-gpios: the driver frames multi-byte commands itself (CS held across the
 * tSDECODE pauses between bytes), so it is a plain GPIO driven by cs_set(). */
static const struct spi_dt_spec spi =
    SPI_DT_SPEC_GET(ADS_NODE, SPI_OP_MODE_MASTER | SPI_WORD_SET(8) | SPI_TRANSFER_MSB | SPI_MODE_CPHA, 0);
static const struct gpio_dt_spec cs = GPIO_DT_SPEC_GET(ADS_NODE, chip_select_gpios);
static const struct gpio_dt_spec drdy = GPIO_DT_SPEC_GET(ADS_NODE, drdy_gpios);
static const struct gpio_dt_spec start = GPIO_DT_SPEC_GET(ADS_NODE, start_gpios);
static const struct gpio_dt_spec reset = GPIO_DT_SPEC_GET(ADS_NODE, reset_gpios);
static const struct gpio_dt_spec pwdn = GPIO_DT_SPEC_GET(ADS_NODE, pwdn_gpios);

/* One CS-framed transaction at a time: the DRDY thread reads frames while the
 * sender thread may send SDATAC/STOP (the mutex also lends priority). */
static K_MUTEX_DEFINE(bus_lock);
static bool bus_locked;

static K_SEM_DEFINE(drdy_sem, 0, 1);
static atomic_t drdy_pending; /* edges since the thread last looked */
static struct gpio_callback drdy_cb;
static void (*volatile drdy_handler)(void *arg);
static void *volatile drdy_arg;
static ads_hal_missed_fn missed_fn;
static void *missed_arg;
static ads_hal_stats_t stats;

static void hal_spi_transfer(void *ctx, const uint8_t *tx, uint8_t *rx, size_t n)
{
    /* EasyDMA (SPIM) cannot read flash, and the driver clocks frames out with
     * a const NOP array: bounce TX through RAM (at most 27 bytes at a time). */
    uint8_t txb[ADS_FRAME_BYTES];
    ARG_UNUSED(ctx);
    while (n > 0) {
        size_t len = MIN(n, sizeof(txb));
        struct spi_buf tx_buf = {.buf = txb, .len = len};
        struct spi_buf rx_buf = {.buf = rx, .len = len};
        const struct spi_buf_set tx_set = {.buffers = &tx_buf, .count = 1};
        const struct spi_buf_set rx_set = {.buffers = &rx_buf, .count = 1};

        memcpy(txb, tx, len);
        if (spi_transceive_dt(&spi, &tx_set, rx != NULL ? &rx_set : NULL) != 0) {
            stats.spi_errors++; /* a bad frame fails the driver's status-word check */
        }
        tx += len;
        rx = rx != NULL ? rx + len : NULL;
        n -= len;
    }
}

static void hal_cs_set(void *ctx, int asserted)
{
    ARG_UNUSED(ctx);
    if (asserted) {
        k_mutex_lock(&bus_lock, K_FOREVER);
        bus_locked = true;
        gpio_pin_set_dt(&cs, 1);
    } else {
        gpio_pin_set_dt(&cs, 0);
        if (bus_locked) { /* the driver also deasserts an idle CS at power-up */
            bus_locked = false;
            k_mutex_unlock(&bus_lock);
        }
    }
}

/* The driver speaks in pin levels; the devicetree flags say which level is
 * active (RESET and PWDN are active low, START active high). */
static void hal_reset_pin(void *ctx, int high)
{
    ARG_UNUSED(ctx);
    gpio_pin_set_dt(&reset, !high);
}

static void hal_start_pin(void *ctx, int high)
{
    ARG_UNUSED(ctx);
    gpio_pin_set_dt(&start, high);
}

static void hal_delay_us(void *ctx, uint32_t us)
{
    ARG_UNUSED(ctx);
    k_busy_wait(us);
}

static void hal_delay_ms(void *ctx, uint32_t ms)
{
    ARG_UNUSED(ctx);
    k_msleep(ms);
}

static void drdy_isr(const struct device *port, struct gpio_callback *cb, uint32_t pins)
{
    ARG_UNUSED(port);
    ARG_UNUSED(cb);
    ARG_UNUSED(pins);
    atomic_inc(&drdy_pending);
    k_sem_give(&drdy_sem);
}

static int hal_drdy_irq(void *ctx, void (*isr)(void *arg), void *arg)
{
    ARG_UNUSED(ctx);
    if (isr == NULL) {
        gpio_pin_interrupt_configure_dt(&drdy, GPIO_INT_DISABLE);
        drdy_handler = NULL;
        return 0;
    }
    drdy_arg = arg;
    drdy_handler = isr;
    atomic_set(&drdy_pending, 0);
    /* DRDY is active low: its falling edge says a frame is ready. */
    return gpio_pin_interrupt_configure_dt(&drdy, GPIO_INT_EDGE_TO_ACTIVE);
}

static void drdy_thread(void *p1, void *p2, void *p3)
{
    ARG_UNUSED(p1);
    ARG_UNUSED(p2);
    ARG_UNUSED(p3);
    for (;;) {
        atomic_val_t edges;
        void (*handler)(void *arg);

        k_sem_take(&drdy_sem, K_FOREVER);
        edges = atomic_set(&drdy_pending, 0);
        handler = drdy_handler;
        if (edges == 0 || handler == NULL) {
            continue;
        }
        stats.drdy_edges += (uint32_t)edges;
        if (edges > 1) {
            stats.missed += (uint32_t)(edges - 1);
            if (missed_fn != NULL) {
                missed_fn(missed_arg, (uint32_t)(edges - 1));
            }
        }
        handler(drdy_arg); /* tgll_device_drdy: read 27 bytes, push to the ring */
    }
}

K_THREAD_DEFINE(ads_drdy_tid, 1024, drdy_thread, NULL, NULL, NULL,
                K_PRIO_COOP(CONFIG_TGLL_DRDY_THREAD_PRIO), 0, 0);

int ads_hal_zephyr_init(ads1298_hal_t *hal, ads_hal_missed_fn missed, void *arg)
{
    const struct gpio_dt_spec *outs[] = {&pwdn, &reset, &start, &cs};
    size_t i;
    int rc;

    if (!spi_is_ready_dt(&spi) || !gpio_is_ready_dt(&drdy)) {
        return -ENODEV;
    }
    /* Powered and out of reset before the driver's tPOR wait; START low
     * (conversions are started by the driver); CS high. */
    for (i = 0; i < ARRAY_SIZE(outs); i++) {
        if (!gpio_is_ready_dt(outs[i])) {
            return -ENODEV;
        }
        rc = gpio_pin_configure_dt(outs[i], GPIO_OUTPUT_INACTIVE);
        if (rc != 0) {
            return rc;
        }
    }
    rc = gpio_pin_configure_dt(&drdy, GPIO_INPUT);
    if (rc != 0) {
        return rc;
    }
    gpio_init_callback(&drdy_cb, drdy_isr, BIT(drdy.pin));
    rc = gpio_add_callback(drdy.port, &drdy_cb);
    if (rc != 0) {
        return rc;
    }
    missed_fn = missed;
    missed_arg = arg;

    memset(hal, 0, sizeof(*hal));
    hal->spi_transfer = hal_spi_transfer;
    hal->cs_set = hal_cs_set;
    hal->reset_pin = hal_reset_pin;
    hal->start_pin = hal_start_pin;
    hal->delay_us = hal_delay_us;
    hal->delay_ms = hal_delay_ms;
    hal->drdy_irq = hal_drdy_irq; /* drdy_wait stays NULL: DRDY is interrupt driven */
    return 0;
}

void ads_hal_zephyr_stats(ads_hal_stats_t *out)
{
    *out = stats;
}
