/* ADS1298 driver for the 12-lead front end, behind a small HAL.
 *
 * Channel mapping (standard 12-lead wiring, PROTOCOL.md lead_set 0, the
 * order of DATA channels):
 *   CH1 = I  : IN1P = LA, IN1N = RA
 *   CH2 = II : IN2P = LL, IN2N = RA
 *   CH3..CH8 = V1..V6 : INnP = V1..V6, INnN = WCT (the WCT pin is wired to
 *   IN3N..IN8N on the board; WCTA/B/C buffer RA (CH1N), LA (CH1P), LL (CH2P))
 *   RL electrode = RLD output (right-leg drive from RA, LA, LL).
 * III, aVR, aVL, aVF are derived by the host (Einthoven/Goldberger).
 *
 * Threading: ads1298_read_frame() runs in the DRDY context; everything else
 * from one thread while conversions are stopped (or via the DRDY-safe path). */
#ifndef ADS1298_H
#define ADS1298_H
#include <stddef.h>
#include <stdint.h>

#include "ads1298_regs.h"

/* Hardware abstraction: one instance per board. Functions may be NULL where
 * noted; everything is called with ctx. */
typedef struct {
    void *ctx;
    /* Full-duplex SPI (mode 1: CPOL 0, CPHA 1), n bytes; rx may be NULL. */
    void (*spi_transfer)(void *ctx, const uint8_t *tx, uint8_t *rx, size_t n);
    void (*cs_set)(void *ctx, int asserted); /* asserted = CS low */
    void (*reset_pin)(void *ctx, int high);  /* NULL: RESET opcode is used */
    void (*start_pin)(void *ctx, int high);  /* NULL: START pin tied low, START/STOP opcodes */
    void (*delay_us)(void *ctx, uint32_t us);
    void (*delay_ms)(void *ctx, uint32_t ms);
    /* Block until DRDY falls (0) or timeout (-1). May be NULL with drdy_irq. */
    int (*drdy_wait)(void *ctx, uint32_t timeout_ms);
    /* Register (isr != NULL) / remove (NULL) the DRDY falling-edge handler. */
    int (*drdy_irq)(void *ctx, void (*isr)(void *arg), void *arg);
} ads1298_hal_t;

typedef struct {
    uint16_t fs_hz;     /* 250 (low-power mode), 500 or 1000 (high-resolution) */
    uint8_t gain;       /* 1, 2, 3, 4, 6, 8, 12 */
    uint8_t lead_off;   /* 1: DC lead-off detection (6 nA, 95 % comparators) */
    uint8_t test_signal; /* 1: all channels on the internal 1 Hz test signal (bring-up) */
} ads1298_config_t;

#define ADS1298_DEFAULT_CONFIG {500u, 6u, 1u, 0u}
#define ADS1298_VREF_V 2.4f /* internal reference, VREF_4V = 0 (3 V AVDD) */

/* Power-up and settling times (datasheet: tPOR = 2^18 tCLK = 128 ms at
 * 2.048 MHz, reset pulse >= 2 tCLK, 18 tCLK after reset, multi-byte command
 * bytes 4 tCLK apart; internal reference settling). Generous on purpose. */
#define ADS1298_T_POR_MS 150u
#define ADS1298_T_RESET_LOW_US 10u
#define ADS1298_T_AFTER_RESET_US 20u
#define ADS1298_T_SDECODE_US 2u
#define ADS1298_T_REF_SETTLE_MS 150u

#define ADS1298_OK 0
#define ADS1298_ERR_ARG (-1)
#define ADS1298_ERR_ID (-2)
#define ADS1298_ERR_VERIFY (-3)
#define ADS1298_ERR_TIMEOUT (-4)
#define ADS1298_ERR_SYNC (-5)
#define ADS1298_ERR_STATE (-6)

typedef struct {
    uint32_t status;     /* 24-bit status word */
    uint8_t loff_statp;  /* bit n-1: INnP electrode off */
    uint8_t loff_statn;  /* bit n-1: INnN electrode off */
    int32_t ch[ADS_CHANNELS];
    uint16_t lead_off;   /* channel mask for DATA: electrode off or saturated */
} ads1298_frame_t;

typedef struct {
    const ads1298_hal_t *hal;
    ads1298_config_t cfg;
    uint8_t id;
    uint8_t regs[ADS_NUM_REGS]; /* the configuration written (and verified) */
    uint8_t rdatac;             /* device is in read-data-continuous mode */
    uint8_t converting;
    uint32_t frames;
    uint32_t sync_errors;       /* status word without the 1100 header */
} ads1298_t;

/* Pure helpers (no I/O). */
int ads1298_config1_for_rate(uint16_t fs_hz, uint8_t *config1);
int ads1298_gain_bits(uint8_t gain, uint8_t *bits);
int ads1298_build_registers(const ads1298_config_t *cfg, uint8_t regs[ADS_NUM_REGS]);
float ads1298_uv_per_count(float vref_v, uint8_t gain);
/* Channel lead-off mask from the electrode status bits (wiring above): a
 * channel is off when either of its electrodes is; the V channels also when
 * any WCT electrode (RA, LA, LL) is. */
uint16_t ads1298_lead_off_channels(uint8_t loff_statp, uint8_t loff_statn);
int ads1298_parse_frame(const uint8_t raw[ADS_FRAME_BYTES], ads1298_frame_t *out);

/* Power-up sequence, register configuration, read-back check. Leaves the
 * device configured, in SDATAC mode, not converting. */
int ads1298_init(ads1298_t *dev, const ads1298_hal_t *hal, const ads1298_config_t *cfg);
/* START conversions and enter RDATAC. */
int ads1298_start(ads1298_t *dev);
/* SDATAC and STOP. */
int ads1298_stop(ads1298_t *dev);
/* Change the data rate (device must be stopped). */
int ads1298_set_rate(ads1298_t *dev, uint16_t fs_hz);
/* Read one RDATAC frame after DRDY (27 bytes). ADS1298_ERR_SYNC if the status
 * header is wrong (frame still parsed and returned). */
int ads1298_read_frame(ads1298_t *dev, ads1298_frame_t *out);
/* Register access (only in SDATAC mode). */
int ads1298_read_regs(ads1298_t *dev, uint8_t addr, uint8_t *vals, uint8_t count);
int ads1298_write_regs(ads1298_t *dev, uint8_t addr, const uint8_t *vals, uint8_t count);
void ads1298_command(ads1298_t *dev, uint8_t opcode);

#endif
