/* The link the byte stream of PROTOCOL.md travels on: one implementation per
 * build (transport_uart.c or transport_ble.c, chosen in Kconfig). All calls
 * except the init come from the sender thread (the app's consumer context). */
#ifndef TGLL_TRANSPORT_H
#define TGLL_TRANSPORT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zephyr/kernel.h>

/* wake is given whenever command bytes arrive. device_id names the device
 * (BLE: the advertised name). Returns 0 or a negative errno. */
int transport_init(const char *device_id, struct k_sem *wake);
/* tgll_write_fn: one whole encoded packet (COBS + 0x00). Blocks while the
 * link drains; a packet the link cannot take within CONFIG_TGLL_TX_TIMEOUT_MS
 * is dropped, which the host sees as an exact sample_index gap. */
void transport_write(void *ctx, const uint8_t *data, size_t n);
/* Command bytes received so far (at most cap); 0 when there are none. */
size_t transport_read(uint8_t *buf, size_t cap);
/* Whether a host can be listening (BLE: connected and subscribed). */
bool transport_link_up(void);

#endif
