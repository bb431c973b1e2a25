/*
 * Per-VM firewall core: the guest's DHCP exchanges
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * fw_process() lets a guest get its address whatever the rules (the
 * bootstrap exemption): a DHCP reply comes in only for a transaction the
 * guest started in the last minute, and requests go out only to the
 * broadcast address or the server that answered.
 */

#include "qemu/osdep.h"
#include "firewall-int.h"

#define DHCP_XID_TIMEOUT_NS (60 * 1000000000LL)

void fw_dhcp_request(FwDhcpMemory *m, uint32_t xid, int64_t now)
{
    for (int i = 0; i < FW_DHCP_XIDS; i++) {
        if (m->xids[i].xid == xid && m->xids[i].expires > now) {
            m->xids[i].expires = now + DHCP_XID_TIMEOUT_NS;
            return;
        }
    }
    m->xids[m->next].xid = xid;
    m->xids[m->next].expires = now + DHCP_XID_TIMEOUT_NS;
    m->next = (m->next + 1) % FW_DHCP_XIDS;
}

bool fw_dhcp_requested(const FwDhcpMemory *m, uint32_t xid, int64_t now)
{
    for (int i = 0; i < FW_DHCP_XIDS; i++) {
        if (m->xids[i].xid == xid && m->xids[i].expires > now) {
            return true;
        }
    }
    return false;
}

bool fw_dhcp_server_is(const FwDhcpMemory *m, const uint8_t *a)
{
    return m->has_server && !memcmp(a, m->server, 4);
}

void fw_dhcp_set_server(FwDhcpMemory *m, const uint8_t *a)
{
    memcpy(m->server, a, 4);
    m->has_server = true;
}
