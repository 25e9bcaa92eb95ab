/* Link protocol v1 constants (../../shared/PROTOCOL.md is the contract). */
#ifndef TGLL_PROTOCOL_H
#define TGLL_PROTOCOL_H

#define TGLL_PROTOCOL_VERSION 0x01u

#define TGLL_TYPE_INFO 0x01u
#define TGLL_TYPE_DATA 0x02u
#define TGLL_TYPE_EVENT 0x03u
#define TGLL_TYPE_COMMAND 0x10u
#define TGLL_TYPE_ACK 0x11u

#define TGLL_HEADER_SIZE 10u
#define TGLL_CRC_SIZE 2u
#define TGLL_MAX_PACKET 1024u /* decoded packet, header + payload + CRC */
#define TGLL_MAX_PAYLOAD (TGLL_MAX_PACKET - TGLL_HEADER_SIZE - TGLL_CRC_SIZE)
/* COBS adds one code byte per started 254-byte block; plus the 0x00 delimiter. */
#define TGLL_COBS_MAX_ENCODED(n) ((n) + ((n) / 254u) + 1u)
#define TGLL_MAX_WIRE (TGLL_COBS_MAX_ENCODED(TGLL_MAX_PACKET) + 1u)

#define TGLL_EVENT_LEAD_OFF 1u
#define TGLL_EVENT_BATTERY_MV 2u
#define TGLL_EVENT_OVERFLOW 3u
#define TGLL_EVENT_RESET 4u

#define TGLL_CMD_START 1u
#define TGLL_CMD_STOP 2u
#define TGLL_CMD_GET_INFO 3u
#define TGLL_CMD_SET_RATE 4u

#define TGLL_ACK_OK 0u
#define TGLL_ACK_UNSUPPORTED 1u
#define TGLL_ACK_BAD_ARGUMENT 2u

#define TGLL_SAMPLE_FORMAT_INT24 1u
#define TGLL_LEAD_SET_8 0u /* I, II, V1..V6; the host derives III, aVR, aVL, aVF */
#define TGLL_LEAD_SET_12 1u
#define TGLL_LEAD_SET_CUSTOM 255u

#define TGLL_MAX_CHANNELS 16u

/* BLE GATT (PROTOCOL.md "BLE transport"). */
#define TGLL_BLE_SERVICE_UUID "7e1a0001-5c1d-4b6e-9a57-2f0c3b8e1d01"
#define TGLL_BLE_STREAM_UUID "7e1a0002-5c1d-4b6e-9a57-2f0c3b8e1d01"
#define TGLL_BLE_CONTROL_UUID "7e1a0003-5c1d-4b6e-9a57-2f0c3b8e1d01"
#define TGLL_BLE_NAME_PREFIX "TGLL-"

#endif
