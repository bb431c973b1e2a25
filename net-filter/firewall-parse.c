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
        return type == 3 || type == 4 || type == 5 || type == 11 ||
               type == 12;
    }
    return type >= 1 && type <= 4;
}

static bool ipv6_is_ext(uint8_t nh)
{
    return nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 51;
}

/* Length of extension header @h of type @nh (not a fragment header) */
static size_t ipv6_ext_len(uint8_t nh, const uint8_t *h)
{
    return nh == 51 ? (h[1] + 2) * 4 : (h[1] + 1) * 8;
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
        size_t ihl;

        if (avail < 20 || (f[off] >> 4) != 4) {
            return FW_PARSE_BAD_ICMP;
        }
        ihl = (f[off] & 0xf) * 4;
        if (ihl < 20 || ihl > avail) {
            return FW_PARSE_BAD_ICMP;
        }
        proto = f[off + 9];
        later = (lduw_be_p(f + off + 6) & 0x1fff) != 0;
        e->src.family = e->dst.family = 4;
        memcpy(e->src.a, f + off + 12, 4);
        memcpy(e->dst.a, f + off + 16, 4);
        l4 = off + ihl;
    } else {
        if (avail < 40 || (f[off] >> 4) != 6) {
            return FW_PARSE_BAD_ICMP;
        }
        proto = f[off + 6];
        e->src.family = e->dst.family = 6;
        memcpy(e->src.a, f + off + 8, 16);
        memcpy(e->dst.a, f + off + 24, 16);
        l4 = off + 40;
        /* the quote's extension headers, as parse_ipv6() walks them */
        for (int i = 0; ipv6_is_ext(proto) && !later; i++) {
            size_t hl;

            if (i == FW_IPV6_MAX_EXT || end - l4 < 8) {
                return FW_PARSE_BAD_ICMP;
            }
            if (proto == 44) {
                later = (lduw_be_p(f + l4 + 2) >> 3) != 0;
                proto = f[l4];
                l4 += 8;
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
        e->sport = lduw_be_p(f + l4);
        e->dport = lduw_be_p(f + l4 + 2);
    } else if ((family == 4 && proto == IPPROTO_NUM_ICMP) ||
               (family == 6 && proto == IPPROTO_NUM_ICMPV6)) {
        if (end - l4 < 8) {
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
    case 133:
        opt = 8;
        break;
    case 134:
        opt = 16;
        break;
    case 135:
    case 136:
        opt = 24;
        break;
    default:
        opt = 40;
        break;
    }
    if (avail < opt) {
        return FW_PARSE_BAD_ICMP;
    }
    if (type >= 135) {
        pkt->has_nd_target = true;
        memcpy(pkt->nd_target, f + off + 8, 16);
    }
    if (type == 134 || type == 137) {
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
        if ((f[opt] == 1 || f[opt] == 2) && !pkt->has_nd_lladdr) {
            pkt->has_nd_lladdr = true;
            memcpy(pkt->nd_lladdr, f + opt + 2, 6);
        } else if (f[opt] == 1 || f[opt] == 2) {
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
    if (proto == IPPROTO_NUM_TCP) {
        size_t doff;

        if (avail < 20) {
            return trunc;
        }
        doff = (f[off + 12] >> 4) * 4;
        if (doff < 20) {
            return FW_PARSE_BAD_TCP_HEADER;
        }
        if (doff > avail) {
            return trunc;
        }
        pkt->l4 = FW_L4_PORTS;
        pkt->sport = lduw_be_p(f + off);
        pkt->dport = lduw_be_p(f + off + 2);
        pkt->tcp_seq = ldl_be_p(f + off + 4);
        pkt->tcp_ack = ldl_be_p(f + off + 8);
        pkt->tcp_flags = f[off + 13];
        pkt->l4_payload_len = avail - doff;
    } else if (proto == IPPROTO_NUM_UDP || proto == IPPROTO_NUM_UDPLITE) {
        size_t ulen;

        if (avail < 8) {
            return trunc;
        }
        ulen = lduw_be_p(f + off + 4);
        if (proto == IPPROTO_NUM_UDP) {
            if (ulen < 8 || (!first_frag && ulen > avail)) {
                return FW_PARSE_BAD_UDP_HEADER;
            }
        } else {
            ulen = avail;
        }
        pkt->l4 = FW_L4_PORTS;
        pkt->sport = lduw_be_p(f + off);
        pkt->dport = lduw_be_p(f + off + 2);
        pkt->l4_payload_len = MIN(ulen, avail) - 8;
        if (proto == IPPROTO_NUM_UDP &&
            (pkt->sport == 67 || pkt->sport == 68) &&
            (pkt->dport == 67 || pkt->dport == 68) &&
            pkt->l4_payload_len >= 1) {
            uint8_t op = f[off + 8];
            pkt->dhcp = op == 1 ? FW_DHCP_REQUEST :
                        op == 2 ? FW_DHCP_REPLY : FW_DHCP_NONE;
        }
    } else if (proto == IPPROTO_NUM_SCTP) {
        if (avail < 12) {
            return trunc;
        }
        pkt->l4 = FW_L4_PORTS;
        pkt->sport = lduw_be_p(f + off);
        pkt->dport = lduw_be_p(f + off + 2);
        pkt->l4_payload_len = avail - 12;
    } else if ((family == 4 && proto == IPPROTO_NUM_ICMP) ||
               (family == 6 && proto == IPPROTO_NUM_ICMPV6)) {
        if (avail < 8) {
            return trunc;
        }
        pkt->l4 = FW_L4_ICMP;
        pkt->icmp_type = f[off];
        pkt->icmp_code = f[off + 1];
        pkt->l4_payload_len = avail - 8;
        if (icmp_is_echo_request(family, pkt->icmp_type) ||
            icmp_is_echo_reply(family, pkt->icmp_type)) {
            pkt->icmp_id = lduw_be_p(f + off + 4);
        }
        if (icmp_is_error(family, pkt->icmp_type)) {
            FwParseError e = parse_embedded(f, off + 8, end, family,
                                            &pkt->emb);
            if (e != FW_PARSE_OK) {
                return first_frag ? FW_PARSE_BAD_FRAGMENT : e;
            }
            pkt->icmp_error = true;
        } else if (family == 6 && pkt->icmp_type >= 133 &&
                   pkt->icmp_type <= 137) {
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
    size_t ihl, tot;
    uint16_t fo, foff;

    if (len - off < 20) {
        return FW_PARSE_TRUNCATED;
    }
    if ((f[off] >> 4) != 4) {
        return FW_PARSE_BAD_IP_HEADER;
    }
    ihl = (f[off] & 0xf) * 4;
    if (ihl < 20) {
        return FW_PARSE_BAD_IP_HEADER;
    }
    if (len - off < ihl) {
        return FW_PARSE_TRUNCATED;
    }
    tot = lduw_be_p(f + off + 2);
    if (tot < ihl) {
        return FW_PARSE_BAD_IP_HEADER;
    }
    if (tot > len - off) {
        return FW_PARSE_TRUNCATED;
    }
    pkt->l3 = FW_L3_IPV4;
    pkt->l3_len = tot;
    pkt->proto = f[off + 9];
    pkt->ttl = f[off + 8];
    pkt->src.family = pkt->dst.family = 4;
    memcpy(pkt->src.a, f + off + 12, 4);
    memcpy(pkt->dst.a, f + off + 16, 4);

    fo = lduw_be_p(f + off + 6);
    foff = fo & 0x1fff;
    pkt->frag_id = lduw_be_p(f + off + 4);
    if (foff) {
        if ((size_t)foff * 8 + (tot - ihl) > 65535 ||
            (foff == 1 && pkt->proto == IPPROTO_NUM_TCP)) {
            return FW_PARSE_BAD_FRAGMENT;
        }
        pkt->frag = FW_FRAG_LATER;
        pkt->l4_off = off + ihl;
        pkt->l4_len = tot - ihl;
        return FW_PARSE_OK;
    }
    if (fo & 0x2000) {
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

    if (len - off < 40) {
        return FW_PARSE_TRUNCATED;
    }
    if ((f[off] >> 4) != 6) {
        return FW_PARSE_BAD_IPV6_HEADER;
    }
    /* Jumbograms (payload length 0 + hop-by-hop option) are refused */
    plen = lduw_be_p(f + off + 4);
    if (plen > len - off - 40) {
        return FW_PARSE_TRUNCATED;
    }
    pkt->l3 = FW_L3_IPV6;
    pkt->l3_len = 40 + plen;
    pkt->ttl = f[off + 7];
    pkt->src.family = pkt->dst.family = 6;
    memcpy(pkt->src.a, f + off + 8, 16);
    memcpy(pkt->dst.a, f + off + 24, 16);
    end = off + 40 + plen;
    pos = off + 40;
    nh = f[off + 6];
    for (int i = 0; ipv6_is_ext(nh); i++) {
        size_t hl;

        if (i == FW_IPV6_MAX_EXT || (nh == 0 && i != 0) || end - pos < 8) {
            return FW_PARSE_BAD_IPV6_EXT;
        }
        if (nh == 44) {
            uint16_t fo = lduw_be_p(f + pos + 2);

            pkt->frag_id = ldl_be_p(f + pos + 4);
            nh = f[pos];
            pos += 8;
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

    if (len - off < 28) {
        return FW_PARSE_TRUNCATED;
    }
    if (lduw_be_p(a) != 1 || lduw_be_p(a + 2) != ETH_P_IPV4 || a[4] != 6 ||
        a[5] != 4) {
        return FW_PARSE_BAD_ARP;
    }
    pkt->l3 = FW_L3_ARP;
    pkt->l3_len = 28;
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
    if (len - off < 14) {
        return FW_PARSE_TRUNCATED;
    }
    memcpy(pkt->dst_mac, frame + off, 6);
    memcpy(pkt->src_mac, frame + off + 6, 6);
    et = lduw_be_p(frame + off + 12);
    off += 14;
    while (et == ETH_P_8021Q || et == ETH_P_8021AD || et == ETH_P_QINQ) {
        uint16_t vid;

        if (pkt->n_vlans == 2) {
            return FW_PARSE_TOO_MANY_VLANS;
        }
        if (len - off < 4) {
            return FW_PARSE_TRUNCATED;
        }
        vid = lduw_be_p(frame + off) & 0xfff;
        if (pkt->n_vlans == 0) {
            pkt->vlan_id = vid;
        } else {
            pkt->inner_vlan_id = vid;
        }
        pkt->n_vlans++;
        et = lduw_be_p(frame + off + 2);
        off += 4;
    }
    pkt->ethertype = et;
    pkt->l3_off = off;
    switch (et) {
    case ETH_P_ARP:
        return parse_arp(frame, len, off, pkt);
    case ETH_P_IPV4:
        return parse_ipv4(frame, len, off, pkt);
    case ETH_P_IPV6:
        return parse_ipv6(frame, len, off, pkt);
    default:
        return FW_PARSE_OK;
    }
}
