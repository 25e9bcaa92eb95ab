/* Glue shared by every target: ADS1298 driver + streaming app.
 * The DRDY handler reads one frame over SPI and pushes it into the app's ring
 * (producer); the target's main loop / sender thread calls tgll_device_poll()
 * (consumer) and feeds received bytes to tgll_device_receive(). */
#ifndef TGLL_DEVICE_H
#define TGLL_DEVICE_H
#include <stdint.h>

#include "ads1298.h"
#include "tgll_app.h"

#ifndef TGLL_DEVICE_RING_SLOTS
#define TGLL_DEVICE_RING_SLOTS 256u /* 0.5 s at 500 SPS, 10 kB */
#endif
#ifndef TGLL_FIRMWARE_VERSION
#define TGLL_FIRMWARE_VERSION "tgll-fw 0.1.0"
#endif
#define TGLL_LABELS_8 "I,II,V1,V2,V3,V4,V5,V6"

typedef struct {
    ads1298_t ads;
    tgll_app_t app;
    tgll_app_ops_t ops;
    tgll_sample_t slots[TGLL_DEVICE_RING_SLOTS];
    uint32_t sync_errors;
} tgll_device_t;

typedef struct {
    const ads1298_hal_t *hal;
    ads1298_config_t ads;
    uint8_t samples_per_packet;
    const char *device_id; /* "TGLL-..." */
    tgll_write_fn write;
    void *write_ctx;
} tgll_device_config_t;

/* Power-up the ADS1298, configure it, set up the app; does not send anything.
 * Returns 0 or an ADS1298_ERR_* / -100 for a bad app configuration. */
int tgll_device_init(tgll_device_t *dev, const tgll_device_config_t *cfg);
/* The DRDY handler (registered with hal->drdy_irq while streaming). */
void tgll_device_drdy(void *arg);
/* Producer context too: n DRDYs went by unread (see tgll_app_skip_samples). */
void tgll_device_drdy_missed(tgll_device_t *dev, uint32_t n);
void tgll_device_boot(tgll_device_t *dev);
void tgll_device_receive(tgll_device_t *dev, const uint8_t *data, size_t n);
uint32_t tgll_device_poll(tgll_device_t *dev);

#endif
