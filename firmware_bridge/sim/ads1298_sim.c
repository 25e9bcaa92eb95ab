#include "ads1298_sim.h"

#include <string.h>

static void reset_registers(ads_sim_t *s)
{
    memset(s->regs, 0, sizeof s->regs);
    s->regs[ADS_REG_ID] = s->id;
    s->regs[ADS_REG_CONFIG1] = 0x06u;
    s->regs[ADS_REG_CONFIG3] = 0x40u;
    s->regs[ADS_REG_GPIO] = 0x0Fu;
    s->rdatac = 1; /* power-up / reset default */
    s->converting = s->start_pin;
    s->frame_ready = 0;
    s->resets++;
}

void ads_sim_init(ads_sim_t *sim, const int32_t (*samples)[ADS_CHANNELS], uint32_t n_samples)
{
    memset(sim, 0, sizeof *sim);
    sim->samples = samples;
    sim->n_samples = n_samples;
    sim->reset_pin = 1;
    sim->id = 0x92u; /* ADS1298; tests may change it before the driver resets the chip */
    reset_registers(sim);
    sim->resets = 0;
}

static void log_op(ads_sim_t *s, uint8_t op, uint8_t addr, uint8_t count)
{
    if (s->log_len < ADS_SIM_LOG_MAX) {
        ads_sim_op_t *e = &s->log[s->log_len++];
        e->opcode = op;
        e->addr = addr;
        e->count = count;
        e->time_us = s->time_us;
        e->in_rdatac = s->rdatac;
    }
}

static int writable(uint8_t addr)
{
    return addr != ADS_REG_ID && addr != ADS_REG_LOFF_STATP && addr != ADS_REG_LOFF_STATN;
}

/* One byte in, one byte out. */
static uint8_t sim_byte(ads_sim_t *s, uint8_t in)
{
    uint8_t out = 0x00;
    if (!s->cs) {
        s->bytes_without_cs++;
        return 0xFF; /* DOUT is high-impedance */
    }
    /* RDATAC read-back: the latched frame shifts out while DIN carries NOPs. */
    if (s->rdatac && s->frame_ready && s->cmd_state == 0) {
        out = s->frame[s->frame_pos++];
        if (s->frame_pos == ADS_FRAME_BYTES) {
            s->frame_ready = 0;
            s->frame_pos = 0;
            s->frames_read++;
        }
    }
    switch (s->cmd_state) {
    case 0:
        if (in == 0x00u) {
            break; /* NOP */
        }
        if ((in & 0xE0u) == ADS_OP_RREG || (in & 0xE0u) == ADS_OP_WREG) {
            s->cmd_op = (uint8_t)(in & 0xE0u);
            s->cmd_addr = (uint8_t)(in & 0x1Fu);
            s->cmd_state = 1;
            break;
        }
        log_op(s, in, 0, 0);
        switch (in) {
        case ADS_OP_RESET:
            reset_registers(s);
            break;
        case ADS_OP_SDATAC:
            s->rdatac = 0;
            break;
        case ADS_OP_RDATAC:
            s->rdatac = 1;
            break;
        case ADS_OP_START:
            s->converting = 1;
            break;
        case ADS_OP_STOP:
            s->converting = 0;
            break;
        default:
            break; /* WAKEUP, STANDBY, RDATA: not modelled */
        }
        break;
    case 1:
        s->cmd_left = (uint8_t)((in & 0x1Fu) + 1u);
        log_op(s, s->cmd_op, s->cmd_addr, s->cmd_left);
        if (s->rdatac) {
            s->ignored_in_rdatac++;
        }
        s->cmd_state = 2;
        break;
    default: /* register data */
        if (s->cmd_addr < ADS_NUM_REGS && !s->rdatac) {
            if (s->cmd_op == ADS_OP_RREG) {
                out = s->regs[s->cmd_addr];
            } else if (writable(s->cmd_addr)) {
                s->regs[s->cmd_addr] = in;
                if (s->cmd_addr == ADS_REG_CONFIG3) {
                    s->regs[ADS_REG_CONFIG3] |= 0x40u; /* bit 6 reads 1 */
                }
                s->write_count[s->cmd_addr]++;
            }
        }
        s->cmd_addr++;
        if (--s->cmd_left == 0) {
            s->cmd_state = 0;
        }
        break;
    }
    return out;
}

static void hal_spi(void *ctx, const uint8_t *tx, uint8_t *rx, size_t n)
{
    ads_sim_t *s = (ads_sim_t *)ctx;
    size_t i;
    for (i = 0; i < n; i++) {
        uint8_t out = sim_byte(s, tx ? tx[i] : 0x00u);
        if (rx) {
            rx[i] = out;
        }
    }
}

static void hal_cs(void *ctx, int asserted)
{
    ads_sim_t *s = (ads_sim_t *)ctx;
    s->cs = (uint8_t)(asserted != 0);
    if (!asserted) {
        s->cmd_state = 0; /* CS high resets the serial interface */
        if (s->frame_pos != 0) {
            s->frame_pos = 0; /* a partial frame read is lost */
        }
    }
}

static void hal_reset_pin(void *ctx, int high)
{
    ads_sim_t *s = (ads_sim_t *)ctx;
    if (s->reset_pin && !high) {
        log_op(s, 0xFFu, 0, 0); /* marks the falling edge of /RESET */
    }
    if (!s->reset_pin && high) {
        reset_registers(s);
    }
    s->reset_pin = (uint8_t)(high != 0);
}

static void hal_start_pin(void *ctx, int high)
{
    ads_sim_t *s = (ads_sim_t *)ctx;
    s->start_pin = (uint8_t)(high != 0);
    s->converting = s->start_pin;
}

static void hal_delay_us(void *ctx, uint32_t us)
{
    ((ads_sim_t *)ctx)->time_us += us;
}

static void hal_delay_ms(void *ctx, uint32_t ms)
{
    ((ads_sim_t *)ctx)->time_us += (uint64_t)ms * 1000u;
}

static int hal_drdy_wait(void *ctx, uint32_t timeout_ms)
{
    ads_sim_t *s = (ads_sim_t *)ctx;
    (void)timeout_ms;
    if (!s->converting) {
        return -1;
    }
    ads_sim_tick(s);
    return 0;
}

static int hal_drdy_irq(void *ctx, void (*isr)(void *arg), void *arg)
{
    ads_sim_t *s = (ads_sim_t *)ctx;
    s->isr = isr;
    s->isr_arg = arg;
    return 0;
}

void ads_sim_hal(ads_sim_t *sim, ads1298_hal_t *hal)
{
    hal->ctx = sim;
    hal->spi_transfer = hal_spi;
    hal->cs_set = hal_cs;
    hal->reset_pin = hal_reset_pin;
    hal->start_pin = hal_start_pin;
    hal->delay_us = hal_delay_us;
    hal->delay_ms = hal_delay_ms;
    hal->drdy_wait = hal_drdy_wait;
    hal->drdy_irq = hal_drdy_irq;
}

uint16_t ads_sim_rate(const ads_sim_t *s)
{
    uint8_t c1 = s->regs[ADS_REG_CONFIG1];
    switch (c1 & 0x87u) {
    case 0x85u: return 1000;
    case 0x86u: return 500;
    case 0x06u: return 250;
    default: return 0;
    }
}

void ads_sim_tick(ads_sim_t *s)
{
    uint32_t status;
    unsigned n;
    if (!s->converting) {
        return;
    }
    if (ads_sim_rate(s) != 0) {
        s->time_us += 1000000u / ads_sim_rate(s);
    }
    if (s->frame_ready) {
        s->frames_missed++;
    }
    status = ADS_STATUS_SYNC | ((uint32_t)s->electrode_statp << 12) |
             ((uint32_t)s->electrode_statn << 4) | ((s->regs[ADS_REG_GPIO] >> 4) & 0x0Fu);
    s->frame[0] = (uint8_t)(status >> 16);
    s->frame[1] = (uint8_t)(status >> 8);
    s->frame[2] = (uint8_t)status;
    for (n = 0; n < ADS_CHANNELS; n++) {
        int32_t v = 0;
        uint32_t u;
        if (s->samples != NULL && s->n_samples > 0) {
            v = s->samples[s->next_sample][n];
        }
        u = (uint32_t)v & 0xFFFFFFu;
        s->frame[3 + 3 * n] = (uint8_t)(u >> 16);
        s->frame[4 + 3 * n] = (uint8_t)(u >> 8);
        s->frame[5 + 3 * n] = (uint8_t)u;
    }
    if (s->n_samples > 0) {
        s->next_sample = (s->next_sample + 1u) % s->n_samples;
    }
    s->frame_ready = 1;
    s->frame_pos = 0;
    s->ticks++;
    if (s->isr != NULL) {
        s->isr(s->isr_arg);
    }
}
