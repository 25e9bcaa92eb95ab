/* BLE transport: the GATT service of PROTOCOL.md ("BLE transport").
 *   service 7e1a0001-..., stream 7e1a0002-... (notify), control 7e1a0003-...
 *   (write with response). Advertises the service UUID; the name TGLL-xxxx
 *   goes in the scan response (flags + a 128-bit UUID + the name exceed 31 bytes).
 * The byte stream is cut into notifications of at most ATT_MTU - 3 bytes; the
 * host reassembles on the 0x00 delimiters, so packets may span notifications. */
#include <string.h>
#include <zephyr/bluetooth/bluetooth.h>
#include <zephyr/bluetooth/conn.h>
#include <zephyr/bluetooth/gatt.h>
#include <zephyr/bluetooth/uuid.h>
#include <zephyr/logging/log.h>
#include <zephyr/sys/ring_buffer.h>

#include "transport.h"

LOG_MODULE_REGISTER(tgll_ble, LOG_LEVEL_INF);

/* PROTOCOL.md's UUIDs, field by field (tests/firmware checks them against it). */
#define TGLL_SERVICE_UUID_VAL BT_UUID_128_ENCODE(0x7e1a0001, 0x5c1d, 0x4b6e, 0x9a57, 0x2f0c3b8e1d01)
#define TGLL_STREAM_UUID_VAL BT_UUID_128_ENCODE(0x7e1a0002, 0x5c1d, 0x4b6e, 0x9a57, 0x2f0c3b8e1d01)
#define TGLL_CONTROL_UUID_VAL BT_UUID_128_ENCODE(0x7e1a0003, 0x5c1d, 0x4b6e, 0x9a57, 0x2f0c3b8e1d01)

RING_BUF_DECLARE(tgll_rx_ring, 256);
/* Notifications handed to the stack and not yet sent: bounds our use of its
 * TX buffers, so bt_gatt_notify_cb neither blocks nor fails for want of one. */
static K_SEM_DEFINE(credits, CONFIG_TGLL_BLE_NOTIFY_CREDITS, CONFIG_TGLL_BLE_NOTIFY_CREDITS);
static struct k_sem *wake_sem;
static struct k_spinlock conn_lock;
static struct bt_conn *current_conn;
static bool cut_packet; /* a packet was cut short: end it with a 0x00 first */

static ssize_t on_control_write(struct bt_conn *conn, const struct bt_gatt_attr *attr, const void *buf,
                                uint16_t len, uint16_t offset, uint8_t flags)
{
    ARG_UNUSED(conn);
    ARG_UNUSED(attr);
    ARG_UNUSED(flags);
    if (offset != 0) {
        return BT_GATT_ERR(BT_ATT_ERR_INVALID_OFFSET);
    }
    /* Runs in the BT RX thread: queue the bytes; the sender thread executes
     * the command (and sends its ACK) in the app's own context. */
    if (ring_buf_space_get(&tgll_rx_ring) < len) {
        return BT_GATT_ERR(BT_ATT_ERR_INSUFFICIENT_RESOURCES);
    }
    ring_buf_put(&tgll_rx_ring, buf, len);
    k_sem_give(wake_sem);
    return len;
}

static void on_ccc_changed(const struct bt_gatt_attr *attr, uint16_t value)
{
    ARG_UNUSED(attr);
    LOG_INF("stream notifications %s", value == BT_GATT_CCC_NOTIFY ? "on" : "off");
}

BT_GATT_SERVICE_DEFINE(tgll_svc,
    BT_GATT_PRIMARY_SERVICE(BT_UUID_DECLARE_128(TGLL_SERVICE_UUID_VAL)),
    BT_GATT_CHARACTERISTIC(BT_UUID_DECLARE_128(TGLL_STREAM_UUID_VAL), BT_GATT_CHRC_NOTIFY,
                           BT_GATT_PERM_NONE, NULL, NULL, NULL),
    BT_GATT_CCC(on_ccc_changed, BT_GATT_PERM_READ | BT_GATT_PERM_WRITE),
    BT_GATT_CHARACTERISTIC(BT_UUID_DECLARE_128(TGLL_CONTROL_UUID_VAL), BT_GATT_CHRC_WRITE,
                           BT_GATT_PERM_WRITE, NULL, on_control_write, NULL),
);
#define STREAM_ATTR (&tgll_svc.attrs[1]) /* the stream characteristic (declaration) */

static const struct bt_data ad[] = {
    BT_DATA_BYTES(BT_DATA_FLAGS, (BT_LE_AD_GENERAL | BT_LE_AD_NO_BREDR)),
    BT_DATA_BYTES(BT_DATA_UUID128_ALL, TGLL_SERVICE_UUID_VAL),
};
static struct bt_data sd[1]; /* the complete local name, set in transport_init() */

static void adv_start(struct k_work *work)
{
    int err;

    ARG_UNUSED(work);
#ifdef BT_LE_ADV_CONN_FAST_2
    err = bt_le_adv_start(BT_LE_ADV_CONN_FAST_2, ad, ARRAY_SIZE(ad), sd, ARRAY_SIZE(sd));
#else /* before Zephyr 4.0 */
    err = bt_le_adv_start(BT_LE_ADV_CONN, ad, ARRAY_SIZE(ad), sd, ARRAY_SIZE(sd));
#endif
    if (err != 0 && err != -EALREADY) {
        LOG_ERR("advertising failed (%d)", err);
    }
}
static K_WORK_DEFINE(adv_work, adv_start);

static void connected(struct bt_conn *conn, uint8_t err)
{
    k_spinlock_key_t key;

    if (err != 0) {
        return;
    }
    key = k_spin_lock(&conn_lock);
    if (current_conn == NULL) {
        current_conn = bt_conn_ref(conn);
    }
    k_spin_unlock(&conn_lock, key);
    /* a fresh link: all credits back, whatever the old one left in flight */
    k_sem_reset(&credits);
    for (int i = 0; i < CONFIG_TGLL_BLE_NOTIFY_CREDITS; i++) {
        k_sem_give(&credits);
    }
    LOG_INF("connected");
}

static void disconnected(struct bt_conn *conn, uint8_t reason)
{
    k_spinlock_key_t key = k_spin_lock(&conn_lock);

    if (current_conn == conn) {
        bt_conn_unref(current_conn);
        current_conn = NULL;
    }
    k_spin_unlock(&conn_lock, key);
    LOG_INF("disconnected (0x%02x)", reason);
}

static void recycled(void)
{
    k_work_submit(&adv_work); /* the connection object is free: advertise again */
}

BT_CONN_CB_DEFINE(tgll_conn_cb) = {
    .connected = connected,
    .disconnected = disconnected,
    .recycled = recycled,
};

/* The current connection with a reference held, or NULL. */
static struct bt_conn *conn_get(void)
{
    k_spinlock_key_t key = k_spin_lock(&conn_lock);
    struct bt_conn *conn = current_conn != NULL ? bt_conn_ref(current_conn) : NULL;

    k_spin_unlock(&conn_lock, key);
    return conn;
}

static void notify_sent(struct bt_conn *conn, void *user_data)
{
    ARG_UNUSED(conn);
    ARG_UNUSED(user_data);
    k_sem_give(&credits);
}

/* Send one chunk; false when the link can't take it in time. */
static bool notify(struct bt_conn *conn, const uint8_t *data, uint16_t len, int64_t deadline)
{
    struct bt_gatt_notify_params params = {
        .attr = STREAM_ATTR, .data = data, .len = len, .func = notify_sent,
    };

    for (;;) {
        int64_t left = deadline - k_uptime_get();
        int err;

        if (left <= 0 || k_sem_take(&credits, K_MSEC(left)) != 0) {
            return false;
        }
        err = bt_gatt_notify_cb(conn, &params); /* copies the data */
        if (err == 0) {
            return true;
        }
        k_sem_give(&credits);
        if (err != -ENOMEM) {
            return false; /* disconnected, unsubscribed ... */
        }
        k_sleep(K_MSEC(1)); /* stack buffers busy: retry until the deadline */
    }
}

void transport_write(void *ctx, const uint8_t *data, size_t n)
{
    static const uint8_t delimiter = 0x00;
    int64_t deadline = k_uptime_get() + CONFIG_TGLL_TX_TIMEOUT_MS;
    struct bt_conn *conn = conn_get();
    uint16_t chunk;

    ARG_UNUSED(ctx);
    if (conn == NULL) {
        return; /* nobody to send to: the host will see the sample_index gap */
    }
    if (!bt_gatt_is_subscribed(conn, STREAM_ATTR, BT_GATT_CCC_NOTIFY)) {
        bt_conn_unref(conn);
        return;
    }
    chunk = bt_gatt_get_mtu(conn) - 3u;
    if (cut_packet && notify(conn, &delimiter, 1, deadline)) {
        cut_packet = false; /* the cut packet fails its CRC alone, this one survives */
    }
    while (n > 0 && !cut_packet) {
        uint16_t len = (uint16_t)MIN(n, chunk);

        if (!notify(conn, data, len, deadline)) {
            cut_packet = true;
            break;
        }
        data += len;
        n -= len;
    }
    bt_conn_unref(conn);
}

size_t transport_read(uint8_t *buf, size_t cap)
{
    return ring_buf_get(&tgll_rx_ring, buf, (uint32_t)cap);
}

bool transport_link_up(void)
{
    struct bt_conn *conn = conn_get();
    bool up = conn != NULL && bt_gatt_is_subscribed(conn, STREAM_ATTR, BT_GATT_CCC_NOTIFY);

    if (conn != NULL) {
        bt_conn_unref(conn);
    }
    return up;
}

int transport_init(const char *device_id, struct k_sem *wake)
{
    int err;

    wake_sem = wake;
    err = bt_enable(NULL);
    if (err != 0) {
        return err;
    }
    err = bt_set_name(device_id); /* PROTOCOL.md: the local name starts "TGLL-" */
    if (err != 0) {
        return err;
    }
    sd[0].type = BT_DATA_NAME_COMPLETE;
    sd[0].data_len = (uint8_t)strlen(device_id);
    sd[0].data = (const uint8_t *)device_id;
    k_work_submit(&adv_work);
    return 0;
}
