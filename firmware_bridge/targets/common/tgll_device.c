#include "tgll_device.h"

#include <string.h>

void tgll_device_drdy(void *arg)
{
    tgll_device_t *dev = (tgll_device_t *)arg;
    ads1298_frame_t frame;
    if (ads1298_read_frame(&dev->ads, &frame) != ADS1298_OK) {
        dev->sync_errors++; /* misaligned frame: don't pass garbage on */
        return;
    }
    tgll_app_push_sample(&dev->app, frame.ch, frame.lead_off);
}

void tgll_device_drdy_missed(tgll_device_t *dev, uint32_t n)
{
    tgll_app_skip_samples(&dev->app, n);
}

static int op_start(void *ctx)
{
    tgll_device_t *dev = (tgll_device_t *)ctx;
    const ads1298_hal_t *hal = dev->ads.hal;
    if (hal->drdy_irq != NULL && hal->drdy_irq(hal->ctx, tgll_device_drdy, dev) != 0) {
        return -1;
    }
    return ads1298_start(&dev->ads);
}

static int op_stop(void *ctx)
{
    tgll_device_t *dev = (tgll_device_t *)ctx;
    const ads1298_hal_t *hal = dev->ads.hal;
    ads1298_stop(&dev->ads);
    if (hal->drdy_irq != NULL) {
        hal->drdy_irq(hal->ctx, NULL, NULL);
    }
    return 0;
}

static int op_set_rate(void *ctx, uint16_t fs_hz)
{
    tgll_device_t *dev = (tgll_device_t *)ctx;
    int rc = ads1298_set_rate(&dev->ads, fs_hz);
    if (rc == ADS1298_ERR_ARG) {
        return TGLL_ACK_BAD_ARGUMENT;
    }
    return rc == ADS1298_OK ? TGLL_ACK_OK : TGLL_ACK_BAD_ARGUMENT;
}

int tgll_device_init(tgll_device_t *dev, const tgll_device_config_t *cfg)
{
    tgll_app_config_t app_cfg;
    int rc;
    memset(dev, 0, sizeof *dev);
    rc = ads1298_init(&dev->ads, cfg->hal, &cfg->ads);
    if (rc != ADS1298_OK) {
        return rc;
    }
    dev->ops.ctx = dev;
    dev->ops.start = op_start;
    dev->ops.stop = op_stop;
    dev->ops.set_rate = op_set_rate;
    memset(&app_cfg, 0, sizeof app_cfg);
    app_cfg.info.fs_hz = cfg->ads.fs_hz;
    app_cfg.info.n_channels = ADS_CHANNELS;
    app_cfg.info.sample_format = TGLL_SAMPLE_FORMAT_INT24;
    app_cfg.info.uv_per_count = ads1298_uv_per_count(ADS1298_VREF_V, cfg->ads.gain);
    app_cfg.info.lead_set = TGLL_LEAD_SET_8;
    app_cfg.info.labels = TGLL_LABELS_8;
    app_cfg.info.device_id = cfg->device_id;
    app_cfg.info.firmware = TGLL_FIRMWARE_VERSION;
    app_cfg.samples_per_packet = cfg->samples_per_packet;
    app_cfg.info_interval_s = 5;
    app_cfg.write = cfg->write;
    app_cfg.write_ctx = cfg->write_ctx;
    app_cfg.ops = &dev->ops;
    app_cfg.ring_slots = dev->slots;
    app_cfg.ring_capacity = TGLL_DEVICE_RING_SLOTS;
    return tgll_app_init(&dev->app, &app_cfg) == 0 ? 0 : -100;
}

void tgll_device_boot(tgll_device_t *dev)
{
    tgll_app_boot(&dev->app);
}

void tgll_device_receive(tgll_device_t *dev, const uint8_t *data, size_t n)
{
    tgll_app_receive(&dev->app, data, n);
}

uint32_t tgll_device_poll(tgll_device_t *dev)
{
    return tgll_app_poll(&dev->app, 0);
}
