/* A simulated ADS1298 behind the driver's HAL, for host tests and the host
 * UART target. It models what the driver relies on:
 * - the register file with reset values, read-only ID / LOFF_STATP/N,
 *   CONFIG3 bit 6 reading 1;
 * - the opcodes RESET, SDATAC, RDATAC, START, STOP, RREG, WREG (RREG/WREG
 *   are ignored in RDATAC mode, as on the chip), bytes only while CS is low,
 *   the command parser reset by CS going high;
 * - conversions: sim_tick() (one DRDY period) latches the next sample of a
 *   source record into a 27-byte RDATAC frame (status 1100 + LOFF_STATP +
 *   LOFF_STATN + GPIO, 8 x int24 MSB first) and fires the DRDY handler.
 * Time is a counter advanced by the HAL's delay calls, so tests can check the
 * power-up timing. */
#ifndef ADS1298_SIM_H
#define ADS1298_SIM_H
#include <stddef.h>
#include <stdint.h>

#include "ads1298.h"

#define ADS_SIM_LOG_MAX 256u

typedef struct {
    uint8_t opcode;   /* first byte of a command */
    uint8_t addr;     /* RREG/WREG address */
    uint8_t count;    /* RREG/WREG count */
    uint64_t time_us; /* simulated time when it was decoded */
    uint8_t in_rdatac; /* decoded while in RDATAC mode */
} ads_sim_op_t;

typedef struct {
    uint8_t id; /* value of the ID register after reset */
    uint8_t regs[ADS_NUM_REGS];
    uint8_t rdatac;
    uint8_t converting; /* START opcode or START pin */
    uint8_t start_pin;
    uint8_t cs;         /* 1 = asserted */
    uint8_t reset_pin;
    /* command parser */
    uint8_t cmd_state;  /* 0 opcode, 1 count byte, 2 register data */
    uint8_t cmd_op;
    uint8_t cmd_addr;
    uint8_t cmd_left;
    /* output frame */
    uint8_t frame[ADS_FRAME_BYTES];
    uint8_t frame_ready; /* a DRDY happened and the frame was not read yet */
    size_t frame_pos;
    /* sample source: rows of 8 int32 counts, looped */
    const int32_t (*samples)[ADS_CHANNELS];
    uint32_t n_samples;
    uint32_t next_sample;
    uint8_t electrode_statp; /* injected lead-off bits */
    uint8_t electrode_statn;
    /* DRDY handler */
    void (*isr)(void *arg);
    void *isr_arg;
    /* bookkeeping for tests */
    uint64_t time_us;
    uint32_t ticks;          /* DRDY periods with conversions running */
    uint32_t frames_read;    /* complete 27-byte frame reads */
    uint32_t frames_missed;  /* DRDY came before the previous frame was read */
    uint32_t ignored_in_rdatac; /* RREG/WREG sent in RDATAC mode */
    uint32_t bytes_without_cs;
    uint32_t resets;
    ads_sim_op_t log[ADS_SIM_LOG_MAX];
    uint32_t log_len;
    uint8_t write_count[ADS_NUM_REGS]; /* WREG writes per register */
} ads_sim_t;

/* Power-on state. samples may be NULL (all-zero frames). */
void ads_sim_init(ads_sim_t *sim, const int32_t (*samples)[ADS_CHANNELS], uint32_t n_samples);
/* A HAL bound to sim (delays advance simulated time only). */
void ads_sim_hal(ads_sim_t *sim, ads1298_hal_t *hal);
/* One DRDY period: if converting, latch the next sample and fire the handler. */
void ads_sim_tick(ads_sim_t *sim);
/* The data rate CONFIG1 selects, 0 if not one of 250/500/1000 (for pacing). */
uint16_t ads_sim_rate(const ads_sim_t *sim);

#endif
