#include "tgll_packet.h"

#include <string.h>

#include "tgll_cobs.h"
#include "tgll_crc.h"

/* INFO carries uv_per_count as IEEE 754 binary32; refuse to build elsewhere. */
typedef char tgll_float_is_32_bit[(sizeof(float) == 4) ? 1 : -1];

void tgll_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

void tgll_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

void tgll_put_i24(uint8_t *p, int32_t v)
{
    uint32_t u = (uint32_t)v; /* two's complement, low 24 bits */
    p[0] = (uint8_t)(u & 0xFFu);
    p[1] = (uint8_t)((u >> 8) & 0xFFu);
    p[2] = (uint8_t)((u >> 16) & 0xFFu);
}

uint16_t tgll_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}

uint32_t tgll_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

int32_t tgll_get_i24(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
    /* sign-extend without relying on implementation-defined shifts */
    return (u & 0x800000u) ? (int32_t)u - 0x1000000 : (int32_t)u;
}

size_t tgll_packet_encode(uint8_t type, uint16_t seq, uint32_t sample_index,
                          const uint8_t *payload, size_t payload_len,
                          uint8_t *wire, size_t cap)
{
    uint8_t header[TGLL_HEADER_SIZE];
    uint8_t crc_bytes[TGLL_CRC_SIZE];
    uint16_t crc;
    tgll_cobs_enc_t enc;
    size_t n;

    if (payload_len > TGLL_MAX_PAYLOAD || (payload_len > 0 && payload == NULL)) {
        return 0;
    }
    header[0] = TGLL_PROTOCOL_VERSION;
    header[1] = type;
    tgll_put_u16(&header[2], seq);
    tgll_put_u32(&header[4], sample_index);
    tgll_put_u16(&header[8], (uint16_t)payload_len);
    crc = tgll_crc16(header, sizeof header);
    crc = tgll_crc16_update(crc, payload, payload_len);
    tgll_put_u16(crc_bytes, crc);

    tgll_cobs_enc_begin(&enc, wire, cap);
    tgll_cobs_enc_put(&enc, header, sizeof header);
    tgll_cobs_enc_put(&enc, payload, payload_len);
    tgll_cobs_enc_put(&enc, crc_bytes, sizeof crc_bytes);
    n = tgll_cobs_enc_end(&enc);
    if (n == 0 || n >= cap) {
        return 0; /* no room for the delimiter */
    }
    wire[n] = 0x00;
    return n + 1;
}

int tgll_packet_parse(const uint8_t *pkt, size_t n, tgll_packet_view_t *view)
{
    uint16_t payload_len;
    if (n < TGLL_HEADER_SIZE + TGLL_CRC_SIZE) {
        return TGLL_PKT_ERR_SHORT;
    }
    if (pkt[0] != TGLL_PROTOCOL_VERSION) {
        return TGLL_PKT_ERR_VERSION;
    }
    payload_len = tgll_get_u16(&pkt[8]);
    if ((size_t)payload_len + TGLL_HEADER_SIZE + TGLL_CRC_SIZE != n) {
        return TGLL_PKT_ERR_LENGTH;
    }
    if (tgll_crc16(pkt, n - TGLL_CRC_SIZE) != tgll_get_u16(&pkt[n - TGLL_CRC_SIZE])) {
        return TGLL_PKT_ERR_CRC;
    }
    view->type = pkt[1];
    view->seq = tgll_get_u16(&pkt[2]);
    view->sample_index = tgll_get_u32(&pkt[4]);
    view->payload = &pkt[TGLL_HEADER_SIZE];
    view->payload_len = payload_len;
    return TGLL_PKT_OK;
}

/* Appends a u8-length-prefixed string; returns the new offset or 0 if it won't fit. */
static size_t put_lstring(uint8_t *buf, size_t off, size_t cap, const char *s)
{
    size_t len = (s == NULL) ? 0 : strlen(s);
    if (len > 255 || off + 1 + len > cap) {
        return 0;
    }
    buf[off] = (uint8_t)len;
    if (len > 0) {
        memcpy(&buf[off + 1], s, len);
    }
    return off + 1 + len;
}

size_t tgll_info_payload(const tgll_info_t *info, uint8_t *buf, size_t cap)
{
    uint32_t fbits;
    size_t off;
    if (cap < 9 || info->n_channels < 1 || info->n_channels > TGLL_MAX_CHANNELS) {
        return 0;
    }
    tgll_put_u16(&buf[0], info->fs_hz);
    buf[2] = info->n_channels;
    buf[3] = info->sample_format;
    memcpy(&fbits, &info->uv_per_count, sizeof fbits);
    tgll_put_u32(&buf[4], fbits);
    buf[8] = info->lead_set;
    off = put_lstring(buf, 9, cap, info->labels);
    if (off != 0) {
        off = put_lstring(buf, off, cap, info->device_id);
    }
    if (off != 0) {
        off = put_lstring(buf, off, cap, info->firmware);
    }
    return off;
}

size_t tgll_event_payload(uint8_t code, uint32_t value, uint8_t *buf, size_t cap)
{
    if (cap < TGLL_EVENT_PAYLOAD_SIZE) {
        return 0;
    }
    buf[0] = code;
    tgll_put_u32(&buf[1], value);
    return TGLL_EVENT_PAYLOAD_SIZE;
}

size_t tgll_ack_payload(uint8_t command, uint8_t status, uint8_t *buf, size_t cap)
{
    if (cap < TGLL_ACK_PAYLOAD_SIZE) {
        return 0;
    }
    buf[0] = command;
    buf[1] = status;
    return TGLL_ACK_PAYLOAD_SIZE;
}

size_t tgll_command_payload(uint8_t command, uint32_t arg, uint8_t *buf, size_t cap)
{
    if (cap < TGLL_COMMAND_PAYLOAD_SIZE) {
        return 0;
    }
    buf[0] = command;
    tgll_put_u32(&buf[1], arg);
    return TGLL_COMMAND_PAYLOAD_SIZE;
}

void tgll_tx_init(tgll_tx_t *tx, tgll_write_fn write, void *ctx)
{
    memset(tx, 0, sizeof *tx);
    tx->write = write;
    tx->ctx = ctx;
}

int tgll_tx_send(tgll_tx_t *tx, uint8_t type, uint32_t sample_index,
                 const uint8_t *payload, size_t payload_len)
{
    size_t n = tgll_packet_encode(type, tx->seq, sample_index, payload, payload_len,
                                  tx->wire, sizeof tx->wire);
    if (n == 0) {
        tx->errors++;
        return -1;
    }
    tx->seq = (uint16_t)(tx->seq + 1u); /* wraps at 65536 */
    tx->packets++;
    tx->bytes += (uint32_t)n;
    tx->write(tx->ctx, tx->wire, n);
    return 0;
}

int tgll_tx_info(tgll_tx_t *tx, uint32_t sample_index, const tgll_info_t *info)
{
    uint8_t buf[9 + 3 * 256];
    size_t n = tgll_info_payload(info, buf, sizeof buf);
    if (n == 0) {
        tx->errors++;
        return -1;
    }
    return tgll_tx_send(tx, TGLL_TYPE_INFO, sample_index, buf, n);
}

int tgll_tx_event(tgll_tx_t *tx, uint32_t sample_index, uint8_t code, uint32_t value)
{
    uint8_t buf[TGLL_EVENT_PAYLOAD_SIZE];
    tgll_event_payload(code, value, buf, sizeof buf);
    return tgll_tx_send(tx, TGLL_TYPE_EVENT, sample_index, buf, sizeof buf);
}

int tgll_tx_ack(tgll_tx_t *tx, uint32_t sample_index, uint8_t command, uint8_t status)
{
    uint8_t buf[TGLL_ACK_PAYLOAD_SIZE];
    tgll_ack_payload(command, status, buf, sizeof buf);
    return tgll_tx_send(tx, TGLL_TYPE_ACK, sample_index, buf, sizeof buf);
}
