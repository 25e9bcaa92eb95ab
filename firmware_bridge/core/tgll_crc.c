#include "tgll_crc.h"

/* Bitwise on purpose: 16 bytes of code, no 512-byte table in flash, and a
 * 1 kB packet costs ~8k shifts, far below one DRDY period on a Cortex-M4. */
uint16_t tgll_crc16_update(uint16_t crc, const uint8_t *data, size_t n)
{
    size_t i;
    int bit;
    for (i = 0; i < n; i++) {
        crc = (uint16_t)(crc ^ ((uint16_t)data[i] << 8));
        for (bit = 0; bit < 8; bit++) {
            if (crc & 0x8000u) {
                crc = (uint16_t)((crc << 1) ^ 0x1021u);
            } else {
                crc = (uint16_t)(crc << 1);
            }
        }
    }
    return crc;
}

uint16_t tgll_crc16(const uint8_t *data, size_t n)
{
    return tgll_crc16_update(TGLL_CRC_INIT, data, n);
}
