/* Consistent Overhead Byte Stuffing (Cheshire & Baker), canonical form: a
 * final full 254-byte block is NOT followed by an extra 0x01 code byte.
 *
 * The streaming encoder writes straight into the caller's output buffer (it
 * back-patches each block's code byte), so a packet is encoded from its parts
 * without a second copy of the packet in RAM. */
#ifndef TGLL_COBS_H
#define TGLL_COBS_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *out;
    size_t cap;
    size_t len;      /* bytes written so far, including the open block's code slot */
    size_t code_pos; /* where the open block's code byte goes */
    uint8_t code;    /* 1 + data bytes in the open block */
    int error;       /* set when the output would overflow cap */
} tgll_cobs_enc_t;

void tgll_cobs_enc_begin(tgll_cobs_enc_t *e, uint8_t *out, size_t cap);
void tgll_cobs_enc_put(tgll_cobs_enc_t *e, const uint8_t *data, size_t n);
/* Closes the last block; returns the encoded length (no delimiter) or 0 on overflow. */
size_t tgll_cobs_enc_end(tgll_cobs_enc_t *e);

/* One-shot encode; returns the encoded length (no delimiter) or 0 if cap is too small. */
size_t tgll_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* Decode one frame (without its 0x00 delimiter). Returns the decoded length, or
 * (size_t)-1 if the frame is malformed (a 0x00 inside, a code byte running past
 * the end) or does not fit cap. in and out may be the same buffer (decoding
 * never writes ahead of reading). */
#define TGLL_COBS_ERROR ((size_t)-1)
size_t tgll_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

#endif
