/* TGLL Edge firmware for nRF52 + ADS1298 on Zephyr. Three contexts:
 *   DRDY thread (ads1298_hal_zephyr.c): reads each frame into the core's ring;
 *   this main thread: the app's consumer, runs commands and sends packets;
 *   the transport's ISR / BT threads: move bytes only.
 * All protocol and front-end logic is the portable core (core/, driver/,
 * targets/common/), the same code the host tests run. */
#include <stdio.h>
#include <zephyr/drivers/hwinfo.h>
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>

#include "ads1298_hal_zephyr.h"
#include "tgll_device.h"
#include "transport.h"

LOG_MODULE_REGISTER(tgll, LOG_LEVEL_INF);

static tgll_device_t dev; /* ring and packet buffers: static, no heap */
static ads1298_hal_t hal;
static char device_id[16];
static K_SEM_DEFINE(wake, 0, 1);

/* "TGLL-" + the last two bytes of the chip's unique ID (FICR DEVICEID). */
static void make_device_id(void)
{
    uint8_t id[8] = {0};
    ssize_t n = hwinfo_get_device_id(id, sizeof(id));

    if (n >= 2) {
        snprintf(device_id, sizeof(device_id), "TGLL-%02X%02X", id[n - 2], id[n - 1]);
    } else {
        snprintf(device_id, sizeof(device_id), "TGLL-NRF52");
    }
}

static void on_missed_drdy(void *arg, uint32_t n)
{
    ARG_UNUSED(arg);
    tgll_device_drdy_missed(&dev, n);
}

/* Conversions with nobody listening waste ~6 mW: stop them once the link has
 * been gone for CONFIG_TGLL_LINK_DOWN_STOP_S (the host sends START again). */
static void stop_if_link_gone(void)
{
    static int64_t down_since;

    if (CONFIG_TGLL_LINK_DOWN_STOP_S == 0 || !dev.app.streaming || transport_link_up()) {
        down_since = 0;
        return;
    }
    if (down_since == 0) {
        down_since = k_uptime_get();
    } else if (k_uptime_get() - down_since > CONFIG_TGLL_LINK_DOWN_STOP_S * 1000LL) {
        LOG_INF("link down for %d s: stopping conversions", CONFIG_TGLL_LINK_DOWN_STOP_S);
        tgll_app_stop(&dev.app);
        down_since = 0;
    }
}

int main(void)
{
    tgll_device_config_t cfg = {0};
    ads1298_config_t ads = ADS1298_DEFAULT_CONFIG;
    ads_hal_stats_t hs;
    uint8_t rx[64];
    int64_t next_log = 0;
    int rc;

    make_device_id();
    rc = ads_hal_zephyr_init(&hal, on_missed_drdy, NULL);
    if (rc == 0) {
        rc = transport_init(device_id, &wake);
    }
    if (rc != 0) {
        LOG_ERR("init failed (%d)", rc);
        return 0;
    }
    ads.fs_hz = CONFIG_TGLL_FS_HZ;
    ads.gain = CONFIG_TGLL_ADS_GAIN;
    ads.test_signal = IS_ENABLED(CONFIG_TGLL_ADS_TEST_SIGNAL);
    cfg.hal = &hal;
    cfg.ads = ads;
    cfg.samples_per_packet = CONFIG_TGLL_SAMPLES_PER_PACKET;
    cfg.device_id = device_id;
    cfg.write = transport_write;
    /* The front end may be powered after the MCU (or missing): keep trying. */
    while ((rc = tgll_device_init(&dev, &cfg)) != 0) {
        LOG_ERR("ADS1298 init failed (%d), retrying", rc);
        k_sleep(K_SECONDS(1));
    }
    LOG_INF("%s: ADS1298 id 0x%02x, %d SPS, %d samples/packet", device_id, dev.ads.id,
            CONFIG_TGLL_FS_HZ, CONFIG_TGLL_SAMPLES_PER_PACKET);
    tgll_device_boot(&dev); /* EVENT 4 (reset) + INFO */

    for (;;) {
        size_t n;

        /* Woken by command bytes; otherwise every CONFIG_TGLL_POLL_MS to drain
         * the ring (at 500 SPS 10 ms = 5 samples; the ring holds 256). */
        k_sem_take(&wake, K_MSEC(CONFIG_TGLL_POLL_MS));
        while ((n = transport_read(rx, sizeof(rx))) > 0) {
            tgll_device_receive(&dev, rx, n);
        }
        tgll_device_poll(&dev);
        stop_if_link_gone();
        if (k_uptime_get() >= next_log) {
            next_log = k_uptime_get() + 10000;
            ads_hal_zephyr_stats(&hs);
            LOG_INF("sent %u samples, dropped %u (missed DRDY %u), sync errors %u, spi errors %u",
                    dev.app.stats.samples_sent, dev.app.stats.samples_dropped, hs.missed,
                    dev.ads.sync_errors, hs.spi_errors);
        }
    }
    return 0;
}
