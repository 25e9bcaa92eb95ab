#include "tgll_ring.h"

#include <string.h>

int tgll_ring_init(tgll_ring_t *r, tgll_sample_t *slots, uint32_t capacity)
{
    if (capacity < 2 || (capacity & (capacity - 1u)) != 0) {
        return -1;
    }
    r->slots = slots;
    r->mask = capacity - 1u;
    tgll_ring_reset(r, 0);
    return 0;
}

void tgll_ring_reset(tgll_ring_t *r, uint32_t first_index)
{
    r->head = 0;
    r->tail = 0;
    r->next_index = first_index;
    r->dropped = 0;
    r->overflows = 0;
    r->dropping = 0;
}

int tgll_ring_push(tgll_ring_t *r, const int32_t *ch, uint32_t n_ch, uint16_t lead_off)
{
    uint32_t head = r->head;
    uint32_t tail = r->tail; /* one read of the consumer's index */
    uint32_t index = r->next_index;
    tgll_sample_t *s;
    uint32_t c;

    r->next_index = index + 1u;
    if (head - tail > r->mask) {
        r->dropped = r->dropped + 1u;
        if (!r->dropping) {
            r->dropping = 1;
            r->overflows = r->overflows + 1u;
        }
        return 0;
    }
    r->dropping = 0;
    s = &r->slots[head & r->mask];
    s->index = index;
    s->lead_off = lead_off;
    if (n_ch > TGLL_RING_CHANNELS) {
        n_ch = TGLL_RING_CHANNELS;
    }
    for (c = 0; c < n_ch; c++) {
        s->ch[c] = ch[c];
    }
    for (; c < TGLL_RING_CHANNELS; c++) {
        s->ch[c] = 0;
    }
    TGLL_RING_BARRIER(); /* slot written before it is published */
    r->head = head + 1u;
    return 1;
}

void tgll_ring_skip(tgll_ring_t *r, uint32_t n)
{
    if (n == 0) {
        return;
    }
    r->next_index = r->next_index + n;
    r->dropped = r->dropped + n;
    if (!r->dropping) {
        r->dropping = 1;
        r->overflows = r->overflows + 1u;
    }
}

int tgll_ring_pop(tgll_ring_t *r, tgll_sample_t *out)
{
    uint32_t tail = r->tail;
    uint32_t head = r->head; /* one read of the producer's index */
    if (head == tail) {
        return 0;
    }
    TGLL_RING_BARRIER(); /* head read before the slot */
    memcpy(out, &r->slots[tail & r->mask], sizeof *out);
    TGLL_RING_BARRIER(); /* slot read before it is released */
    r->tail = tail + 1u;
    return 1;
}

uint32_t tgll_ring_count(const tgll_ring_t *r)
{
    return r->head - r->tail;
}

uint32_t tgll_ring_capacity(const tgll_ring_t *r)
{
    return r->mask + 1u;
}
