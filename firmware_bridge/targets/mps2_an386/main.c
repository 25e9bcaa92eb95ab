/* The UART target on QEMU's mps2-an386 (Cortex-M4F): the real core + ADS1298
 * driver, the simulated ADS1298 (sim/) behind a board HAL, DRDY from a CMSDK
 * timer interrupt that reads the frame into the ring (producer), and this
 * sender loop (consumer) streaming over the CMSDK UART.
 *
 * Options come from the semihosting command line (QEMU
 * -semihosting-config enable=on,target=native,arg=...), as tgll_uart_host's:
 *   --samples N      stop streaming after N DRDY periods, drain the UART and
 *                    exit (0 = run until QEMU is killed, the default)
 *   --autostart      start streaming at once (default: wait for START)
 *   --spp N          samples per DATA packet (default 10)
 *   --fs HZ          initial data rate 250/500/1000 (default 500)
 *   --stall-at N --stall-for M   the sender takes no sample from index N on
 *                    until DRDY period N + M (the ring overflows: EVENT 3)
 *   --device-id ID   INFO's device id (default TGLL-M4-QEMU)
 *   --bench          print instruction counts instead of streaming (run
 *                    under -icount shift=0, see bench.c) */
#include <stdint.h>
#include <string.h>

#include "ads1298_sim.h"
#include "bench.h"
#include "cmsdk_timer.h"
#include "cmsdk_uart.h"
#include "mps2_an386.h"
#include "ptbxl_00001_hr_2s.h"
#include "semihost.h"
#include "tgll_device.h"

#define UART_BAUD 921600u

typedef struct {
    uint32_t samples;
    int autostart;
    int spp;
    int fs;
    int32_t stall_at; /* -1: none */
    uint32_t stall_for;
    const char *device_id;
    int bench;
} options_t;

static tgll_device_t g_dev;
static ads_sim_t g_sim;
static ads1298_hal_t g_sim_hal; /* the simulated chip's own HAL */
static ads1298_hal_t g_hal;     /* what the driver gets: the board's wrapping */
static volatile uint32_t g_drdy; /* DRDY periods with conversions running */
static uint32_t g_limit;
static uint16_t g_timer_fs;
static char g_cmdline[256];

/* --- board HAL: the DRDY interrupt must not cut into a thread-mode SPI
 * transaction (the chip has one serial interface), so thread-mode CS
 * masks it. START rising masks it too, until the CS of the RDATAC that
 * follows: the real chip's first DRDY comes tSETTLE after START. --- */
static void board_cs_set(void *ctx, int asserted)
{
    int thread = !mps2_in_handler();
    if (thread && asserted) {
        mps2_irq_disable(MPS2_IRQ_TIMER0);
    }
    g_sim_hal.cs_set(ctx, asserted);
    if (thread && !asserted) {
        mps2_irq_enable(MPS2_IRQ_TIMER0);
    }
}

static void board_start_pin(void *ctx, int high)
{
    if (high) {
        mps2_irq_disable(MPS2_IRQ_TIMER0);
    }
    g_sim_hal.start_pin(ctx, high);
}

/* TIMER0: one conversion of the simulated chip; ads_sim_tick fires the
 * registered DRDY handler (tgll_device_drdy), which reads the frame over the
 * HAL and pushes it into the ring. */
static void on_drdy(void)
{
    uint16_t fs;
    if (g_sim.converting && (g_limit == 0 || g_drdy < g_limit)) {
        ads_sim_tick(&g_sim);
        g_drdy = g_drdy + 1u;
    }
    fs = ads_sim_rate(&g_sim); /* follow SET_RATE */
    if (fs != 0 && fs != g_timer_fs) {
        g_timer_fs = fs;
        cmsdk_timer0_set_period(MPS2_PCLK_HZ / fs);
    }
}

static void uart_write(void *ctx, const uint8_t *data, size_t n)
{
    (void)ctx;
    cmsdk_uart_write(data, n);
}

static void sink_write(void *ctx, const uint8_t *data, size_t n)
{
    (void)ctx;
    (void)data;
    (void)n;
}

/* --- options --- */
static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint32_t v = 0;
    if (*s == '\0') {
        return -1;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (0xFFFFFFFFu - 9u) / 10u) {
            return -1;
        }
        v = v * 10u + (uint32_t)(*s - '0');
    }
    if (v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(char *line, options_t *o)
{
    char *argv[32];
    int argc = 0;
    int i;
    uint32_t v;
    char *p = line;
    while (*p != '\0' && argc < 32) { /* split on spaces, in place */
        while (*p == ' ') {
            *p++ = '\0';
        }
        if (*p != '\0') {
            argv[argc++] = p;
        }
        while (*p != '\0' && *p != ' ') {
            p++;
        }
    }
    memset(o, 0, sizeof *o);
    o->spp = 10;
    o->fs = 500;
    o->stall_at = -1;
    o->device_id = "TGLL-M4-QEMU";
    for (i = 1; i < argc; i++) { /* argv[0] is the program */
        const char *a = argv[i];
        const char *val = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (strcmp(a, "--autostart") == 0) {
            o->autostart = 1;
        } else if (strcmp(a, "--wait-start") == 0) {
            o->autostart = 0;
        } else if (strcmp(a, "--bench") == 0) {
            o->bench = 1;
        } else if (val == NULL) {
            return -1;
        } else if (strcmp(a, "--samples") == 0 && parse_u32(val, 0, 2000000000u, &o->samples) == 0) {
            i++;
        } else if (strcmp(a, "--spp") == 0 && parse_u32(val, 1, tgll_data_max_samples(8), &v) == 0) {
            o->spp = (int)v;
            i++;
        } else if (strcmp(a, "--fs") == 0 && parse_u32(val, 1, 65535, &v) == 0) {
            o->fs = (int)v;
            i++;
        } else if (strcmp(a, "--stall-at") == 0 && parse_u32(val, 0, 2000000000u, &v) == 0) {
            o->stall_at = (int32_t)v;
            i++;
        } else if (strcmp(a, "--stall-for") == 0 && parse_u32(val, 0, 2000000000u, &o->stall_for) == 0) {
            i++;
        } else if (strcmp(a, "--device-id") == 0) {
            o->device_id = val;
            i++;
        } else {
            return -1;
        }
    }
    return 0;
}

static int device_setup(const options_t *o, tgll_write_fn write)
{
    tgll_device_config_t cfg;
    ads1298_config_t ads_cfg = ADS1298_DEFAULT_CONFIG;
    ads_sim_init(&g_sim, tgll_record_counts, TGLL_RECORD_SAMPLES);
    ads_sim_hal(&g_sim, &g_sim_hal);
    g_hal = g_sim_hal;
    g_hal.cs_set = board_cs_set;
    g_hal.start_pin = board_start_pin;
    ads_cfg.fs_hz = (uint16_t)o->fs;
    memset(&cfg, 0, sizeof cfg);
    cfg.hal = &g_hal;
    cfg.ads = ads_cfg;
    cfg.samples_per_packet = (uint8_t)o->spp;
    cfg.device_id = o->device_id;
    cfg.write = write;
    return tgll_device_init(&g_dev, &cfg);
}

/* The sender: commands in, ring out. With a stall configured it takes no
 * sample from index stall_at on until DRDY period stall_at + stall_for, so
 * the drop count is exact: stall_for - ring capacity. */
static void sender_loop(const options_t *o)
{
    uint8_t rx[64];
    uint32_t taken = 0;
    for (;;) {
        size_t n = cmsdk_uart_read(rx, sizeof rx);
        int idle;
        if (n > 0) {
            tgll_device_receive(&g_dev, rx, n);
        }
        if (g_dev.app.streaming) {
            uint32_t drdy = g_drdy;
            uint32_t max = 0;
            int stalled = 0;
            if (o->stall_at >= 0) {
                uint32_t at = (uint32_t)o->stall_at;
                if (taken < at) {
                    max = at - taken;
                } else {
                    stalled = drdy < at + o->stall_for;
                }
            }
            if (!stalled) {
                taken += tgll_app_poll(&g_dev.app, max);
            }
            if (g_limit != 0 && drdy >= g_limit) {
                tgll_app_stop(&g_dev.app); /* drains the ring, flushes the last packet */
                return;
            }
        } else {
            taken = 0;
        }
        /* Sleep unless work is waiting; interrupts off so none slips in
         * between the look and the WFI (WFI still wakes on it). */
        mps2_irq_off();
        idle = !cmsdk_uart_rx_pending() &&
               (!g_dev.app.streaming || tgll_ring_count(&g_dev.app.ring) == 0 ||
                (o->stall_at >= 0 && taken >= (uint32_t)o->stall_at &&
                 g_drdy < (uint32_t)o->stall_at + o->stall_for));
        if (idle && !(g_limit != 0 && g_drdy >= g_limit && g_dev.app.streaming)) {
            mps2_wfi();
        }
        mps2_irq_on();
    }
}

int main(void)
{
    options_t o;
    int rc;
    if (semihost_cmdline(g_cmdline, sizeof g_cmdline) < 0 || parse_args(g_cmdline, &o) != 0) {
        semihost_puts("usage: tgll_m4 [--samples N] [--autostart|--wait-start] [--spp N] [--fs HZ]\n"
                      "       [--stall-at N --stall-for M] [--device-id ID] [--bench]\n");
        return 2;
    }
    g_limit = o.samples;
    if (!o.bench) {
        cmsdk_uart_init(MPS2_PCLK_HZ, UART_BAUD);
    }
    rc = device_setup(&o, o.bench ? sink_write : uart_write);
    if (rc != 0) {
        semihost_puts("tgll_m4: device init failed\n");
        return 1;
    }
    if (o.bench) {
        return bench_run(&g_dev);
    }
    g_timer_fs = (uint16_t)o.fs;
    cmsdk_timer0_start(MPS2_PCLK_HZ / (uint32_t)o.fs, on_drdy);
    tgll_device_boot(&g_dev);
    if (o.autostart) {
        tgll_app_start(&g_dev.app);
    }
    sender_loop(&o);
    cmsdk_uart_drain();
    semihost_puts("tgll_m4: done\n");
    return 0;
}
