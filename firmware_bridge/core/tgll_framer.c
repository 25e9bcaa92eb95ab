#include "tgll_framer.h"

#include "tgll_packet.h"

#define INT24_MAX_ 8388607L
#define INT24_MIN_ (-8388608L)

uint8_t tgll_data_max_samples(uint8_t n_channels)
{
    uint32_t fit;
    if (n_channels < 1 || n_channels > TGLL_MAX_CHANNELS) {
        return 0;
    }
    fit = (TGLL_MAX_PAYLOAD - TGLL_DATA_HEADER_SIZE) / (3u * n_channels);
    if (n_channels == 8 && fit > 40u) {
        fit = 40u;
    } else if (n_channels == 16 && fit > 20u) {
        fit = 20u;
    }
    return (uint8_t)(fit > 255u ? 255u : fit);
}

int tgll_framer_init(tgll_framer_t *f, uint8_t n_channels, uint8_t samples_per_packet)
{
    if (n_channels < 1 || n_channels > TGLL_MAX_CHANNELS || samples_per_packet < 1 ||
        samples_per_packet > tgll_data_max_samples(n_channels)) {
        return -1;
    }
    f->n_channels = n_channels;
    f->samples_per_packet = samples_per_packet;
    f->count = 0;
    f->first_index = 0;
    f->lead_off = 0;
    return 0;
}

int tgll_framer_add(tgll_framer_t *f, uint32_t index, const int32_t *ch, uint16_t lead_off)
{
    uint8_t *p;
    uint8_t c;
    if (f->count == 0) {
        f->first_index = index;
        f->lead_off = 0;
    }
    p = &f->payload[TGLL_DATA_HEADER_SIZE + (size_t)f->count * 3u * f->n_channels];
    for (c = 0; c < f->n_channels; c++) {
        int32_t v = ch[c];
        if (v > INT24_MAX_) {
            v = INT24_MAX_;
        } else if (v < INT24_MIN_) {
            v = INT24_MIN_;
        }
        tgll_put_i24(p, v);
        p += 3;
    }
    f->lead_off = (uint16_t)(f->lead_off | lead_off);
    f->count++;
    return f->count >= f->samples_per_packet;
}

size_t tgll_framer_take(tgll_framer_t *f, uint32_t *index)
{
    size_t len;
    if (f->count == 0) {
        return 0;
    }
    f->payload[0] = f->n_channels;
    f->payload[1] = f->count;
    tgll_put_u16(&f->payload[2], f->lead_off);
    len = TGLL_DATA_HEADER_SIZE + (size_t)f->count * 3u * f->n_channels;
    *index = f->first_index;
    f->count = 0;
    return len;
}

uint32_t tgll_framer_next_index(const tgll_framer_t *f)
{
    return f->first_index + f->count;
}
