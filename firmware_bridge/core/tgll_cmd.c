#include "tgll_cmd.h"

#include <string.h>

#include "tgll_cobs.h"
#include "tgll_packet.h"

void tgll_cmd_init(tgll_cmd_decoder_t *d)
{
    memset(d, 0, sizeof *d);
}

/* Decode the frame in d->buf; returns 1 and fills cmd if it is a valid COMMAND. */
static int finish_frame(tgll_cmd_decoder_t *d, tgll_command_t *cmd)
{
    uint8_t pkt[TGLL_CMD_FRAME_MAX];
    tgll_packet_view_t v;
    size_t n;
    int rc;

    n = tgll_cobs_decode(d->buf, d->len, pkt, sizeof pkt);
    if (n == TGLL_COBS_ERROR) {
        d->stats.cobs_errors++;
        d->stats.dropped_bytes += (uint32_t)d->len;
        return 0;
    }
    rc = tgll_packet_parse(pkt, n, &v);
    if (rc == TGLL_PKT_ERR_CRC) {
        d->stats.crc_errors++;
    } else if (rc != TGLL_PKT_OK) {
        d->stats.bad_header++;
    } else if (v.type != TGLL_TYPE_COMMAND || v.payload_len != TGLL_COMMAND_PAYLOAD_SIZE) {
        d->stats.bad_type++;
    } else {
        cmd->command = v.payload[0];
        cmd->arg = tgll_get_u32(&v.payload[1]);
        cmd->seq = v.seq;
        cmd->sample_index = v.sample_index;
        d->stats.commands++;
        return 1;
    }
    d->stats.dropped_bytes += (uint32_t)d->len;
    return 0;
}

size_t tgll_cmd_feed(tgll_cmd_decoder_t *d, const uint8_t *data, size_t n,
                     tgll_command_t *cmd, int *got)
{
    size_t i;
    *got = 0;
    for (i = 0; i < n; i++) {
        uint8_t b = data[i];
        if (b != 0x00) {
            if (d->len < sizeof d->buf) {
                d->buf[d->len] = b;
            } else if (!d->overflow) {
                d->overflow = 1;
                d->stats.oversize++;
            }
            d->len++;
            continue;
        }
        /* delimiter: close the frame in progress */
        if (d->len > 0) {
            d->stats.frames++;
            if (d->overflow) {
                d->stats.dropped_bytes += (uint32_t)d->len;
            } else {
                *got = finish_frame(d, cmd);
            }
        }
        d->len = 0;
        d->overflow = 0;
        if (*got) {
            return i + 1;
        }
    }
    return n;
}
