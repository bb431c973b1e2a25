/*
 * Per-VM firewall core: frame parser
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

/*
 * Design notes
 *
 * Parser: fw_parse_frame() walks Ethernet, up to two VLAN tags, ARP,
 * IPv4 (options, fragments), IPv6 (at most 8 extension headers) and
 * TCP/UDP/UDP-Lite/SCTP/ICMP/ICMPv6 with explicit bounds checks against
 * the IP length (itself checked against the buffer).  Every loop is
 * bounded by a constant.  Non-first fragments carry no L4 header: their
 * l4 is FW_L4_NONE, so port/ICMP-type rules never match them; protocol
 * and address rules do.  A first fragment too short for its L4 header
 * and a TCP fragment at offset 8 (RFC 1858) are errors.
 */

#include "qemu/osdep.h"
#include "firewall-int.h"

#define FW_IPV6_MAX_EXT 8

static const char *const parse_error_names[FW_PARSE__MAX] = {
    [FW_PARSE_OK] = "ok",
    [FW_PARSE_TRUNCATED] = "truncated",
    [FW_PARSE_BAD_VNET_HDR] = "bad-vnet-header",
    [FW_PARSE_TOO_MANY_VLANS] = "too-many-vlans",
    [FW_PARSE_BAD_ARP] = "bad-arp",
    [FW_PARSE_BAD_IP_HEADER] = "bad-ip-header",
    [FW_PARSE_BAD_FRAGMENT] = "bad-fragment",
    [FW_PARSE_BAD_IPV6_HEADER] = "bad-ipv6-header",
    [FW_PARSE_BAD_IPV6_EXT] = "bad-ipv6-ext",
    [FW_PARSE_BAD_TCP_HEADER] = "bad-tcp-header",
    [FW_PARSE_BAD_UDP_HEADER] = "bad-udp-header",
    [FW_PARSE_BAD_ICMP] = "bad-icmp",
};

const char *fw_parse_error_name(FwParseError e)
{
    return (unsigned)e < FW_PARSE__MAX ? parse_error_names[e] : "unknown";
}

static bool icmp_is_error(int family, uint8_t type)
{
    if (family == 4) {
        return type == FW_ICMP_DEST_UNREACH ||
               type == FW_ICMP_SOURCE_QUENCH || type == FW_ICMP_REDIRECT ||
               type == FW_ICMP_TIME_EXCEEDED || type == FW_ICMP_PARAM_PROBLEM;
    }
    return type >= FW_ICMP6_DEST_UNREACH && type <= FW_ICMP6_PARAM_PROBLEM;
}

static bool ipv6_is_ext(uint8_t nh)
{
    return nh == IP6_HOP_BY_HOP || nh == IP6_ROUTING || nh == IP6_FRAGMENT ||
           nh == IP6_DESTINATON || nh == IP6_AUTHENTICATION;
}

/* Length of extension header @h of type @nh (not a fragment header) */
static size_t ipv6_ext_len(uint8_t nh, const uint8_t *h)
{
    const struct ip6_ext_hdr *x = (const struct ip6_ext_hdr *)h;

    /* RFC 4302 2.2: the AH length counts 32-bit words, minus 2 */
    return nh == IP6_AUTHENTICATION ? (x->ip6r_len + 2) * 4 :
                                      (x->ip6r_len + 1) * IP6_EXT_GRANULARITY;
}

/* The packet quoted in an ICMP error: [off, end) */
static FwParseError parse_embedded(const uint8_t *f, size_t off, size_t end,
                                   int family, FwEmbedded *e)
{
    size_t avail = end - off, l4;
    uint8_t proto;
    bool later = false;

    memset(e, 0, sizeof(*e));
    if (family == 4) {
        const struct ip_header *ip = (const struct ip_header *)(f + off);
        size_t ihl;

        if (avail < FW_IP4_HLEN ||
            IP_HEADER_VERSION(ip) != IP_HEADER_VERSION_4) {
            return FW_PARSE_BAD_ICMP;
        }
        ihl = IP_HDR_GET_LEN(ip);
        if (ihl < FW_IP4_HLEN || ihl > avail) {
            return FW_PARSE_BAD_ICMP;
        }
        proto = ip->ip_p;
        later = (lduw_be_p(&ip->ip_off) & IP_OFFMASK) != 0;
        e->src.family = e->dst.family = 4;
        memcpy(e->src.a, &ip->ip_src, 4);
        memcpy(e->dst.a, &ip->ip_dst, 4);
        l4 = off + ihl;
    } else {
        if (avail < FW_IP6_HLEN || (f[off] >> 4) != IP_HEADER_VERSION_6) {
            return FW_PARSE_BAD_ICMP;
        }
        proto = f[off + FW_IP6_OFF(ip6_nxt)];
        e->src.family = e->dst.family = 6;
        memcpy(e->src.a, f + off + FW_IP6_OFF(ip6_src), 16);
        memcpy(e->dst.a, f + off + FW_IP6_OFF(ip6_dst), 16);
        l4 = off + FW_IP6_HLEN;
        /* the quote's extension headers, as parse_ipv6() walks them */
        for (int i = 0; ipv6_is_ext(proto) && !later; i++) {
            size_t hl;

            if (i == FW_IPV6_MAX_EXT || end - l4 < IP6_EXT_GRANULARITY) {
                return FW_PARSE_BAD_ICMP;
            }
            if (proto == IP6_FRAGMENT) {
                later = (lduw_be_p(f + l4 + 2) >> 3) != 0;
                proto = f[l4];
                l4 += FW_IP6_FRAG_HLEN;
                continue;
            }
            hl = ipv6_ext_len(proto, f + l4);
            if (hl > end - l4) {
                return FW_PARSE_BAD_ICMP;
            }
            proto = f[l4];
            l4 += hl;
        }
    }
    e->proto = proto;
    if (later) {
        return FW_PARSE_OK;
    }
    if (proto_has_ports(proto)) {
        if (end - l4 < 4) {
            return FW_PARSE_BAD_ICMP;
        }
        e->l4 = FW_L4_PORTS;
        e->sport = lduw_be_p(f + l4 + FW_UDP_OFF(uh_sport));
        e->dport = lduw_be_p(f + l4 + FW_UDP_OFF(uh_dport));
    } else if ((family == 4 && proto == IPPROTO_ICMP) ||
               (family == 6 && proto == IPPROTO_ICMPV6)) {
        if (end - l4 < FW_ICMP_HLEN) {
            return FW_PARSE_BAD_ICMP;
        }
        e->l4 = FW_L4_ICMP;
        e->icmp_type = f[l4];
        e->icmp_id = lduw_be_p(f + l4 + 4);
    }
    return FW_PARSE_OK;
}

static FwParseError parse_nd(const uint8_t *f, size_t off, size_t end,
                             FwPacket *pkt)
{
    size_t avail = end - off, opt;
    uint8_t type = pkt->icmp_type;

    pkt->nd = true;
    switch (type) {
    /* where the options start (RFC 4861 4.1 to 4.5) */
    case FW_ICMP6_ND_ROUTER_SOL:
        opt = 8;
        break;
    case FW_ICMP6_ND_ROUTER_ADV:
        opt = 16;
        break;
    case FW_ICMP6_ND_NEIGH_SOL:
    case FW_ICMP6_ND_NEIGH_ADV:
        opt = 24;
        break;
    default:
        opt = 40;
        break;
    }
    if (avail < opt) {
        return FW_PARSE_BAD_ICMP;
    }
    if (type >= FW_ICMP6_ND_NEIGH_SOL) {
        pkt->has_nd_target = true;
        memcpy(pkt->nd_target, f + off + 8, 16);
    }
    if (type == FW_ICMP6_ND_ROUTER_ADV || type == FW_ICMP6_ND_REDIRECT) {
        return FW_PARSE_OK;
    }
    /* Options: all of them; each is at least 8 bytes long */
    opt += off;
    while (opt < end) {
        size_t olen;

        if (end - opt < 8) {
            return FW_PARSE_BAD_ICMP;
        }
        olen = f[opt + 1] * 8;
        if (olen == 0 || olen > end - opt) {
            return FW_PARSE_BAD_ICMP;
        }
        if (f[opt] != FW_ND_OPT_SRC_LLADDR && f[opt] != FW_ND_OPT_TGT_LLADDR) {
            /* not a link-layer address */
        } else if (!pkt->has_nd_lladdr) {
            pkt->has_nd_lladdr = true;
            memcpy(pkt->nd_lladdr, f + opt + 2, 6);
        } else {
            pkt->nd_lladdr_differ |= memcmp(pkt->nd_lladdr, f + opt + 2, 6);
        }
        opt += olen;
    }
    return FW_PARSE_OK;
}

/* L4 header at [off, end); @first_frag: more fragments follow */
static FwParseError parse_l4(const uint8_t *f, size_t off, size_t end,
                             FwPacket *pkt, int family, bool first_frag)
{
    size_t avail = end - off;
    FwParseError trunc = first_frag ? FW_PARSE_BAD_FRAGMENT :
                                      FW_PARSE_TRUNCATED;
    uint8_t proto = pkt->proto;

    pkt->l4_off = off;
    pkt->l4_len = avail;
    if (proto == IPPROTO_TCP) {
        size_t doff;

        if (avail < FW_TCP_HLEN) {
            return trunc;
        }
        doff = (f[off + FW_TCP_OFF(th_offset_flags)] >> 4) * 4;
        if (doff < FW_TCP_HLEN) {
            return FW_PARSE_BAD_TCP_HEADER;
        }
        if (doff > avail) {
            return trunc;
        }
        pkt->l4 = FW_L4_PORTS;
        pkt->sport = lduw_be_p(f + off + FW_TCP_OFF(th_sport));
        pkt->dport = lduw_be_p(f + off + FW_TCP_OFF(th_dport));
        pkt->tcp_seq = ldl_be_p(f + off + FW_TCP_OFF(th_seq));
        pkt->tcp_ack = ldl_be_p(f + off + FW_TCP_OFF(th_ack));
        pkt->tcp_flags = f[off + FW_TCP_FLAGS_OFF];
        pkt->l4_payload_len = avail - doff;
    } else if (proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE) {
        size_t ulen;

        if (avail < FW_UDP_HLEN) {
            return trunc;
        }
        ulen = lduw_be_p(f + off + FW_UDP_OFF(uh_ulen));
        if (proto == IPPROTO_UDP) {
            if (ulen < FW_UDP_HLEN || (!first_frag && ulen > avail)) {
                return FW_PARSE_BAD_UDP_HEADER;
            }
        } else {
            ulen = avail;
        }
        pkt->l4 = FW_L4_PORTS;
        pkt->sport = lduw_be_p(f + off + FW_UDP_OFF(uh_sport));
        pkt->dport = lduw_be_p(f + off + FW_UDP_OFF(uh_dport));
        pkt->l4_payload_len = MIN(ulen, avail) - FW_UDP_HLEN;
        if (proto == IPPROTO_UDP &&
            (pkt->sport == FW_DHCP_SERVER_PORT ||
             pkt->sport == FW_DHCP_CLIENT_PORT) &&
            (pkt->dport == FW_DHCP_SERVER_PORT ||
             pkt->dport == FW_DHCP_CLIENT_PORT) &&
            pkt->l4_payload_len >= 1) {
            uint8_t op = f[off + FW_UDP_HLEN];
            pkt->dhcp = op == FW_BOOTP_OP_REQUEST ? FW_DHCP_REQUEST :
                        op == FW_BOOTP_OP_REPLY ? FW_DHCP_REPLY :
                                                  FW_DHCP_NONE;
        }
    } else if (proto == IPPROTO_SCTP) {
        if (avail < FW_SCTP_HLEN) {
            return trunc;
        }
        pkt->l4 = FW_L4_PORTS;
        pkt->sport = lduw_be_p(f + off);
        pkt->dport = lduw_be_p(f + off + 2);
        pkt->l4_payload_len = avail - FW_SCTP_HLEN;
    } else if ((family == 4 && proto == IPPROTO_ICMP) ||
               (family == 6 && proto == IPPROTO_ICMPV6)) {
        if (avail < FW_ICMP_HLEN) {
            return trunc;
        }
        pkt->l4 = FW_L4_ICMP;
        pkt->icmp_type = f[off];
        pkt->icmp_code = f[off + 1];
        pkt->l4_payload_len = avail - FW_ICMP_HLEN;
        if (icmp_is_echo_request(family, pkt->icmp_type) ||
            icmp_is_echo_reply(family, pkt->icmp_type)) {
            pkt->icmp_id = lduw_be_p(f + off + 4);
        }
        if (icmp_is_error(family, pkt->icmp_type)) {
            FwParseError e = parse_embedded(f, off + FW_ICMP_HLEN, end,
                                            family, &pkt->emb);
            if (e != FW_PARSE_OK) {
                return first_frag ? FW_PARSE_BAD_FRAGMENT : e;
            }
            pkt->icmp_error = true;
        } else if (family == 6 &&
                   pkt->icmp_type >= FW_ICMP6_ND_ROUTER_SOL &&
                   pkt->icmp_type <= FW_ICMP6_ND_REDIRECT) {
            FwParseError e = parse_nd(f, off, end, pkt);
            if (e != FW_PARSE_OK) {
                return first_frag ? FW_PARSE_BAD_FRAGMENT : e;
            }
        }
    }
    return FW_PARSE_OK;
}

static FwParseError parse_ipv4(const uint8_t *f, size_t len, size_t off,
                               FwPacket *pkt)
{
    const struct ip_header *ip = (const struct ip_header *)(f + off);
    size_t ihl, tot;
    uint16_t fo, foff;

    if (len - off < FW_IP4_HLEN) {
        return FW_PARSE_TRUNCATED;
    }
    if (IP_HEADER_VERSION(ip) != IP_HEADER_VERSION_4) {
        return FW_PARSE_BAD_IP_HEADER;
    }
    ihl = IP_HDR_GET_LEN(ip);
    if (ihl < FW_IP4_HLEN) {
        return FW_PARSE_BAD_IP_HEADER;
    }
    if (len - off < ihl) {
        return FW_PARSE_TRUNCATED;
    }
    tot = lduw_be_p(&ip->ip_len);
    if (tot < ihl) {
        return FW_PARSE_BAD_IP_HEADER;
    }
    if (tot > len - off) {
        return FW_PARSE_TRUNCATED;
    }
    pkt->l3 = FW_L3_IPV4;
    pkt->l3_len = tot;
    pkt->proto = ip->ip_p;
    pkt->ttl = ip->ip_ttl;
    pkt->src.family = pkt->dst.family = 4;
    memcpy(pkt->src.a, &ip->ip_src, 4);
    memcpy(pkt->dst.a, &ip->ip_dst, 4);

    fo = lduw_be_p(&ip->ip_off);
    foff = fo & IP_OFFMASK;
    pkt->frag_id = lduw_be_p(&ip->ip_id);
    if (foff) {
        if ((size_t)foff * IP_FRAG_UNIT_SIZE + (tot - ihl) >
            ETH_MAX_IP_DGRAM_LEN ||
            (foff == 1 && pkt->proto == IPPROTO_TCP)) {
            return FW_PARSE_BAD_FRAGMENT;
        }
        pkt->frag = FW_FRAG_LATER;
        pkt->l4_off = off + ihl;
        pkt->l4_len = tot - ihl;
        return FW_PARSE_OK;
    }
    if (fo & IP_MF) {
        pkt->frag = FW_FRAG_FIRST;
    }
    return parse_l4(f, off + ihl, off + tot, pkt, 4,
                    pkt->frag == FW_FRAG_FIRST);
}

static FwParseError parse_ipv6(const uint8_t *f, size_t len, size_t off,
                               FwPacket *pkt)
{
    size_t plen, end, pos;
    uint8_t nh;

    if (len - off < FW_IP6_HLEN) {
        return FW_PARSE_TRUNCATED;
    }
    if ((f[off] >> 4) != IP_HEADER_VERSION_6) {
        return FW_PARSE_BAD_IPV6_HEADER;
    }
    /* Jumbograms (payload length 0 + hop-by-hop option) are refused */
    plen = lduw_be_p(f + off + FW_IP6_OFF(ip6_plen));
    if (plen > len - off - FW_IP6_HLEN) {
        return FW_PARSE_TRUNCATED;
    }
    pkt->l3 = FW_L3_IPV6;
    pkt->l3_len = FW_IP6_HLEN + plen;
    pkt->ttl = f[off + FW_IP6_OFF(ip6_ctlun.ip6_un1.ip6_un1_hlim)];
    pkt->src.family = pkt->dst.family = 6;
    memcpy(pkt->src.a, f + off + FW_IP6_OFF(ip6_src), 16);
    memcpy(pkt->dst.a, f + off + FW_IP6_OFF(ip6_dst), 16);
    end = off + FW_IP6_HLEN + plen;
    pos = off + FW_IP6_HLEN;
    nh = f[off + FW_IP6_OFF(ip6_nxt)];
    for (int i = 0; ipv6_is_ext(nh); i++) {
        size_t hl;

        if (i == FW_IPV6_MAX_EXT || (nh == IP6_HOP_BY_HOP && i != 0) ||
            end - pos < IP6_EXT_GRANULARITY) {
            return FW_PARSE_BAD_IPV6_EXT;
        }
        if (nh == IP6_FRAGMENT) {
            uint16_t fo = lduw_be_p(f + pos + 2);

            pkt->frag_id = ldl_be_p(f + pos + 4);
            nh = f[pos];
            pos += FW_IP6_FRAG_HLEN;
            if (fo >> 3) {
                pkt->proto = nh;
                pkt->frag = FW_FRAG_LATER;
                pkt->l4_off = pos;
                pkt->l4_len = end - pos;
                return FW_PARSE_OK;
            }
            if (fo & 1) {
                pkt->frag = FW_FRAG_FIRST;
            }
            continue;
        }
        hl = ipv6_ext_len(nh, f + pos);
        if (hl > end - pos) {
            return FW_PARSE_BAD_IPV6_EXT;
        }
        nh = f[pos];
        pos += hl;
    }
    pkt->proto = nh;
    return parse_l4(f, pos, end, pkt, 6, pkt->frag == FW_FRAG_FIRST);
}

static FwParseError parse_arp(const uint8_t *f, size_t len, size_t off,
                              FwPacket *pkt)
{
    const uint8_t *a = f + off;

    if (len - off < FW_ARP_LEN) {
        return FW_PARSE_TRUNCATED;
    }
    if (lduw_be_p(a) != FW_ARP_HTYPE_ETHER || lduw_be_p(a + 2) != ETH_P_IP ||
        a[4] != ETH_ALEN || a[5] != 4) {
        return FW_PARSE_BAD_ARP;
    }
    pkt->l3 = FW_L3_ARP;
    pkt->l3_len = FW_ARP_LEN;
    pkt->arp_op = lduw_be_p(a + 6);
    memcpy(pkt->arp_sha, a + 8, 6);
    memcpy(pkt->arp_spa, a + 14, 4);
    memcpy(pkt->arp_tha, a + 18, 6);
    memcpy(pkt->arp_tpa, a + 24, 4);
    return FW_PARSE_OK;
}

FwParseError fw_parse_frame(const uint8_t *frame, size_t len,
                            size_t vnet_hdr_len, FwPacket *pkt)
{
    size_t off;
    uint16_t et;

    memset(pkt, 0, sizeof(*pkt));
    if (len < vnet_hdr_len) {
        return FW_PARSE_BAD_VNET_HDR;
    }
    if (len > UINT32_MAX) {
        return FW_PARSE_BAD_IP_HEADER;
    }
    pkt->frame_len = len - vnet_hdr_len;
    pkt->l2_off = vnet_hdr_len;
    off = vnet_hdr_len;
    if (len - off < ETH_HLEN) {
        return FW_PARSE_TRUNCATED;
    }
    memcpy(pkt->dst_mac, frame + off + offsetof(struct eth_header, h_dest),
           ETH_ALEN);
    memcpy(pkt->src_mac, frame + off + offsetof(struct eth_header, h_source),
           ETH_ALEN);
    et = lduw_be_p(frame + off + offsetof(struct eth_header, h_proto));
    off += ETH_HLEN;
    while (et == ETH_P_VLAN || et == ETH_P_DVLAN || et == FW_ETH_P_QINQ) {
        uint16_t vid;

        if (pkt->n_vlans == 2) {
            return FW_PARSE_TOO_MANY_VLANS;
        }
        if (len - off < FW_VLAN_HLEN) {
            return FW_PARSE_TRUNCATED;
        }
        vid = lduw_be_p(frame + off + offsetof(struct vlan_header, h_tci)) &
              VLAN_VID_MASK;
        if (pkt->n_vlans == 0) {
            pkt->vlan_id = vid;
        } else {
            pkt->inner_vlan_id = vid;
        }
        pkt->n_vlans++;
        et = lduw_be_p(frame + off + offsetof(struct vlan_header, h_proto));
        off += FW_VLAN_HLEN;
    }
    pkt->ethertype = et;
    pkt->l3_off = off;
    switch (et) {
    case ETH_P_ARP:
        return parse_arp(frame, len, off, pkt);
    case ETH_P_IP:
        return parse_ipv4(frame, len, off, pkt);
    case ETH_P_IPV6:
        return parse_ipv6(frame, len, off, pkt);
    default:
        return FW_PARSE_OK;
    }
}
