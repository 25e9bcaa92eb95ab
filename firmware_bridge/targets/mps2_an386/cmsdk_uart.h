/* ARM CMSDK APB UART (UART0 of the MPS2 board): blocking transmit, receive
 * through the RX interrupt into a small lock-free byte ring (the RX
 * handler is its only producer, the sender loop its only consumer). */
#ifndef CMSDK_UART_H
#define CMSDK_UART_H
#include <stddef.h>
#include <stdint.h>

void cmsdk_uart_init(uint32_t pclk_hz, uint32_t baud);
/* Blocks (sleeping) while the transmitter is full. */
void cmsdk_uart_write(const uint8_t *data, size_t n);
/* Bytes received so far, at most cap; never blocks. */
size_t cmsdk_uart_read(uint8_t *buf, size_t cap);
int cmsdk_uart_rx_pending(void);
/* Sleep until the last byte written has left the transmitter. */
void cmsdk_uart_drain(void);
uint32_t cmsdk_uart_rx_overruns(void);

#endif
