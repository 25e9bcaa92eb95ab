/* Packs int24 samples and lead-off bits into DATA payloads (PROTOCOL.md 0x02):
 * n_channels u8, n_samples u8, lead_off u16 (OR over the packet's samples),
 * then samples sample-major, int24 LE. A packet always holds consecutive
 * samples: the caller flushes before a discontinuity, so each DATA packet's
 * sample_index + n_samples is exact. */
#ifndef TGLL_FRAMER_H
#define TGLL_FRAMER_H
#include <stddef.h>
#include <stdint.h>

#include "tgll_protocol.h"

#define TGLL_DATA_HEADER_SIZE 4u
/* Largest n_samples for n channels: PROTOCOL.md's 40 / 28 / 20 for 8 / 12 /
 * 16 channels, otherwise as many as keep the packet within 1024 bytes. */
uint8_t tgll_data_max_samples(uint8_t n_channels);
#define TGLL_DATA_PAYLOAD_MAX 1012u

typedef struct {
    uint8_t n_channels;
    uint8_t samples_per_packet;
    uint8_t count;        /* samples in the packet being built */
    uint32_t first_index; /* sample_index of the packet being built */
    uint16_t lead_off;
    uint8_t payload[TGLL_DATA_PAYLOAD_MAX];
} tgll_framer_t;

/* Returns 0, or -1 if n_channels is 0 / > 16 or samples_per_packet is 0 or
 * larger than tgll_data_max_samples(n_channels). */
int tgll_framer_init(tgll_framer_t *f, uint8_t n_channels, uint8_t samples_per_packet);

/* Adds one sample (n_channels counts, clipped to int24). Returns 1 when the
 * packet is full and must be taken with tgll_framer_take() before the next add. */
int tgll_framer_add(tgll_framer_t *f, uint32_t index, const int32_t *ch, uint16_t lead_off);

/* Finalises the packet being built (full or partial): sets *index and returns
 * the payload length, or 0 if it holds no samples. Starts a new packet. */
size_t tgll_framer_take(tgll_framer_t *f, uint32_t *index);

/* Index the next sample must have to extend the packet being built. */
uint32_t tgll_framer_next_index(const tgll_framer_t *f);

#endif
