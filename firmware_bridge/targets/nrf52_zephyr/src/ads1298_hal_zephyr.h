/* ADS1298 HAL on Zephyr: SPI, GPIOs and the DRDY interrupt from the
 * devicetree node labelled `ads1298` (compatible "tgll,ads1298", app.overlay). */
#ifndef ADS1298_HAL_ZEPHYR_H
#define ADS1298_HAL_ZEPHYR_H
#include <stdint.h>

#include "ads1298.h"

/* Called in the DRDY thread (the ring's producer context) with the number of
 * conversions that went by unread before the one about to be read. */
typedef void (*ads_hal_missed_fn)(void *arg, uint32_t n);

/* Configures the pins (PWDN and RESET released, START low, CS high) and
 * fills *hal. Returns 0, or a negative errno if a device is not ready. */
int ads_hal_zephyr_init(ads1298_hal_t *hal, ads_hal_missed_fn missed, void *missed_arg);

/* Counters for the log: SPI errors, DRDY edges, conversions missed. */
typedef struct {
    uint32_t spi_errors;
    uint32_t drdy_edges;
    uint32_t missed;
} ads_hal_stats_t;
void ads_hal_zephyr_stats(ads_hal_stats_t *out);

#endif
