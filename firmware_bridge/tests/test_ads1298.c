/* ADS1298 driver against the simulated chip serving a real PTB-XL record. */
#include <math.h>
#include <string.h>

#include "ads1298.h"
#include "ads1298_sim.h"
#include "ptbxl_00001_hr_2s.h"
#include "stream_decode.h"
#include "tgll_device.h"
#include "test_util.h"

static ads_sim_t sim;
static ads1298_hal_t hal;
static ads1298_t dev;

static const ads_sim_op_t *find_op(uint8_t opcode, uint8_t addr, size_t nth)
{
    uint32_t i;
    for (i = 0; i < sim.log_len; i++) {
        const ads_sim_op_t *e = &sim.log[i];
        if (e->opcode == opcode && (opcode < 0x20u || opcode >= 0x60u || e->addr == addr)) {
            if (nth == 0) {
                return e;
            }
            nth--;
        }
    }
    return NULL;
}

static void test_pure_helpers(void)
{
    uint8_t regs[ADS_NUM_REGS];
    uint8_t c1 = 0;
    ads1298_config_t cfg = ADS1298_DEFAULT_CONFIG;
    float uv;

    CHECK(ads1298_config1_for_rate(500, &c1) == ADS1298_OK && c1 == 0x86);
    CHECK(ads1298_config1_for_rate(1000, &c1) == ADS1298_OK && c1 == 0x85);
    CHECK(ads1298_config1_for_rate(250, &c1) == ADS1298_OK && c1 == 0x06); /* low-power mode */
    CHECK_EQ(ads1298_config1_for_rate(2000, &c1), ADS1298_ERR_ARG);

    CHECK_EQ(ads1298_build_registers(&cfg, regs), ADS1298_OK);
    CHECK_EQ(regs[ADS_REG_CONFIG1], 0x86);
    CHECK_EQ(regs[ADS_REG_CONFIG2], 0x00);
    CHECK_EQ(regs[ADS_REG_CONFIG3], 0xCC); /* PD_REFBUF | 1 | RLDREF_INT | PD_RLD */
    CHECK_EQ(regs[ADS_REG_LOFF], 0x03);    /* 95 %, 6 nA, DC */
    CHECK_EQ(regs[ADS_REG_CH1SET], 0x00);  /* gain 6, normal input */
    CHECK_EQ(regs[ADS_REG_CH1SET + 7], 0x00);
    CHECK_EQ(regs[ADS_REG_RLD_SENSP], 0x03);
    CHECK_EQ(regs[ADS_REG_RLD_SENSN], 0x01);
    CHECK_EQ(regs[ADS_REG_LOFF_SENSP], 0xFF);
    CHECK_EQ(regs[ADS_REG_LOFF_SENSN], 0x01);
    CHECK_EQ(regs[ADS_REG_CONFIG4], 0x02);
    CHECK_EQ(regs[ADS_REG_WCT1], 0x09);    /* WCTA on, RA = CH1N */
    CHECK_EQ(regs[ADS_REG_WCT2], 0xC2);    /* WCTB = LA (CH1P), WCTC = LL (CH2P), both on */
    cfg.gain = 12;
    cfg.lead_off = 0;
    cfg.test_signal = 1;
    CHECK_EQ(ads1298_build_registers(&cfg, regs), ADS1298_OK);
    CHECK_EQ(regs[ADS_REG_CH1SET + 3], 0x65);
    CHECK(regs[ADS_REG_LOFF] == 0 && regs[ADS_REG_LOFF_SENSP] == 0 && regs[ADS_REG_CONFIG4] == 0);
    CHECK_EQ(regs[ADS_REG_CONFIG2], 0x10);
    cfg.gain = 5;
    CHECK_EQ(ads1298_build_registers(&cfg, regs), ADS1298_ERR_ARG);

    uv = ads1298_uv_per_count(2.4f, 6);
    CHECK(fabs((double)uv - 2.4 / 6.0 / 8388607.0 * 1e6) < 1e-8); /* float */
    CHECK(fabs((double)uv - 0.0476837) < 1e-6);
    CHECK(fabs((double)ads1298_uv_per_count(2.4f, 1) - 0.2861023) < 1e-6);
    /* Bit for bit the float nearest to the exact value the host assumes
     * (tgll_edge and PROTOCOL.md: 2.4 / gain / (2^23 - 1) * 1e6), every gain. */
    {
        static const uint8_t gains[] = {1, 2, 3, 4, 6, 8, 12};
        size_t g;
        for (g = 0; g < sizeof gains; g++) {
            float want = (float)(2.4 / (double)gains[g] / 8388607.0 * 1e6);
            float got = ads1298_uv_per_count(ADS1298_VREF_V, gains[g]);
            CHECK(memcmp(&want, &got, sizeof want) == 0);
        }
    }

    /* lead-off mapping: LA = IN1P, LL = IN2P, RA = IN1N, V1..V6 = IN3P..IN8P */
    CHECK_EQ(ads1298_lead_off_channels(0x00, 0x00), 0x00);
    CHECK_EQ(ads1298_lead_off_channels(0x04, 0x00), 0x04); /* V1 only */
    CHECK_EQ(ads1298_lead_off_channels(0x80, 0x00), 0x80); /* V6 only */
    CHECK_EQ(ads1298_lead_off_channels(0x00, 0x01), 0xFF); /* RA: I, II and WCT */
    CHECK_EQ(ads1298_lead_off_channels(0x01, 0x00), 0xFD); /* LA: I and WCT, not II */
    CHECK_EQ(ads1298_lead_off_channels(0x02, 0x00), 0xFE); /* LL: II and WCT, not I */
}

static void test_parse_frame(void)
{
    uint8_t raw[ADS_FRAME_BYTES];
    ads1298_frame_t f;
    memset(raw, 0, sizeof raw);
    /* status 1100 | STATP 0x08 (V2) | STATN 0x00 | GPIO */
    raw[0] = 0xC0; raw[1] = 0x80; raw[2] = 0x00;
    raw[3] = 0xFF; raw[4] = 0xFF; raw[5] = 0xFE;   /* ch1 = -2 */
    raw[6] = 0x7F; raw[7] = 0xFF; raw[8] = 0xFF;   /* ch2 = +full scale: saturated */
    raw[9] = 0x00; raw[10] = 0x01; raw[11] = 0x00; /* ch3 = 256 */
    raw[24] = 0x80; raw[25] = 0x00; raw[26] = 0x00; /* ch8 = -full scale */
    CHECK_EQ(ads1298_parse_frame(raw, &f), ADS1298_OK);
    CHECK(f.loff_statp == 0x08 && f.loff_statn == 0x00);
    CHECK(f.ch[0] == -2 && f.ch[1] == 8388607 && f.ch[2] == 256 && f.ch[7] == -8388608);
    CHECK_EQ(f.lead_off, 0x08 | 0x02 | 0x80);
    raw[0] = 0x40;
    CHECK_EQ(ads1298_parse_frame(raw, &f), ADS1298_ERR_SYNC);
}

static void test_init_sequence(void)
{
    ads1298_config_t cfg = ADS1298_DEFAULT_CONFIG;
    const ads_sim_op_t *reset_edge, *sdatac, *cfg3, *cfg1, *id_read;
    uint32_t i;
    ads_sim_init(&sim, tgll_record_counts, TGLL_RECORD_SAMPLES);
    ads_sim_hal(&sim, &hal);
    CHECK_EQ(ads1298_init(&dev, &hal, &cfg), ADS1298_OK);
    CHECK_EQ(dev.id, 0x92);
    /* the chip's register file holds the 12-lead configuration */
    CHECK_EQ(sim.regs[ADS_REG_CONFIG1], 0x86);
    CHECK_EQ(sim.regs[ADS_REG_CONFIG2], 0x00);
    CHECK_EQ(sim.regs[ADS_REG_CONFIG3], 0xCC);
    CHECK_EQ(sim.regs[ADS_REG_LOFF], 0x03);
    for (i = 0; i < 8; i++) CHECK_EQ(sim.regs[ADS_REG_CH1SET + i], 0x00);
    CHECK_EQ(sim.regs[ADS_REG_RLD_SENSP], 0x03);
    CHECK_EQ(sim.regs[ADS_REG_RLD_SENSN], 0x01);
    CHECK_EQ(sim.regs[ADS_REG_LOFF_SENSP], 0xFF);
    CHECK_EQ(sim.regs[ADS_REG_LOFF_SENSN], 0x01);
    CHECK_EQ(sim.regs[ADS_REG_CONFIG4], 0x02);
    CHECK_EQ(sim.regs[ADS_REG_WCT1], 0x09);
    CHECK_EQ(sim.regs[ADS_REG_WCT2], 0xC2);
    CHECK_EQ(sim.write_count[ADS_REG_ID], 0);
    CHECK_EQ(sim.write_count[ADS_REG_LOFF_STATP], 0); /* read-only registers left alone */
    CHECK_EQ(sim.ignored_in_rdatac, 0);
    CHECK_EQ(sim.bytes_without_cs, 0);
    CHECK(!sim.converting);
    /* power-up order and timing */
    reset_edge = find_op(0xFF, 0, 0);
    sdatac = find_op(ADS_OP_SDATAC, 0, 0);
    id_read = find_op(ADS_OP_RREG, ADS_REG_ID, 0);
    cfg3 = find_op(ADS_OP_WREG, ADS_REG_CONFIG3, 0);
    cfg1 = find_op(ADS_OP_WREG, ADS_REG_CONFIG1, 0);
    CHECK(reset_edge != NULL && sdatac != NULL && id_read != NULL && cfg3 != NULL && cfg1 != NULL);
    if (reset_edge && sdatac && id_read && cfg3 && cfg1) {
        CHECK(reset_edge->time_us >= 128000u);           /* tPOR = 2^18 tCLK */
        CHECK(sdatac->time_us >= reset_edge->time_us + 18u); /* >= 18 tCLK after reset */
        CHECK(sdatac < id_read && id_read < cfg3 && cfg3 < cfg1);
        CHECK(!id_read->in_rdatac && !cfg3->in_rdatac && !cfg1->in_rdatac);
        CHECK(cfg1->time_us >= cfg3->time_us + 100000u);  /* reference settled */
    }
    CHECK_EQ(sim.resets, 1);
}

static void test_read_record(void)
{
    ads1298_frame_t f;
    uint32_t i;
    int c, mismatches = 0, sync = 0;
    CHECK_EQ(ads1298_start(&dev), ADS1298_OK);
    CHECK(sim.converting && sim.rdatac);
    /* register access is refused (not silently ignored) while in RDATAC */
    {
        uint8_t v = 0;
        CHECK_EQ(ads1298_write_regs(&dev, ADS_REG_CONFIG1, &v, 1), ADS1298_ERR_STATE);
        CHECK_EQ(ads1298_set_rate(&dev, 1000), ADS1298_ERR_STATE);
    }
    for (i = 0; i < TGLL_RECORD_SAMPLES; i++) {
        CHECK_EQ(hal.drdy_wait(hal.ctx, 10), 0);
        if (ads1298_read_frame(&dev, &f) != ADS1298_OK) sync++;
        for (c = 0; c < 8; c++) {
            if (f.ch[c] != tgll_record_counts[i][c]) mismatches++;
        }
        if (f.lead_off != 0) mismatches++;
    }
    CHECK_EQ(mismatches, 0);
    CHECK_EQ(sync, 0);
    CHECK_EQ(sim.frames_read, TGLL_RECORD_SAMPLES);
    CHECK_EQ(sim.frames_missed, 0);

    /* electrodes off: RA, then V3 */
    sim.electrode_statn = 0x01;
    hal.drdy_wait(hal.ctx, 10);
    CHECK_EQ(ads1298_read_frame(&dev, &f), ADS1298_OK);
    CHECK(f.loff_statn == 0x01 && f.lead_off == 0xFF);
    sim.electrode_statn = 0x00;
    sim.electrode_statp = 0x10;
    hal.drdy_wait(hal.ctx, 10);
    ads1298_read_frame(&dev, &f);
    CHECK(f.loff_statp == 0x10 && f.lead_off == 0x10);
    sim.electrode_statp = 0;

    CHECK_EQ(ads1298_stop(&dev), ADS1298_OK);
    CHECK(!sim.converting && !sim.rdatac);
    CHECK_EQ(ads1298_set_rate(&dev, 1000), ADS1298_OK);
    CHECK_EQ(sim.regs[ADS_REG_CONFIG1], 0x85);
    CHECK_EQ(ads1298_set_rate(&dev, 250), ADS1298_OK);
    CHECK_EQ(sim.regs[ADS_REG_CONFIG1], 0x06);
    CHECK_EQ(ads1298_set_rate(&dev, 333), ADS1298_ERR_ARG);
    CHECK_EQ(ads1298_set_rate(&dev, 500), ADS1298_OK);
    CHECK_EQ(sim.ignored_in_rdatac, 0);
}

static void test_wrong_chip(void)
{
    ads1298_config_t cfg = ADS1298_DEFAULT_CONFIG;
    ads_sim_init(&sim, NULL, 0);
    sim.id = 0x3E; /* an ADS1299 */
    ads_sim_hal(&sim, &hal);
    CHECK_EQ(ads1298_init(&dev, &hal, &cfg), ADS1298_ERR_ID);
    /* no reset pin wired: the RESET opcode path */
    ads_sim_init(&sim, NULL, 0);
    ads_sim_hal(&sim, &hal);
    hal.reset_pin = NULL;
    hal.start_pin = NULL;
    CHECK_EQ(ads1298_init(&dev, &hal, &cfg), ADS1298_OK);
    CHECK(find_op(ADS_OP_RESET, 0, 0) != NULL);
    CHECK_EQ(ads1298_start(&dev), ADS1298_OK);
    CHECK(find_op(ADS_OP_START, 0, 0) != NULL && sim.converting);
    ads1298_stop(&dev);
    CHECK(find_op(ADS_OP_STOP, 0, 0) != NULL && !sim.converting);
}

/* Whole device: DRDY interrupt -> driver -> ring -> packets, decoded back. */
static uint8_t dev_out[120000];
static td_sink_t dev_sink;
static td_stream_t dev_stream;
static tgll_device_t device;

static void test_device_end_to_end(void)
{
    tgll_device_config_t cfg;
    ads1298_config_t ads_cfg = ADS1298_DEFAULT_CONFIG;
    uint32_t i, expect = 0, got = 0;
    int mismatches = 0;
    size_t k;
    uint8_t start_wire[32];
    uint8_t p[5];
    size_t n;
    ads_sim_init(&sim, tgll_record_counts, TGLL_RECORD_SAMPLES);
    ads_sim_hal(&sim, &hal);
    dev_sink.buf = dev_out;
    dev_sink.cap = sizeof dev_out;
    dev_sink.len = 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.hal = &hal;
    cfg.ads = ads_cfg;
    cfg.samples_per_packet = 10;
    cfg.device_id = "TGLL-TEST";
    cfg.write = td_sink_write;
    cfg.write_ctx = &dev_sink;
    CHECK_EQ(tgll_device_init(&device, &cfg), 0);
    tgll_device_boot(&device);
    tgll_command_payload(TGLL_CMD_START, 0, p, sizeof p);
    n = tgll_packet_encode(TGLL_TYPE_COMMAND, 0, 0, p, 5, start_wire, sizeof start_wire);
    tgll_device_receive(&device, start_wire, n);
    CHECK(sim.isr != NULL && sim.converting);
    for (i = 0; i < TGLL_RECORD_SAMPLES; i++) {
        ads_sim_tick(&sim); /* fires tgll_device_drdy */
        if (i % 7 == 0) tgll_device_poll(&device);
    }
    tgll_app_stop(&device.app);
    CHECK(sim.isr == NULL && !sim.converting);
    CHECK(!dev_sink.overflow);
    td_decode(&dev_stream, dev_out, dev_sink.len);
    CHECK_EQ(dev_stream.bad, 0);
    for (k = 0; k < dev_stream.n; k++) {
        const td_packet_t *pk = &dev_stream.pkts[k];
        uint32_t s;
        int c;
        if (pk->type == TGLL_TYPE_INFO) {
            float uv;
            uint32_t bits = (uint32_t)pk->payload[4] | ((uint32_t)pk->payload[5] << 8) |
                            ((uint32_t)pk->payload[6] << 16) | ((uint32_t)pk->payload[7] << 24);
            memcpy(&uv, &bits, 4);
            CHECK(fabs((double)uv - 0.0476837) < 1e-6);
        }
        if (pk->type != TGLL_TYPE_DATA) continue;
        CHECK_EQ(pk->sample_index, expect);
        for (s = 0; s < pk->payload[1]; s++) {
            for (c = 0; c < 8; c++) {
                int32_t v = tgll_get_i24(&pk->payload[4 + 24 * s + 3 * (uint32_t)c]);
                if (v != tgll_record_counts[pk->sample_index + s][c]) mismatches++;
            }
        }
        expect += pk->payload[1];
        got += pk->payload[1];
    }
    CHECK_EQ(got, TGLL_RECORD_SAMPLES);
    CHECK_EQ(mismatches, 0);
    CHECK_EQ(td_count(&dev_stream, TGLL_TYPE_DATA), TGLL_RECORD_SAMPLES / 10);
    CHECK_EQ(device.app.stats.samples_dropped, 0);
    CHECK_EQ(device.sync_errors, 0);
}

void test_ads1298(void)
{
    test_pure_helpers();
    test_parse_frame();
    test_init_sequence();
    test_read_record();
    test_wrong_chip();
    test_device_end_to_end();
}
