/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0. */
#ifndef TGLL_CRC_H
#define TGLL_CRC_H
#include <stddef.h>
#include <stdint.h>

#define TGLL_CRC_INIT 0xFFFFu

/* Continue a CRC over more bytes (start with TGLL_CRC_INIT). */
uint16_t tgll_crc16_update(uint16_t crc, const uint8_t *data, size_t n);
uint16_t tgll_crc16(const uint8_t *data, size_t n);

#endif
