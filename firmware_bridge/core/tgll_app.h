/* Device-side streaming logic shared by every target: commands in, INFO /
 * DATA / EVENT / ACK out, the sample ring in between.
 *
 * Contexts:
 * - tgll_app_push_sample(): producer, called from the DRDY interrupt (or the
 *   high-priority thread that reads the ADS1298 after DRDY). Touches only the ring.
 * - everything else: one consumer context (main loop / sender thread).
 *
 * Stream semantics (PROTOCOL.md):
 * - boot: EVENT 4 (device reset, value 0) and INFO.
 * - START: sample counter restarts at 0, ACK, INFO, then DATA. (A restart is
 *   a backward jump of sample_index: the host treats it as a new stream.)
 * - STOP: conversions stop, the samples already captured are sent, ACK.
 * - GET_INFO: ACK, INFO.  SET_RATE: ACK (0 ok / 2 bad rate), INFO; if
 *   streaming, conversions restart at the new rate and the counter at 0.
 * - unknown command: ACK 1 (unsupported).
 * - while streaming: INFO every info_interval_s seconds of samples (<= 10 s).
 * - ring overflow: the DATA packet before the gap is flushed, then EVENT 3
 *   with value = samples dropped and sample_index = the first dropped sample,
 *   then DATA resumes at first dropped + value (the jump is exactly value).
 * - lead-off mask change: EVENT 1, value = new mask, sample_index = the first
 *   sample with the new mask. */
#ifndef TGLL_APP_H
#define TGLL_APP_H
#include <stddef.h>
#include <stdint.h>

#include "tgll_cmd.h"
#include "tgll_framer.h"
#include "tgll_packet.h"
#include "tgll_ring.h"

/* What the app needs from the acquisition side (the ADS1298 driver on a
 * target, a fake in tests). Each returns 0 on success. set_rate returns a
 * TGLL_ACK_* status: TGLL_ACK_BAD_ARGUMENT for rates the front end can't do. */
typedef struct {
    void *ctx;
    int (*start)(void *ctx);
    int (*stop)(void *ctx);
    int (*set_rate)(void *ctx, uint16_t fs_hz);
} tgll_app_ops_t;

typedef struct {
    tgll_info_t info;            /* strings must outlive the app */
    uint8_t samples_per_packet;
    uint8_t info_interval_s;     /* 1..10 */
    tgll_write_fn write;
    void *write_ctx;
    const tgll_app_ops_t *ops;
    tgll_sample_t *ring_slots;   /* static storage, power-of-two count */
    uint32_t ring_capacity;
} tgll_app_config_t;

typedef struct {
    uint32_t commands;
    uint32_t overflow_events;
    uint32_t samples_dropped;  /* reported in EVENT 3 so far */
    uint32_t data_packets;
    uint32_t samples_sent;
    uint32_t lead_off_events;
    uint32_t info_packets;
} tgll_app_stats_t;

typedef struct {
    tgll_tx_t tx;
    tgll_ring_t ring;
    tgll_framer_t framer;
    tgll_cmd_decoder_t cmd;
    tgll_info_t info;
    const tgll_app_ops_t *ops;
    uint8_t info_interval_s;
    volatile uint8_t streaming;
    uint32_t expected_index;     /* index the next popped sample should have */
    uint16_t reported_lead_off;
    uint32_t samples_since_info;
    tgll_app_stats_t stats;
} tgll_app_t;

/* Returns 0, or -1 on a bad configuration. */
int tgll_app_init(tgll_app_t *app, const tgll_app_config_t *cfg);
/* Power-up announcement: EVENT 4 + INFO. */
void tgll_app_boot(tgll_app_t *app);
/* Feed received bytes (UART RX / BLE control writes); executes complete commands. */
void tgll_app_receive(tgll_app_t *app, const uint8_t *data, size_t n);
/* Execute one command (also used by tests and by transports that frame themselves). */
void tgll_app_command(tgll_app_t *app, const tgll_command_t *cmd);
/* Start / stop streaming on the device's own initiative (no ACK): start
 * sends INFO like START does and returns a TGLL_ACK_* status. */
uint8_t tgll_app_start(tgll_app_t *app);
void tgll_app_stop(tgll_app_t *app);
/* Producer (DRDY context). Returns 1 stored, 0 dropped (ring full) or not streaming. */
int tgll_app_push_sample(tgll_app_t *app, const int32_t *ch, uint16_t lead_off);
/* Producer: n conversions were lost before they reached the ring (missed
 * DRDY). Reported like an overflow: EVENT 3 and an exact sample_index jump. */
void tgll_app_skip_samples(tgll_app_t *app, uint32_t n);
/* Consumer: turn up to max_samples ring samples into packets (0 = all). Returns samples taken. */
uint32_t tgll_app_poll(tgll_app_t *app, uint32_t max_samples);
/* Send the partial DATA packet now (e.g. before going idle). */
void tgll_app_flush(tgll_app_t *app);
/* Current device sample counter (for packets that are not DATA). */
uint32_t tgll_app_sample_counter(const tgll_app_t *app);

#endif
