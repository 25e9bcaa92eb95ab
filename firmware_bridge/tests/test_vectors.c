/* The shared link vectors (firmware_bridge/test_vectors/link_vectors.json,
 * written from the Python encoder): the C encoder must match byte for byte. */
#include <stdlib.h>
#include <string.h>

#include "link_vectors.h"
#include "tgll_cmd.h"
#include "tgll_cobs.h"
#include "tgll_crc.h"
#include "tgll_framer.h"
#include "tgll_packet.h"
#include "test_util.h"

#if TGLL_HAVE_LINK_VECTORS

/* Rebuild a typed payload with the C builders from its decoded fields. */
static void check_typed_payload(const tgll_vec_packet_t *v)
{
    uint8_t buf[TGLL_MAX_PAYLOAD];
    size_t n = 0;
    const uint8_t *p = v->payload;
    switch (v->type) {
    case TGLL_TYPE_EVENT:
        CHECK_EQ(v->payload_len, 5);
        n = tgll_event_payload(p[0], tgll_get_u32(&p[1]), buf, sizeof buf);
        break;
    case TGLL_TYPE_ACK:
        CHECK_EQ(v->payload_len, 2);
        n = tgll_ack_payload(p[0], p[1], buf, sizeof buf);
        break;
    case TGLL_TYPE_COMMAND:
        CHECK_EQ(v->payload_len, 5);
        n = tgll_command_payload(p[0], tgll_get_u32(&p[1]), buf, sizeof buf);
        break;
    case TGLL_TYPE_INFO: {
        char labels[256], dev_id[256], fw[256];
        tgll_info_t info;
        uint32_t bits = tgll_get_u32(&p[4]);
        size_t off = 9;
        char *dst[3];
        int k;
        dst[0] = labels; dst[1] = dev_id; dst[2] = fw;
        info.fs_hz = tgll_get_u16(p);
        info.n_channels = p[2];
        info.sample_format = p[3];
        memcpy(&info.uv_per_count, &bits, 4);
        info.lead_set = p[8];
        for (k = 0; k < 3; k++) {
            size_t len = off < v->payload_len ? p[off] : 0;
            CHECK(off + 1 + len <= v->payload_len);
            if (off + 1 + len > v->payload_len) return;
            memcpy(dst[k], &p[off + 1], len);
            dst[k][len] = '\0';
            off += 1 + len;
        }
        info.labels = labels;
        info.device_id = dev_id;
        info.firmware = fw;
        n = tgll_info_payload(&info, buf, sizeof buf);
        break;
    }
    case TGLL_TYPE_DATA: {
        static tgll_framer_t f;
        uint8_t n_ch = p[0], n_s = p[1];
        uint16_t lead_off = tgll_get_u16(&p[2]);
        uint32_t idx = 0;
        int32_t ch[TGLL_MAX_CHANNELS];
        uint8_t s, c;
        CHECK_EQ(v->payload_len, 4u + 3u * n_ch * n_s);
        if (tgll_framer_init(&f, n_ch, n_s) != 0 || v->payload_len != 4u + 3u * n_ch * n_s) {
            CHECK(0 && "DATA vector outside the framer's limits");
            return;
        }
        for (s = 0; s < n_s; s++) {
            for (c = 0; c < n_ch; c++) ch[c] = tgll_get_i24(&p[4 + 3 * ((size_t)s * n_ch + c)]);
            /* lead_off given on the first sample: the packet field is the OR */
            tgll_framer_add(&f, v->sample_index + s, ch, s == 0 ? lead_off : 0);
        }
        n = tgll_framer_take(&f, &idx);
        CHECK_EQ(idx, v->sample_index);
        memcpy(buf, f.payload, n);
        break;
    }
    default:
        return; /* unknown types are covered by the generic encoder check */
    }
    CHECK_EQ(n, v->payload_len);
    if (n == v->payload_len) {
        CHECK_MEM(buf, v->payload, n);
        if (memcmp(buf, v->payload, n) != 0) fprintf(stderr, "  vector: %s\n", v->name);
    }
}

void test_vectors(void)
{
    uint8_t wire[TGLL_MAX_WIRE];
    uint8_t pkt[TGLL_MAX_PACKET + 8];
    size_t i, n;
    size_t commands = 0;
    CHECK_EQ(tgll_crc16((const uint8_t *)TGLL_VEC_CRC_INPUT, strlen(TGLL_VEC_CRC_INPUT)), TGLL_VEC_CRC_VALUE);
    CHECK_EQ(TGLL_VEC_CRC_VALUE, 0x29B1);
    CHECK(TGLL_VEC_N_COBS > 0);
    CHECK(TGLL_VEC_N_PACKETS > 0);
    for (i = 0; i < TGLL_VEC_N_COBS; i++) {
        const tgll_vec_cobs_t *c = &tgll_vec_cobs[i];
        uint8_t out[2200];
        n = tgll_cobs_encode(c->decoded, c->decoded_len, out, sizeof out);
        CHECK_EQ(n, c->encoded_len);
        if (n != c->encoded_len || memcmp(out, c->encoded, n) != 0) {
            CHECK(0 && "COBS encode differs from the shared vector");
            fprintf(stderr, "  cobs vector: %s\n", c->name);
        }
        n = tgll_cobs_decode(c->encoded, c->encoded_len, out, sizeof out);
        CHECK_EQ(n, c->decoded_len);
        if (n == c->decoded_len) CHECK_MEM(out, c->decoded, n);
    }
    for (i = 0; i < TGLL_VEC_N_PACKETS; i++) {
        const tgll_vec_packet_t *v = &tgll_vec_packets[i];
        tgll_packet_view_t view;
        n = tgll_packet_encode(v->type, v->seq, v->sample_index, v->payload, v->payload_len,
                               wire, sizeof wire);
        CHECK_EQ(n, v->wire_len);
        if (n != v->wire_len || memcmp(wire, v->wire, n) != 0) {
            CHECK(0 && "packet wire bytes differ from the shared vector");
            fprintf(stderr, "  packet vector: %s\n", v->name);
        }
        n = tgll_cobs_decode(v->wire, v->wire_len - 1, pkt, sizeof pkt);
        CHECK_EQ(n, v->packet_len);
        if (n == v->packet_len) CHECK_MEM(pkt, v->packet, n);
        CHECK_EQ(tgll_packet_parse(v->packet, v->packet_len, &view), TGLL_PKT_OK);
        check_typed_payload(v);
        if (v->type == TGLL_TYPE_COMMAND) {
            static tgll_cmd_decoder_t d;
            tgll_command_t cmd;
            int got = 0;
            tgll_cmd_init(&d);
            tgll_cmd_feed(&d, v->wire, v->wire_len, &cmd, &got);
            CHECK(got == 1 && cmd.command == v->payload[0] && cmd.arg == tgll_get_u32(&v->payload[1]) &&
                  cmd.seq == v->seq);
            commands++;
        }
    }
    printf("vectors: %s: %u COBS, %u packets (%lu commands)\n", TGLL_LINK_VECTORS_PATH,
           (unsigned)TGLL_VEC_N_COBS, (unsigned)TGLL_VEC_N_PACKETS, (unsigned long)commands);
}

#else

void test_vectors(void)
{
    const char *allow = getenv("TGLL_ALLOW_MISSING_VECTORS");
    if (allow != NULL && strcmp(allow, "1") == 0) {
        printf("vectors: SKIPPED: %s not found (TGLL_ALLOW_MISSING_VECTORS=1)\n", TGLL_LINK_VECTORS_PATH);
        return;
    }
    fprintf(stderr, "vectors: %s not found (run tools/make_link_vectors.py)\n", TGLL_LINK_VECTORS_PATH);
    CHECK(0 && "shared link vectors missing");
}

#endif
