/*
 * Per-VM firewall core: reject frames
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/checksum.h"
#include "firewall-int.h"

/* Pseudo-header sum; @src/@dst are the IPv4 or IPv6 addresses */
static uint32_t csum_pseudo(int fam, uint8_t *src, uint8_t *dst,
                            uint8_t proto, uint32_t len)
{
    int alen = fam == 4 ? 4 : 16;

    return net_checksum_add(alen, src) + net_checksum_add(alen, dst) +
           proto + (len >> 16) + (len & 0xffff);
}

static bool addr_is_multicast(const FwAddr *a)
{
    if (a->family == 4) {
        return (a->a[0] & 0xf0) == 0xe0 ||
               (a->a[0] == 255 && a->a[1] == 255 && a->a[2] == 255 &&
                a->a[3] == 255);
    }
    return a->a[0] == 0xff;
}

/* Does @a name one host (RFC 1122 3.2.2, RFC 4443 2.4 (e.6))? */
static bool addr_is_one_host(const FwAddr *a)
{
    static const uint8_t loop6[16] = { [15] = 1 };

    if (addr_is_zero(a) || addr_is_multicast(a)) {
        return false;
    }
    if (a->family == 4) {
        return a->a[0] != 127 && a->a[0] < 240;
    }
    return memcmp(a->a, loop6, 16) != 0;
}

/*
 * May an ICMP or ICMPv6 message of @type be answered with an error?
 * Never errors (RFC 1122 3.2.2, RFC 4443 2.4 (e.1)), redirects (e.2),
 * or types the RFCs say to discard silently when unknown.
 */
static bool icmp_answerable(int family, uint8_t type)
{
    if (family == 4) {
        return type == 0 || type == 8 || (type >= 13 && type <= 18);
    }
    return type >= 128 && type <= 161 && type != 137;
}

size_t fw_build_reject(const FwPacket *pkt, const uint8_t *frame, size_t len,
                       uint8_t *out, size_t out_size)
{
    int fam = packet_family(pkt);
    size_t l2len, iphl, l4len, total;
    uint8_t *ip, *l4;
    uint32_t sum;
    bool tcp;

    if (!fam || (pkt->frag & FW_FRAG_LATER) || (pkt->dst_mac[0] & 1) ||
        addr_is_multicast(&pkt->dst) || !addr_is_one_host(&pkt->src)) {
        return 0;
    }
    if (pkt->l3_off < pkt->l2_off + 14 || pkt->l3_off > len ||
        pkt->l3_len > len - pkt->l3_off) {
        return 0;
    }
    tcp = pkt->proto == IPPROTO_NUM_TCP && pkt->l4 == FW_L4_PORTS;
    if (tcp && (pkt->tcp_flags & FW_TCP_RST)) {
        return 0;
    }
    if (pkt->l4 == FW_L4_ICMP && !icmp_answerable(fam, pkt->icmp_type)) {
        return 0;
    }
    l2len = pkt->l3_off - pkt->l2_off;
    iphl = fam == 4 ? 20 : 40;
    if (tcp) {
        l4len = 20;
    } else {
        size_t cap = fam == 4 ? 576 : 1280;
        l4len = 8 + MIN(pkt->l3_len, cap - iphl - 8);
    }
    total = l2len + iphl + l4len;
    if (total > out_size) {
        return 0;
    }
    memset(out, 0, total);

    /* Ethernet: swap addresses, keep VLAN tags and ethertype */
    memcpy(out, pkt->src_mac, 6);
    memcpy(out + 6, pkt->dst_mac, 6);
    memcpy(out + 12, frame + pkt->l2_off + 12, l2len - 12);

    ip = out + l2len;
    l4 = ip + iphl;
    if (fam == 4) {
        ip[0] = 0x45;
        stw_be_p(ip + 2, iphl + l4len);
        stw_be_p(ip + 6, 0x4000);
        ip[8] = 64;
        ip[9] = tcp ? IPPROTO_NUM_TCP : IPPROTO_NUM_ICMP;
        memcpy(ip + 12, pkt->dst.a, 4);
        memcpy(ip + 16, pkt->src.a, 4);
        stw_be_p(ip + 10, net_raw_checksum(ip, 20));
    } else {
        ip[0] = 0x60;
        stw_be_p(ip + 4, l4len);
        ip[6] = tcp ? IPPROTO_NUM_TCP : IPPROTO_NUM_ICMPV6;
        ip[7] = 64;
        memcpy(ip + 8, pkt->dst.a, 16);
        memcpy(ip + 24, pkt->src.a, 16);
    }

    if (tcp) {
        stw_be_p(l4, pkt->dport);
        stw_be_p(l4 + 2, pkt->sport);
        if (pkt->tcp_flags & FW_TCP_ACK) {
            stl_be_p(l4 + 4, pkt->tcp_ack);
            l4[13] = FW_TCP_RST;
        } else {
            uint32_t ack = pkt->tcp_seq + pkt->l4_payload_len +
                           !!(pkt->tcp_flags & FW_TCP_SYN) +
                           !!(pkt->tcp_flags & FW_TCP_FIN);
            stl_be_p(l4 + 8, ack);
            l4[13] = FW_TCP_RST | FW_TCP_ACK;
        }
        l4[12] = 5 << 4;
        sum = csum_pseudo(fam, ip + (fam == 4 ? 12 : 8),
                          ip + (fam == 4 ? 16 : 24), IPPROTO_NUM_TCP, 20);
        stw_be_p(l4 + 16, net_checksum_finish(sum + net_checksum_add(20, l4)));
    } else {
        if (fam == 4) {
            l4[0] = 3;
            l4[1] = 3;
        } else {
            l4[0] = 1;
            l4[1] = pkt->proto == IPPROTO_NUM_UDP ? 4 : 1;
        }
        memcpy(l4 + 8, frame + pkt->l3_off, l4len - 8);
        if (fam == 4) {
            sum = 0;
        } else {
            sum = csum_pseudo(6, ip + 8, ip + 24, IPPROTO_NUM_ICMPV6, l4len);
        }
        stw_be_p(l4 + 2,
                 net_checksum_finish(sum + net_checksum_add(l4len, l4)));
    }
    return total;
}
