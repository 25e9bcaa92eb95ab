#include "tgll_app.h"

#include <string.h>

int tgll_app_init(tgll_app_t *app, const tgll_app_config_t *cfg)
{
    memset(app, 0, sizeof *app);
    if (cfg->write == NULL || cfg->ops == NULL || cfg->info_interval_s < 1 ||
        cfg->info_interval_s > 10 || cfg->info.n_channels > TGLL_RING_CHANNELS) {
        return -1;
    }
    if (tgll_ring_init(&app->ring, cfg->ring_slots, cfg->ring_capacity) != 0) {
        return -1;
    }
    if (tgll_framer_init(&app->framer, cfg->info.n_channels, cfg->samples_per_packet) != 0) {
        return -1;
    }
    tgll_tx_init(&app->tx, cfg->write, cfg->write_ctx);
    tgll_cmd_init(&app->cmd);
    app->info = cfg->info;
    app->ops = cfg->ops;
    app->info_interval_s = cfg->info_interval_s;
    return 0;
}

uint32_t tgll_app_sample_counter(const tgll_app_t *app)
{
    return app->ring.next_index;
}

static void send_info(tgll_app_t *app)
{
    if (tgll_tx_info(&app->tx, tgll_app_sample_counter(app), &app->info) == 0) {
        app->stats.info_packets++;
    }
    app->samples_since_info = 0;
}

void tgll_app_boot(tgll_app_t *app)
{
    tgll_tx_event(&app->tx, tgll_app_sample_counter(app), TGLL_EVENT_RESET, 0);
    send_info(app);
}

void tgll_app_flush(tgll_app_t *app)
{
    uint32_t index;
    size_t len = tgll_framer_take(&app->framer, &index);
    if (len > 0) {
        app->stats.data_packets++;
        app->stats.samples_sent += app->framer.payload[1];
        tgll_tx_send(&app->tx, TGLL_TYPE_DATA, index, app->framer.payload, len);
    }
}

/* Samples [expected_index, next) were dropped on overflow: close the packet
 * before the gap, so the next DATA sample_index jumps by exactly the dropped
 * count, and announce it. */
static void report_gap(tgll_app_t *app, uint32_t next)
{
    uint32_t dropped = next - app->expected_index;
    tgll_app_flush(app);
    tgll_tx_event(&app->tx, app->expected_index, TGLL_EVENT_OVERFLOW, dropped);
    app->stats.overflow_events++;
    app->stats.samples_dropped += dropped;
    app->expected_index = next;
}

static void consume(tgll_app_t *app, const tgll_sample_t *s)
{
    if (s->index != app->expected_index) {
        report_gap(app, s->index);
    }
    if (s->lead_off != app->reported_lead_off) {
        tgll_tx_event(&app->tx, s->index, TGLL_EVENT_LEAD_OFF, s->lead_off);
        app->reported_lead_off = s->lead_off;
        app->stats.lead_off_events++;
    }
    if (tgll_framer_add(&app->framer, s->index, s->ch, s->lead_off)) {
        tgll_app_flush(app);
    }
    app->expected_index = s->index + 1u;
    app->samples_since_info++;
    if (app->samples_since_info >= (uint32_t)app->info_interval_s * app->info.fs_hz) {
        send_info(app);
    }
}

uint32_t tgll_app_poll(tgll_app_t *app, uint32_t max_samples)
{
    tgll_sample_t s;
    uint32_t taken = 0;
    while ((max_samples == 0 || taken < max_samples) && tgll_ring_pop(&app->ring, &s)) {
        consume(app, &s);
        taken++;
    }
    return taken;
}

int tgll_app_push_sample(tgll_app_t *app, const int32_t *ch, uint16_t lead_off)
{
    if (!app->streaming) {
        return 0;
    }
    return tgll_ring_push(&app->ring, ch, app->info.n_channels, lead_off);
}

void tgll_app_skip_samples(tgll_app_t *app, uint32_t n)
{
    if (app->streaming) {
        tgll_ring_skip(&app->ring, n);
    }
}

/* Stop conversions and send what was captured. */
static void stop_stream(tgll_app_t *app)
{
    app->ops->stop(app->ops->ctx);
    app->streaming = 0; /* producer quiescent from here */
    tgll_app_poll(app, 0);
    if (app->ring.next_index != app->expected_index) {
        report_gap(app, app->ring.next_index); /* drops with no sample after them */
    }
    tgll_app_flush(app);
}

/* Start conversions with the sample counter at 0. Returns an ACK status. */
static uint8_t start_stream(tgll_app_t *app)
{
    tgll_ring_reset(&app->ring, 0);
    app->framer.count = 0;
    app->expected_index = 0;
    app->reported_lead_off = 0;
    app->samples_since_info = 0;
    app->streaming = 1;
    if (app->ops->start(app->ops->ctx) != 0) {
        app->streaming = 0;
        return TGLL_ACK_BAD_ARGUMENT;
    }
    return TGLL_ACK_OK;
}

uint8_t tgll_app_start(tgll_app_t *app)
{
    uint8_t status = TGLL_ACK_OK;
    if (!app->streaming) {
        status = start_stream(app);
    }
    send_info(app);
    return status;
}

void tgll_app_stop(tgll_app_t *app)
{
    if (app->streaming) {
        stop_stream(app);
    }
}

void tgll_app_command(tgll_app_t *app, const tgll_command_t *cmd)
{
    uint8_t status = TGLL_ACK_OK;
    int info_after = 0;
    app->stats.commands++;
    switch (cmd->command) {
    case TGLL_CMD_START:
        if (!app->streaming) {
            status = start_stream(app);
        }
        info_after = 1;
        break;
    case TGLL_CMD_STOP:
        if (app->streaming) {
            stop_stream(app);
        }
        break;
    case TGLL_CMD_GET_INFO:
        info_after = 1;
        break;
    case TGLL_CMD_SET_RATE: {
        int was_streaming = app->streaming;
        if (cmd->arg == 0 || cmd->arg > 0xFFFFu) {
            status = TGLL_ACK_BAD_ARGUMENT;
            break;
        }
        if (was_streaming) {
            stop_stream(app);
        }
        status = (uint8_t)app->ops->set_rate(app->ops->ctx, (uint16_t)cmd->arg);
        if (status == TGLL_ACK_OK) {
            app->info.fs_hz = (uint16_t)cmd->arg;
        }
        if (was_streaming) {
            start_stream(app);
        }
        info_after = (status == TGLL_ACK_OK);
        break;
    }
    default:
        status = TGLL_ACK_UNSUPPORTED;
        break;
    }
    tgll_tx_ack(&app->tx, tgll_app_sample_counter(app), cmd->command, status);
    if (info_after) {
        send_info(app);
    }
}

void tgll_app_receive(tgll_app_t *app, const uint8_t *data, size_t n)
{
    while (n > 0) {
        tgll_command_t cmd;
        int got;
        size_t used = tgll_cmd_feed(&app->cmd, data, n, &cmd, &got);
        if (got) {
            tgll_app_command(app, &cmd);
        }
        data += used;
        n -= used;
    }
}
