#include "ads1298.h"

#include <string.h>

#define INT24_MAX_ 8388607L
#define INT24_MIN_ (-8388608L)

int ads1298_config1_for_rate(uint16_t fs_hz, uint8_t *config1)
{
    /* HR mode: DR 5 = 1 kSPS, 6 = 500 SPS (its slowest). 250 SPS exists only
     * in low-power mode (HR = 0, DR = 6): same modulator, half the clock. */
    switch (fs_hz) {
    case 1000:
        *config1 = ADS_CONFIG1_HR | 0x05u;
        return ADS1298_OK;
    case 500:
        *config1 = ADS_CONFIG1_HR | 0x06u;
        return ADS1298_OK;
    case 250:
        *config1 = 0x06u;
        return ADS1298_OK;
    default:
        return ADS1298_ERR_ARG;
    }
}

int ads1298_gain_bits(uint8_t gain, uint8_t *bits)
{
    switch (gain) {
    case 6: *bits = ADS_CHSET_GAIN_6; return ADS1298_OK;
    case 1: *bits = ADS_CHSET_GAIN_1; return ADS1298_OK;
    case 2: *bits = ADS_CHSET_GAIN_2; return ADS1298_OK;
    case 3: *bits = ADS_CHSET_GAIN_3; return ADS1298_OK;
    case 4: *bits = ADS_CHSET_GAIN_4; return ADS1298_OK;
    case 8: *bits = ADS_CHSET_GAIN_8; return ADS1298_OK;
    case 12: *bits = ADS_CHSET_GAIN_12; return ADS1298_OK;
    default: return ADS1298_ERR_ARG;
    }
}

int ads1298_build_registers(const ads1298_config_t *cfg, uint8_t regs[ADS_NUM_REGS])
{
    uint8_t gain_bits;
    uint8_t mux;
    unsigned n;
    memset(regs, 0, ADS_NUM_REGS);
    if (ads1298_config1_for_rate(cfg->fs_hz, &regs[ADS_REG_CONFIG1]) != ADS1298_OK ||
        ads1298_gain_bits(cfg->gain, &gain_bits) != ADS1298_OK) {
        return ADS1298_ERR_ARG;
    }
    /* Test signal: 1 x (VREFP - VREFN)/2400, pulsed at fCLK/2^21 (~1 Hz). */
    regs[ADS_REG_CONFIG2] = cfg->test_signal ? ADS_CONFIG2_INT_TEST : 0x00u;
    /* Internal 2.4 V reference, RLD buffer on with internal mid-supply reference. */
    regs[ADS_REG_CONFIG3] = ADS_CONFIG3_PD_REFBUF | ADS_CONFIG3_RESERVED1 |
                            ADS_CONFIG3_RLDREF_INT | ADS_CONFIG3_PD_RLD;
    /* DC lead-off: 6 nA pull current, comparators at 95 % / 5 % of full scale. */
    regs[ADS_REG_LOFF] = cfg->lead_off
                             ? (uint8_t)(ADS_LOFF_COMP_TH_95 | ADS_LOFF_ILEAD_6NA | ADS_LOFF_FLEAD_DC)
                             : 0x00u;
    mux = cfg->test_signal ? ADS_CHSET_MUX_TEST : ADS_CHSET_MUX_NORMAL;
    for (n = 0; n < ADS_CHANNELS; n++) {
        regs[ADS_REG_CH1SET + n] = (uint8_t)(gain_bits | mux);
    }
    /* RLD senses the limb electrodes: LA (IN1P), LL (IN2P), RA (IN1N). */
    regs[ADS_REG_RLD_SENSP] = 0x03u;
    regs[ADS_REG_RLD_SENSN] = 0x01u;
    /* Lead-off current on every electrode once: LA, LL, V1..V6 on the P
     * inputs, RA on IN1N (IN2N is RA too; the WCT inputs IN3N..IN8N are a
     * buffered node, not an electrode). */
    regs[ADS_REG_LOFF_SENSP] = cfg->lead_off ? 0xFFu : 0x00u;
    regs[ADS_REG_LOFF_SENSN] = cfg->lead_off ? 0x01u : 0x00u;
    regs[ADS_REG_LOFF_FLIP] = 0x00u;
    regs[ADS_REG_GPIO] = 0x0Fu; /* reset value: GPIO1..4 inputs, untouched */
    regs[ADS_REG_CONFIG4] = cfg->lead_off ? ADS_CONFIG4_PD_LOFF_COMP : 0x00u;
    /* WCT = (RA + LA + LL)/3: WCTA <- RA (CH1N), WCTB <- LA (CH1P), WCTC <- LL (CH2P).
     * The Goldberger (aVx) switches stay off: the host derives aVR/aVL/aVF. */
    regs[ADS_REG_WCT1] = (uint8_t)(ADS_WCT1_PD_WCTA | ADS_WCT_IN_CH1N);
    regs[ADS_REG_WCT2] = (uint8_t)(ADS_WCT2_PD_WCTC | ADS_WCT2_PD_WCTB |
                                   (ADS_WCT_IN_CH1P << ADS_WCT2_WCTB_SHIFT) | ADS_WCT_IN_CH2P);
    return ADS1298_OK;
}

float ads1298_uv_per_count(float vref_v, uint8_t gain)
{
    /* Full scale +-VREF/gain over 2^23 - 1 positive codes. Single precision
     * only (an M4F has no double FPU; double would link soft-float): for the
     * 2.4 V reference, vref_v * 1e6 rounds to exactly 2400000 and the gain
     * divides it exactly, so the one rounding left is the last division,
     * giving the float nearest to 2.4e6 / gain / 8388607. */
    return vref_v * 1e6f / (float)gain / 8388607.0f;
}

uint16_t ads1298_lead_off_channels(uint8_t statp, uint8_t statn)
{
    unsigned la = statp & 0x01u;
    unsigned ll = (statp >> 1) & 0x01u;
    unsigned ra = (statn & 0x01u) | ((statn >> 1) & 0x01u);
    unsigned wct = la | ll | ra;
    uint16_t mask = 0;
    unsigned n;
    if (la | ra) {
        mask |= 0x01u; /* I = LA - RA */
    }
    if (ll | ra) {
        mask |= 0x02u; /* II = LL - RA */
    }
    for (n = 2; n < ADS_CHANNELS; n++) {
        if (((statp >> n) & 0x01u) || ((statn >> n) & 0x01u) || wct) {
            mask = (uint16_t)(mask | (1u << n));
        }
    }
    return mask;
}

int ads1298_parse_frame(const uint8_t raw[ADS_FRAME_BYTES], ads1298_frame_t *out)
{
    unsigned n;
    out->status = ((uint32_t)raw[0] << 16) | ((uint32_t)raw[1] << 8) | raw[2];
    out->loff_statp = (uint8_t)((out->status >> 12) & 0xFFu);
    out->loff_statn = (uint8_t)((out->status >> 4) & 0xFFu);
    out->lead_off = ads1298_lead_off_channels(out->loff_statp, out->loff_statn);
    for (n = 0; n < ADS_CHANNELS; n++) {
        const uint8_t *p = &raw[ADS_STATUS_BYTES + 3u * n];
        uint32_t u = ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2]; /* MSB first */
        int32_t v = (u & 0x800000u) ? (int32_t)u - 0x1000000 : (int32_t)u;
        out->ch[n] = v;
        if (v >= INT24_MAX_ || v <= INT24_MIN_) {
            out->lead_off = (uint16_t)(out->lead_off | (1u << n)); /* saturated */
        }
    }
    return ((out->status & ADS_STATUS_SYNC_MASK) == ADS_STATUS_SYNC) ? ADS1298_OK
                                                                       : ADS1298_ERR_SYNC;
}

/* One opcode byte per CS-framed transaction keeps every target's SPI simple
 * and honours tSDECODE between bytes of a multi-byte command. */
static void send_bytes(ads1298_t *dev, const uint8_t *tx, uint8_t *rx, size_t n)
{
    const ads1298_hal_t *h = dev->hal;
    size_t i;
    h->cs_set(h->ctx, 1);
    for (i = 0; i < n; i++) {
        h->spi_transfer(h->ctx, &tx[i], rx ? &rx[i] : NULL, 1);
        if (i + 1 < n) {
            h->delay_us(h->ctx, ADS1298_T_SDECODE_US);
        }
    }
    h->cs_set(h->ctx, 0);
}

void ads1298_command(ads1298_t *dev, uint8_t opcode)
{
    send_bytes(dev, &opcode, NULL, 1);
    if (opcode == ADS_OP_RDATAC) {
        dev->rdatac = 1;
    } else if (opcode == ADS_OP_SDATAC) {
        dev->rdatac = 0;
    } else if (opcode == ADS_OP_RESET) {
        dev->rdatac = 1; /* the device wakes up (and resets) in RDATAC mode */
        dev->converting = 0;
    }
}

int ads1298_read_regs(ads1298_t *dev, uint8_t addr, uint8_t *vals, uint8_t count)
{
    uint8_t tx[2 + ADS_NUM_REGS];
    uint8_t rx[2 + ADS_NUM_REGS];
    if (count == 0 || (unsigned)addr + count > ADS_NUM_REGS) {
        return ADS1298_ERR_ARG;
    }
    if (dev->rdatac) {
        return ADS1298_ERR_STATE; /* RREG is ignored in RDATAC mode */
    }
    memset(tx, 0, sizeof tx);
    tx[0] = (uint8_t)(ADS_OP_RREG | addr);
    tx[1] = (uint8_t)(count - 1u);
    send_bytes(dev, tx, rx, 2u + count);
    memcpy(vals, &rx[2], count);
    return ADS1298_OK;
}

int ads1298_write_regs(ads1298_t *dev, uint8_t addr, const uint8_t *vals, uint8_t count)
{
    uint8_t tx[2 + ADS_NUM_REGS];
    if (count == 0 || (unsigned)addr + count > ADS_NUM_REGS) {
        return ADS1298_ERR_ARG;
    }
    if (dev->rdatac) {
        return ADS1298_ERR_STATE; /* WREG is ignored in RDATAC mode */
    }
    tx[0] = (uint8_t)(ADS_OP_WREG | addr);
    tx[1] = (uint8_t)(count - 1u);
    memcpy(&tx[2], vals, count);
    send_bytes(dev, tx, NULL, 2u + count);
    return ADS1298_OK;
}

/* Write regs[first..last] and read them back. */
static int write_verify(ads1298_t *dev, uint8_t first, uint8_t last)
{
    uint8_t back[ADS_NUM_REGS];
    uint8_t count = (uint8_t)(last - first + 1u);
    int rc = ads1298_write_regs(dev, first, &dev->regs[first], count);
    if (rc != ADS1298_OK) {
        return rc;
    }
    rc = ads1298_read_regs(dev, first, back, count);
    if (rc != ADS1298_OK) {
        return rc;
    }
    return memcmp(back, &dev->regs[first], count) == 0 ? ADS1298_OK : ADS1298_ERR_VERIFY;
}

static void set_start_pin(ads1298_t *dev, int high)
{
    if (dev->hal->start_pin != NULL) {
        dev->hal->start_pin(dev->hal->ctx, high);
    }
}

int ads1298_init(ads1298_t *dev, const ads1298_hal_t *hal, const ads1298_config_t *cfg)
{
    int rc;
    memset(dev, 0, sizeof *dev);
    dev->hal = hal;
    dev->cfg = *cfg;
    if (ads1298_build_registers(cfg, dev->regs) != ADS1298_OK) {
        return ADS1298_ERR_ARG;
    }
    /* 1. Supplies up, internal oscillator (CLKSEL = 1): wait tPOR. */
    set_start_pin(dev, 0);
    hal->cs_set(hal->ctx, 0);
    hal->delay_ms(hal->ctx, ADS1298_T_POR_MS);
    /* 2. Reset pulse (or RESET opcode), then 18 tCLK before the first command. */
    if (hal->reset_pin != NULL) {
        hal->reset_pin(hal->ctx, 1);
        hal->reset_pin(hal->ctx, 0);
        hal->delay_us(hal->ctx, ADS1298_T_RESET_LOW_US);
        hal->reset_pin(hal->ctx, 1);
        dev->rdatac = 1;
    } else {
        ads1298_command(dev, ADS_OP_RESET);
    }
    hal->delay_us(hal->ctx, ADS1298_T_AFTER_RESET_US);
    /* 3. The device wakes up in RDATAC: stop it so registers can be written. */
    ads1298_command(dev, ADS_OP_SDATAC);
    /* 4. Identify. */
    rc = ads1298_read_regs(dev, ADS_REG_ID, &dev->id, 1);
    if (rc != ADS1298_OK) {
        return rc;
    }
    if ((dev->id & ADS_ID_FAMILY_MASK) != ADS_ID_ADS1298_8CH) {
        return ADS1298_ERR_ID;
    }
    /* 5. Internal reference first, then let it settle before converting. */
    rc = write_verify(dev, ADS_REG_CONFIG3, ADS_REG_CONFIG3);
    if (rc != ADS1298_OK) {
        return rc;
    }
    hal->delay_ms(hal->ctx, ADS1298_T_REF_SETTLE_MS);
    /* 6. Everything else: CONFIG1..LOFF_FLIP, GPIO..WCT2 (LOFF_STATP/N are read-only). */
    rc = write_verify(dev, ADS_REG_CONFIG1, ADS_REG_LOFF_FLIP);
    if (rc == ADS1298_OK) {
        rc = write_verify(dev, ADS_REG_GPIO, ADS_REG_WCT2);
    }
    return rc;
}

int ads1298_start(ads1298_t *dev)
{
    if (dev->converting) {
        return ADS1298_OK;
    }
    if (dev->hal->start_pin != NULL) {
        set_start_pin(dev, 1);
    } else {
        ads1298_command(dev, ADS_OP_START);
    }
    ads1298_command(dev, ADS_OP_RDATAC);
    dev->converting = 1;
    return ADS1298_OK;
}

int ads1298_stop(ads1298_t *dev)
{
    ads1298_command(dev, ADS_OP_SDATAC);
    if (dev->hal->start_pin != NULL) {
        set_start_pin(dev, 0);
    } else {
        ads1298_command(dev, ADS_OP_STOP);
    }
    dev->converting = 0;
    return ADS1298_OK;
}

int ads1298_set_rate(ads1298_t *dev, uint16_t fs_hz)
{
    uint8_t config1;
    if (ads1298_config1_for_rate(fs_hz, &config1) != ADS1298_OK) {
        return ADS1298_ERR_ARG;
    }
    if (dev->converting || dev->rdatac) {
        return ADS1298_ERR_STATE;
    }
    dev->regs[ADS_REG_CONFIG1] = config1;
    dev->cfg.fs_hz = fs_hz;
    return write_verify(dev, ADS_REG_CONFIG1, ADS_REG_CONFIG1);
}

int ads1298_read_frame(ads1298_t *dev, ads1298_frame_t *out)
{
    static const uint8_t zeros[ADS_FRAME_BYTES] = {0};
    uint8_t raw[ADS_FRAME_BYTES];
    const ads1298_hal_t *h = dev->hal;
    int rc;
    /* In RDATAC the frame is clocked out by NOPs (0x00) in one CS window. */
    h->cs_set(h->ctx, 1);
    h->spi_transfer(h->ctx, zeros, raw, sizeof raw);
    h->cs_set(h->ctx, 0);
    dev->frames++;
    rc = ads1298_parse_frame(raw, out);
    if (rc != ADS1298_OK) {
        dev->sync_errors++;
    }
    return rc;
}
