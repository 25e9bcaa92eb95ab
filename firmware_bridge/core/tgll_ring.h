/* Sample ring between the DRDY interrupt (producer) and the sender (consumer).
 *
 * ISR-safety contract (single producer, single consumer, lock-free):
 * - Exactly one producer context (the DRDY ISR) calls tgll_ring_push(); exactly
 *   one consumer context (main loop / sender thread) calls tgll_ring_pop().
 * - `head` and the producer counters are written only by the producer, `tail`
 *   only by the consumer. Each side reads the other's index once per call.
 *   Indices are free-running uint32_t (capacity a power of two, so wrap-around
 *   of the counters is harmless); a 32-bit aligned load/store is atomic on
 *   every target we support (Cortex-M, Xtensa/RISC-V ESP32, x86/ARM hosts).
 * - The slot is completely written before `head` is published, and completely
 *   read before `tail` is released; TGLL_RING_BARRIER() keeps the compiler (and
 *   on multi-core parts, the CPU: override it with __DMB()/atomic_thread_fence)
 *   from reordering the slot access across the index store.
 * - When the ring is full the producer drops the NEW sample (it may not touch
 *   the consumer's slots) but still advances the sample counter, so the next
 *   sample that does get in carries an index that jumps by exactly the number
 *   dropped: the consumer turns that jump into EVENT 3 + a DATA index jump.
 * - tgll_ring_reset() is only legal while the producer is quiescent (DRDY
 *   interrupt disabled / conversions stopped). */
#ifndef TGLL_RING_H
#define TGLL_RING_H
#include <stddef.h>
#include <stdint.h>

#include "tgll_protocol.h"

#ifndef TGLL_RING_CHANNELS
#define TGLL_RING_CHANNELS 8u
#endif

#ifndef TGLL_RING_BARRIER
#if defined(__GNUC__) || defined(__clang__)
#define TGLL_RING_BARRIER() __asm__ __volatile__("" ::: "memory")
#else
#define TGLL_RING_BARRIER() ((void)0) /* volatile accesses only; override for your compiler */
#endif
#endif

typedef struct {
    uint32_t index;    /* device sample counter of this sample (wraps at 2^32) */
    uint16_t lead_off; /* bit i: channel i electrode off / saturated */
    int32_t ch[TGLL_RING_CHANNELS];
} tgll_sample_t;

typedef struct {
    tgll_sample_t *slots;
    uint32_t mask;              /* capacity - 1 */
    volatile uint32_t head;     /* producer: slots written */
    volatile uint32_t tail;     /* consumer: slots released */
    volatile uint32_t next_index; /* producer: index of the next sample, pushed or not */
    volatile uint32_t dropped;  /* producer: samples dropped on overflow, total */
    volatile uint32_t overflows; /* producer: overflow episodes (runs of drops) */
    volatile uint8_t dropping;  /* producer: currently inside a run of drops */
} tgll_ring_t;

/* slots: caller-owned storage (static array), capacity a power of two >= 2.
 * Returns 0, or -1 if capacity is not a power of two. */
int tgll_ring_init(tgll_ring_t *r, tgll_sample_t *slots, uint32_t capacity);
/* Restart the sample counter at first_index (producer quiescent, see above). */
void tgll_ring_reset(tgll_ring_t *r, uint32_t first_index);

/* Producer (ISR). Copies n_ch channels (<= TGLL_RING_CHANNELS). Returns 1 if
 * stored, 0 if dropped because the ring is full. */
int tgll_ring_push(tgll_ring_t *r, const int32_t *ch, uint32_t n_ch, uint16_t lead_off);

/* Producer. n conversions happened that the producer could not read (e.g. a
 * DRDY serviced too late: the ADS1298 keeps only the newest frame). They are
 * counted as dropped, so the next pushed sample's index jumps by exactly n. */
void tgll_ring_skip(tgll_ring_t *r, uint32_t n);

/* Consumer. Returns 1 and copies the oldest sample to *out, 0 if empty. */
int tgll_ring_pop(tgll_ring_t *r, tgll_sample_t *out);

uint32_t tgll_ring_count(const tgll_ring_t *r);
uint32_t tgll_ring_capacity(const tgll_ring_t *r);

#endif
