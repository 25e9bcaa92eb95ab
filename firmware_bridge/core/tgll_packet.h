/* Packet encoding: header + payload + CRC, COBS, 0x00 delimiter (PROTOCOL.md),
 * and the typed payloads the device sends (INFO, EVENT, ACK; DATA is built by
 * tgll_framer). No heap: callers pass the buffers. */
#ifndef TGLL_PACKET_H
#define TGLL_PACKET_H
#include <stddef.h>
#include <stdint.h>

#include "tgll_protocol.h"

/* Little-endian stores/loads, independent of the host's byte order. */
void tgll_put_u16(uint8_t *p, uint16_t v);
void tgll_put_u32(uint8_t *p, uint32_t v);
void tgll_put_i24(uint8_t *p, int32_t v);
uint16_t tgll_get_u16(const uint8_t *p);
uint32_t tgll_get_u32(const uint8_t *p);
int32_t tgll_get_i24(const uint8_t *p);

/* Encode one packet to its wire form (COBS + 0x00) in wire[0..cap).
 * Returns the wire length, or 0 if payload_len > TGLL_MAX_PAYLOAD or cap is too
 * small (TGLL_MAX_WIRE always suffices). */
size_t tgll_packet_encode(uint8_t type, uint16_t seq, uint32_t sample_index,
                          const uint8_t *payload, size_t payload_len,
                          uint8_t *wire, size_t cap);

/* Validate a decoded packet (after COBS): length, version, payload_len, CRC.
 * On success fills the fields and returns 0; otherwise a TGLL_PKT_ERR_* code. */
#define TGLL_PKT_OK 0
#define TGLL_PKT_ERR_SHORT 1
#define TGLL_PKT_ERR_VERSION 2
#define TGLL_PKT_ERR_LENGTH 3
#define TGLL_PKT_ERR_CRC 4
typedef struct {
    uint8_t type;
    uint16_t seq;
    uint32_t sample_index;
    const uint8_t *payload;
    uint16_t payload_len;
} tgll_packet_view_t;
int tgll_packet_parse(const uint8_t *pkt, size_t n, tgll_packet_view_t *view);

/* INFO payload. labels/device_id/firmware are NUL-terminated ASCII, <= 255 chars. */
typedef struct {
    uint16_t fs_hz;
    uint8_t n_channels;
    uint8_t sample_format;
    float uv_per_count;
    uint8_t lead_set;
    const char *labels;
    const char *device_id;
    const char *firmware;
} tgll_info_t;

/* Payload builders: return the payload length, 0 if it does not fit cap. */
size_t tgll_info_payload(const tgll_info_t *info, uint8_t *buf, size_t cap);
size_t tgll_event_payload(uint8_t code, uint32_t value, uint8_t *buf, size_t cap);
size_t tgll_ack_payload(uint8_t command, uint8_t status, uint8_t *buf, size_t cap);
size_t tgll_command_payload(uint8_t command, uint32_t arg, uint8_t *buf, size_t cap);

#define TGLL_EVENT_PAYLOAD_SIZE 5u
#define TGLL_ACK_PAYLOAD_SIZE 2u
#define TGLL_COMMAND_PAYLOAD_SIZE 5u

/* The sender: owns the packet sequence counter and one wire buffer, and hands
 * each encoded packet to write(). Not reentrant: call from one context only
 * (the main loop / sender thread, never from the DRDY interrupt). */
typedef void (*tgll_write_fn)(void *ctx, const uint8_t *data, size_t n);
typedef struct {
    tgll_write_fn write;
    void *ctx;
    uint16_t seq;
    uint32_t packets;
    uint32_t bytes;
    uint32_t errors; /* packets that could not be encoded */
    uint8_t wire[TGLL_MAX_WIRE];
} tgll_tx_t;

void tgll_tx_init(tgll_tx_t *tx, tgll_write_fn write, void *ctx);
/* Encode and write; returns 0 on success, -1 if the packet could not be encoded. */
int tgll_tx_send(tgll_tx_t *tx, uint8_t type, uint32_t sample_index,
                 const uint8_t *payload, size_t payload_len);
int tgll_tx_info(tgll_tx_t *tx, uint32_t sample_index, const tgll_info_t *info);
int tgll_tx_event(tgll_tx_t *tx, uint32_t sample_index, uint8_t code, uint32_t value);
int tgll_tx_ack(tgll_tx_t *tx, uint32_t sample_index, uint8_t command, uint8_t status);

#endif
