/* The streaming app: commands, INFO/DATA/EVENT/ACK, ring overflow -> EVENT 3
 * and the exact sample_index jump, lead-off events, periodic INFO. */
#include <string.h>

#include "stream_decode.h"
#include "tgll_app.h"
#include "tgll_packet.h"
#include "test_util.h"

typedef struct {
    int starts, stops, set_rates;
    uint16_t last_rate;
} fake_ops_t;

static int fake_start(void *ctx) { ((fake_ops_t *)ctx)->starts++; return 0; }
static int fake_stop(void *ctx) { ((fake_ops_t *)ctx)->stops++; return 0; }
static int fake_set_rate(void *ctx, uint16_t fs)
{
    fake_ops_t *f = (fake_ops_t *)ctx;
    f->set_rates++;
    if (fs != 250 && fs != 500 && fs != 1000) {
        return TGLL_ACK_BAD_ARGUMENT;
    }
    f->last_rate = fs;
    return TGLL_ACK_OK;
}

static tgll_app_t app;
static tgll_sample_t slots[16];
static uint8_t out_buf[200000];
static td_sink_t sink;
static td_stream_t st;
static fake_ops_t fops;
static tgll_app_ops_t ops;

static void setup(uint8_t spp, uint32_t ring_cap)
{
    tgll_app_config_t cfg;
    memset(&fops, 0, sizeof fops);
    ops.ctx = &fops;
    ops.start = fake_start;
    ops.stop = fake_stop;
    ops.set_rate = fake_set_rate;
    sink.buf = out_buf;
    sink.cap = sizeof out_buf;
    sink.len = 0;
    sink.overflow = 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.info.fs_hz = 500;
    cfg.info.n_channels = 8;
    cfg.info.sample_format = TGLL_SAMPLE_FORMAT_INT24;
    cfg.info.uv_per_count = 0.25f;
    cfg.info.lead_set = TGLL_LEAD_SET_8;
    cfg.info.labels = "I,II,V1,V2,V3,V4,V5,V6";
    cfg.info.device_id = "TGLL-TEST";
    cfg.info.firmware = "test";
    cfg.samples_per_packet = spp;
    cfg.info_interval_s = 5;
    cfg.write = td_sink_write;
    cfg.write_ctx = &sink;
    cfg.ops = &ops;
    cfg.ring_slots = slots;
    cfg.ring_capacity = ring_cap;
    CHECK_EQ(tgll_app_init(&app, &cfg), 0);
}

static void send_cmd(uint8_t command, uint32_t arg)
{
    uint8_t p[5];
    uint8_t wire[TGLL_MAX_WIRE];
    size_t n;
    tgll_command_payload(command, arg, p, sizeof p);
    n = tgll_packet_encode(TGLL_TYPE_COMMAND, 42, 0, p, 5, wire, sizeof wire);
    tgll_app_receive(&app, wire, n);
}

/* Sample value of channel c at index i: distinct and signed. */
static int32_t value(uint32_t i, int c)
{
    return (int32_t)((i * 8u + (uint32_t)c) * 37u % 16000000u) - 8000000;
}

static void push(uint32_t first, uint32_t n, uint16_t lead_off)
{
    uint32_t i;
    int c;
    int32_t ch[8];
    for (i = first; i < first + n; i++) {
        for (c = 0; c < 8; c++) ch[c] = value(i, c);
        tgll_app_push_sample(&app, ch, lead_off);
    }
}

/* Check a DATA packet's samples against value(). */
static int data_ok(const td_packet_t *p)
{
    uint32_t s;
    int c;
    if (p->payload[0] != 8 || p->payload_len != 4u + 24u * p->payload[1]) {
        return 0;
    }
    for (s = 0; s < p->payload[1]; s++) {
        for (c = 0; c < 8; c++) {
            if (tgll_get_i24(&p->payload[4 + 24 * s + 3 * (uint32_t)c]) != value(p->sample_index + s, c)) {
                return 0;
            }
        }
    }
    return 1;
}

static void decode(void)
{
    CHECK(!sink.overflow);
    td_decode(&st, out_buf, sink.len);
    CHECK_EQ(st.bad, 0);
}

static void test_boot_and_commands(void)
{
    const td_packet_t *p;
    size_t i;
    setup(10, 16);
    tgll_app_boot(&app);
    decode();
    CHECK_EQ(st.n, 2);
    CHECK(st.pkts[0].type == TGLL_TYPE_EVENT && st.pkts[0].payload[0] == TGLL_EVENT_RESET);
    CHECK(st.pkts[1].type == TGLL_TYPE_INFO && st.pkts[1].seq == 1);
    p = &st.pkts[1];
    CHECK_EQ(tgll_get_u16(p->payload), 500);
    CHECK_EQ(p->payload[2], 8);

    sink.len = 0;
    send_cmd(TGLL_CMD_GET_INFO, 0);
    send_cmd(9, 0);                     /* unknown */
    send_cmd(TGLL_CMD_SET_RATE, 123);   /* bad rate */
    send_cmd(TGLL_CMD_SET_RATE, 1000);
    decode();
    /* ACK(3,0) INFO ACK(9,1) ACK(4,2) ACK(4,0) INFO(fs 1000) */
    CHECK_EQ(st.n, 6);
    CHECK(st.pkts[0].type == TGLL_TYPE_ACK && st.pkts[0].payload[0] == 3 && st.pkts[0].payload[1] == 0);
    CHECK(st.pkts[1].type == TGLL_TYPE_INFO);
    CHECK(st.pkts[2].type == TGLL_TYPE_ACK && st.pkts[2].payload[0] == 9 && st.pkts[2].payload[1] == TGLL_ACK_UNSUPPORTED);
    CHECK(st.pkts[3].type == TGLL_TYPE_ACK && st.pkts[3].payload[1] == TGLL_ACK_BAD_ARGUMENT);
    CHECK(st.pkts[4].type == TGLL_TYPE_ACK && st.pkts[4].payload[1] == TGLL_ACK_OK);
    CHECK(st.pkts[5].type == TGLL_TYPE_INFO && tgll_get_u16(st.pkts[5].payload) == 1000);
    CHECK_EQ(fops.last_rate, 1000);
    for (i = 1; i < st.n; i++) {
        CHECK_EQ(st.pkts[i].seq, (uint16_t)(st.pkts[i - 1].seq + 1));
    }
    CHECK_EQ(app.stats.commands, 4);
}

static void test_stream_start_stop(void)
{
    size_t i;
    setup(10, 16);
    push(0, 5, 0); /* not streaming: ignored */
    CHECK_EQ(tgll_ring_count(&app.ring), 0);
    send_cmd(TGLL_CMD_START, 0);
    CHECK_EQ(fops.starts, 1);
    push(0, 12, 0);
    tgll_app_poll(&app, 0);
    push(12, 13, 0);
    tgll_app_poll(&app, 0);
    send_cmd(TGLL_CMD_STOP, 0);
    CHECK_EQ(fops.stops, 1);
    decode();
    /* ACK(START) INFO DATA0 DATA10 DATA20(5, flushed on STOP) ACK(STOP) */
    CHECK_EQ(st.n, 6);
    CHECK(st.pkts[0].type == TGLL_TYPE_ACK && st.pkts[0].payload[0] == TGLL_CMD_START);
    CHECK(st.pkts[1].type == TGLL_TYPE_INFO);
    CHECK_EQ(td_count(&st, TGLL_TYPE_DATA), 3);
    for (i = 0; i < 3; i++) {
        const td_packet_t *p = td_find(&st, TGLL_TYPE_DATA, i);
        CHECK(p != NULL && p->sample_index == 10 * i && data_ok(p));
        CHECK_EQ(p->payload[1], i < 2 ? 10 : 5);
    }
    CHECK(st.pkts[5].type == TGLL_TYPE_ACK && st.pkts[5].payload[0] == TGLL_CMD_STOP);
    /* restart: the counter starts again at 0 */
    sink.len = 0;
    send_cmd(TGLL_CMD_START, 0);
    push(0, 10, 0);
    tgll_app_poll(&app, 0);
    decode();
    CHECK(td_find(&st, TGLL_TYPE_DATA, 0) != NULL && td_find(&st, TGLL_TYPE_DATA, 0)->sample_index == 0);
}

static void test_overflow(void)
{
    const td_packet_t *p;
    uint32_t expect_next = 0;
    uint32_t samples = 0;
    uint32_t dropped_events = 0;
    size_t i;
    setup(10, 16);
    tgll_app_start(&app);
    /* the sender stalls: 40 DRDYs into a 16-slot ring -> 24 dropped */
    push(0, 40, 0);
    CHECK_EQ(app.ring.dropped, 24);
    tgll_app_poll(&app, 0);
    push(40, 15, 0);
    tgll_app_poll(&app, 0);
    /* a second, shorter stall: ring holds 16, 3 dropped */
    push(55, 19, 0);
    tgll_app_poll(&app, 0);
    tgll_app_stop(&app);
    decode();
    /* Walk the stream like a host: every forward jump must be announced by an
     * EVENT 3 with exactly the jump, at the first missing index. */
    for (i = 0; i < st.n; i++) {
        p = &st.pkts[i];
        if (p->type == TGLL_TYPE_EVENT && p->payload[0] == TGLL_EVENT_OVERFLOW) {
            CHECK_EQ(p->sample_index, expect_next);
            expect_next += tgll_get_u32(&p->payload[1]);
            dropped_events += tgll_get_u32(&p->payload[1]);
        } else if (p->type == TGLL_TYPE_DATA) {
            CHECK_EQ(p->sample_index, expect_next);
            CHECK(data_ok(p));
            expect_next += p->payload[1];
            samples += p->payload[1];
        }
    }
    CHECK_EQ(dropped_events, 27);
    CHECK_EQ(samples + dropped_events, 74);
    CHECK_EQ(expect_next, 74);
    CHECK_EQ(app.stats.overflow_events, 2);
    CHECK_EQ(app.stats.samples_dropped, 27);
    CHECK_EQ(app.ring.overflows, 2);
    /* the packet before the gap was flushed short: DATA 0(10) 10(6) EVENT(16, 24) DATA 40.. */
    p = td_find(&st, TGLL_TYPE_DATA, 1);
    CHECK(p != NULL && p->sample_index == 10 && p->payload[1] == 6);
    p = td_find(&st, TGLL_TYPE_DATA, 2);
    CHECK(p != NULL && p->sample_index == 40);
}

/* A DRDY the target serviced too late: the lost conversions become EVENT 3 at
 * the first lost index and a DATA jump of exactly that many; nothing before
 * START or after STOP is counted. */
static void test_missed_drdy(void)
{
    const td_packet_t *p;
    setup(10, 16);
    tgll_app_skip_samples(&app, 5); /* not streaming: ignored */
    tgll_app_start(&app);
    push(0, 12, 0);
    tgll_app_poll(&app, 0);
    tgll_app_skip_samples(&app, 3);
    push(15, 8, 0);
    tgll_app_poll(&app, 0);
    tgll_app_stop(&app);
    decode();
    CHECK_EQ(st.bad, 0);
    p = td_find(&st, TGLL_TYPE_EVENT, 0);
    CHECK(p != NULL && p->payload[0] == TGLL_EVENT_OVERFLOW && p->sample_index == 12 &&
          tgll_get_u32(&p->payload[1]) == 3);
    p = td_find(&st, TGLL_TYPE_DATA, 1); /* flushed short before the gap */
    CHECK(p != NULL && p->sample_index == 10 && p->payload[1] == 2 && data_ok(p));
    p = td_find(&st, TGLL_TYPE_DATA, 2);
    CHECK(p != NULL && p->sample_index == 15 && data_ok(p));
    CHECK_EQ(app.stats.samples_dropped, 3);
    CHECK_EQ(app.stats.samples_sent, 20);
}

static void test_lead_off_and_periodic_info(void)
{
    const td_packet_t *p;
    uint32_t i;
    setup(10, 16);
    tgll_app_start(&app);
    push(0, 5, 0);
    push(5, 3, 0x0004);
    push(8, 4, 0);
    tgll_app_poll(&app, 0);
    tgll_app_stop(&app);
    decode();
    CHECK_EQ(app.stats.lead_off_events, 2);
    p = td_find(&st, TGLL_TYPE_EVENT, 0);
    CHECK(p != NULL && p->payload[0] == TGLL_EVENT_LEAD_OFF && p->sample_index == 5 &&
          tgll_get_u32(&p->payload[1]) == 4);
    p = td_find(&st, TGLL_TYPE_EVENT, 1);
    CHECK(p != NULL && p->sample_index == 8 && tgll_get_u32(&p->payload[1]) == 0);
    p = td_find(&st, TGLL_TYPE_DATA, 0);
    CHECK(p != NULL && tgll_get_u16(&p->payload[2]) == 0x0004); /* OR over samples 0..9 */
    p = td_find(&st, TGLL_TYPE_DATA, 1);
    CHECK(p != NULL && tgll_get_u16(&p->payload[2]) == 0);

    /* INFO at least every 10 s of samples (configured 5 s = 2500 samples) */
    setup(40, 16);
    tgll_app_start(&app);
    for (i = 0; i < 6000; i += 16) {
        push(i, 16, 0);
        tgll_app_poll(&app, 0);
    }
    tgll_app_stop(&app);
    decode();
    CHECK_EQ(td_count(&st, TGLL_TYPE_INFO), 1 + 2); /* after START, at 2500, at 5000 */
    p = td_find(&st, TGLL_TYPE_INFO, 1);
    CHECK(p != NULL && p->sample_index >= 2500 && p->sample_index <= 2516); /* device counter */
}

static void test_set_rate_while_streaming(void)
{
    const td_packet_t *p;
    setup(10, 16);
    tgll_app_start(&app);
    push(0, 7, 0);
    sink.len = 0;
    send_cmd(TGLL_CMD_SET_RATE, 250);
    decode();
    /* pending samples flushed, ACK, INFO with the new rate, counter back at 0 */
    p = td_find(&st, TGLL_TYPE_DATA, 0);
    CHECK(p != NULL && p->sample_index == 0 && p->payload[1] == 7);
    p = td_find(&st, TGLL_TYPE_INFO, 0);
    CHECK(p != NULL && tgll_get_u16(p->payload) == 250 && p->sample_index == 0);
    CHECK(app.streaming && fops.stops == 1 && fops.starts == 2);
}

static void test_seq_wrap(void)
{
    setup(10, 16);
    app.tx.seq = 65535;
    tgll_app_boot(&app);
    decode();
    CHECK(st.n == 2 && st.pkts[0].seq == 65535 && st.pkts[1].seq == 0);
}

void test_app(void)
{
    test_boot_and_commands();
    test_stream_start_stop();
    test_overflow();
    test_missed_drdy();
    test_lead_off_and_periodic_info();
    test_set_rate_while_streaming();
    test_seq_wrap();
}
