/* Test-side decoder of the device's byte stream: split on 0x00, COBS-decode,
 * check each packet. Plus a capture sink to collect what a tgll_tx writes. */
#ifndef TGLL_STREAM_DECODE_H
#define TGLL_STREAM_DECODE_H
#include <stddef.h>
#include <stdint.h>

#include "tgll_protocol.h"

typedef struct {
    uint8_t type;
    uint16_t seq;
    uint32_t sample_index;
    uint16_t payload_len;
    uint8_t payload[TGLL_MAX_PAYLOAD];
} td_packet_t;

#define TD_MAX_PACKETS 1024u

typedef struct {
    td_packet_t pkts[TD_MAX_PACKETS];
    size_t n;
    size_t bad;      /* frames that failed COBS / packet checks */
    size_t overflow; /* packets beyond TD_MAX_PACKETS */
} td_stream_t;

/* Decode every complete frame in bytes[0..n) (trailing partial frame ignored). */
void td_decode(td_stream_t *s, const uint8_t *bytes, size_t n);

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int overflow;
} td_sink_t;

void td_sink_write(void *ctx, const uint8_t *data, size_t n);

/* Count packets of a type; find the i-th packet of a type (NULL if absent). */
size_t td_count(const td_stream_t *s, uint8_t type);
const td_packet_t *td_find(const td_stream_t *s, uint8_t type, size_t i);

#endif
