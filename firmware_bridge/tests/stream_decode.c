#include "stream_decode.h"

#include <string.h>

#include "tgll_cobs.h"
#include "tgll_packet.h"

static void finish(td_stream_t *s, const uint8_t *frame, size_t len)
{
    uint8_t pkt[TGLL_MAX_PACKET];
    tgll_packet_view_t v;
    size_t n = tgll_cobs_decode(frame, len, pkt, sizeof pkt);
    td_packet_t *p;
    if (n == TGLL_COBS_ERROR || tgll_packet_parse(pkt, n, &v) != TGLL_PKT_OK) {
        s->bad++;
        return;
    }
    if (s->n >= TD_MAX_PACKETS) {
        s->overflow++;
        return;
    }
    p = &s->pkts[s->n++];
    p->type = v.type;
    p->seq = v.seq;
    p->sample_index = v.sample_index;
    p->payload_len = v.payload_len;
    memcpy(p->payload, v.payload, v.payload_len);
}

void td_decode(td_stream_t *s, const uint8_t *bytes, size_t n)
{
    size_t start = 0;
    size_t i;
    s->n = 0;
    s->bad = 0;
    s->overflow = 0;
    for (i = 0; i < n; i++) {
        if (bytes[i] == 0x00) {
            if (i > start) {
                finish(s, &bytes[start], i - start);
            }
            start = i + 1;
        }
    }
}

void td_sink_write(void *ctx, const uint8_t *data, size_t n)
{
    td_sink_t *k = (td_sink_t *)ctx;
    if (k->len + n > k->cap) {
        k->overflow = 1;
        return;
    }
    memcpy(&k->buf[k->len], data, n);
    k->len += n;
}

size_t td_count(const td_stream_t *s, uint8_t type)
{
    size_t i, c = 0;
    for (i = 0; i < s->n; i++) {
        if (s->pkts[i].type == type) {
            c++;
        }
    }
    return c;
}

const td_packet_t *td_find(const td_stream_t *s, uint8_t type, size_t k)
{
    size_t i;
    for (i = 0; i < s->n; i++) {
        if (s->pkts[i].type == type) {
            if (k == 0) {
                return &s->pkts[i];
            }
            k--;
        }
    }
    return NULL;
}
