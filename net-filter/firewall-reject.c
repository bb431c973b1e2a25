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

#define REJECT_TTL          64
#define ICMP_QUOTE_MAX      576     /* RFC 1812 4.3.2.3 */
#define FW_IP4_OFF(m)       offsetof(struct ip_header, m)

/* Pseudo-header sum; @src/@dst are the IPv4 or IPv6 addresses */
static uint32_t csum_pseudo(int fam, uint8_t *src, uint8_t *dst,
                            uint8_t proto, uint32_t len)
{
    int alen = fam == 4 ? 4 : 16;

    return net_checksum_add(alen, src) + net_checksum_add(alen, dst) +
           proto + (len >> 16) + (len & 0xffff);
}

static bool addr_is_multicast(const IpAddr *a)
{
    if (a->family == 4) {
        return (a->a[0] & 0xf0) == 0xe0 ||
               (a->a[0] == 255 && a->a[1] == 255 && a->a[2] == 255 &&
                a->a[3] == 255);
    }
    return a->a[0] == 0xff;
}

/* Does @a name one host (RFC 1122 3.2.2, RFC 4443 2.4 (e.6))? */
static bool addr_is_one_host(const IpAddr *a)
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
        return type == FW_ICMP_ECHO_REPLY || type == FW_ICMP_ECHO_REQUEST ||
               (type >= FW_ICMP_TIMESTAMP && type <= FW_ICMP_ADDRMASK_REPLY);
    }
    return type >= FW_ICMP6_ECHO_REQUEST && type <= FW_ICMP6_INFO_LAST &&
           type != FW_ICMP6_ND_REDIRECT;
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
    if (pkt->l3_off < pkt->l2_off + ETH_HLEN || pkt->l3_off > len ||
        pkt->l3_len > len - pkt->l3_off) {
        return 0;
    }
    tcp = pkt->proto == IPPROTO_TCP && pkt->l4 == FW_L4_PORTS;
    if (tcp && (pkt->tcp_flags & FW_TCP_RST)) {
        return 0;
    }
    if (pkt->l4 == FW_L4_ICMP && !icmp_answerable(fam, pkt->icmp_type)) {
        return 0;
    }
    l2len = pkt->l3_off - pkt->l2_off;
    iphl = fam == 4 ? FW_IP4_HLEN : FW_IP6_HLEN;
    if (tcp) {
        l4len = FW_TCP_HLEN;
    } else {
        size_t cap = fam == 4 ? ICMP_QUOTE_MAX : FW_IP6_MIN_MTU;
        l4len = FW_ICMP_HLEN +
                MIN(pkt->l3_len, cap - iphl - FW_ICMP_HLEN);
    }
    total = l2len + iphl + l4len;
    if (total > out_size) {
        return 0;
    }
    memset(out, 0, total);

    /* Ethernet: swap addresses, keep VLAN tags and ethertype */
    memcpy(out + offsetof(struct eth_header, h_dest), pkt->src_mac, ETH_ALEN);
    memcpy(out + offsetof(struct eth_header, h_source), pkt->dst_mac,
           ETH_ALEN);
    memcpy(out + 2 * ETH_ALEN, frame + pkt->l2_off + 2 * ETH_ALEN,
           l2len - 2 * ETH_ALEN);

    ip = out + l2len;
    l4 = ip + iphl;
    if (fam == 4) {
        ip[FW_IP4_OFF(ip_ver_len)] = (IP_HEADER_VERSION_4 << 4) |
                                     (FW_IP4_HLEN / 4);
        stw_be_p(ip + FW_IP4_OFF(ip_len), iphl + l4len);
        stw_be_p(ip + FW_IP4_OFF(ip_off), IP_DF);
        ip[FW_IP4_OFF(ip_ttl)] = REJECT_TTL;
        ip[FW_IP4_OFF(ip_p)] = tcp ? IPPROTO_TCP : IPPROTO_ICMP;
        memcpy(ip + FW_IP4_OFF(ip_src), pkt->dst.a, 4);
        memcpy(ip + FW_IP4_OFF(ip_dst), pkt->src.a, 4);
        stw_be_p(ip + FW_IP4_OFF(ip_sum), net_raw_checksum(ip, FW_IP4_HLEN));
    } else {
        ip[0] = IP_HEADER_VERSION_6 << 4;
        stw_be_p(ip + FW_IP6_OFF(ip6_plen), l4len);
        ip[FW_IP6_OFF(ip6_nxt)] = tcp ? IPPROTO_TCP : IPPROTO_ICMPV6;
        ip[FW_IP6_OFF(ip6_ctlun.ip6_un1.ip6_un1_hlim)] = REJECT_TTL;
        memcpy(ip + FW_IP6_OFF(ip6_src), pkt->dst.a, 16);
        memcpy(ip + FW_IP6_OFF(ip6_dst), pkt->src.a, 16);
    }

    if (tcp) {
        stw_be_p(l4 + FW_TCP_OFF(th_sport), pkt->dport);
        stw_be_p(l4 + FW_TCP_OFF(th_dport), pkt->sport);
        if (pkt->tcp_flags & FW_TCP_ACK) {
            stl_be_p(l4 + FW_TCP_OFF(th_seq), pkt->tcp_ack);
            l4[FW_TCP_FLAGS_OFF] = FW_TCP_RST;
        } else {
            uint32_t ack = pkt->tcp_seq + pkt->l4_payload_len +
                           !!(pkt->tcp_flags & FW_TCP_SYN) +
                           !!(pkt->tcp_flags & FW_TCP_FIN);
            stl_be_p(l4 + FW_TCP_OFF(th_ack), ack);
            l4[FW_TCP_FLAGS_OFF] = FW_TCP_RST | FW_TCP_ACK;
        }
        l4[FW_TCP_OFF(th_offset_flags)] = (FW_TCP_HLEN / 4) << 4;
        if (fam == 4) {
            sum = csum_pseudo(4, ip + FW_IP4_OFF(ip_src),
                              ip + FW_IP4_OFF(ip_dst), IPPROTO_TCP,
                              FW_TCP_HLEN);
        } else {
            sum = csum_pseudo(6, ip + FW_IP6_OFF(ip6_src),
                              ip + FW_IP6_OFF(ip6_dst), IPPROTO_TCP,
                              FW_TCP_HLEN);
        }
        stw_be_p(l4 + FW_TCP_OFF(th_sum),
                 net_checksum_finish(sum + net_checksum_add(FW_TCP_HLEN, l4)));
    } else {
        if (fam == 4) {
            l4[0] = FW_ICMP_DEST_UNREACH;
            l4[1] = FW_ICMP_PORT_UNREACH;
        } else {
            l4[0] = FW_ICMP6_DEST_UNREACH;
            l4[1] = pkt->proto == IPPROTO_UDP ? FW_ICMP6_PORT_UNREACH :
                                                FW_ICMP6_ADMIN_PROHIB;
        }
        memcpy(l4 + FW_ICMP_HLEN, frame + pkt->l3_off, l4len - FW_ICMP_HLEN);
        if (fam == 4) {
            sum = 0;
        } else {
            sum = csum_pseudo(6, ip + FW_IP6_OFF(ip6_src),
                              ip + FW_IP6_OFF(ip6_dst), IPPROTO_ICMPV6, l4len);
        }
        stw_be_p(l4 + 2,
                 net_checksum_finish(sum + net_checksum_add(l4len, l4)));
    }
    return total;
}
