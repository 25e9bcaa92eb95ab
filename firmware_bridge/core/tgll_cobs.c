#include "tgll_cobs.h"

static void enc_write(tgll_cobs_enc_t *e, size_t pos, uint8_t b)
{
    if (pos < e->cap) {
        e->out[pos] = b;
    } else {
        e->error = 1;
    }
}

static void enc_open_block(tgll_cobs_enc_t *e)
{
    e->code_pos = e->len;
    e->len++;
    e->code = 1;
    if (e->code_pos >= e->cap) {
        e->error = 1;
    }
}

void tgll_cobs_enc_begin(tgll_cobs_enc_t *e, uint8_t *out, size_t cap)
{
    e->out = out;
    e->cap = cap;
    e->len = 0;
    e->error = 0;
    enc_open_block(e);
}

void tgll_cobs_enc_put(tgll_cobs_enc_t *e, const uint8_t *data, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (e->code == 0xFF) {
            /* A full block (254 data bytes) is closed only when more input
             * follows: the canonical form has no trailing 0x01 after it. */
            enc_write(e, e->code_pos, e->code);
            enc_open_block(e);
        }
        if (data[i] == 0) {
            enc_write(e, e->code_pos, e->code);
            enc_open_block(e);
        } else {
            enc_write(e, e->len, data[i]);
            e->len++;
            e->code++;
        }
    }
}

size_t tgll_cobs_enc_end(tgll_cobs_enc_t *e)
{
    enc_write(e, e->code_pos, e->code);
    return e->error ? 0 : e->len;
}

size_t tgll_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    tgll_cobs_enc_t e;
    tgll_cobs_enc_begin(&e, out, cap);
    tgll_cobs_enc_put(&e, in, n);
    return tgll_cobs_enc_end(&e);
}

size_t tgll_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t i = 0;
    size_t o = 0;
    while (i < n) {
        uint8_t code = in[i];
        size_t k;
        if (code == 0) {
            return TGLL_COBS_ERROR;
        }
        if (i + code > n) {
            return TGLL_COBS_ERROR; /* block runs past the frame */
        }
        i++;
        for (k = 1; k < code; k++) {
            if (in[i] == 0 || o >= cap) {
                return TGLL_COBS_ERROR;
            }
            out[o++] = in[i++];
        }
        /* Every block but a full one implies a zero, except at the frame's end. */
        if (code != 0xFF && i < n) {
            if (o >= cap) {
                return TGLL_COBS_ERROR;
            }
            out[o++] = 0;
        }
    }
    return o;
}
