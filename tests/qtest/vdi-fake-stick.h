/*
 * The fake USB stick of the USB policy's QTests: their usbredir peer and
 * the fake libusb under usb-host (vdi-fake-libusb.c) describe it and
 * answer alike
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A high-speed stick with one interface 08/06/50 (SCSI, Bulk-Only), bulk
 * IN 0x81 and bulk OUT 0x02.  A command block wrapper on bulk OUT starts
 * a command whose data-in phase (the length the CBW asks for) is a byte
 * pattern; then comes a command status wrapper that says it passed.
 * Nothing is stored, so a write goes nowhere.
 */

#ifndef TESTS_QTEST_VDI_FAKE_STICK_H
#define TESTS_QTEST_VDI_FAKE_STICK_H

#define FAKE_STICK_VID      0x0781
#define FAKE_STICK_PID      0x5567
#define FAKE_STICK_SERIAL   "STORAGE-0001"

static const uint8_t fake_stick_config[] = {
    9, 2, 32, 0, 1, 1, 0, 0x80, 100,
    9, 4, 0, 0, 2, 8, 6, 0x50, 0,          /* SCSI, Bulk-Only */
    7, 5, 0x81, 2, 0x00, 0x02, 0,
    7, 5, 0x02, 2, 0x00, 0x02, 0,
};

#define FAKE_BOT_CBW_LEN    31
#define FAKE_BOT_CSW_LEN    13

typedef struct FakeBot {
    uint8_t tag[4];
    uint32_t data_left;     /* data-in bytes still to send */
    bool csw_due;
} FakeBot;

/* A bulk OUT packet; false if it is not a CBW */
static inline bool fake_bot_out(FakeBot *b, const uint8_t *d, size_t len)
{
    if (len != FAKE_BOT_CBW_LEN || memcmp(d, "USBC", 4)) {
        return false;
    }
    memcpy(b->tag, d + 4, 4);
    b->data_left = (d[12] & 0x80) ?
        d[8] | d[9] << 8 | d[10] << 16 | (uint32_t)d[11] << 24 : 0;
    b->csw_due = true;
    return true;
}

/* A bulk IN packet of at most @max bytes into @buf: its length */
static inline size_t fake_bot_in(FakeBot *b, uint8_t *buf, size_t max)
{
    size_t n;

    if (b->data_left) {
        n = MIN(max, b->data_left);
        memset(buf, 0xa5, n);
        b->data_left -= n;
        return n;
    }
    if (!b->csw_due || max < FAKE_BOT_CSW_LEN) {
        return 0;
    }
    memcpy(buf, "USBS", 4);
    memcpy(buf + 4, b->tag, 4);
    memset(buf + 8, 0, 5);      /* no residue, command passed */
    b->csw_due = false;
    return FAKE_BOT_CSW_LEN;
}

#endif
