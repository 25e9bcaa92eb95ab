/* CRC, COBS, packets, framer, command decoder, ring buffer. */
#include <stdint.h>
#include <string.h>

#include "tgll_cmd.h"
#include "tgll_cobs.h"
#include "tgll_crc.h"
#include "tgll_framer.h"
#include "tgll_packet.h"
#include "tgll_ring.h"
#include "test_util.h"

static uint32_t lcg_state = 12345u;
static uint8_t lcg_byte(void)
{
    lcg_state = lcg_state * 1103515245u + 12345u;
    return (uint8_t)(lcg_state >> 16);
}

/* The definition, one bit at a time: the table-driven CRC must agree on any data. */
static uint16_t crc_bitwise(const uint8_t *data, size_t n)
{
    uint16_t crc = TGLL_CRC_INIT;
    size_t i;
    int bit;
    for (i = 0; i < n; i++) {
        crc = (uint16_t)(crc ^ ((uint16_t)data[i] << 8));
        for (bit = 0; bit < 8; bit++) {
            crc = (uint16_t)((crc & 0x8000u) ? ((unsigned)crc << 1) ^ 0x1021u : (unsigned)crc << 1);
        }
    }
    return crc;
}

static void crc_matches_bitwise_reference(void)
{
    uint8_t buf[1024];
    size_t i;
    int mismatches = 0;
    uint32_t x = 1u;
    for (i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    for (i = 0; i <= sizeof buf; i += 37) {
        mismatches += tgll_crc16(buf, i) != crc_bitwise(buf, i);
    }
    CHECK_EQ(mismatches, 0);
}

static void test_crc(void)
{
    const uint8_t *check = (const uint8_t *)"123456789";
    CHECK_EQ(tgll_crc16(check, 9), 0x29B1);
    CHECK_EQ(tgll_crc16_update(tgll_crc16(check, 4), check + 4, 5), 0x29B1);
    CHECK_EQ(tgll_crc16(check, 0), 0xFFFF);
    crc_matches_bitwise_reference();
}

/* encode must give exactly `enc`, decode must give back `dec`. */
static void cobs_case(const uint8_t *dec, size_t dn, const uint8_t *enc, size_t en)
{
    uint8_t out[1100];
    uint8_t back[1100];
    size_t n = tgll_cobs_encode(dec, dn, out, sizeof out);
    CHECK_EQ(n, en);
    CHECK_MEM(out, enc, en);
    n = tgll_cobs_decode(enc, en, back, sizeof back);
    CHECK_EQ(n, dn);
    CHECK_MEM(back, dec, dn);
}

static void test_cobs_known(void)
{
    uint8_t dec[600];
    uint8_t enc[620];
    size_t i;
    { const uint8_t d[1] = {0}, e[1] = {0x01}; cobs_case(d, 0, e, 1); }
    { const uint8_t d[] = {0x00}, e[] = {0x01, 0x01}; cobs_case(d, 1, e, 2); }
    { const uint8_t d[] = {0x00, 0x00}, e[] = {0x01, 0x01, 0x01}; cobs_case(d, 2, e, 3); }
    { const uint8_t d[] = {0x11, 0x22, 0x00, 0x33}, e[] = {0x03, 0x11, 0x22, 0x02, 0x33}; cobs_case(d, 4, e, 5); }
    { const uint8_t d[] = {0x11, 0x00, 0x00, 0x00}, e[] = {0x02, 0x11, 0x01, 0x01, 0x01}; cobs_case(d, 4, e, 5); }

    /* 254 non-zero bytes: one full block, no trailing 0x01 */
    for (i = 0; i < 254; i++) dec[i] = (uint8_t)(i + 1);
    enc[0] = 0xFF;
    memcpy(&enc[1], dec, 254);
    cobs_case(dec, 254, enc, 255);
    /* 0x00 then 254 non-zero */
    dec[0] = 0;
    for (i = 0; i < 254; i++) dec[i + 1] = (uint8_t)(i + 1);
    enc[0] = 0x01; enc[1] = 0xFF;
    for (i = 0; i < 254; i++) enc[i + 2] = (uint8_t)(i + 1);
    cobs_case(dec, 255, enc, 256);
    /* 255 non-zero bytes: full block + a 1-byte block */
    for (i = 0; i < 255; i++) dec[i] = (uint8_t)(i + 1);
    enc[0] = 0xFF;
    memcpy(&enc[1], dec, 254);
    enc[255] = 0x02; enc[256] = 0xFF;
    cobs_case(dec, 255, enc, 257);
    /* 254 non-zero then 0x00: FF <254> 01 01 */
    for (i = 0; i < 254; i++) dec[i] = (uint8_t)(i + 2 > 255 ? 1 : i + 2);
    dec[254] = 0;
    enc[0] = 0xFF;
    memcpy(&enc[1], dec, 254);
    enc[255] = 0x01; enc[256] = 0x01;
    cobs_case(dec, 255, enc, 257);
    /* 253 non-zero then 0x00: FE <253> 01 */
    for (i = 0; i < 253; i++) dec[i] = 0xAA;
    dec[253] = 0;
    enc[0] = 0xFE;
    memcpy(&enc[1], dec, 253);
    enc[254] = 0x01;
    cobs_case(dec, 254, enc, 255);
    /* 508 and 509 non-zero */
    for (i = 0; i < 509; i++) dec[i] = 0x5A;
    enc[0] = 0xFF; memset(&enc[1], 0x5A, 254); enc[255] = 0xFF; memset(&enc[256], 0x5A, 254);
    cobs_case(dec, 508, enc, 510);
    enc[510] = 0x02; enc[511] = 0x5A;
    cobs_case(dec, 509, enc, 512);
}

static void test_cobs_all_zero_and_roundtrip(void)
{
    uint8_t dec[1024];
    uint8_t enc[1100];
    uint8_t back[1100];
    size_t n, k, len, i;
    /* all-zero payloads: n zeros encode to n + 1 bytes of 0x01 */
    for (len = 1; len <= 300; len++) {
        memset(dec, 0, len);
        n = tgll_cobs_encode(dec, len, enc, sizeof enc);
        CHECK_EQ(n, len + 1);
        for (k = 0; k < n && enc[k] == 0x01; k++) {
        }
        CHECK_EQ(k, n);
        CHECK_EQ(tgll_cobs_decode(enc, n, back, sizeof back), len);
        CHECK(memcmp(back, dec, len) == 0);
    }
    /* pseudo-random payloads with runs: no 0x00 on the wire, bound holds, round trip */
    for (k = 0; k < 300; k++) {
        len = (size_t)((k * 37u) % 1025u);
        for (i = 0; i < len; i++) {
            uint8_t b = lcg_byte();
            dec[i] = (k % 3 == 0) ? (uint8_t)(b | 1u) : (b < 40 ? 0 : b);
        }
        n = tgll_cobs_encode(dec, len, enc, sizeof enc);
        CHECK(n >= len + 1 && n <= TGLL_COBS_MAX_ENCODED(len));
        CHECK(memchr(enc, 0, n) == NULL);
        CHECK_EQ(tgll_cobs_decode(enc, n, back, sizeof back), len);
        CHECK(memcmp(back, dec, len) == 0);
    }
}

static void test_cobs_stream_and_errors(void)
{
    uint8_t dec[600];
    uint8_t one[700];
    uint8_t chunked[700];
    size_t n1, n2, split, i;
    tgll_cobs_enc_t e;
    for (i = 0; i < sizeof dec; i++) dec[i] = (i % 97 == 5) ? 0 : (uint8_t)(i | 1u);
    n1 = tgll_cobs_encode(dec, sizeof dec, one, sizeof one);
    for (split = 0; split <= sizeof dec; split += 7) {
        tgll_cobs_enc_begin(&e, chunked, sizeof chunked);
        tgll_cobs_enc_put(&e, dec, split);
        tgll_cobs_enc_put(&e, dec + split, sizeof dec - split);
        n2 = tgll_cobs_enc_end(&e);
        CHECK_EQ(n2, n1);
        CHECK(memcmp(one, chunked, n1) == 0);
    }
    /* output too small -> 0, never a write past cap */
    {
        uint8_t small[20];
        memset(small, 0xEE, sizeof small);
        CHECK_EQ(tgll_cobs_encode(dec, 100, small, 10), 0);
        CHECK_EQ(small[10], 0xEE);
    }
    /* malformed frames */
    {
        const uint8_t zero_inside[] = {0x03, 0x11, 0x00};
        const uint8_t overrun[] = {0x05, 0x11, 0x22};
        const uint8_t ok[] = {0x03, 0x11, 0x22};
        uint8_t out[8];
        CHECK_EQ(tgll_cobs_decode(zero_inside, 3, out, sizeof out), TGLL_COBS_ERROR);
        CHECK_EQ(tgll_cobs_decode(overrun, 3, out, sizeof out), TGLL_COBS_ERROR);
        CHECK_EQ(tgll_cobs_decode(ok, 3, out, 1), TGLL_COBS_ERROR);
        CHECK_EQ(tgll_cobs_decode(ok, 3, out, 2), 2);
    }
}

static void test_packet(void)
{
    uint8_t payload[TGLL_MAX_PAYLOAD + 1];
    uint8_t wire[TGLL_MAX_WIRE];
    uint8_t pkt[TGLL_MAX_PACKET + 4];
    tgll_packet_view_t v;
    size_t n, m;
    const uint8_t ev[] = {0x03, 0x18, 0x00, 0x00, 0x00};
    const uint8_t expect_hdr[] = {0x01, 0x03, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 0x05, 0x00};
    uint16_t crc;

    n = tgll_packet_encode(TGLL_TYPE_EVENT, 0x1234, 0x12345678u, ev, sizeof ev, wire, sizeof wire);
    CHECK(n > 0);
    CHECK_EQ(wire[n - 1], 0x00);
    CHECK(memchr(wire, 0, n - 1) == NULL);
    m = tgll_cobs_decode(wire, n - 1, pkt, sizeof pkt);
    CHECK_EQ(m, 10 + 5 + 2);
    CHECK_MEM(pkt, expect_hdr, 10);
    CHECK_MEM(&pkt[10], ev, 5);
    crc = tgll_crc16(pkt, 15);
    CHECK_EQ(pkt[15], crc & 0xFF);
    CHECK_EQ(pkt[16], crc >> 8);
    CHECK_EQ(tgll_packet_parse(pkt, m, &v), TGLL_PKT_OK);
    CHECK_EQ(v.type, TGLL_TYPE_EVENT);
    CHECK_EQ(v.seq, 0x1234);
    CHECK_EQ(v.sample_index, 0x12345678u);
    CHECK_EQ(v.payload_len, 5);

    /* parse rejects */
    CHECK_EQ(tgll_packet_parse(pkt, 11, &v), TGLL_PKT_ERR_SHORT);
    CHECK_EQ(tgll_packet_parse(pkt, m - 1, &v), TGLL_PKT_ERR_LENGTH);
    pkt[12] ^= 0x40;
    CHECK_EQ(tgll_packet_parse(pkt, m, &v), TGLL_PKT_ERR_CRC);
    pkt[12] ^= 0x40;
    pkt[0] = 0x02;
    CHECK_EQ(tgll_packet_parse(pkt, m, &v), TGLL_PKT_ERR_VERSION);

    /* limits: the largest payload fits the 1024-byte packet, one more does not */
    memset(payload, 0xA5, sizeof payload);
    n = tgll_packet_encode(TGLL_TYPE_DATA, 1, 2, payload, TGLL_MAX_PAYLOAD, wire, sizeof wire);
    CHECK(n > 0);
    CHECK_EQ(tgll_cobs_decode(wire, n - 1, pkt, sizeof pkt), TGLL_MAX_PACKET);
    CHECK_EQ(tgll_packet_encode(TGLL_TYPE_DATA, 1, 2, payload, TGLL_MAX_PAYLOAD + 1, wire, sizeof wire), 0);
    CHECK_EQ(tgll_packet_encode(TGLL_TYPE_DATA, 1, 2, payload, 100, wire, 50), 0);
    /* all-zero payload: every byte stuffed */
    memset(payload, 0, 1012);
    n = tgll_packet_encode(TGLL_TYPE_DATA, 0, 0, payload, 1012, wire, sizeof wire);
    CHECK(n > 0 && n <= TGLL_MAX_WIRE);
    CHECK_EQ(tgll_cobs_decode(wire, n - 1, pkt, sizeof pkt), TGLL_MAX_PACKET);
    CHECK_EQ(tgll_packet_parse(pkt, TGLL_MAX_PACKET, &v), TGLL_PKT_OK);

    /* little-endian helpers, int24 sign */
    {
        uint8_t b[4];
        tgll_put_i24(b, -1);
        CHECK(b[0] == 0xFF && b[1] == 0xFF && b[2] == 0xFF);
        CHECK_EQ(tgll_get_i24(b), -1);
        tgll_put_i24(b, -8388608);
        CHECK(b[0] == 0x00 && b[1] == 0x00 && b[2] == 0x80);
        CHECK_EQ(tgll_get_i24(b), -8388608);
        tgll_put_i24(b, 8388607);
        CHECK_EQ(tgll_get_i24(b), 8388607);
        tgll_put_u32(b, 0xA1B2C3D4u);
        CHECK(b[0] == 0xD4 && b[3] == 0xA1);
    }
}

static void test_payloads(void)
{
    uint8_t buf[300];
    tgll_info_t info;
    size_t n;
    float f = 0.0476837f;
    uint32_t bits;
    memset(&info, 0, sizeof info);
    info.fs_hz = 500;
    info.n_channels = 8;
    info.sample_format = TGLL_SAMPLE_FORMAT_INT24;
    info.uv_per_count = f;
    info.lead_set = TGLL_LEAD_SET_8;
    info.labels = "I,II,V1,V2,V3,V4,V5,V6";
    info.device_id = "TGLL-T";
    info.firmware = "fw1";
    n = tgll_info_payload(&info, buf, sizeof buf);
    CHECK_EQ(n, 9 + 1 + 22 + 1 + 6 + 1 + 3);
    CHECK(buf[0] == 0xF4 && buf[1] == 0x01 && buf[2] == 8 && buf[3] == 1 && buf[8] == 0);
    memcpy(&bits, &f, 4);
    CHECK_EQ(tgll_get_u32(&buf[4]), bits);
    CHECK_EQ(buf[9], 22);
    CHECK(memcmp(&buf[10], "I,II,V1,V2,V3,V4,V5,V6", 22) == 0);
    CHECK_EQ(buf[32], 6);
    CHECK(memcmp(&buf[33], "TGLL-T", 6) == 0);
    CHECK_EQ(buf[39], 3);
    CHECK_EQ(tgll_info_payload(&info, buf, 20), 0); /* does not fit */
    info.n_channels = 0;
    CHECK_EQ(tgll_info_payload(&info, buf, sizeof buf), 0);

    CHECK_EQ(tgll_event_payload(3, 0x01020304u, buf, sizeof buf), 5);
    CHECK(buf[0] == 3 && buf[1] == 4 && buf[4] == 1);
    CHECK_EQ(tgll_ack_payload(4, 2, buf, sizeof buf), 2);
    CHECK(buf[0] == 4 && buf[1] == 2);
    CHECK_EQ(tgll_command_payload(4, 1000, buf, sizeof buf), 5);
    CHECK(buf[0] == 4 && buf[1] == 0xE8 && buf[2] == 0x03);
}

static void test_framer(void)
{
    static tgll_framer_t f;
    int32_t ch[8];
    uint32_t idx = 0;
    size_t n;
    int i, c;
    CHECK_EQ(tgll_framer_init(&f, 8, 0), -1);
    CHECK_EQ(tgll_framer_init(&f, 8, 41), -1);
    CHECK_EQ(tgll_framer_init(&f, 0, 1), -1);
    CHECK_EQ(tgll_framer_init(&f, 17, 1), -1);
    CHECK_EQ(tgll_framer_init(&f, 12, 28), 0);
    CHECK_EQ(tgll_framer_init(&f, 12, 29), -1);
    CHECK_EQ(tgll_framer_init(&f, 8, 40), 0);
    CHECK_EQ(tgll_data_max_samples(8), 40);
    CHECK_EQ(tgll_data_max_samples(12), 28);
    CHECK_EQ(tgll_data_max_samples(16), 20);
    CHECK_EQ(tgll_data_max_samples(1), 255);
    CHECK_EQ(tgll_data_max_samples(3), 112);
    CHECK_EQ(tgll_data_max_samples(0), 0);
    /* a full 40-sample packet is 10 + 4 + 960 + 2 = 976 bytes <= 1024 */
    CHECK(10 + 4 + 3 * 8 * 40 + 2 <= TGLL_MAX_PACKET);

    CHECK_EQ(tgll_framer_init(&f, 8, 3), 0);
    CHECK_EQ(tgll_framer_take(&f, &idx), 0);
    for (i = 0; i < 3; i++) {
        for (c = 0; c < 8; c++) ch[c] = (i + 1) * 1000 * (c % 2 ? -1 : 1) + c;
        if (i == 1) ch[7] = 9000000;   /* clipped to int24 max */
        if (i == 2) ch[6] = -9000000;  /* clipped to int24 min */
        CHECK_EQ(tgll_framer_add(&f, 100u + (uint32_t)i, ch, (uint16_t)(i == 1 ? 0x0004 : (i == 2 ? 0x0080 : 0))),
                 i == 2);
    }
    n = tgll_framer_take(&f, &idx);
    CHECK_EQ(n, 4 + 3 * 8 * 3);
    CHECK_EQ(idx, 100);
    CHECK(f.payload[0] == 8 && f.payload[1] == 3);
    CHECK_EQ(tgll_get_u16(&f.payload[2]), 0x0084);
    CHECK_EQ(tgll_get_i24(&f.payload[4]), 1000);           /* s0 c0 */
    CHECK_EQ(tgll_get_i24(&f.payload[4 + 3]), -999);       /* s0 c1 */
    CHECK_EQ(tgll_get_i24(&f.payload[4 + 24 + 21]), 8388607);
    CHECK_EQ(tgll_get_i24(&f.payload[4 + 48 + 18]), -8388608);
    /* partial packet */
    tgll_framer_add(&f, 7, ch, 0);
    CHECK_EQ(tgll_framer_next_index(&f), 8);
    n = tgll_framer_take(&f, &idx);
    CHECK_EQ(n, 4 + 24);
    CHECK(idx == 7 && f.payload[1] == 1 && tgll_get_u16(&f.payload[2]) == 0);
}

/* Encode a COMMAND packet to wire bytes. */
static size_t command_wire(uint8_t cmd, uint32_t arg, uint16_t seq, uint8_t *wire)
{
    uint8_t p[5];
    tgll_command_payload(cmd, arg, p, sizeof p);
    return tgll_packet_encode(TGLL_TYPE_COMMAND, seq, 0, p, 5, wire, TGLL_MAX_WIRE);
}

static void test_cmd_decoder(void)
{
    static tgll_cmd_decoder_t d;
    uint8_t wire[TGLL_MAX_WIRE];
    uint8_t stream[512];
    tgll_command_t cmd;
    size_t n, used, len, i;
    int got, found;

    tgll_cmd_init(&d);
    n = command_wire(TGLL_CMD_SET_RATE, 1000, 7, wire);
    used = tgll_cmd_feed(&d, wire, n, &cmd, &got);
    CHECK(got == 1 && used == n);
    CHECK(cmd.command == TGLL_CMD_SET_RATE && cmd.arg == 1000 && cmd.seq == 7);

    /* byte by byte */
    found = 0;
    for (i = 0; i < n; i++) {
        tgll_cmd_feed(&d, &wire[i], 1, &cmd, &got);
        found += got;
        CHECK(got == (i == n - 1));
    }
    CHECK_EQ(found, 1);

    /* garbage (no zero), a delimiter, then two commands back to back */
    len = 0;
    for (i = 0; i < 30; i++) stream[len++] = (uint8_t)(lcg_byte() | 1u);
    stream[len++] = 0x00;
    n = command_wire(TGLL_CMD_START, 0, 1, wire);
    memcpy(&stream[len], wire, n); len += n;
    n = command_wire(TGLL_CMD_STOP, 0, 2, wire);
    memcpy(&stream[len], wire, n); len += n;
    tgll_cmd_init(&d);
    {
        const uint8_t *p = stream;
        size_t left = len;
        uint8_t seen[4];
        int k = 0;
        while (left > 0) {
            used = tgll_cmd_feed(&d, p, left, &cmd, &got);
            if (got && k < 4) seen[k++] = cmd.command;
            p += used;
            left -= used;
        }
        CHECK_EQ(k, 2);
        CHECK(seen[0] == TGLL_CMD_START && seen[1] == TGLL_CMD_STOP);
        CHECK_EQ(d.stats.commands, 2);
        CHECK_EQ(d.stats.frames, 3);
        CHECK(d.stats.cobs_errors + d.stats.bad_header + d.stats.crc_errors == 1);
    }

    /* bad CRC: flip a payload bit and re-stuff without fixing the CRC */
    tgll_cmd_init(&d);
    n = command_wire(TGLL_CMD_GET_INFO, 0, 3, wire);
    {
        uint8_t pkt[32];
        size_t m = tgll_cobs_decode(wire, n - 1, pkt, sizeof pkt);
        CHECK_EQ(m, 17);
        pkt[10] ^= 0x01;
        n = tgll_cobs_encode(pkt, m, wire, sizeof wire);
        wire[n++] = 0x00;
    }
    tgll_cmd_feed(&d, wire, n, &cmd, &got);
    CHECK_EQ(got, 0);
    CHECK_EQ(d.stats.crc_errors, 1);

    /* a valid packet of another type is not a command */
    tgll_cmd_init(&d);
    {
        uint8_t ack[2] = {1, 0};
        n = tgll_packet_encode(TGLL_TYPE_ACK, 0, 0, ack, 2, wire, sizeof wire);
        tgll_cmd_feed(&d, wire, n, &cmd, &got);
        CHECK_EQ(got, 0);
        CHECK_EQ(d.stats.bad_type, 1);
    }

    /* oversize frame, then a good command: the good one survives */
    tgll_cmd_init(&d);
    memset(stream, 0x41, 200);
    stream[200] = 0x00;
    tgll_cmd_feed(&d, stream, 201, &cmd, &got);
    CHECK_EQ(got, 0);
    CHECK_EQ(d.stats.oversize, 1);
    CHECK_EQ(d.stats.dropped_bytes, 200);
    n = command_wire(TGLL_CMD_START, 0, 9, wire);
    tgll_cmd_feed(&d, wire, n, &cmd, &got);
    CHECK(got == 1 && cmd.command == TGLL_CMD_START);

    /* starting mid-frame: the tail of one command, then a whole one */
    tgll_cmd_init(&d);
    n = command_wire(TGLL_CMD_STOP, 0, 4, wire);
    tgll_cmd_feed(&d, &wire[5], n - 5, &cmd, &got);
    CHECK_EQ(got, 0);
    tgll_cmd_feed(&d, wire, n, &cmd, &got);
    CHECK(got == 1 && cmd.command == TGLL_CMD_STOP);

    /* wrong version and wrong payload_len are dropped */
    tgll_cmd_init(&d);
    {
        uint8_t pkt[17];
        uint8_t enc[32];
        size_t m;
        uint16_t crc;
        memset(pkt, 0, sizeof pkt);
        pkt[0] = 0x02; pkt[1] = TGLL_TYPE_COMMAND; pkt[8] = 5; pkt[10] = 1;
        crc = tgll_crc16(pkt, 15);
        tgll_put_u16(&pkt[15], crc);
        m = tgll_cobs_encode(pkt, 17, enc, sizeof enc);
        enc[m++] = 0;
        tgll_cmd_feed(&d, enc, m, &cmd, &got);
        CHECK_EQ(got, 0);
        pkt[0] = 0x01; pkt[8] = 6; /* claims 6 payload bytes, has 5 */
        crc = tgll_crc16(pkt, 15);
        tgll_put_u16(&pkt[15], crc);
        m = tgll_cobs_encode(pkt, 17, enc, sizeof enc);
        enc[m++] = 0;
        tgll_cmd_feed(&d, enc, m, &cmd, &got);
        CHECK_EQ(got, 0);
        CHECK_EQ(d.stats.bad_header, 2);
    }

    /* random garbage never yields a command and never crashes */
    tgll_cmd_init(&d);
    found = 0;
    for (i = 0; i < 20000; i++) {
        uint8_t b = lcg_byte();
        tgll_cmd_feed(&d, &b, 1, &cmd, &got);
        found += got;
    }
    CHECK_EQ(found, 0);
}

static void test_ring(void)
{
    static tgll_sample_t slots[8];
    static tgll_ring_t r;
    tgll_sample_t s;
    int32_t ch[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint32_t i;
    CHECK_EQ(tgll_ring_init(&r, slots, 6), -1);
    CHECK_EQ(tgll_ring_init(&r, slots, 8), 0);
    CHECK_EQ(tgll_ring_pop(&r, &s), 0);
    for (i = 0; i < 8; i++) {
        ch[0] = (int32_t)i;
        CHECK_EQ(tgll_ring_push(&r, ch, 8, (uint16_t)i), 1);
    }
    CHECK_EQ(tgll_ring_count(&r), 8);
    /* full: the next 5 are dropped but counted, the counter keeps going */
    for (i = 0; i < 5; i++) CHECK_EQ(tgll_ring_push(&r, ch, 8, 0), 0);
    CHECK_EQ(r.dropped, 5);
    CHECK_EQ(r.overflows, 1);
    for (i = 0; i < 8; i++) {
        CHECK_EQ(tgll_ring_pop(&r, &s), 1);
        CHECK(s.index == i && s.ch[0] == (int32_t)i && s.lead_off == i);
    }
    CHECK_EQ(tgll_ring_push(&r, ch, 8, 0), 1);
    CHECK_EQ(tgll_ring_pop(&r, &s), 1);
    CHECK_EQ(s.index, 13); /* 8 stored + 5 dropped */
    /* skipped conversions (missed DRDY) count like drops: one episode, exact jump */
    tgll_ring_skip(&r, 0);
    CHECK_EQ(r.overflows, 1);
    tgll_ring_skip(&r, 3);
    CHECK_EQ(tgll_ring_push(&r, ch, 8, 0), 1);
    CHECK(tgll_ring_pop(&r, &s) && s.index == 17);
    CHECK_EQ(r.dropped, 8);
    CHECK_EQ(r.overflows, 2);
    /* free-running head/tail and sample_index wrap at 2^32 */
    tgll_ring_reset(&r, 0xFFFFFFFEu);
    r.head = r.tail = 0xFFFFFFFDu;
    for (i = 0; i < 4; i++) CHECK_EQ(tgll_ring_push(&r, ch, 3, 0), 1);
    CHECK_EQ(tgll_ring_count(&r), 4);
    CHECK(tgll_ring_pop(&r, &s) && s.index == 0xFFFFFFFEu && s.ch[3] == 0);
    CHECK(tgll_ring_pop(&r, &s) && s.index == 0xFFFFFFFFu);
    CHECK(tgll_ring_pop(&r, &s) && s.index == 0u);
    CHECK(tgll_ring_pop(&r, &s) && s.index == 1u);
    CHECK_EQ(tgll_ring_pop(&r, &s), 0);
}

void test_core(void)
{
    test_crc();
    test_cobs_known();
    test_cobs_all_zero_and_roundtrip();
    test_cobs_stream_and_errors();
    test_packet();
    test_payloads();
    test_framer();
    test_cmd_decoder();
    test_ring();
}
