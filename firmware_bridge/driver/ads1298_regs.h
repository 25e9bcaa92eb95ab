/* ADS1298 opcodes, register map and bit fields (TI SBAS459, "Register Map"). */
#ifndef ADS1298_REGS_H
#define ADS1298_REGS_H

/* Opcodes */
#define ADS_OP_WAKEUP 0x02u
#define ADS_OP_STANDBY 0x04u
#define ADS_OP_RESET 0x06u
#define ADS_OP_START 0x08u
#define ADS_OP_STOP 0x0Au
#define ADS_OP_RDATAC 0x10u
#define ADS_OP_SDATAC 0x11u
#define ADS_OP_RDATA 0x12u
#define ADS_OP_RREG 0x20u /* | address (5 bits); 2nd byte: count - 1 */
#define ADS_OP_WREG 0x40u /* | address (5 bits); 2nd byte: count - 1 */

/* Registers */
#define ADS_REG_ID 0x00u
#define ADS_REG_CONFIG1 0x01u
#define ADS_REG_CONFIG2 0x02u
#define ADS_REG_CONFIG3 0x03u
#define ADS_REG_LOFF 0x04u
#define ADS_REG_CH1SET 0x05u /* CHnSET = 0x04 + n, n = 1..8 */
#define ADS_REG_RLD_SENSP 0x0Du
#define ADS_REG_RLD_SENSN 0x0Eu
#define ADS_REG_LOFF_SENSP 0x0Fu
#define ADS_REG_LOFF_SENSN 0x10u
#define ADS_REG_LOFF_FLIP 0x11u
#define ADS_REG_LOFF_STATP 0x12u
#define ADS_REG_LOFF_STATN 0x13u
#define ADS_REG_GPIO 0x14u
#define ADS_REG_PACE 0x15u
#define ADS_REG_RESP 0x16u
#define ADS_REG_CONFIG4 0x17u
#define ADS_REG_WCT1 0x18u
#define ADS_REG_WCT2 0x19u
#define ADS_NUM_REGS 0x1Au

/* ID: REV_ID[7:5], 1, 0 (bit 3), DEV_ID / NU_CH[2:0]. ADS1298 = 0x92, ADS1298R = 0xD2. */
#define ADS_ID_FAMILY_MASK 0x1Fu
#define ADS_ID_ADS1298_8CH 0x12u

/* CONFIG1 */
#define ADS_CONFIG1_HR 0x80u       /* high-resolution mode (else low-power) */
#define ADS_CONFIG1_DAISY_EN 0x40u
#define ADS_CONFIG1_CLK_EN 0x20u
#define ADS_CONFIG1_DR_MASK 0x07u  /* HR: 0=32k ... 5=1k, 6=500 SPS; LP: 5=500, 6=250 SPS */

/* CONFIG2 */
#define ADS_CONFIG2_WCT_CHOP 0x20u
#define ADS_CONFIG2_INT_TEST 0x10u
#define ADS_CONFIG2_TEST_AMP 0x04u

/* CONFIG3 (bit 6 reads 1, write 1) */
#define ADS_CONFIG3_PD_REFBUF 0x80u /* 1 = internal reference buffer on */
#define ADS_CONFIG3_RESERVED1 0x40u
#define ADS_CONFIG3_VREF_4V 0x20u   /* 0 = VREFP 2.4 V, 1 = 4 V (5 V AVDD only) */
#define ADS_CONFIG3_RLD_MEAS 0x10u
#define ADS_CONFIG3_RLDREF_INT 0x08u /* RLD reference (AVDD+AVSS)/2 generated inside */
#define ADS_CONFIG3_PD_RLD 0x04u    /* 1 = RLD buffer on */
#define ADS_CONFIG3_RLD_LOFF_SENS 0x02u
#define ADS_CONFIG3_RLD_STAT 0x01u

/* LOFF */
#define ADS_LOFF_COMP_TH_95 0x00u   /* comparator thresholds 95 % / 5 % */
#define ADS_LOFF_VLEAD_OFF_EN 0x10u /* pull-up/down resistors instead of current */
#define ADS_LOFF_ILEAD_6NA 0x00u
#define ADS_LOFF_FLEAD_AC 0x01u     /* AC lead-off at fDR/4 */
#define ADS_LOFF_FLEAD_DC 0x03u     /* DC lead-off */

/* CHnSET: PD[7], GAIN[6:4], 0, MUX[2:0] */
#define ADS_CHSET_PD 0x80u
#define ADS_CHSET_GAIN_6 0x00u
#define ADS_CHSET_GAIN_1 0x10u
#define ADS_CHSET_GAIN_2 0x20u
#define ADS_CHSET_GAIN_3 0x30u
#define ADS_CHSET_GAIN_4 0x40u
#define ADS_CHSET_GAIN_8 0x50u
#define ADS_CHSET_GAIN_12 0x60u
#define ADS_CHSET_MUX_NORMAL 0x00u
#define ADS_CHSET_MUX_SHORTED 0x01u
#define ADS_CHSET_MUX_TEST 0x05u

/* CONFIG4 */
#define ADS_CONFIG4_SINGLE_SHOT 0x08u
#define ADS_CONFIG4_WCT_TO_RLD 0x04u
#define ADS_CONFIG4_PD_LOFF_COMP 0x02u /* 1 = lead-off comparators on */

/* WCT1: aVF_CH6, aVL_CH5, aVR_CH7, aVR_CH4, PD_WCTA, WCTA[2:0] */
#define ADS_WCT1_PD_WCTA 0x08u
/* WCT2: PD_WCTC, PD_WCTB, WCTB[2:0] (bits 5:3), WCTC[2:0] */
#define ADS_WCT2_PD_WCTC 0x80u
#define ADS_WCT2_PD_WCTB 0x40u
#define ADS_WCT2_WCTB_SHIFT 3u
/* WCT amplifier input select: 0 CH1P, 1 CH1N, 2 CH2P, 3 CH2N, 4 CH3P, 5 CH3N, 6 CH4P, 7 CH4N */
#define ADS_WCT_IN_CH1P 0u
#define ADS_WCT_IN_CH1N 1u
#define ADS_WCT_IN_CH2P 2u

/* RDATAC frame: 24-bit status (1100 + LOFF_STATP[7:0] + LOFF_STATN[7:0] +
 * GPIO[7:4]) then 8 channels x 24 bits, MSB first. */
#define ADS_STATUS_BYTES 3u
#define ADS_CHANNELS 8u
#define ADS_FRAME_BYTES (ADS_STATUS_BYTES + 3u * ADS_CHANNELS)
#define ADS_STATUS_SYNC 0xC00000uL
#define ADS_STATUS_SYNC_MASK 0xF00000uL

#endif
