/* Incremental COMMAND decoder for the device side: feed it the raw bytes from
 * the UART / the BLE control characteristic in any chunking; it frames on
 * 0x00, COBS-decodes, checks the packet and returns complete commands.
 *
 * Robust to garbage: a receiver that starts mid-stream loses at most the
 * frame in progress; frames longer than any valid COMMAND are dropped up to
 * the next delimiter and counted; bad CRC / version / length / type are
 * counted and never returned. */
#ifndef TGLL_CMD_H
#define TGLL_CMD_H
#include <stddef.h>
#include <stdint.h>

#include "tgll_protocol.h"

/* A COMMAND packet is 10 + 5 + 2 = 17 bytes, 18-19 bytes COBS-encoded. The
 * buffer leaves room for future longer commands but stays small for RAM. */
#define TGLL_CMD_FRAME_MAX 64u

typedef struct {
    uint8_t command;
    uint32_t arg;
    uint16_t seq;
    uint32_t sample_index;
} tgll_command_t;

typedef struct {
    uint32_t frames;      /* delimiters seen that closed a non-empty frame */
    uint32_t commands;    /* valid COMMAND packets returned */
    uint32_t oversize;    /* frames longer than TGLL_CMD_FRAME_MAX, dropped */
    uint32_t cobs_errors; /* malformed COBS */
    uint32_t bad_header;  /* too short, wrong version or payload_len */
    uint32_t crc_errors;
    uint32_t bad_type;    /* valid packet, but not a well-formed COMMAND */
    uint32_t dropped_bytes;
} tgll_cmd_stats_t;

typedef struct {
    uint8_t buf[TGLL_CMD_FRAME_MAX];
    size_t len;
    int overflow; /* current frame exceeded buf: discard until the delimiter */
    tgll_cmd_stats_t stats;
} tgll_cmd_decoder_t;

void tgll_cmd_init(tgll_cmd_decoder_t *d);

/* Consume bytes from data[0..n) up to and including the first delimiter that
 * completes a valid command. Returns the number of bytes consumed; *got is 1
 * if *cmd was filled. Call again with the rest until all bytes are consumed. */
size_t tgll_cmd_feed(tgll_cmd_decoder_t *d, const uint8_t *data, size_t n,
                     tgll_command_t *cmd, int *got);

#endif
