/*
 * Per-VM firewall core: anti-spoofing
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

/*
 * Design notes
 *
 * Anti-spoofing checks egress frames against the VM's MAC and allowed
 * prefixes; fe80::/64 with the modified EUI-64 of the MAC is implied.
 */

#include "qemu/osdep.h"
#include "firewall-int.h"

static const char *const spoof_names[FW_SPOOF__MAX] = {
    [FW_SPOOF_NONE] = "none",
    [FW_SPOOF_MAC] = "spoof-mac",
    [FW_SPOOF_IP] = "spoof-ip",
    [FW_SPOOF_ARP] = "spoof-arp",
    [FW_SPOOF_DHCP_SERVER] = "dhcp-server",
    [FW_SPOOF_ROUTER_ADVERT] = "router-advert",
};

const char *fw_spoof_reason_name(FwSpoofReason r)
{
    return (unsigned)r < FW_SPOOF__MAX ? spoof_names[r] : "unknown";
}


FwAntispoof *fw_antispoof_new(const uint8_t mac[6],
                              const IpPrefix *allowed, size_t n_allowed)
{
    FwAntispoof *as = g_new0(FwAntispoof, 1);

    memcpy(as->mac, mac, 6);
    as->allowed = g_new0(IpPrefix, MAX(n_allowed, 1));
    for (size_t i = 0; i < n_allowed; i++) {
        as->allowed[i] = allowed[i];
        ip_prefix_normalize(&as->allowed[i]);
    }
    as->n_allowed = n_allowed;
    /* fe80::/64 + modified EUI-64: flip the U/L bit, insert ff:fe */
    as->link_local.family = 6;
    as->link_local.a[0] = 0xfe;
    as->link_local.a[1] = 0x80;
    as->link_local.a[8] = mac[0] ^ 0x02;
    as->link_local.a[9] = mac[1];
    as->link_local.a[10] = mac[2];
    as->link_local.a[11] = 0xff;
    as->link_local.a[12] = 0xfe;
    as->link_local.a[13] = mac[3];
    as->link_local.a[14] = mac[4];
    as->link_local.a[15] = mac[5];
    return as;
}

void fw_antispoof_free(FwAntispoof *as)
{
    if (as) {
        g_free(as->allowed);
        g_free(as);
    }
}

static bool as_allowed(const FwAntispoof *as, const IpAddr *a)
{
    if (a->family == 6 && memcmp(a->a, as->link_local.a, 16) == 0) {
        return true;
    }
    return ip_prefix_list_match(as->allowed, as->n_allowed, a);
}

FwSpoofReason fw_antispoof_check(const FwAntispoof *as, const FwPacket *pkt)
{
    if (memcmp(pkt->src_mac, as->mac, 6) != 0) {
        return FW_SPOOF_MAC;
    }
    switch (pkt->l3) {
    case FW_L3_ARP: {
        IpAddr spa = { .family = 4 };

        memcpy(spa.a, pkt->arp_spa, 4);
        if (memcmp(pkt->arp_sha, as->mac, 6) != 0) {
            return FW_SPOOF_ARP;
        }
        if (!addr_is_zero(&spa) && !as_allowed(as, &spa)) {
            return FW_SPOOF_ARP;
        }
        return FW_SPOOF_NONE;
    }
    case FW_L3_IPV4:
        if (pkt->proto == IPPROTO_UDP && pkt->l4 == FW_L4_PORTS &&
            (pkt->sport == FW_DHCP_SERVER_PORT || pkt->dhcp == FW_DHCP_REPLY)) {
            return FW_SPOOF_DHCP_SERVER;
        }
        if (addr_is_zero(&pkt->src)) {
            if (pkt->proto == IPPROTO_UDP && pkt->l4 == FW_L4_PORTS &&
                pkt->sport == FW_DHCP_CLIENT_PORT &&
                pkt->dport == FW_DHCP_SERVER_PORT &&
                pkt->dhcp == FW_DHCP_REQUEST) {
                return FW_SPOOF_NONE;
            }
            return FW_SPOOF_IP;
        }
        return as_allowed(as, &pkt->src) ? FW_SPOOF_NONE : FW_SPOOF_IP;
    case FW_L3_IPV6:
        if (pkt->proto == IPPROTO_UDP && pkt->l4 == FW_L4_PORTS &&
            pkt->sport == FW_DHCP6_SERVER_PORT) {
            return FW_SPOOF_DHCP_SERVER;
        }
        if (pkt->proto == IPPROTO_ICMPV6 && pkt->l4 == FW_L4_ICMP) {
            if (pkt->icmp_type == FW_ICMP6_ND_ROUTER_ADV ||
                pkt->icmp_type == FW_ICMP6_ND_REDIRECT) {
                return FW_SPOOF_ROUTER_ADVERT;
            }
            if (pkt->has_nd_lladdr && (memcmp(pkt->nd_lladdr, as->mac, 6) ||
                                       pkt->nd_lladdr_differ)) {
                return FW_SPOOF_MAC;
            }
        }
        if (addr_is_zero(&pkt->src)) {
            if (pkt->proto == IPPROTO_ICMPV6 && pkt->l4 == FW_L4_ICMP &&
                (pkt->icmp_type == FW_ICMP6_ND_ROUTER_SOL ||
                 pkt->icmp_type == FW_ICMP6_ND_NEIGH_SOL ||
                 pkt->icmp_type == FW_ICMP6_MLD2_REPORT)) {
                return FW_SPOOF_NONE;
            }
            return FW_SPOOF_IP;
        }
        if (!as_allowed(as, &pkt->src)) {
            return FW_SPOOF_IP;
        }
        if (pkt->l4 == FW_L4_ICMP && pkt->proto == IPPROTO_ICMPV6 &&
            pkt->icmp_type == FW_ICMP6_ND_NEIGH_ADV && pkt->has_nd_target) {
            IpAddr t = { .family = 6 };

            memcpy(t.a, pkt->nd_target, 16);
            if (!as_allowed(as, &t)) {
                return FW_SPOOF_IP;
            }
        }
        return FW_SPOOF_NONE;
    default:
        return FW_SPOOF_NONE;
    }
}
