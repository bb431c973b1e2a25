/*
 * A vdagent message in one chunk on the client port, for the tests of
 * the SPICE agent channel
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_QTEST_VDI_AGENT_MSG_H
#define TESTS_QTEST_VDI_AGENT_MSG_H

#include "qemu/bswap.h"
#include <spice/vd_agent.h>

static inline GByteArray *vdi_agent_msg(uint32_t type, const void *body,
                                        uint32_t len)
{
    GByteArray *b = g_byte_array_new();
    uint32_t h[7] = {
        cpu_to_le32(VDP_CLIENT_PORT), cpu_to_le32(20 + len),
        cpu_to_le32(VD_AGENT_PROTOCOL), cpu_to_le32(type), 0, 0,
        cpu_to_le32(len),
    };

    g_byte_array_append(b, (uint8_t *)h, sizeof(h));
    g_byte_array_append(b, body, len);
    return b;
}

#endif
