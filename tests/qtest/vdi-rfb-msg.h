/*
 * Building RFB messages in the tests: big-endian fields appended to a
 * GByteArray, as RFC 6143 lays them out
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_QTEST_VDI_RFB_MSG_H
#define TESTS_QTEST_VDI_RFB_MSG_H

static inline void put8(GByteArray *b, uint8_t v)
{
    g_byte_array_append(b, &v, 1);
}

static inline void put16(GByteArray *b, uint16_t v)
{
    uint8_t x[2] = { v >> 8, v };

    g_byte_array_append(b, x, 2);
}

static inline void put32(GByteArray *b, uint32_t v)
{
    uint8_t x[4] = { v >> 24, v >> 16, v >> 8, v };

    g_byte_array_append(b, x, 4);
}

#endif
