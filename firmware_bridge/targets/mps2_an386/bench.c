#include "bench.h"

#include <string.h>

#include "cmsdk_timer.h"
#include "semihost.h"
#include "tgll_crc.h"

#define INSN_PER_TICK 40u /* 1e9 ns/s / 25e6 ticks/s at -icount shift=0 */
#define CRC_BYTES 4096u
#define CRC_REPEAT 8u
#define PACKETS 100u

static uint8_t g_buf[CRC_BYTES];
volatile uint16_t g_bench_sink; /* keeps the CRC from being optimised away */

static uint32_t ticks_since(uint32_t start)
{
    return start - cmsdk_timer1_value(); /* TIMER1 counts down */
}

static void put_u32(uint32_t v)
{
    char s[11];
    int i = 10;
    s[i] = '\0';
    do {
        s[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    semihost_puts(&s[i]);
}

/* v / 100 with two decimals. */
static void put_centi(uint32_t v)
{
    put_u32(v / 100u);
    semihost_puts(v % 100u < 10u ? ".0" : ".");
    put_u32(v % 100u);
}

int bench_run(tgll_device_t *dev)
{
    uint32_t i, k, t, empty, crc_ticks, send_ticks = 0, crc_centi, send_insn, crc_share;
    uint32_t lfsr = 0xACE1u;
    cmsdk_timer1_free_run();

    for (i = 0; i < CRC_BYTES; i++) { /* bytes with no pattern the CRC could like */
        lfsr = lfsr * 1103515245u + 12345u;
        g_buf[i] = (uint8_t)(lfsr >> 16);
    }
    t = cmsdk_timer1_value();
    empty = ticks_since(t);
    t = cmsdk_timer1_value();
    for (k = 0; k < CRC_REPEAT; k++) {
        g_bench_sink = tgll_crc16(g_buf, CRC_BYTES);
    }
    crc_ticks = ticks_since(t) - empty;
    crc_centi = crc_ticks * INSN_PER_TICK * 100u / (CRC_BYTES * CRC_REPEAT); /* < 2^32 below 1000/byte */

    /* The sender's work per DATA packet: pop 10 samples, frame, CRC, COBS,
     * hand over (a sink here, so the UART's waiting is not counted). */
    tgll_app_start(&dev->app);
    for (k = 0; k < PACKETS; k++) {
        for (i = 0; i < 10u; i++) {
            int32_t ch[ADS_CHANNELS];
            unsigned c;
            for (c = 0; c < ADS_CHANNELS; c++) { /* ECG-sized counts, +-2^16 */
                lfsr = lfsr * 1103515245u + 12345u;
                ch[c] = (int32_t)(lfsr >> 15) - 65536;
            }
            tgll_app_push_sample(&dev->app, ch, 0);
        }
        t = cmsdk_timer1_value();
        tgll_app_poll(&dev->app, 0);
        send_ticks += ticks_since(t) - empty;
    }
    send_insn = send_ticks * INSN_PER_TICK / PACKETS;
    /* a 10-sample DATA packet: 10 header + 4 + 240 payload bytes under the CRC */
    crc_share = crc_centi * 254u / send_insn;

    semihost_puts("bench: crc16 ");
    put_centi(crc_centi);
    semihost_puts(" insn/byte; sender ");
    put_u32(send_insn);
    semihost_puts(" insn per DATA packet (10 samples), CRC ");
    put_u32(crc_share);
    semihost_puts(" % of it; ");
    put_u32(dev->app.stats.data_packets);
    semihost_puts(" packets\n");
    return 0;
}
