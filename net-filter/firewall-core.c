/*
 * Per-VM firewall core: frame parser, compiled rule classifier,
 * connection tracking and anti-spoofing
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
 *
 * Classifier: tuple space search as in Open vSwitch's classifier.  Each
 * packet is reduced to a 48-byte key (addresses, ports or ICMP
 * type/code, ethertype, protocol, family, direction, L4 kind, conntrack
 * state bit).  Each rule expands into (mask, value) entries: one per
 * combination of direction, source prefix, destination prefix (lists
 * and sets), source/destination port prefix (ranges are split into
 * power-of-two aligned blocks) and conntrack state bit.  Entries with
 * the same mask form a subtable, an open-addressing hash table of the
 * masked values; for equal values only the best rule is kept.  Rules
 * are numbered by evaluation order (priority, then id), so "best" is
 * the lowest index.  Subtables are sorted by the best index they hold,
 * and lookup stops once the next subtable cannot beat the match found.
 * Before hashing, a subtable is skipped if the packet differs from the
 * bits that all its entries share (e.g. direction, family, protocol).
 * The cost is at most one hash probe per subtable, which depends on the
 * number of distinct rule shapes, not on the number of rules.  The
 * compiled ruleset keeps copies of the rules for recompiling on set
 * updates and for fw_ruleset_classify_linear(), the reference that reads
 * them field by field.  A source (destination) given both as a list and
 * as a set compiles to the prefixes of their intersection.
 *
 * Conntrack: each connection has one key, its tuple in egress
 * orientation (the guest's address and port first), so both directions
 * find it with one probe; whether a packet is a reply follows from its
 * direction and the direction of the first packet.  An entry is one
 * 64-byte line with everything a packet of a known connection needs
 * (key, timeout class, flags, expiry, small packet/byte count deltas)
 * plus a cold part (64-bit counters, rule id, list links) that packets
 * only touch when a count delta would overflow or the entry moves in
 * its timeout list.  The hot lines are the slots of a seeded open
 * addressing hash table (linear probing, at most half full, backward
 * shift deletion), so a lookup usually reads a single cache line; cold
 * parts are in a parallel array indexed by slot.  Large tables ask for
 * transparent huge pages.
 * Entries sit on one list per timeout class; since all entries of a
 * class have the same timeout, each list is ordered by expiry (lazily,
 * see ct_touch()), so expiring is popping list heads: each lookup and
 * commit does a small bounded amount, and expired entries found by a
 * lookup are treated as absent, so timeouts are exact for packets.
 * No TCP window tracking; TCP without a SYN is picked up mid-stream only
 * when fw_conntrack_set_tcp_pickup() says so.
 * The same object remembers the verdicts of first fragments (a bounded
 * set-associative cache) and the guest's DHCP transactions, for
 * fw_process().
 *
 * Anti-spoofing checks egress frames against the VM's MAC and allowed
 * prefixes; fe80::/64 with the modified EUI-64 of the MAC is implied.
 */

#include "qemu/osdep.h"
#include "qemu/host-utils.h"
#include "net/firewall-core.h"

#define ETH_P_IPV4      0x0800
#define ETH_P_ARP       0x0806
#define ETH_P_IPV6      0x86dd
#define ETH_P_8021Q     0x8100
#define ETH_P_8021AD    0x88a8
#define ETH_P_QINQ      0x9100

#define IPPROTO_NUM_ICMP      1
#define IPPROTO_NUM_TCP       6
#define IPPROTO_NUM_UDP       17
#define IPPROTO_NUM_ICMPV6    58
#define IPPROTO_NUM_SCTP      132
#define IPPROTO_NUM_UDPLITE   136

#define FW_IPV6_MAX_EXT 8

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

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

static const char *const spoof_names[FW_SPOOF__MAX] = {
    [FW_SPOOF_NONE] = "none",
    [FW_SPOOF_MAC] = "spoof-mac",
    [FW_SPOOF_IP] = "spoof-ip",
    [FW_SPOOF_ARP] = "spoof-arp",
    [FW_SPOOF_DHCP_SERVER] = "dhcp-server",
    [FW_SPOOF_ROUTER_ADVERT] = "router-advert",
};

static const char *const drop_names[FW_DROP__MAX] = {
    [FW_DROP_NONE] = "none",
    [FW_DROP_INVALID] = "invalid",
    [FW_DROP_VLAN] = "vlan",
    [FW_DROP_SPOOF_MAC] = "spoof-mac",
    [FW_DROP_SPOOF_IP] = "spoof-ip",
    [FW_DROP_SPOOF_ARP] = "spoof-arp",
    [FW_DROP_DHCP_SERVER] = "dhcp-server",
    [FW_DROP_ROUTER_ADVERT] = "router-advert",
    [FW_DROP_QUARANTINE] = "quarantine",
    [FW_DROP_CT_INVALID] = "ct-invalid",
    [FW_DROP_CT_FULL] = "ct-full",
    [FW_DROP_RULE] = "rule",
    [FW_DROP_DEFAULT] = "default",
};

static const char *const ct_state_names[FW_CT__MAX] = {
    [FW_CT_NEW] = "new",
    [FW_CT_ESTABLISHED] = "established",
    [FW_CT_RELATED] = "related",
    [FW_CT_INVALID] = "invalid",
};

static const char *const action_names[FW_ACTION__MAX] = {
    [FW_ACTION_ACCEPT] = "accept",
    [FW_ACTION_DROP] = "drop",
    [FW_ACTION_REJECT] = "reject",
};

const char *fw_parse_error_name(FwParseError e)
{
    return (unsigned)e < FW_PARSE__MAX ? parse_error_names[e] : "unknown";
}

const char *fw_spoof_reason_name(FwSpoofReason r)
{
    return (unsigned)r < FW_SPOOF__MAX ? spoof_names[r] : "unknown";
}

const char *fw_drop_reason_name(FwDropReason r)
{
    return (unsigned)r < FW_DROP__MAX ? drop_names[r] : "unknown";
}

const char *fw_ct_state_name(FwCtState s)
{
    return (unsigned)s < FW_CT__MAX ? ct_state_names[s] : "unknown";
}

const char *fw_action_name(FwAction a)
{
    return (unsigned)a < FW_ACTION__MAX ? action_names[a] : "unknown";
}

const char *fw_direction_name(FwDirection dir)
{
    return dir == FW_DIR_INGRESS ? "ingress" :
           dir == FW_DIR_EGRESS ? "egress" : "unknown";
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

static inline void wr16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v & 0xff;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = (v >> 16) & 0xff;
    p[2] = (v >> 8) & 0xff;
    p[3] = v & 0xff;
}

static int addr_len(uint8_t family)
{
    return family == 4 ? 4 : 16;
}

static bool addr_bits_match(const uint8_t *a, const uint8_t *b, unsigned len)
{
    unsigned bytes = len / 8, bits = len % 8;

    if (memcmp(a, b, bytes) != 0) {
        return false;
    }
    if (bits) {
        uint8_t m = (uint8_t)(0xff << (8 - bits));
        return ((a[bytes] ^ b[bytes]) & m) == 0;
    }
    return true;
}

bool fw_prefix_contains(const FwPrefix *p, const FwAddr *addr)
{
    if (p->family != addr->family || (p->family != 4 && p->family != 6)) {
        return false;
    }
    return addr_bits_match(p->addr, addr->a, p->len);
}

static void prefix_normalize(FwPrefix *p)
{
    unsigned n = addr_len(p->family);

    for (unsigned i = 0; i < 16; i++) {
        unsigned bit = i * 8;
        if (i >= n || bit >= p->len) {
            p->addr[i] = 0;
        } else if (bit + 8 > p->len) {
            p->addr[i] &= (uint8_t)(0xff << (8 - (p->len - bit)));
        }
    }
}

static bool parse_ipv4_addr(const char *s, uint8_t out[4], char **err)
{
    const char *c = s;

    for (int i = 0; i < 4; i++) {
        unsigned v = 0;
        int digits = 0;

        if (i > 0) {
            if (*c != '.') {
                *err = g_strdup_printf("'%s' is not a valid IPv4 address", s);
                return false;
            }
            c++;
        }
        while (*c >= '0' && *c <= '9') {
            if (digits == 3) {
                *err = g_strdup_printf("'%s' is not a valid IPv4 address: "
                                       "octet too long", s);
                return false;
            }
            v = v * 10 + (*c - '0');
            digits++;
            c++;
        }
        if (digits == 0) {
            *err = g_strdup_printf("'%s' is not a valid IPv4 address", s);
            return false;
        }
        if (digits > 1 && c[-digits] == '0') {
            *err = g_strdup_printf("'%s' is not a valid IPv4 address: "
                                   "leading zero in octet", s);
            return false;
        }
        if (v > 255) {
            *err = g_strdup_printf("'%s' is not a valid IPv4 address: "
                                   "octet %u out of range (0-255)", s, v);
            return false;
        }
        out[i] = v;
    }
    if (*c != '\0') {
        *err = g_strdup_printf("'%s' is not a valid IPv4 address", s);
        return false;
    }
    return true;
}

bool fw_parse_prefix(const char *s, FwPrefix *p, char **errmsg)
{
    g_autofree char *addr = NULL;
    const char *slash;
    char *err = NULL;
    unsigned maxlen, len;

    memset(p, 0, sizeof(*p));
    if (!s || !*s) {
        err = g_strdup("empty address prefix");
        goto fail;
    }
    slash = strchr(s, '/');
    addr = slash ? g_strndup(s, slash - s) : g_strdup(s);
    if (strchr(addr, ':')) {
        struct in6_addr a6;

        if (inet_pton(AF_INET6, addr, &a6) != 1) {
            err = g_strdup_printf("'%s' is not a valid IPv6 address", addr);
            goto fail;
        }
        p->family = 6;
        memcpy(p->addr, &a6, 16);
        maxlen = 128;
    } else {
        if (!parse_ipv4_addr(addr, p->addr, &err)) {
            goto fail;
        }
        p->family = 4;
        maxlen = 32;
    }
    len = maxlen;
    if (slash) {
        const char *c = slash + 1;
        int digits = 0;

        len = 0;
        while (*c >= '0' && *c <= '9' && digits < 4) {
            len = len * 10 + (*c - '0');
            digits++;
            c++;
        }
        if (digits == 0 || *c != '\0' || digits > 3 ||
            (digits > 1 && slash[1] == '0')) {
            err = g_strdup_printf("'%s': invalid prefix length", s);
            goto fail;
        }
        if (len > maxlen) {
            err = g_strdup_printf("'%s': prefix length %u out of range for "
                                  "IPv%d (0-%u)", s, len, p->family, maxlen);
            goto fail;
        }
    }
    p->len = len;
    prefix_normalize(p);
    return true;

fail:
    memset(p, 0, sizeof(*p));
    if (errmsg) {
        *errmsg = err;
    } else {
        g_free(err);
    }
    return false;
}

char *fw_prefix_to_string(const FwPrefix *p)
{
    char buf[INET6_ADDRSTRLEN];

    if (!inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr,
                   buf, sizeof(buf))) {
        return g_strdup("?");
    }
    return g_strdup_printf("%s/%u", buf, p->len);
}

/* ------------------------------------------------------------------ */
/* Parser                                                              */
/* ------------------------------------------------------------------ */

static bool icmp_is_error(int family, uint8_t type)
{
    if (family == 4) {
        return type == 3 || type == 4 || type == 5 || type == 11 ||
               type == 12;
    }
    return type >= 1 && type <= 4;
}

static bool icmp_is_echo_request(int family, uint8_t type)
{
    return family == 4 ? type == 8 : type == 128;
}

static bool icmp_is_echo_reply(int family, uint8_t type)
{
    return family == 4 ? type == 0 : type == 129;
}

static bool proto_has_ports(uint8_t proto)
{
    return proto == IPPROTO_NUM_TCP || proto == IPPROTO_NUM_UDP ||
           proto == IPPROTO_NUM_UDPLITE || proto == IPPROTO_NUM_SCTP;
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
        later = (rd16(f + off + 6) & 0x1fff) != 0;
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
                later = (rd16(f + l4 + 2) >> 3) != 0;
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
        e->sport = rd16(f + l4);
        e->dport = rd16(f + l4 + 2);
    } else if ((family == 4 && proto == IPPROTO_NUM_ICMP) ||
               (family == 6 && proto == IPPROTO_NUM_ICMPV6)) {
        if (end - l4 < 8) {
            return FW_PARSE_BAD_ICMP;
        }
        e->l4 = FW_L4_ICMP;
        e->icmp_type = f[l4];
        e->icmp_id = rd16(f + l4 + 4);
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
        pkt->sport = rd16(f + off);
        pkt->dport = rd16(f + off + 2);
        pkt->tcp_seq = rd32(f + off + 4);
        pkt->tcp_ack = rd32(f + off + 8);
        pkt->tcp_flags = f[off + 13];
        pkt->l4_payload_len = avail - doff;
    } else if (proto == IPPROTO_NUM_UDP || proto == IPPROTO_NUM_UDPLITE) {
        size_t ulen;

        if (avail < 8) {
            return trunc;
        }
        ulen = rd16(f + off + 4);
        if (proto == IPPROTO_NUM_UDP) {
            if (ulen < 8 || (!first_frag && ulen > avail)) {
                return FW_PARSE_BAD_UDP_HEADER;
            }
        } else {
            ulen = avail;
        }
        pkt->l4 = FW_L4_PORTS;
        pkt->sport = rd16(f + off);
        pkt->dport = rd16(f + off + 2);
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
        pkt->sport = rd16(f + off);
        pkt->dport = rd16(f + off + 2);
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
            pkt->icmp_id = rd16(f + off + 4);
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
    tot = rd16(f + off + 2);
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

    fo = rd16(f + off + 6);
    foff = fo & 0x1fff;
    pkt->frag_id = rd16(f + off + 4);
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
    plen = rd16(f + off + 4);
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
            uint16_t fo = rd16(f + pos + 2);

            pkt->frag_id = rd32(f + pos + 4);
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
    if (rd16(a) != 1 || rd16(a + 2) != ETH_P_IPV4 || a[4] != 6 ||
        a[5] != 4) {
        return FW_PARSE_BAD_ARP;
    }
    pkt->l3 = FW_L3_ARP;
    pkt->l3_len = 28;
    pkt->arp_op = rd16(a + 6);
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
    et = rd16(frame + off + 12);
    off += 14;
    while (et == ETH_P_8021Q || et == ETH_P_8021AD || et == ETH_P_QINQ) {
        uint16_t vid;

        if (pkt->n_vlans == 2) {
            return FW_PARSE_TOO_MANY_VLANS;
        }
        if (len - off < 4) {
            return FW_PARSE_TRUNCATED;
        }
        vid = rd16(frame + off) & 0xfff;
        if (pkt->n_vlans == 0) {
            pkt->vlan_id = vid;
        } else {
            pkt->inner_vlan_id = vid;
        }
        pkt->n_vlans++;
        et = rd16(frame + off + 2);
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

/* ------------------------------------------------------------------ */
/* Classifier                                                          */
/* ------------------------------------------------------------------ */

/* Key layout (bytes) */
#define K_SRC       0
#define K_DST       16
#define K_SPORT     32          /* ICMP: type */
#define K_DPORT     34          /* ICMP: code */
#define K_ETHERTYPE 36
#define K_PROTO     38          /* 0x100 | proto for IP, else 0 */
#define K_FAMILY    40
#define K_DIR       41
#define K_L4        42
#define K_CT        43
#define KEY_WORDS   6

typedef struct FwKey {
    uint64_t w[KEY_WORDS];
} FwKey;

#define KB(k) ((uint8_t *)(k)->w)

static inline void key_put16(FwKey *k, int off, uint16_t v)
{
    memcpy(KB(k) + off, &v, 2);
}

typedef struct FwSlot {
    uint32_t hash;
    int32_t rule;               /* -1: empty */
} FwSlot;

typedef struct FwSubtable {
    FwKey mask;
    FwKey cmask;                /* bits equal in all entries ... */
    FwKey cval;                 /* ... and their value */
    int best;                   /* lowest rule index in the subtable */
    uint32_t size_mask;
    FwSlot *slots;
    FwKey *keys;
} FwSubtable;

/* A rule's source/destination prefixes, lists and sets resolved */
typedef struct FwResolved {
    bool src_any;
    bool dst_any;
    FwPrefix *src;
    size_t n_src;
    FwPrefix *dst;
    size_t n_dst;
} FwResolved;

typedef struct FwSetCopy {
    char *name;
    FwPrefix *prefixes;
    size_t n_prefixes;
} FwSetCopy;

typedef struct FwIdIndex {
    uint32_t id;
    int index;
} FwIdIndex;

struct FwRuleset {
    size_t n_rules;
    FwRule *rules;              /* sorted, deep copies */
    FwResolved *res;
    FwIdIndex *by_id;           /* sorted by id */
    FwSetCopy *sets;
    size_t n_sets;
    GHashTable *set_by_name;    /* name -> FwSetCopy */
    FwAction def_action[FW_DIR__MAX];
    bool def_log[FW_DIR__MAX];
    uint8_t states[FW_DIR__MAX];    /* FW_CT_MASK()s some rule matches */
    FwSubtable *subtables;
    size_t n_subtables;
    size_t n_entries;
};

#define FW_MAX_ENTRIES_PER_RULE   (1u << 18)
#define FW_MAX_ENTRIES            (1u << 22)

static inline uint32_t key_hash_masked(const FwKey *k, const FwKey *m,
                                       FwKey *out)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;

    for (int i = 0; i < KEY_WORDS; i++) {
        uint64_t v = k->w[i] & m->w[i];
        out->w[i] = v;
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 31;
    }
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

static inline bool key_eq(const FwKey *a, const FwKey *b)
{
    uint64_t d = 0;

    for (int i = 0; i < KEY_WORDS; i++) {
        d |= a->w[i] ^ b->w[i];
    }
    return d == 0;
}

static inline int packet_family(const FwPacket *pkt)
{
    return pkt->l3 == FW_L3_IPV4 ? 4 : pkt->l3 == FW_L3_IPV6 ? 6 : 0;
}

static void packet_key(const FwPacket *pkt, FwDirection dir,
                       FwCtState st, FwKey *k)
{
    uint8_t *b = KB(k);
    int fam = packet_family(pkt);

    memset(k, 0, sizeof(*k));
    if (fam) {
        memcpy(b + K_SRC, pkt->src.a, 16);
        memcpy(b + K_DST, pkt->dst.a, 16);
        key_put16(k, K_PROTO, 0x100 | pkt->proto);
    }
    if (pkt->l4 == FW_L4_PORTS) {
        key_put16(k, K_SPORT, pkt->sport);
        key_put16(k, K_DPORT, pkt->dport);
    } else if (pkt->l4 == FW_L4_ICMP) {
        key_put16(k, K_SPORT, pkt->icmp_type);
        key_put16(k, K_DPORT, pkt->icmp_code);
    }
    key_put16(k, K_ETHERTYPE, pkt->ethertype);
    b[K_FAMILY] = fam;
    b[K_DIR] = dir;
    b[K_L4] = pkt->l4;
    b[K_CT] = 1u << st;
}

int fw_ruleset_classify(const FwRuleset *rs, const FwPacket *pkt,
                        FwDirection dir, FwCtState state)
{
    FwKey k, mk;
    int best = INT_MAX;

    packet_key(pkt, dir, state, &k);
    for (size_t i = 0; i < rs->n_subtables; i++) {
        const FwSubtable *t = &rs->subtables[i];
        uint32_t h, j;

        uint64_t d = 0;

        if (t->best >= best) {
            break;
        }
        for (int w = 0; w < KEY_WORDS; w++) {
            d |= (k.w[w] & t->cmask.w[w]) ^ t->cval.w[w];
        }
        if (d) {
            continue;           /* differs where all entries agree */
        }
        h = key_hash_masked(&k, &t->mask, &mk);
        for (j = h & t->size_mask; t->slots[j].rule >= 0;
             j = (j + 1) & t->size_mask) {
            if (t->slots[j].hash == h && key_eq(&t->keys[j], &mk)) {
                if (t->slots[j].rule < best) {
                    best = t->slots[j].rule;
                }
                break;
            }
        }
    }
    return best == INT_MAX ? -1 : best;
}

static bool prefix_list_match(const FwPrefix *p, size_t n, const FwAddr *a)
{
    for (size_t i = 0; i < n; i++) {
        if (fw_prefix_contains(&p[i], a)) {
            return true;
        }
    }
    return false;
}

static bool port_list_match(const FwPortRange *r, size_t n, uint16_t port)
{
    for (size_t i = 0; i < n; i++) {
        if (port >= r[i].lo && port <= r[i].hi) {
            return true;
        }
    }
    return false;
}

static const FwSetCopy *find_set(const FwRuleset *rs, const char *name);

/* Does @a match a rule's list and set, each when given? */
static bool addr_matches(const FwRuleset *rs, const FwAddrMatch *m,
                         const FwAddr *a)
{
    const FwSetCopy *set;

    if (m->n_prefixes && !prefix_list_match(m->prefixes, m->n_prefixes, a)) {
        return false;
    }
    if (!m->set) {
        return true;
    }
    set = find_set(rs, m->set);
    return prefix_list_match(set->prefixes, set->n_prefixes, a);
}

/* The rule read field by field, as the schema documents it */
static bool rule_matches(const FwRuleset *rs, const FwRule *r,
                         const FwPacket *pkt, FwDirection dir,
                         FwCtState st)
{
    int fam = packet_family(pkt);
    unsigned dm = r->dir_mask & FW_DIR_MASK_BOTH;

    if (dm && !(dm & (1u << dir))) {
        return false;
    }
    if (r->has_ethertype && pkt->ethertype != r->ethertype) {
        return false;
    }
    if (r->family && fam != r->family) {
        return false;
    }
    if (r->has_proto && (!fam || pkt->proto != r->proto)) {
        return false;
    }
    if (!addr_matches(rs, &r->src, &pkt->src) ||
        !addr_matches(rs, &r->dst, &pkt->dst)) {
        return false;
    }
    if (r->n_sports || r->n_dports) {
        if (pkt->l4 != FW_L4_PORTS) {
            return false;
        }
        if (r->n_sports && !port_list_match(r->sports, r->n_sports,
                                            pkt->sport)) {
            return false;
        }
        if (r->n_dports && !port_list_match(r->dports, r->n_dports,
                                            pkt->dport)) {
            return false;
        }
    }
    if (r->has_icmp_type || r->has_icmp_code) {
        if (pkt->l4 != FW_L4_ICMP) {
            return false;
        }
        if (r->has_icmp_type && pkt->icmp_type != r->icmp_type) {
            return false;
        }
        if (r->has_icmp_code && pkt->icmp_code != r->icmp_code) {
            return false;
        }
    }
    if (r->ct_states && !(r->ct_states & (1u << st))) {
        return false;
    }
    return true;
}

int fw_ruleset_classify_linear(const FwRuleset *rs, const FwPacket *pkt,
                               FwDirection dir, FwCtState state)
{
    for (size_t i = 0; i < rs->n_rules; i++) {
        if (rule_matches(rs, &rs->rules[i], pkt, dir, state)) {
            return i;
        }
    }
    return -1;
}

/* --- compilation --- */

/* One option of one dimension of a rule's expansion */
typedef struct FwPart {
    FwKey mask;
    FwKey val;
    uint8_t family;             /* 0: no family constraint */
} FwPart;

typedef struct FwBuilder {
    FwKey mask;
    GArray *vals;               /* FwKey */
    GArray *rules;              /* int */
} FwBuilder;

static guint key_ghash(gconstpointer p)
{
    FwKey dummy, zero;

    memset(&zero, 0xff, sizeof(zero));
    return key_hash_masked(p, &zero, &dummy);
}

static gboolean key_gequal(gconstpointer a, gconstpointer b)
{
    return key_eq(a, b);
}

static void builder_free(gpointer p)
{
    FwBuilder *b = p;

    g_array_free(b->vals, true);
    g_array_free(b->rules, true);
    g_free(b);
}

/* Split [lo, hi] into aligned power-of-two blocks; at most 32 */
static size_t range_to_prefixes(uint16_t lo, uint16_t hi, uint16_t *vals,
                                uint16_t *masks)
{
    uint32_t a = lo, b = hi;
    size_t n = 0;

    while (a <= b) {
        uint32_t size = 1;

        while (size < 65536 && (a & (size * 2 - 1)) == 0 &&
               a + size * 2 - 1 <= b) {
            size *= 2;
        }
        vals[n] = a;
        masks[n] = (uint16_t)~(size - 1);
        n++;
        a += size;
    }
    return n;
}

static void part_wild(GArray *dim)
{
    FwPart p;

    memset(&p, 0, sizeof(p));
    g_array_append_val(dim, p);
}

static void dim_addr(GArray *dim, bool any, const FwPrefix *pf, size_t n,
                     int off)
{
    if (any) {
        part_wild(dim);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        FwPart p;
        FwPrefix norm = pf[i];

        memset(&p, 0, sizeof(p));
        prefix_normalize(&norm);
        for (unsigned bit = 0; bit < norm.len; bit++) {
            KB(&p.mask)[off + bit / 8] |= 0x80 >> (bit % 8);
        }
        memcpy(KB(&p.val) + off, norm.addr, 16);
        KB(&p.mask)[K_FAMILY] = 0xff;
        KB(&p.val)[K_FAMILY] = norm.family;
        p.family = norm.family;
        g_array_append_val(dim, p);
    }
}

static void dim_ports(GArray *dim, const FwPortRange *r, size_t n, int off)
{
    if (n == 0) {
        part_wild(dim);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint16_t vals[32], masks[32];
        size_t m = range_to_prefixes(r[i].lo, r[i].hi, vals, masks);

        for (size_t j = 0; j < m; j++) {
            FwPart p;

            memset(&p, 0, sizeof(p));
            key_put16(&p.mask, off, masks[j]);
            key_put16(&p.val, off, vals[j] & masks[j]);
            g_array_append_val(dim, p);
        }
    }
}

enum { DIM_BASE, DIM_DIR, DIM_SRC, DIM_DST, DIM_SPORT, DIM_DPORT, DIM_CT,
       DIM__MAX };

static bool expand_rule(GHashTable *builders, const FwRule *r,
                        const FwResolved *res, int index, size_t *total,
                        char **err)
{
    GArray *dim[DIM__MAX];
    size_t idx[DIM__MAX] = { 0 };
    size_t count = 1;
    bool ok = true;
    FwPart base;

    for (int d = 0; d < DIM__MAX; d++) {
        dim[d] = g_array_new(false, false, sizeof(FwPart));
    }

    memset(&base, 0, sizeof(base));
    if (r->has_ethertype) {
        key_put16(&base.mask, K_ETHERTYPE, 0xffff);
        key_put16(&base.val, K_ETHERTYPE, r->ethertype);
    }
    if (r->family) {
        KB(&base.mask)[K_FAMILY] = 0xff;
        KB(&base.val)[K_FAMILY] = r->family;
        base.family = r->family;
    }
    if (r->has_proto) {
        key_put16(&base.mask, K_PROTO, 0xffff);
        key_put16(&base.val, K_PROTO, 0x100 | r->proto);
    }
    if (r->n_sports || r->n_dports) {
        KB(&base.mask)[K_L4] = 0xff;
        KB(&base.val)[K_L4] = FW_L4_PORTS;
    }
    if (r->has_icmp_type || r->has_icmp_code) {
        KB(&base.mask)[K_L4] = 0xff;
        KB(&base.val)[K_L4] = FW_L4_ICMP;
        if (r->has_icmp_type) {
            key_put16(&base.mask, K_SPORT, 0xffff);
            key_put16(&base.val, K_SPORT, r->icmp_type);
        }
        if (r->has_icmp_code) {
            key_put16(&base.mask, K_DPORT, 0xffff);
            key_put16(&base.val, K_DPORT, r->icmp_code);
        }
    }
    g_array_append_val(dim[DIM_BASE], base);

    if ((r->dir_mask & FW_DIR_MASK_BOTH) == FW_DIR_MASK_INGRESS ||
        (r->dir_mask & FW_DIR_MASK_BOTH) == FW_DIR_MASK_EGRESS) {
        FwPart p;

        memset(&p, 0, sizeof(p));
        KB(&p.mask)[K_DIR] = 0xff;
        KB(&p.val)[K_DIR] = r->dir_mask == FW_DIR_MASK_INGRESS ?
                            FW_DIR_INGRESS : FW_DIR_EGRESS;
        g_array_append_val(dim[DIM_DIR], p);
    } else {
        part_wild(dim[DIM_DIR]);
    }
    dim_addr(dim[DIM_SRC], res->src_any, res->src, res->n_src, K_SRC);
    dim_addr(dim[DIM_DST], res->dst_any, res->dst, res->n_dst, K_DST);
    dim_ports(dim[DIM_SPORT], r->sports, r->n_sports, K_SPORT);
    dim_ports(dim[DIM_DPORT], r->dports, r->n_dports, K_DPORT);
    if (r->ct_states && r->ct_states != FW_CT_MASK_ALL) {
        for (int s = 0; s < FW_CT__MAX; s++) {
            if (r->ct_states & (1u << s)) {
                FwPart p;

                memset(&p, 0, sizeof(p));
                KB(&p.mask)[K_CT] = 0xff;
                KB(&p.val)[K_CT] = 1u << s;
                g_array_append_val(dim[DIM_CT], p);
            }
        }
    } else {
        part_wild(dim[DIM_CT]);
    }

    for (int d = 0; d < DIM__MAX; d++) {
        count *= dim[d]->len;
        if (count > FW_MAX_ENTRIES_PER_RULE) {
            *err = g_strdup_printf("rule %" PRIu32 " expands to too many "
                                   "classifier entries", r->id);
            ok = false;
            goto out;
        }
    }
    if (count == 0) {
        goto out;
    }

    for (;;) {
        FwKey mask, val;
        uint8_t fam = 0;
        bool skip = false;
        FwBuilder *b;

        memset(&mask, 0, sizeof(mask));
        memset(&val, 0, sizeof(val));
        for (int d = 0; d < DIM__MAX; d++) {
            const FwPart *p = &g_array_index(dim[d], FwPart, idx[d]);

            if (p->family) {
                if (fam && fam != p->family) {
                    skip = true;
                }
                fam = p->family;
            }
            for (int w = 0; w < KEY_WORDS; w++) {
                mask.w[w] |= p->mask.w[w];
                val.w[w] |= p->val.w[w];
            }
        }
        if (!skip) {
            if (*total >= FW_MAX_ENTRIES) {
                *err = g_strdup("too many classifier entries");
                ok = false;
                goto out;
            }
            (*total)++;
            for (int w = 0; w < KEY_WORDS; w++) {
                val.w[w] &= mask.w[w];
            }
            b = g_hash_table_lookup(builders, &mask);
            if (!b) {
                b = g_new0(FwBuilder, 1);
                b->mask = mask;
                b->vals = g_array_new(false, false, sizeof(FwKey));
                b->rules = g_array_new(false, false, sizeof(int));
                g_hash_table_insert(builders, &b->mask, b);
            }
            g_array_append_val(b->vals, val);
            g_array_append_val(b->rules, index);
        }
        /* odometer */
        {
            int d;

            for (d = DIM__MAX - 1; d >= 0; d--) {
                if (++idx[d] < dim[d]->len) {
                    break;
                }
                idx[d] = 0;
            }
            if (d < 0) {
                break;
            }
        }
    }

out:
    for (int d = 0; d < DIM__MAX; d++) {
        g_array_free(dim[d], true);
    }
    return ok;
}

static void subtable_build(FwSubtable *t, FwBuilder *b)
{
    size_t n = b->vals->len, size = 4;

    while (size < 2 * n) {
        size *= 2;
    }
    t->mask = b->mask;
    t->size_mask = size - 1;
    t->slots = g_new(FwSlot, size);
    t->keys = g_new0(FwKey, size);
    t->best = INT_MAX;
    for (size_t i = 0; i < size; i++) {
        t->slots[i].rule = -1;
        t->slots[i].hash = 0;
    }
    /* Bits of the mask on which every entry has the same value */
    for (int w = 0; w < KEY_WORDS; w++) {
        uint64_t and = ~0ull, or = 0;

        for (size_t i = 0; i < n; i++) {
            uint64_t v = g_array_index(b->vals, FwKey, i).w[w];
            and &= v;
            or |= v;
        }
        t->cmask.w[w] = t->mask.w[w] & ~(and ^ or);
        t->cval.w[w] = and & t->cmask.w[w];
    }
    for (size_t i = 0; i < n; i++) {
        const FwKey *v = &g_array_index(b->vals, FwKey, i);
        int rule = g_array_index(b->rules, int, i);
        FwKey mk;
        uint32_t h = key_hash_masked(v, &t->mask, &mk);
        uint32_t j;

        for (j = h & t->size_mask; t->slots[j].rule >= 0;
             j = (j + 1) & t->size_mask) {
            if (t->slots[j].hash == h && key_eq(&t->keys[j], &mk)) {
                break;
            }
        }
        if (t->slots[j].rule < 0 || rule < t->slots[j].rule) {
            t->slots[j].rule = rule;
            t->slots[j].hash = h;
            t->keys[j] = mk;
        }
        if (rule < t->best) {
            t->best = rule;
        }
    }
}

static int subtable_cmp(const void *a, const void *b)
{
    const FwSubtable *x = a, *y = b;

    return x->best < y->best ? -1 : x->best > y->best;
}

static int rule_order_cmp(const void *a, const void *b)
{
    const FwRule *x = a, *y = b;

    if (x->priority != y->priority) {
        return x->priority < y->priority ? -1 : 1;
    }
    return x->id < y->id ? -1 : x->id > y->id;
}

static int id_index_cmp(const void *a, const void *b)
{
    const FwIdIndex *x = a, *y = b;

    return x->id < y->id ? -1 : x->id > y->id;
}

static void rule_free_copy(FwRule *r)
{
    g_free((void *)r->src.prefixes);
    g_free((void *)r->src.set);
    g_free((void *)r->dst.prefixes);
    g_free((void *)r->dst.set);
    g_free((void *)r->sports);
    g_free((void *)r->dports);
}

static void rule_copy(FwRule *dst, const FwRule *src)
{
    *dst = *src;
    dst->src.prefixes = g_memdup2(src->src.prefixes,
                                  src->src.n_prefixes * sizeof(FwPrefix));
    dst->src.set = g_strdup(src->src.set);
    dst->dst.prefixes = g_memdup2(src->dst.prefixes,
                                  src->dst.n_prefixes * sizeof(FwPrefix));
    dst->dst.set = g_strdup(src->dst.set);
    dst->sports = g_memdup2(src->sports, src->n_sports * sizeof(FwPortRange));
    dst->dports = g_memdup2(src->dports, src->n_dports * sizeof(FwPortRange));
}

void fw_ruleset_free(FwRuleset *rs)
{
    if (!rs) {
        return;
    }
    for (size_t i = 0; i < rs->n_rules; i++) {
        rule_free_copy(&rs->rules[i]);
        g_free(rs->res[i].src);
        g_free(rs->res[i].dst);
    }
    g_free(rs->rules);
    g_free(rs->res);
    g_free(rs->by_id);
    for (size_t i = 0; i < rs->n_sets; i++) {
        g_free(rs->sets[i].name);
        g_free(rs->sets[i].prefixes);
    }
    g_free(rs->sets);
    if (rs->set_by_name) {
        g_hash_table_destroy(rs->set_by_name);
    }
    for (size_t i = 0; i < rs->n_subtables; i++) {
        g_free(rs->subtables[i].slots);
        g_free(rs->subtables[i].keys);
    }
    g_free(rs->subtables);
    g_free(rs);
}

static bool check_prefixes(const FwPrefix *p, size_t n, const char *what,
                           uint32_t id, uint8_t family, char **err)
{
    for (size_t i = 0; i < n; i++) {
        if ((p[i].family != 4 && p[i].family != 6) ||
            p[i].len > (p[i].family == 4 ? 32 : 128)) {
            *err = g_strdup_printf("rule %" PRIu32 ": invalid %s prefix",
                                   id, what);
            return false;
        }
        if (family && p[i].family != family) {
            *err = g_strdup_printf("rule %" PRIu32 ": %s prefix is not "
                                   "IPv%d as the rule family", id, what,
                                   family);
            return false;
        }
    }
    return true;
}

static bool check_rule(const FwRule *r, char **err)
{
    bool ports = r->n_sports || r->n_dports;
    bool icmp = r->has_icmp_type || r->has_icmp_code;

    if (r->id == FW_RULE_ID_DEFAULT) {
        *err = g_strdup_printf("rule id %" PRIu32 " is reserved", r->id);
        return false;
    }
    if ((unsigned)r->action >= FW_ACTION__MAX) {
        *err = g_strdup_printf("rule %" PRIu32 ": invalid action", r->id);
        return false;
    }
    if (r->dir_mask & ~FW_DIR_MASK_BOTH) {
        *err = g_strdup_printf("rule %" PRIu32 ": invalid direction", r->id);
        return false;
    }
    if (r->family != 0 && r->family != 4 && r->family != 6) {
        *err = g_strdup_printf("rule %" PRIu32 ": invalid family", r->id);
        return false;
    }
    if (r->ct_states & ~FW_CT_MASK_ALL) {
        *err = g_strdup_printf("rule %" PRIu32 ": invalid state mask",
                               r->id);
        return false;
    }
    if (ports && icmp) {
        *err = g_strdup_printf("rule %" PRIu32 ": ports and ICMP type/code "
                               "are exclusive", r->id);
        return false;
    }
    if (ports && r->has_proto && !proto_has_ports(r->proto)) {
        *err = g_strdup_printf("rule %" PRIu32 ": ports need protocol tcp, "
                               "udp, udplite or sctp", r->id);
        return false;
    }
    if (icmp && r->has_proto && r->proto != IPPROTO_NUM_ICMP &&
        r->proto != IPPROTO_NUM_ICMPV6) {
        *err = g_strdup_printf("rule %" PRIu32 ": ICMP type/code need "
                               "protocol icmp or icmpv6", r->id);
        return false;
    }
    for (size_t i = 0; i < r->n_sports; i++) {
        if (r->sports[i].lo > r->sports[i].hi) {
            *err = g_strdup_printf("rule %" PRIu32 ": source port range "
                                   "%u-%u is empty", r->id,
                                   r->sports[i].lo, r->sports[i].hi);
            return false;
        }
    }
    for (size_t i = 0; i < r->n_dports; i++) {
        if (r->dports[i].lo > r->dports[i].hi) {
            *err = g_strdup_printf("rule %" PRIu32 ": destination port "
                                   "range %u-%u is empty", r->id,
                                   r->dports[i].lo, r->dports[i].hi);
            return false;
        }
    }
    return check_prefixes(r->src.prefixes, r->src.n_prefixes, "source",
                          r->id, r->family, err) &&
           check_prefixes(r->dst.prefixes, r->dst.n_prefixes, "destination",
                          r->id, r->family, err);
}

static const FwSetCopy *find_set(const FwRuleset *rs, const char *name)
{
    return g_hash_table_lookup(rs->set_by_name, name);
}

/* Normalized prefixes, and which lengths occur per family */
typedef struct FwPrefixIndex {
    GHashTable *set;            /* FwPrefix -> itself */
    bool has_len[2][129];       /* IPv4, IPv6 */
} FwPrefixIndex;

static guint prefix_ghash(gconstpointer p)
{
    const uint8_t *b = p;
    guint h = 5381;

    for (size_t i = 0; i < sizeof(FwPrefix); i++) {
        h = h * 33 + b[i];
    }
    return h;
}

static gboolean prefix_gequal(gconstpointer a, gconstpointer b)
{
    return !memcmp(a, b, sizeof(FwPrefix));
}

static void prefix_index_init(FwPrefixIndex *ix, const FwPrefix *p, size_t n)
{
    memset(ix, 0, sizeof(*ix));
    ix->set = g_hash_table_new(prefix_ghash, prefix_gequal);
    for (size_t i = 0; i < n; i++) {
        g_hash_table_add(ix->set, (gpointer)&p[i]);
        ix->has_len[p[i].family == 6][p[i].len] = true;
    }
}

/* Is @x inside a prefix of @ix (one shorter than @x's if @strictly)? */
static bool prefix_index_covers(const FwPrefixIndex *ix, const FwPrefix *x,
                                bool strictly)
{
    for (unsigned l = 0; l + strictly <= x->len; l++) {
        FwPrefix t = *x;

        if (ix->has_len[x->family == 6][l]) {
            t.len = l;
            prefix_normalize(&t);
            if (g_hash_table_contains(ix->set, &t)) {
                return true;
            }
        }
    }
    return false;
}

static FwPrefix *prefixes_normalized(const FwPrefix *p, size_t n)
{
    FwPrefix *out = g_new(FwPrefix, MAX(n, 1));

    for (size_t i = 0; i < n; i++) {
        out[i] = p[i];
        prefix_normalize(&out[i]);
    }
    return out;
}

/*
 * The addresses in both prefix lists @a and @b (normalized), as prefixes.
 * Two prefixes are nested or disjoint, so these are the prefixes of either
 * list that lie inside one of the other; a prefix in both counts once.
 */
static FwPrefix *prefixes_intersect(const FwPrefix *a, size_t na,
                                    const FwPrefix *b, size_t nb, size_t *n)
{
    FwPrefix *out = g_new(FwPrefix, MAX(na + nb, 1));
    FwPrefixIndex ia, ib;

    prefix_index_init(&ia, a, na);
    prefix_index_init(&ib, b, nb);
    *n = 0;
    for (size_t i = 0; i < na; i++) {
        if (prefix_index_covers(&ib, &a[i], false)) {
            out[(*n)++] = a[i];
        }
    }
    for (size_t i = 0; i < nb; i++) {
        if (prefix_index_covers(&ia, &b[i], true)) {
            out[(*n)++] = b[i];
        }
    }
    g_hash_table_destroy(ia.set);
    g_hash_table_destroy(ib.set);
    return out;
}

/*
 * The prefixes a rule's source or destination matches: its list, its
 * set, or when both are given the addresses in both (every field given
 * must match).
 */
static bool resolve_addr(const FwRuleset *rs, const FwAddrMatch *m,
                         uint32_t id, bool *any, FwPrefix **out,
                         size_t *n_out, char **err)
{
    const FwSetCopy *set = NULL;
    g_autofree FwPrefix *list = NULL;
    g_autofree FwPrefix *members = NULL;

    if (m->set) {
        set = find_set(rs, m->set);
        if (!set) {
            *err = g_strdup_printf("rule %" PRIu32 ": unknown address set "
                                   "'%s'", id, m->set);
            return false;
        }
    }
    *any = !m->set && m->n_prefixes == 0;
    list = prefixes_normalized(m->prefixes, m->n_prefixes);
    if (!set) {
        *out = g_steal_pointer(&list);
        *n_out = m->n_prefixes;
        return true;
    }
    members = prefixes_normalized(set->prefixes, set->n_prefixes);
    if (!m->n_prefixes) {
        *out = g_steal_pointer(&members);
        *n_out = set->n_prefixes;
        return true;
    }
    *out = prefixes_intersect(list, m->n_prefixes, members, set->n_prefixes,
                              n_out);
    return true;
}

FwRuleset *fw_ruleset_compile(const FwPolicy *policy, char **errmsg)
{
    g_autoptr(FwRuleset) rs = g_new0(FwRuleset, 1);
    g_autoptr(GHashTable) builders = NULL;
    GHashTableIter it;
    gpointer value;
    char *err = NULL;
    size_t total = 0, i;

    for (int d = 0; d < FW_DIR__MAX; d++) {
        if ((unsigned)policy->default_action[d] >= FW_ACTION__MAX) {
            err = g_strdup("invalid default action");
            goto fail;
        }
        rs->def_action[d] = policy->default_action[d];
        rs->def_log[d] = policy->default_log[d];
    }

    /* Sets */
    rs->sets = g_new0(FwSetCopy, MAX(policy->n_sets, 1));
    rs->set_by_name = g_hash_table_new(g_str_hash, g_str_equal);
    for (i = 0; i < policy->n_sets; i++) {
        const FwAddrSet *s = &policy->sets[i];

        if (!s->name || find_set(rs, s->name)) {
            err = g_strdup_printf("address set '%s' %s",
                                  s->name ? s->name : "(null)",
                                  s->name ? "given twice" : "has no name");
            goto fail;
        }
        if (!check_prefixes(s->prefixes, s->n_prefixes, "set", 0, 0, &err)) {
            g_free(err);
            err = g_strdup_printf("address set '%s': invalid prefix",
                                  s->name);
            goto fail;
        }
        rs->sets[i].name = g_strdup(s->name);
        rs->sets[i].prefixes = g_memdup2(s->prefixes,
                                         s->n_prefixes * sizeof(FwPrefix));
        rs->sets[i].n_prefixes = s->n_prefixes;
        g_hash_table_insert(rs->set_by_name, rs->sets[i].name, &rs->sets[i]);
        rs->n_sets++;
    }

    /* Rules, in evaluation order */
    rs->rules = g_new0(FwRule, MAX(policy->n_rules, 1));
    rs->res = g_new0(FwResolved, MAX(policy->n_rules, 1));
    rs->by_id = g_new0(FwIdIndex, MAX(policy->n_rules, 1));
    for (i = 0; i < policy->n_rules; i++) {
        if (!check_rule(&policy->rules[i], &err)) {
            goto fail;
        }
        rule_copy(&rs->rules[i], &policy->rules[i]);
        rs->n_rules++;
    }
    qsort(rs->rules, rs->n_rules, sizeof(FwRule), rule_order_cmp);
    for (i = 0; i < rs->n_rules; i++) {
        const FwRule *r = &rs->rules[i];
        unsigned dm = r->dir_mask & FW_DIR_MASK_BOTH;

        rs->by_id[i].id = r->id;
        rs->by_id[i].index = i;
        for (int d = 0; d < FW_DIR__MAX; d++) {
            if (!dm || (dm & (1u << d))) {
                rs->states[d] |= r->ct_states ? r->ct_states : FW_CT_MASK_ALL;
            }
        }
    }
    qsort(rs->by_id, rs->n_rules, sizeof(FwIdIndex), id_index_cmp);
    for (i = 1; i < rs->n_rules; i++) {
        if (rs->by_id[i].id == rs->by_id[i - 1].id) {
            err = g_strdup_printf("duplicate rule id %" PRIu32,
                                  rs->by_id[i].id);
            goto fail;
        }
    }

    builders = g_hash_table_new_full(key_ghash, key_gequal, NULL,
                                     builder_free);
    for (i = 0; i < rs->n_rules; i++) {
        const FwRule *r = &rs->rules[i];
        FwResolved *res = &rs->res[i];

        if (!resolve_addr(rs, &r->src, r->id, &res->src_any, &res->src,
                          &res->n_src, &err) ||
            !resolve_addr(rs, &r->dst, r->id, &res->dst_any, &res->dst,
                          &res->n_dst, &err) ||
            !expand_rule(builders, r, res, i, &total, &err)) {
            goto fail;
        }
    }
    rs->n_entries = total;

    rs->n_subtables = g_hash_table_size(builders);
    rs->subtables = g_new0(FwSubtable, MAX(rs->n_subtables, 1));
    g_hash_table_iter_init(&it, builders);
    i = 0;
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        subtable_build(&rs->subtables[i++], value);
    }
    qsort(rs->subtables, rs->n_subtables, sizeof(FwSubtable), subtable_cmp);
    return g_steal_pointer(&rs);

fail:
    if (errmsg) {
        *errmsg = err;
    } else {
        g_free(err);
    }
    return NULL;
}

FwRuleset *fw_ruleset_update_sets(const FwRuleset *old,
                                  const FwAddrSet *sets, size_t n_sets,
                                  char **errmsg)
{
    g_autofree FwAddrSet *all = g_new0(FwAddrSet, old->n_sets + n_sets + 1);
    FwPolicy pol;
    size_t n = 0;

    for (size_t i = 0; i < old->n_sets; i++) {
        bool replaced = false;

        for (size_t j = 0; j < n_sets; j++) {
            if (sets[j].name && !strcmp(sets[j].name, old->sets[i].name)) {
                replaced = true;
            }
        }
        if (!replaced) {
            all[n].name = old->sets[i].name;
            all[n].prefixes = old->sets[i].prefixes;
            all[n].n_prefixes = old->sets[i].n_prefixes;
            n++;
        }
    }
    for (size_t j = 0; j < n_sets; j++) {
        all[n++] = sets[j];
    }
    memset(&pol, 0, sizeof(pol));
    pol.rules = old->rules;
    pol.n_rules = old->n_rules;
    pol.sets = all;
    pol.n_sets = n;
    for (int d = 0; d < FW_DIR__MAX; d++) {
        pol.default_action[d] = old->def_action[d];
        pol.default_log[d] = old->def_log[d];
    }
    return fw_ruleset_compile(&pol, errmsg);
}

size_t fw_ruleset_n_rules(const FwRuleset *rs)
{
    return rs->n_rules;
}

int fw_ruleset_index_of(const FwRuleset *rs, uint32_t id)
{
    FwIdIndex key = { .id = id };
    const FwIdIndex *f = bsearch(&key, rs->by_id, rs->n_rules,
                                 sizeof(FwIdIndex), id_index_cmp);

    return f ? f->index : -1;
}

const FwRule *fw_ruleset_rule(const FwRuleset *rs, int index)
{
    if (index < 0 || (size_t)index >= rs->n_rules) {
        return NULL;
    }
    return &rs->rules[index];
}

FwAction fw_ruleset_default_action(const FwRuleset *rs, FwDirection dir)
{
    return rs->def_action[dir];
}

bool fw_ruleset_default_log(const FwRuleset *rs, FwDirection dir)
{
    return rs->def_log[dir];
}

size_t fw_ruleset_n_subtables(const FwRuleset *rs)
{
    return rs->n_subtables;
}

size_t fw_ruleset_n_entries(const FwRuleset *rs)
{
    return rs->n_entries;
}

void fw_counters_carry(const FwRuleset *old_rs, const FwRuleCounters *old_c,
                       const FwRuleset *new_rs, FwRuleCounters *new_c)
{
    for (size_t i = 0; i < new_rs->n_rules; i++) {
        int o = old_rs ? fw_ruleset_index_of(old_rs, new_rs->rules[i].id)
                       : -1;

        if (o >= 0 && old_c) {
            new_c[i] = old_c[o];
        } else {
            new_c[i].packets = 0;
            new_c[i].bytes = 0;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Connection tracking                                                 */
/* ------------------------------------------------------------------ */

const FwCtTimeouts fw_ct_default_timeouts = {
    .tcp_syn_sent = 120,
    .tcp_syn_recv = 60,
    .tcp_established = 432000,
    .tcp_fin_wait = 120,
    .tcp_last_ack = 30,
    .tcp_time_wait = 120,
    .tcp_close = 10,
    .udp = 30,
    .udp_stream = 180,
    .icmp = 30,
    .generic = 600,
};

/* Timeout classes; the TCP ones double as TCP states */
enum {
    CLS_TCP_SYN_SENT,
    CLS_TCP_SYN_RECV,
    CLS_TCP_ESTABLISHED,
    CLS_TCP_FIN_WAIT,
    CLS_TCP_LAST_ACK,
    CLS_TCP_TIME_WAIT,
    CLS_TCP_CLOSE,
    CLS_UDP,
    CLS_UDP_STREAM,
    CLS_ICMP,
    CLS_GENERIC,
    CLS__MAX,
};

static const char *const cls_names[CLS__MAX] = {
    "syn-sent", "syn-recv", "established", "fin-wait", "last-ack",
    "time-wait", "close", "udp", "udp-stream", "icmp", "generic",
};

enum { KIND_TCP, KIND_UDP, KIND_ICMP, KIND_GENERIC };

/* Entry flags (FwCtKey.flags) */
#define CTF_SEEN_REPLY      0x01
#define CTF_FIN_ORIG        0x02
#define CTF_FIN_REPLY       0x04
#define CTF_ORIG_INGRESS    0x08    /* the first packet was ingress */
#define CTF_USED            0x80    /* the table slot holds an entry */

#define CT_KEY_WORDS    5
#define CT_NONE         UINT32_MAX  /* no entry (list link) */

/*
 * A connection key in egress orientation: src/sport is the guest's end
 * (the sender of egress packets), so a connection has one key for both
 * directions.  The last two bytes are not part of the key: entries keep
 * their timeout class and flags there (zero in lookup keys, masked out
 * when hashing and comparing).
 */
typedef union FwCtKey {
    uint64_t w[CT_KEY_WORDS];
    struct {
        uint8_t src[16];
        uint8_t dst[16];
        uint16_t sport;
        uint16_t dport;
        uint8_t proto;
        uint8_t family;
        uint8_t cls;            /* entries only */
        uint8_t flags;          /* entries only: CTF_* */
    };
} FwCtKey;

/* Bytes of the last key word that belong to the key */
static const FwCtKey ct_key_mask = {
    .sport = 0xffff, .dport = 0xffff, .proto = 0xff, .family = 0xff,
};

/*
 * The hot part of an entry, one cache line: everything that a packet of
 * a known connection reads or writes.  Packet and byte counts are kept
 * here as small deltas and only added to the cold part when they would
 * overflow.
 */
typedef struct QEMU_ALIGNED(64) FwCtHot {
    FwCtKey k;
    int64_t expires;
    int32_t qdelta;             /* expires - expiry when put on its list */
    uint32_t bytes[2];          /* [0] original, [1] reply direction */
    uint16_t packets[2];
} FwCtHot;

QEMU_BUILD_BUG_ON(sizeof(FwCtHot) != 64);

/* The cold part of an entry */
typedef struct FwCtCold {
    uint64_t packets[2];
    uint64_t bytes[2];
    uint32_t rule_id;
    uint32_t prev;              /* timeout class list */
    uint32_t next;
} FwCtCold;

/*
 * The table: open addressing with linear probing where the hot line of
 * an entry is the slot itself, so finding a connection usually reads
 * one cache line (a second one, when needed, is the adjacent line).
 * Cold parts live in a parallel array indexed by slot.  A slot is used
 * iff its flags have CTF_USED.  Deletion shifts the rest of the probe
 * cluster back instead of leaving tombstones; entries therefore move,
 * and their timeout list links are fixed up when they do.
 * The table is at most half full: it starts with 2 * max_entries slots
 * rounded up to a power of two, but at most CT_SLOTS_MAX_INITIAL, and
 * beyond that doubles when needed.
 */
#ifndef CT_SLOTS_MAX_INITIAL
#define CT_SLOTS_MAX_INITIAL    (1u << 19)
#endif
#define CT_SLOTS_MIN    8u
#define CT_SLOTS_MAX    (1u << 31)
#define CT_MAX_ENTRIES  (CT_SLOTS_MAX / 2)

typedef struct FwCtList {
    uint32_t head;
    uint32_t tail;
} FwCtList;

/*
 * The verdicts of first fragments, for the later fragments of their
 * datagram: a set-associative cache, so it is bounded and costs nothing
 * to packets that are not fragments.  A new datagram replaces the entry
 * of its set that expires first.
 */
#define FRAG_SETS       256
#define FRAG_WAYS       4

typedef struct FwFrag {
    uint8_t src[16];
    uint8_t dst[16];
    uint32_t id;
    uint8_t family;
    uint8_t proto;              /* IPv4 only: RFC 8200 lets IPv6 vary */
    uint8_t action;             /* from here on: not part of the key */
    uint8_t reason;
    uint8_t ct_state;
    int64_t expires;            /* 0: free */
} FwFrag;

/* Transaction ids of the guest's recent DHCP requests */
#define DHCP_XIDS       4

typedef struct FwDhcpXid {
    uint32_t xid;
    int64_t expires;
} FwDhcpXid;

struct FwConntrack {
    size_t max_entries;
    size_t count;
    uint32_t limit;             /* max_entries, limited to CT_MAX_ENTRIES */
    uint32_t mask;              /* slots - 1 */
    FwCtHot *hot;               /* the table */
    FwCtCold *cold;             /* parallel to hot */
    void *hot_mem;
    void *cold_mem;
    uint64_t seed[CT_KEY_WORDS + 1];
    int64_t timeout_ns[CLS__MAX];
    int64_t requeue_ns[CLS__MAX];
    FwCtList lists[CLS__MAX];
    unsigned gc_next;
    FwFrag *frags;              /* FRAG_SETS * FRAG_WAYS */
    FwDhcpXid dhcp_xids[DHCP_XIDS];
    unsigned dhcp_next;
    bool has_dhcp_server;
    uint8_t dhcp_server[4];     /* the server that answered the guest */
    bool tcp_pickup;
};

#define FRAG_TIMEOUT_NS     (30 * NS_PER_SEC)   /* Linux' ipfrag_time */
#define DHCP_XID_TIMEOUT_NS (60 * NS_PER_SEC)

#define NS_PER_SEC 1000000000LL

static inline FwCtHot *ct_hot(const FwConntrack *ct, uint32_t i)
{
    return &ct->hot[i];
}

static inline FwCtCold *ct_cold(const FwConntrack *ct, uint32_t i)
{
    return &ct->cold[i];
}

/*
 * Zeroed memory of @size bytes aligned to 64, or to a huge page if it is
 * that large (on Linux, asking for transparent huge pages: the table is
 * accessed randomly, and TLB misses would add to the cache misses);
 * *@mem is to be freed.
 */
#define CT_HUGE_PAGE    (2u << 20)

static void *ct_alloc_aligned(size_t size, void **mem)
{
    size_t align = size >= CT_HUGE_PAGE ? CT_HUGE_PAGE : 64;
    void *p;

    *mem = g_malloc0(size + align - 1);
    p = (void *)(((uintptr_t)*mem + align - 1) & ~(uintptr_t)(align - 1));
#if defined(CONFIG_LINUX) && defined(MADV_HUGEPAGE)
    if (align == CT_HUGE_PAGE) {
        madvise(p, size & ~(size_t)(CT_HUGE_PAGE - 1), MADV_HUGEPAGE);
    }
#endif
    return p;
}

static void ct_table_alloc(FwConntrack *ct, size_t slots)
{
    ct->hot = ct_alloc_aligned(slots * sizeof(FwCtHot), &ct->hot_mem);
    ct->cold = ct_alloc_aligned(slots * sizeof(FwCtCold), &ct->cold_mem);
    ct->mask = slots - 1;
}

FwConntrack *fw_conntrack_new(size_t max_entries,
                              const FwCtTimeouts *to)
{
    FwConntrack *ct = g_new0(FwConntrack, 1);
    size_t slots = CT_SLOTS_MIN;

    if (!to) {
        to = &fw_ct_default_timeouts;
    }
    ct->max_entries = MAX(max_entries, 1);
    ct->limit = MIN(ct->max_entries, CT_MAX_ENTRIES);
    while (slots < (size_t)ct->limit * 2 && slots < CT_SLOTS_MAX_INITIAL) {
        slots *= 2;
    }
    ct_table_alloc(ct, slots);
    ct->frags = g_new0(FwFrag, FRAG_SETS * FRAG_WAYS);
    for (int c = 0; c < CLS__MAX; c++) {
        ct->lists[c].head = ct->lists[c].tail = CT_NONE;
    }
    for (int w = 0; w <= CT_KEY_WORDS; w++) {
        ct->seed[w] = ((uint64_t)g_random_int() << 32) | g_random_int();
    }
    ct->timeout_ns[CLS_TCP_SYN_SENT] = to->tcp_syn_sent * NS_PER_SEC;
    ct->timeout_ns[CLS_TCP_SYN_RECV] = to->tcp_syn_recv * NS_PER_SEC;
    ct->timeout_ns[CLS_TCP_ESTABLISHED] = to->tcp_established * NS_PER_SEC;
    ct->timeout_ns[CLS_TCP_FIN_WAIT] = to->tcp_fin_wait * NS_PER_SEC;
    ct->timeout_ns[CLS_TCP_LAST_ACK] = to->tcp_last_ack * NS_PER_SEC;
    ct->timeout_ns[CLS_TCP_TIME_WAIT] = to->tcp_time_wait * NS_PER_SEC;
    ct->timeout_ns[CLS_TCP_CLOSE] = to->tcp_close * NS_PER_SEC;
    ct->timeout_ns[CLS_UDP] = to->udp * NS_PER_SEC;
    ct->timeout_ns[CLS_UDP_STREAM] = to->udp_stream * NS_PER_SEC;
    ct->timeout_ns[CLS_ICMP] = to->icmp * NS_PER_SEC;
    ct->timeout_ns[CLS_GENERIC] = to->generic * NS_PER_SEC;
    for (int c = 0; c < CLS__MAX; c++) {
        ct->requeue_ns[c] = MIN(NS_PER_SEC, ct->timeout_ns[c] / 8);
    }
    return ct;
}

void fw_conntrack_free(FwConntrack *ct)
{
    if (!ct) {
        return;
    }
    g_free(ct->hot_mem);
    g_free(ct->cold_mem);
    g_free(ct->frags);
    g_free(ct);
}

size_t fw_conntrack_count(const FwConntrack *ct)
{
    return ct->count;
}

size_t fw_conntrack_max(const FwConntrack *ct)
{
    return ct->max_entries;
}

/* 64x64 -> 128-bit multiply, folded to 64 bits */
static inline uint64_t ct_mum(uint64_t a, uint64_t b)
{
    uint64_t lo, hi;

    mulu64(&lo, &hi, a, b);
    return lo ^ hi;
}

/*
 * Hash of the key part of @k (entries' class and flags are ignored),
 * keyed by the table's random seed.  The multiplies are independent of
 * each other, so the hash is ready a few cycles after the key is: the
 * slot load that follows is the expensive part of a lookup.
 */
static inline uint64_t ct_hash_words(const FwConntrack *ct, uint64_t w0,
                                     uint64_t w1, uint64_t w2, uint64_t w3,
                                     uint64_t w4)
{
    const uint64_t *s = ct->seed;
    uint64_t h;

    h = ct_mum(w0 ^ s[0], w1 ^ s[1]) ^ ct_mum(w2 ^ s[2], w3 ^ s[3]) ^
        ct_mum(w4 ^ s[4], s[5]);
    return ct_mum(h ^ s[5], 0x9e3779b97f4a7c15ull);
}

static inline uint64_t ct_hash(const FwConntrack *ct, const FwCtKey *k)
{
    QEMU_BUILD_BUG_ON(CT_KEY_WORDS != 5);
    return ct_hash_words(ct, k->w[0], k->w[1], k->w[2], k->w[3],
                         k->w[4] & ct_key_mask.w[4]);
}

/* Index tag of a hash: never 0, which marks a free slot */
static inline uint32_t ct_tag(uint64_t h)
{
    return (uint32_t)(h >> 32) | 1;
}

/* Does entry key @e equal lookup key @k? */
static inline bool ct_key_eq(const FwCtKey *e, const FwCtKey *k)
{
    uint64_t d = (e->w[CT_KEY_WORDS - 1] ^ k->w[CT_KEY_WORDS - 1]) &
                 ct_key_mask.w[CT_KEY_WORDS - 1];

    for (int i = 0; i < CT_KEY_WORDS - 1; i++) {
        d |= e->w[i] ^ k->w[i];
    }
    return d == 0;
}

/*
 * Key of a packet @src -> @dst (@alen address bytes each, the rest
 * zero) travelling in @dir, in egress orientation: ingress packets have
 * their ends swapped.
 */
static inline void ct_key_make_raw(FwCtKey *k, const uint8_t *src,
                                   const uint8_t *dst, size_t alen,
                                   uint8_t family, uint16_t sport,
                                   uint16_t dport, uint8_t proto,
                                   FwDirection dir)
{
    bool in = dir == FW_DIR_INGRESS;

    memset(k, 0, sizeof(*k));
    memcpy(k->src, in ? dst : src, alen);
    memcpy(k->dst, in ? src : dst, alen);
    k->sport = in ? dport : sport;
    k->dport = in ? sport : dport;
    k->proto = proto;
    k->family = family;
}

static inline void ct_key_make(FwCtKey *k, const FwAddr *src, const FwAddr *dst,
                        uint16_t sport, uint16_t dport, uint8_t proto,
                        FwDirection dir)
{
    ct_key_make_raw(k, src->a, dst->a, sizeof(src->a), src->family,
                    sport, dport, proto, dir);
}

/*
 * Key of a trackable packet; false if the packet is not tracked.
 * ICMP echo request: sport = id, dport = 0; echo reply: the reverse.
 */
static inline QEMU_ALWAYS_INLINE
bool ct_packet_key(const FwPacket *pkt, FwDirection dir, FwCtKey *k,
                   uint8_t *kind)
{
    int fam = packet_family(pkt);
    uint16_t sport = 0, dport = 0;

    if (!fam || (pkt->frag & FW_FRAG_LATER)) {
        return false;
    }
    if (pkt->l4 == FW_L4_PORTS) {
        *kind = pkt->proto == IPPROTO_NUM_TCP ? KIND_TCP : KIND_UDP;
        sport = pkt->sport;
        dport = pkt->dport;
    } else if (pkt->l4 == FW_L4_ICMP) {
        if (icmp_is_echo_request(fam, pkt->icmp_type)) {
            sport = pkt->icmp_id;
        } else if (icmp_is_echo_reply(fam, pkt->icmp_type)) {
            dport = pkt->icmp_id;
        } else {
            return false;
        }
        *kind = KIND_ICMP;
    } else {
        *kind = KIND_GENERIC;
    }
    ct_key_make(k, &pkt->src, &pkt->dst, sport, dport, pkt->proto, dir);
    return true;
}

static void ct_list_remove(FwConntrack *ct, uint32_t i, int cls)
{
    FwCtList *l = &ct->lists[cls];
    FwCtCold *c = ct_cold(ct, i);

    if (c->prev != CT_NONE) {
        ct_cold(ct, c->prev)->next = c->next;
    } else {
        l->head = c->next;
    }
    if (c->next != CT_NONE) {
        ct_cold(ct, c->next)->prev = c->prev;
    } else {
        l->tail = c->prev;
    }
    c->prev = c->next = CT_NONE;
}

static void ct_list_append(FwConntrack *ct, uint32_t i, int cls)
{
    FwCtList *l = &ct->lists[cls];
    FwCtCold *c = ct_cold(ct, i);

    c->next = CT_NONE;
    c->prev = l->tail;
    if (l->tail != CT_NONE) {
        ct_cold(ct, l->tail)->next = i;
    } else {
        l->head = i;
    }
    l->tail = i;
}

/* Move entry @i (@e) to the tail of the list of class @cls */
static void ct_requeue(FwConntrack *ct, uint32_t i, FwCtHot *e, int cls)
{
    ct_list_remove(ct, i, e->k.cls);
    e->k.cls = cls;
    ct_list_append(ct, i, cls);
}

/*
 * Set the timeout class and restart the timer.  Each list is ordered by
 * the expiry an entry had when it was appended ('queued' = expires -
 * qdelta), and expires lies in [queued, queued + requeue_ns]: an entry
 * only moves to the tail when its expiry got requeue_ns ahead of its
 * position, so a busy flow rarely touches other entries' cache lines
 * (or its own cold part).  Expiring from the head is therefore late by
 * at most requeue_ns (1 s).
 */
static inline QEMU_ALWAYS_INLINE
void ct_touch(FwConntrack *ct, uint32_t i, FwCtHot *e, int cls, int64_t now)
{
    int64_t exp = now + ct->timeout_ns[cls];
    int64_t d = exp - (e->expires - e->qdelta);

    if (unlikely(e->k.cls != cls || d > ct->requeue_ns[cls] ||
                 d < INT32_MIN)) {
        ct_requeue(ct, i, e, cls);
        d = 0;
    }
    e->expires = exp;
    e->qdelta = d;
}

/* Count a packet of @len bytes in direction @r (1: reply) */
static inline void ct_count(FwConntrack *ct, uint32_t i, FwCtHot *e, int r,
                            uint32_t len)
{
    if (unlikely(e->packets[r] == UINT16_MAX ||
                 e->bytes[r] > UINT32_MAX - len)) {
        FwCtCold *c = ct_cold(ct, i);

        c->packets[r] += e->packets[r];
        c->bytes[r] += e->bytes[r];
        e->packets[r] = 0;
        e->bytes[r] = 0;
    }
    e->packets[r]++;
    e->bytes[r] += len;
}

/* A free slot for an entry with hash @h; the table is never full */
static uint32_t ct_free_slot(const FwConntrack *ct, uint64_t h)
{
    uint32_t i = h & ct->mask;

    while (ct->hot[i].k.flags & CTF_USED) {
        i = (i + 1) & ct->mask;
    }
    return i;
}

/* Make room in the table for one more entry */
static void ct_table_reserve(FwConntrack *ct)
{
    size_t slots = (size_t)ct->mask + 1;
    FwCtHot *old_hot = ct->hot;
    FwCtCold *old_cold = ct->cold;
    void *old_hot_mem = ct->hot_mem;
    void *old_cold_mem = ct->cold_mem;
    FwCtList old_lists[CLS__MAX];

    if ((ct->count + 1) * 2 <= slots) {
        return;
    }
    memcpy(old_lists, ct->lists, sizeof(old_lists));
    ct_table_alloc(ct, slots * 2);
    for (int c = 0; c < CLS__MAX; c++) {
        uint32_t i;

        ct->lists[c].head = ct->lists[c].tail = CT_NONE;
        for (i = old_lists[c].head; i != CT_NONE; i = old_cold[i].next) {
            uint32_t j = ct_free_slot(ct, ct_hash(ct, &old_hot[i].k));

            ct->hot[j] = old_hot[i];
            ct->cold[j] = old_cold[i];
            ct_list_append(ct, j, c);
        }
    }
    g_free(old_hot_mem);
    g_free(old_cold_mem);
}

/* Move the entry in slot @from to the free slot @to */
static void ct_move(FwConntrack *ct, uint32_t from, uint32_t to)
{
    FwCtCold *c = &ct->cold[from];
    FwCtList *l = &ct->lists[ct->hot[from].k.cls];

    if (c->prev != CT_NONE) {
        ct->cold[c->prev].next = to;
    } else {
        l->head = to;
    }
    if (c->next != CT_NONE) {
        ct->cold[c->next].prev = to;
    } else {
        l->tail = to;
    }
    ct->hot[to] = ct->hot[from];
    ct->cold[to] = *c;
}

/*
 * Delete the entry in slot @i (backward-shift deletion): each following
 * entry of the probe cluster whose home slot is not in (hole, its slot]
 * moves into the hole.
 */
static void ct_delete(FwConntrack *ct, uint32_t i)
{
    uint32_t j = i;

    ct_list_remove(ct, i, ct->hot[i].k.cls);
    ct->count--;
    for (;;) {
        uint32_t home;

        j = (j + 1) & ct->mask;
        if (!(ct->hot[j].k.flags & CTF_USED)) {
            break;
        }
        home = ct_hash(ct, &ct->hot[j].k) & ct->mask;
        if (((j - home) & ct->mask) >= ((j - i) & ct->mask)) {
            ct_move(ct, j, i);
            i = j;
        }
    }
    memset(&ct->hot[i], 0, sizeof(FwCtHot));
}

/* The slot of the entry with key @k, live or not, or CT_NONE */
static inline uint32_t ct_slot(const FwConntrack *ct, const FwCtKey *k)
{
    uint32_t i = ct_hash(ct, k) & ct->mask;

    for (;;) {
        const FwCtHot *e = &ct->hot[i];

        if (!(e->k.flags & CTF_USED)) {
            return CT_NONE;
        }
        if (ct_key_eq(&e->k, k)) {
            return i;
        }
        i = (i + 1) & ct->mask;
    }
}

/*
 * The live entry with key @k, or CT_NONE.  An expired entry is deleted
 * and treated as absent.
 */
static inline QEMU_ALWAYS_INLINE
uint32_t ct_find(FwConntrack *ct, const FwCtKey *k, int64_t now)
{
    uint32_t i = ct_slot(ct, k);

    if (i != CT_NONE && ct->hot[i].expires <= now) {
        ct_delete(ct, i);
        return CT_NONE;
    }
    return i;
}

/*
 * The words of a connection key (FwCtKey.w) built from its parts, for
 * fw_conntrack_prefetch(), which reads them straight from a frame
 */
QEMU_BUILD_BUG_ON(offsetof(FwCtKey, sport) != 32 ||
                  offsetof(FwCtKey, dport) != 34 ||
                  offsetof(FwCtKey, proto) != 36 ||
                  offsetof(FwCtKey, family) != 37);

static inline uint64_t ct_word_tail(uint16_t sport, uint16_t dport,
                                    uint8_t proto, uint8_t family)
{
#if HOST_BIG_ENDIAN
    return ((uint64_t)sport << 48) | ((uint64_t)dport << 32) |
           ((uint64_t)proto << 24) | ((uint64_t)family << 16);
#else
    return sport | ((uint64_t)dport << 16) | ((uint64_t)proto << 32) |
           ((uint64_t)family << 40);
#endif
}

/* An IPv4 address: the first word of FwCtKey.src or .dst */
static inline uint64_t ct_word_ipv4(const uint8_t *a)
{
    uint64_t w = (uint32_t)ldl_he_p(a);

    return HOST_BIG_ENDIAN ? w << 32 : w;
}

/*
 * The connection key is read straight from the frame, without parsing
 * it: only untagged IPv4 (not a later fragment) and IPv6 without
 * extension headers, carrying a protocol with ports.  It checks only
 * what it needs to stay within the frame; the key is a guess that
 * equals ct_packet_key() of the parsed frame whenever that parses.
 */
size_t fw_conntrack_prefetch(const FwConntrack *ct, const uint8_t *frame,
                             size_t len, size_t vnet_hdr_len,
                             FwDirection dir)
{
    const uint8_t *f = frame + vnet_hdr_len;
    uint64_t a0, a1, b0, b1, t;
    uint16_t sport, dport, p;
    uint8_t proto, family;
    size_t l4, i;

    if (len < vnet_hdr_len || len - vnet_hdr_len < 14 + 20) {
        return SIZE_MAX;
    }
    len -= vnet_hdr_len;
    switch (rd16(f + 12)) {
    case ETH_P_IPV4:
        l4 = 14 + (f[14] & 0xf) * 4;
        proto = f[14 + 9];
        if ((f[14] >> 4) != 4 || l4 < 14 + 20 || len < l4 + 4 ||
            (rd16(f + 14 + 6) & 0x1fff) || !proto_has_ports(proto)) {
            return SIZE_MAX;
        }
        family = 4;
        a0 = ct_word_ipv4(f + 14 + 12);
        b0 = ct_word_ipv4(f + 14 + 16);
        a1 = b1 = 0;
        break;
    case ETH_P_IPV6:
        l4 = 14 + 40;
        proto = f[14 + 6];
        if ((f[14] >> 4) != 6 || len < l4 + 4 || !proto_has_ports(proto)) {
            return SIZE_MAX;
        }
        family = 6;
        a0 = ldq_he_p(f + 14 + 8);
        a1 = ldq_he_p(f + 14 + 16);
        b0 = ldq_he_p(f + 14 + 24);
        b1 = ldq_he_p(f + 14 + 32);
        break;
    default:
        return SIZE_MAX;
    }
    sport = rd16(f + l4);
    dport = rd16(f + l4 + 2);
    if (dir == FW_DIR_INGRESS) {
        /* egress orientation, as ct_key_make() */
        t = a0, a0 = b0, b0 = t;
        t = a1, a1 = b1, b1 = t;
        p = sport, sport = dport, dport = p;
    }
    i = ct_hash_words(ct, a0, a1, b0, b1,
                      ct_word_tail(sport, dport, proto, family)) & ct->mask;
    /* for writing: a packet of a known connection updates its entry */
    __builtin_prefetch(&ct->hot[i], 1, 3);
    return i;
}

size_t fw_conntrack_home_slot(const FwConntrack *ct, const FwPacket *pkt,
                              FwDirection dir)
{
    FwCtKey k;
    uint8_t kind;

    if (!ct_packet_key(pkt, dir, &k, &kind)) {
        return SIZE_MAX;
    }
    return ct_hash(ct, &k) & ct->mask;
}

static inline bool ct_head_expired(const FwConntrack *ct, int cls,
                                   int64_t now)
{
    uint32_t i = ct->lists[cls].head;

    return i != CT_NONE && ct_hot(ct, i)->expires <= now;
}

static size_t ct_expire_list(FwConntrack *ct, int cls, int64_t now,
                             size_t budget)
{
    size_t n = 0;

    while (n < budget && ct_head_expired(ct, cls, now)) {
        ct_delete(ct, ct->lists[cls].head);
        n++;
    }
    return n;
}

size_t fw_conntrack_expire(FwConntrack *ct, int64_t now, size_t budget)
{
    size_t n = 0;

    for (int c = 0; c < CLS__MAX && n < budget; c++) {
        n += ct_expire_list(ct, c, now, budget - n);
    }
    return n;
}

/* Bounded incremental expiry: one class, two entries per call */
static inline void ct_gc_step(FwConntrack *ct, int64_t now)
{
    unsigned c = ct->gc_next;

    ct->gc_next = c + 1 == CLS__MAX ? 0 : c + 1;
    if (ct_head_expired(ct, c, now)) {
        ct_expire_list(ct, c, now, 2);
    }
}

void fw_conntrack_flush(FwConntrack *ct)
{
    size_t slots = (size_t)ct->mask + 1;

    if (ct->count < slots / 16) {
        for (int c = 0; c < CLS__MAX; c++) {
            uint32_t i;

            for (i = ct->lists[c].head; i != CT_NONE; i = ct->cold[i].next) {
                memset(&ct->hot[i], 0, sizeof(FwCtHot));
            }
        }
    } else {
        memset(ct->hot, 0, slots * sizeof(FwCtHot));
    }
    for (int c = 0; c < CLS__MAX; c++) {
        ct->lists[c].head = ct->lists[c].tail = CT_NONE;
    }
    ct->count = 0;
    memset(ct->frags, 0, FRAG_SETS * FRAG_WAYS * sizeof(FwFrag));
    memset(ct->dhcp_xids, 0, sizeof(ct->dhcp_xids));
    ct->has_dhcp_server = false;
}

/*
 * Deleting moves entries, so the keys of the matching entries are
 * collected first.
 */
size_t fw_conntrack_flush_rule(FwConntrack *ct, uint32_t rule_id)
{
    g_autoptr(GArray) keys = g_array_new(false, false, sizeof(FwCtKey));

    for (int c = 0; c < CLS__MAX; c++) {
        uint32_t i;

        for (i = ct->lists[c].head; i != CT_NONE; i = ct->cold[i].next) {
            if (ct->cold[i].rule_id == rule_id) {
                g_array_append_val(keys, ct->hot[i].k);
            }
        }
    }
    for (guint n = 0; n < keys->len; n++) {
        uint32_t i = ct_slot(ct, &g_array_index(keys, FwCtKey, n));

        g_assert(i != CT_NONE);
        ct_delete(ct, i);
    }
    return keys->len;
}

/*
 * The original tuple of entry @e (as its first packet saw it) into
 * @info's orig_dir, src, dst, proto, sport and dport.
 */
static void ct_orig_tuple(const FwCtHot *e, FwCtInfo *info)
{
    bool in = e->k.flags & CTF_ORIG_INGRESS;

    info->orig_dir = in ? FW_DIR_INGRESS : FW_DIR_EGRESS;
    info->src.family = info->dst.family = e->k.family;
    memcpy(info->src.a, in ? e->k.dst : e->k.src, 16);
    memcpy(info->dst.a, in ? e->k.src : e->k.dst, 16);
    info->sport = in ? e->k.dport : e->k.sport;
    info->dport = in ? e->k.sport : e->k.dport;
    info->proto = e->k.proto;
}

/*
 * The first packet of connection @e as the policy judges it: the
 * original tuple in the original direction, with what the rules can
 * match (ports for TCP and UDP-like protocols, an echo request with its
 * identifier for ICMP).  Returns the direction.
 */
static FwDirection ct_first_packet(const FwCtHot *e, FwPacket *p)
{
    FwCtInfo t;
    int cls = e->k.cls;

    ct_orig_tuple(e, &t);
    memset(p, 0, sizeof(*p));
    p->l3 = t.src.family == 4 ? FW_L3_IPV4 : FW_L3_IPV6;
    p->ethertype = t.src.family == 4 ? ETH_P_IPV4 : ETH_P_IPV6;
    p->src = t.src;
    p->dst = t.dst;
    p->proto = t.proto;
    if (cls <= CLS_UDP_STREAM) {
        p->l4 = FW_L4_PORTS;
        p->sport = t.sport;
        p->dport = t.dport;
        p->tcp_flags = cls < CLS_UDP ? FW_TCP_SYN : 0;
    } else if (cls == CLS_ICMP) {
        p->l4 = FW_L4_ICMP;
        p->icmp_type = t.src.family == 4 ? 8 : 128;
        p->icmp_id = t.sport;
    }
    return t.orig_dir;
}

size_t fw_conntrack_rejudge(FwConntrack *ct, const FwRuleset *rs)
{
    size_t ended = 0;
    uint32_t i = 0;

    /*
     * Walk the slots: deleting shifts later entries of the probe cluster
     * back into the hole, so a slot is judged again after a deletion.
     * An entry that wraps around to the end of the table may be judged
     * twice, which gives the same answer.
     */
    while (i <= ct->mask) {
        FwCtHot *e = ct_hot(ct, i);
        FwPacket p;
        FwDirection dir;
        int idx;

        if (!(e->k.flags & CTF_USED)) {
            i++;
            continue;
        }
        dir = ct_first_packet(e, &p);
        idx = fw_ruleset_classify(rs, &p, dir, FW_CT_NEW);
        if ((idx >= 0 ? rs->rules[idx].action : rs->def_action[dir]) !=
            FW_ACTION_ACCEPT) {
            ct_delete(ct, i);
            ended++;
            continue;
        }
        ct_cold(ct, i)->rule_id = idx >= 0 ? rs->rules[idx].id
                                           : FW_RULE_ID_DEFAULT;
        i++;
    }
    return ended;
}

void fw_conntrack_set_tcp_pickup(FwConntrack *ct, bool on)
{
    ct->tcp_pickup = on;
}

/* Linux' tcp_valid_flags, ignoring PSH, ECE and CWR */
static bool tcp_flags_valid(uint8_t f)
{
    f &= FW_TCP_FIN | FW_TCP_SYN | FW_TCP_RST | FW_TCP_ACK | FW_TCP_URG;
    switch (f) {
    case FW_TCP_SYN:
    case FW_TCP_SYN | FW_TCP_URG:
    case FW_TCP_SYN | FW_TCP_ACK:
    case FW_TCP_RST:
    case FW_TCP_RST | FW_TCP_ACK:
    case FW_TCP_FIN | FW_TCP_ACK:
    case FW_TCP_FIN | FW_TCP_ACK | FW_TCP_URG:
    case FW_TCP_ACK:
    case FW_TCP_ACK | FW_TCP_URG:
        return true;
    default:
        return false;
    }
}

static inline QEMU_ALWAYS_INLINE
FwCtState tcp_track(FwConntrack *ct, uint32_t i, FwCtHot *e, bool is_reply,
                    uint8_t flags, int64_t now)
{
    uint8_t f = flags & (FW_TCP_SYN | FW_TCP_ACK | FW_TCP_FIN | FW_TCP_RST);
    int cls = e->k.cls;

    if (f & FW_TCP_RST) {
        if (!(e->k.flags & CTF_SEEN_REPLY)) {
            /*
             * Refused, or aborted before any answer: no connection was
             * made, so nothing later relates to it (as Linux does)
             */
            ct_delete(ct, i);
            return FW_CT_ESTABLISHED;
        }
        if (cls != CLS_TCP_CLOSE) {
            ct_touch(ct, i, e, CLS_TCP_CLOSE, now);
        }
        return FW_CT_ESTABLISHED;
    }
    switch (cls) {
    case CLS_TCP_SYN_SENT:
        if (!is_reply && f == FW_TCP_SYN) {
            ct_touch(ct, i, e, CLS_TCP_SYN_SENT, now);
            return FW_CT_NEW;
        }
        if (is_reply && (f == (FW_TCP_SYN | FW_TCP_ACK) || f == FW_TCP_SYN)) {
            e->k.flags |= CTF_SEEN_REPLY;
            ct_touch(ct, i, e, CLS_TCP_SYN_RECV, now);
            return FW_CT_ESTABLISHED;
        }
        return FW_CT_INVALID;
    case CLS_TCP_SYN_RECV:
        if (f & FW_TCP_SYN) {
            /* retransmitted SYN or SYN-ACK */
            ct_touch(ct, i, e, CLS_TCP_SYN_RECV, now);
            return FW_CT_ESTABLISHED;
        }
        if (f & FW_TCP_FIN) {
            e->k.flags |= is_reply ? CTF_FIN_REPLY : CTF_FIN_ORIG;
            ct_touch(ct, i, e, CLS_TCP_FIN_WAIT, now);
            return FW_CT_ESTABLISHED;
        }
        ct_touch(ct, i, e,
                 is_reply ? CLS_TCP_SYN_RECV : CLS_TCP_ESTABLISHED, now);
        return FW_CT_ESTABLISHED;
    case CLS_TCP_ESTABLISHED:
    case CLS_TCP_FIN_WAIT:
    case CLS_TCP_LAST_ACK:
        if (f & FW_TCP_SYN) {
            return FW_CT_INVALID;
        }
        if (is_reply) {
            /* set since the SYN-ACK, unless picked up mid-stream */
            e->k.flags |= CTF_SEEN_REPLY;
        }
        if (f & FW_TCP_FIN) {
            e->k.flags |= is_reply ? CTF_FIN_REPLY : CTF_FIN_ORIG;
            if ((e->k.flags & (CTF_FIN_ORIG | CTF_FIN_REPLY)) ==
                (CTF_FIN_ORIG | CTF_FIN_REPLY)) {
                ct_touch(ct, i, e, CLS_TCP_LAST_ACK, now);
            } else {
                ct_touch(ct, i, e, CLS_TCP_FIN_WAIT, now);
            }
        } else if (cls == CLS_TCP_LAST_ACK) {
            ct_touch(ct, i, e, CLS_TCP_TIME_WAIT, now);
        } else {
            ct_touch(ct, i, e, cls, now);
        }
        return e->k.flags & CTF_SEEN_REPLY ? FW_CT_ESTABLISHED : FW_CT_NEW;
    default:
        /* TIME_WAIT, CLOSE: the timer is not restarted */
        if (f & FW_TCP_SYN) {
            return FW_CT_INVALID;
        }
        return FW_CT_ESTABLISHED;
    }
}

FwCtState fw_conntrack_lookup(FwConntrack *ct, const FwPacket *pkt,
                              FwDirection dir, int64_t now)
{
    FwCtKey k;
    FwCtHot *e;
    uint32_t i;
    uint8_t kind = KIND_GENERIC;
    bool is_reply;
    int fam = packet_family(pkt);

    ct_gc_step(ct, now);
    if (!fam || (pkt->frag & FW_FRAG_LATER)) {
        return FW_CT_NEW;
    }
    if (pkt->l4 == FW_L4_ICMP && pkt->icmp_error) {
        const FwEmbedded *m = &pkt->emb;
        uint16_t sport = 0, dport = 0;

        if (m->l4 == FW_L4_PORTS) {
            sport = m->sport;
            dport = m->dport;
        } else if (m->l4 == FW_L4_ICMP) {
            if (icmp_is_echo_request(fam, m->icmp_type)) {
                sport = m->icmp_id;
            } else if (icmp_is_echo_reply(fam, m->icmp_type)) {
                dport = m->icmp_id;
            } else {
                return FW_CT_INVALID;
            }
        }
        /* An error goes back to the sender of the packet it quotes */
        if (memcmp(&pkt->dst, &m->src, sizeof(FwAddr)) != 0) {
            return FW_CT_INVALID;
        }
        /* The quoted packet travelled in the other direction */
        ct_key_make(&k, &m->src, &m->dst, sport, dport, m->proto, !dir);
        return ct_find(ct, &k, now) != CT_NONE ? FW_CT_RELATED :
                                                 FW_CT_INVALID;
    }
    if (!ct_packet_key(pkt, dir, &k, &kind)) {
        return FW_CT_NEW;
    }
    if (kind == KIND_TCP && !tcp_flags_valid(pkt->tcp_flags)) {
        return FW_CT_INVALID;
    }
    i = ct_find(ct, &k, now);
    if (i == CT_NONE) {
        if (kind == KIND_TCP) {
            uint8_t f = pkt->tcp_flags & (FW_TCP_SYN | FW_TCP_ACK |
                                          FW_TCP_FIN | FW_TCP_RST);
            return f == FW_TCP_SYN || (f == FW_TCP_ACK && ct->tcp_pickup) ?
                   FW_CT_NEW : FW_CT_INVALID;
        }
        if (kind == KIND_ICMP && icmp_is_echo_reply(fam, pkt->icmp_type)) {
            return FW_CT_INVALID;
        }
        return FW_CT_NEW;
    }
    e = ct_hot(ct, i);
    is_reply = (dir == FW_DIR_INGRESS) != !!(e->k.flags & CTF_ORIG_INGRESS);
    if (kind == KIND_TCP && e->k.cls >= CLS_TCP_TIME_WAIT && !is_reply &&
        (pkt->tcp_flags & (FW_TCP_SYN | FW_TCP_ACK | FW_TCP_FIN |
                           FW_TCP_RST)) == FW_TCP_SYN) {
        /* Port reuse after the connection closed: start over */
        ct_delete(ct, i);
        return FW_CT_NEW;
    }
    ct_count(ct, i, e, is_reply, pkt->frame_len);
    if (kind == KIND_TCP) {
        return tcp_track(ct, i, e, is_reply, pkt->tcp_flags, now);
    }
    if (is_reply) {
        e->k.flags |= CTF_SEEN_REPLY;
        ct_touch(ct, i, e, e->k.cls, now);
        return FW_CT_ESTABLISHED;
    }
    if (!(e->k.flags & CTF_SEEN_REPLY)) {
        ct_touch(ct, i, e, e->k.cls, now);
        return FW_CT_NEW;
    }
    ct_touch(ct, i, e, e->k.cls == CLS_UDP ? CLS_UDP_STREAM : e->k.cls, now);
    return FW_CT_ESTABLISHED;
}

/* Add an entry for key @k, which is not in the table; count < limit */
static FwCtHot *ct_insert(FwConntrack *ct, const FwCtKey *k, int cls,
                          uint8_t flags, int64_t expires, uint32_t rule_id)
{
    FwCtHot *e;
    uint32_t i;

    ct_table_reserve(ct);
    i = ct_free_slot(ct, ct_hash(ct, k));
    e = ct_hot(ct, i);
    *e = (FwCtHot) { .k = *k, .expires = expires };
    e->k.cls = cls;
    e->k.flags = CTF_USED | flags;
    *ct_cold(ct, i) = (FwCtCold) { .rule_id = rule_id };
    ct_list_append(ct, i, cls);
    ct->count++;
    return e;
}

bool fw_conntrack_commit(FwConntrack *ct, const FwPacket *pkt,
                         FwDirection dir, uint32_t rule_id, int64_t now)
{
    FwCtKey k;
    FwCtHot *e;
    uint8_t kind = KIND_GENERIC;
    int cls;

    ct_gc_step(ct, now);
    if (pkt->icmp_error || !ct_packet_key(pkt, dir, &k, &kind)) {
        return true;
    }
    switch (kind) {
    case KIND_TCP:
        switch (pkt->tcp_flags & (FW_TCP_SYN | FW_TCP_ACK | FW_TCP_FIN |
                                  FW_TCP_RST)) {
        case FW_TCP_SYN:
            cls = CLS_TCP_SYN_SENT;
            break;
        case FW_TCP_ACK:
            if (!ct->tcp_pickup) {
                return true;
            }
            cls = CLS_TCP_ESTABLISHED;
            break;
        default:
            return true;
        }
        break;
    case KIND_UDP:
        cls = CLS_UDP;
        break;
    case KIND_ICMP:
        if (!icmp_is_echo_request(packet_family(pkt), pkt->icmp_type)) {
            return true;
        }
        cls = CLS_ICMP;
        break;
    default:
        cls = CLS_GENERIC;
        break;
    }
    if (ct_find(ct, &k, now) != CT_NONE) {
        return true;
    }
    if (ct->count >= ct->limit) {
        fw_conntrack_expire(ct, now, 64);
        if (ct->count >= ct->limit) {
            return false;
        }
    }
    e = ct_insert(ct, &k, cls, dir == FW_DIR_INGRESS ? CTF_ORIG_INGRESS : 0,
                  now + ct->timeout_ns[cls], rule_id);
    e->packets[0] = 1;
    e->bytes[0] = pkt->frame_len;
    return true;
}

/*
 * Migration format: "FWCT", version, entry count, then per entry the
 * key (addresses, ports, protocol, family, timeout class, flags), the
 * time left, the rule id and the counters; big-endian.
 */
#define CT_SAVE_MAGIC       0x46574354u     /* "FWCT" */
#define CT_SAVE_VERSION     1
#define CT_SAVE_HDR_LEN     12
#define CT_SAVE_ENTRY_LEN   84
#define CT_SAVE_FLAGS       (CTF_SEEN_REPLY | CTF_FIN_ORIG | CTF_FIN_REPLY | \
                             CTF_ORIG_INGRESS)

static uint8_t *ct_put64(uint8_t *p, uint64_t v)
{
    wr32(p, v >> 32);
    wr32(p + 4, v);
    return p + 8;
}

static uint64_t ct_get64(const uint8_t *p)
{
    return ((uint64_t)rd32(p) << 32) | rd32(p + 4);
}

GByteArray *fw_conntrack_save(const FwConntrack *ct, int64_t now)
{
    GByteArray *out = g_byte_array_sized_new(CT_SAVE_HDR_LEN +
                                             ct->count * CT_SAVE_ENTRY_LEN);
    uint8_t rec[CT_SAVE_ENTRY_LEN], *p;
    uint32_t n = 0;

    g_byte_array_set_size(out, CT_SAVE_HDR_LEN);
    for (int c = 0; c < CLS__MAX; c++) {
        uint32_t i;

        for (i = ct->lists[c].head; i != CT_NONE; i = ct->cold[i].next) {
            const FwCtHot *e = ct_hot(ct, i);
            const FwCtCold *cold = ct_cold(ct, i);

            if (e->expires <= now) {
                continue;
            }
            memcpy(rec, e->k.src, 16);
            memcpy(rec + 16, e->k.dst, 16);
            wr16(rec + 32, e->k.sport);
            wr16(rec + 34, e->k.dport);
            rec[36] = e->k.proto;
            rec[37] = e->k.family;
            rec[38] = e->k.cls;
            rec[39] = e->k.flags & CT_SAVE_FLAGS;
            p = ct_put64(rec + 40, e->expires - now);
            wr32(p, cold->rule_id);
            p += 4;
            for (int r = 0; r < 2; r++) {
                p = ct_put64(p, cold->packets[r] + e->packets[r]);
                p = ct_put64(p, cold->bytes[r] + e->bytes[r]);
            }
            g_byte_array_append(out, rec, sizeof(rec));
            n++;
        }
    }
    wr32(out->data, CT_SAVE_MAGIC);
    wr32(out->data + 4, CT_SAVE_VERSION);
    wr32(out->data + 8, n);
    return out;
}

bool fw_conntrack_load(FwConntrack *ct, const uint8_t *data, size_t len,
                       int64_t now, char **errmsg)
{
    uint32_t n;

    if (len < CT_SAVE_HDR_LEN || rd32(data) != CT_SAVE_MAGIC ||
        rd32(data + 4) != CT_SAVE_VERSION) {
        *errmsg = g_strdup("not a connection table of a known version");
        return false;
    }
    n = rd32(data + 8);
    if ((len - CT_SAVE_HDR_LEN) / CT_SAVE_ENTRY_LEN != n ||
        (len - CT_SAVE_HDR_LEN) % CT_SAVE_ENTRY_LEN) {
        *errmsg = g_strdup_printf("connection table of %zu bytes for %" PRIu32
                                  " entries", len, n);
        return false;
    }
    for (uint32_t r = 0; r < n; r++) {
        const uint8_t *rec = data + CT_SAVE_HDR_LEN + r * CT_SAVE_ENTRY_LEN;
        int64_t left = ct_get64(rec + 40);
        static const uint8_t zero[12];
        FwCtHot *e;
        FwCtKey k;
        int cls = rec[38];

        memset(&k, 0, sizeof(k));
        memcpy(k.src, rec, 16);
        memcpy(k.dst, rec + 16, 16);
        k.sport = rd16(rec + 32);
        k.dport = rd16(rec + 34);
        k.proto = rec[36];
        k.family = rec[37];
        if ((k.family != 4 && k.family != 6) ||
            (k.family == 4 && (memcmp(k.src + 4, zero, 12) ||
                               memcmp(k.dst + 4, zero, 12))) ||
            cls >= CLS__MAX || (rec[39] & ~CT_SAVE_FLAGS)) {
            *errmsg = g_strdup_printf("connection %" PRIu32 " is malformed",
                                      r);
            return false;
        }
        if (left <= 0 || ct_slot(ct, &k) != CT_NONE ||
            ct->count >= ct->limit) {
            continue;
        }
        e = ct_insert(ct, &k, cls, rec[39],
                      now + MIN(left, ct->timeout_ns[cls]), rd32(rec + 48));
        for (int d = 0; d < 2; d++) {
            ct_cold(ct, e - ct->hot)->packets[d] = ct_get64(rec + 52 + 16 * d);
            ct_cold(ct, e - ct->hot)->bytes[d] = ct_get64(rec + 60 + 16 * d);
        }
    }
    return true;
}

size_t fw_conntrack_foreach(FwConntrack *ct, int64_t now,
                            bool (*cb)(const FwCtInfo *info, void *opaque),
                            void *opaque)
{
    size_t calls = 0;

    for (int c = 0; c < CLS__MAX; c++) {
        uint32_t i;

        for (i = ct->lists[c].head; i != CT_NONE; i = ct_cold(ct, i)->next) {
            const FwCtHot *e = ct_hot(ct, i);
            const FwCtCold *cold = ct_cold(ct, i);
            FwCtInfo info;

            if (e->expires <= now) {
                continue;
            }
            memset(&info, 0, sizeof(info));
            ct_orig_tuple(e, &info);
            info.state = cls_names[e->k.cls];
            info.seen_reply = e->k.flags & CTF_SEEN_REPLY;
            info.expires_in_ns = e->expires - now;
            info.rule_id = cold->rule_id;
            for (int r = 0; r < 2; r++) {
                info.packets[r] = cold->packets[r] + e->packets[r];
                info.bytes[r] = cold->bytes[r] + e->bytes[r];
            }
            calls++;
            if (!cb(&info, opaque)) {
                return calls;
            }
        }
    }
    return calls;
}

static void frag_key(const FwPacket *pkt, FwFrag *k)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->src, pkt->src.a, 16);
    memcpy(k->dst, pkt->dst.a, 16);
    k->id = pkt->frag_id;
    k->family = pkt->src.family;
    k->proto = pkt->l3 == FW_L3_IPV4 ? pkt->proto : 0;
}

static bool frag_key_eq(const FwFrag *a, const FwFrag *b)
{
    return memcmp(a, b, offsetof(FwFrag, action)) == 0;
}

static FwFrag *frag_set(const FwConntrack *ct, const FwFrag *k)
{
    uint64_t w[5] = { 0 };

    memcpy(w, k, offsetof(FwFrag, action));
    return &ct->frags[(ct_hash_words(ct, w[0], w[1], w[2], w[3], w[4]) &
                       (FRAG_SETS - 1)) * FRAG_WAYS];
}

/* The live entry of the datagram of (later fragment) @pkt, or NULL */
static const FwFrag *ct_frag_find(const FwConntrack *ct, const FwPacket *pkt,
                                  int64_t now)
{
    FwFrag k, *set;

    frag_key(pkt, &k);
    set = frag_set(ct, &k);
    for (int w = 0; w < FRAG_WAYS; w++) {
        if (set[w].expires > now && frag_key_eq(&set[w], &k)) {
            return &set[w];
        }
    }
    return NULL;
}

/* Remember the verdict @v of first fragment @pkt */
static void ct_frag_record(FwConntrack *ct, const FwPacket *pkt,
                           const FwVerdict *v, int64_t now)
{
    FwFrag k, *set, *slot = NULL;

    frag_key(pkt, &k);
    set = frag_set(ct, &k);
    for (int w = 0; w < FRAG_WAYS; w++) {
        if (set[w].expires > now && frag_key_eq(&set[w], &k)) {
            slot = &set[w];
            break;
        }
        if (!slot || set[w].expires < slot->expires) {
            slot = &set[w];
        }
    }
    k.action = v->action;
    k.reason = v->reason;
    k.ct_state = v->ct_state;
    k.expires = now + FRAG_TIMEOUT_NS;
    *slot = k;
}

static void ct_dhcp_request(FwConntrack *ct, uint32_t xid, int64_t now)
{
    for (int i = 0; i < DHCP_XIDS; i++) {
        if (ct->dhcp_xids[i].xid == xid && ct->dhcp_xids[i].expires > now) {
            ct->dhcp_xids[i].expires = now + DHCP_XID_TIMEOUT_NS;
            return;
        }
    }
    ct->dhcp_xids[ct->dhcp_next].xid = xid;
    ct->dhcp_xids[ct->dhcp_next].expires = now + DHCP_XID_TIMEOUT_NS;
    ct->dhcp_next = (ct->dhcp_next + 1) % DHCP_XIDS;
}

static bool ct_dhcp_requested(const FwConntrack *ct, uint32_t xid,
                              int64_t now)
{
    for (int i = 0; i < DHCP_XIDS; i++) {
        if (ct->dhcp_xids[i].xid == xid && ct->dhcp_xids[i].expires > now) {
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Anti-spoofing                                                       */
/* ------------------------------------------------------------------ */

struct FwAntispoof {
    uint8_t mac[6];
    FwPrefix *allowed;
    size_t n_allowed;
    FwAddr link_local;
};

FwAntispoof *fw_antispoof_new(const uint8_t mac[6],
                              const FwPrefix *allowed, size_t n_allowed)
{
    FwAntispoof *as = g_new0(FwAntispoof, 1);

    memcpy(as->mac, mac, 6);
    as->allowed = g_new0(FwPrefix, MAX(n_allowed, 1));
    for (size_t i = 0; i < n_allowed; i++) {
        as->allowed[i] = allowed[i];
        prefix_normalize(&as->allowed[i]);
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

static bool as_allowed(const FwAntispoof *as, const FwAddr *a)
{
    if (a->family == 6 && memcmp(a->a, as->link_local.a, 16) == 0) {
        return true;
    }
    return prefix_list_match(as->allowed, as->n_allowed, a);
}

static bool addr_is_zero(const FwAddr *a)
{
    static const uint8_t zero[16];

    return memcmp(a->a, zero, addr_len(a->family)) == 0;
}

FwSpoofReason fw_antispoof_check(const FwAntispoof *as, const FwPacket *pkt)
{
    if (memcmp(pkt->src_mac, as->mac, 6) != 0) {
        return FW_SPOOF_MAC;
    }
    switch (pkt->l3) {
    case FW_L3_ARP: {
        FwAddr spa = { .family = 4 };

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
        if (pkt->proto == IPPROTO_NUM_UDP && pkt->l4 == FW_L4_PORTS &&
            (pkt->sport == 67 || pkt->dhcp == FW_DHCP_REPLY)) {
            return FW_SPOOF_DHCP_SERVER;
        }
        if (addr_is_zero(&pkt->src)) {
            if (pkt->proto == IPPROTO_NUM_UDP && pkt->l4 == FW_L4_PORTS &&
                pkt->sport == 68 && pkt->dport == 67 &&
                pkt->dhcp == FW_DHCP_REQUEST) {
                return FW_SPOOF_NONE;
            }
            return FW_SPOOF_IP;
        }
        return as_allowed(as, &pkt->src) ? FW_SPOOF_NONE : FW_SPOOF_IP;
    case FW_L3_IPV6:
        if (pkt->proto == IPPROTO_NUM_UDP && pkt->l4 == FW_L4_PORTS &&
            pkt->sport == 547) {
            return FW_SPOOF_DHCP_SERVER;
        }
        if (pkt->proto == IPPROTO_NUM_ICMPV6 && pkt->l4 == FW_L4_ICMP) {
            if (pkt->icmp_type == 134 || pkt->icmp_type == 137) {
                return FW_SPOOF_ROUTER_ADVERT;
            }
            if (pkt->has_nd_lladdr && (memcmp(pkt->nd_lladdr, as->mac, 6) ||
                                       pkt->nd_lladdr_differ)) {
                return FW_SPOOF_MAC;
            }
        }
        if (addr_is_zero(&pkt->src)) {
            if (pkt->proto == IPPROTO_NUM_ICMPV6 && pkt->l4 == FW_L4_ICMP &&
                (pkt->icmp_type == 133 || pkt->icmp_type == 135 ||
                 pkt->icmp_type == 143)) {
                return FW_SPOOF_NONE;
            }
            return FW_SPOOF_IP;
        }
        if (!as_allowed(as, &pkt->src)) {
            return FW_SPOOF_IP;
        }
        if (pkt->l4 == FW_L4_ICMP && pkt->proto == IPPROTO_NUM_ICMPV6 &&
            pkt->icmp_type == 136 && pkt->has_nd_target) {
            FwAddr t = { .family = 6 };

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

/* ------------------------------------------------------------------ */
/* Reject frames                                                       */
/* ------------------------------------------------------------------ */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i + 1 < n; i += 2) {
        sum += (p[i] << 8) | p[i + 1];
    }
    if (i < n) {
        sum += p[i] << 8;
    }
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

/* Pseudo-header sum; @src/@dst are the IPv4 or IPv6 addresses */
static uint32_t csum_pseudo(int fam, const uint8_t *src, const uint8_t *dst,
                            uint8_t proto, uint32_t len)
{
    uint32_t sum = 0;
    int alen = fam == 4 ? 4 : 16;

    sum = csum_add(sum, src, alen);
    sum = csum_add(sum, dst, alen);
    sum += proto;
    sum += len >> 16;
    sum += len & 0xffff;
    return sum;
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
        wr16(ip + 2, iphl + l4len);
        wr16(ip + 6, 0x4000);
        ip[8] = 64;
        ip[9] = tcp ? IPPROTO_NUM_TCP : IPPROTO_NUM_ICMP;
        memcpy(ip + 12, pkt->dst.a, 4);
        memcpy(ip + 16, pkt->src.a, 4);
        wr16(ip + 10, csum_fold(csum_add(0, ip, 20)));
    } else {
        ip[0] = 0x60;
        wr16(ip + 4, l4len);
        ip[6] = tcp ? IPPROTO_NUM_TCP : IPPROTO_NUM_ICMPV6;
        ip[7] = 64;
        memcpy(ip + 8, pkt->dst.a, 16);
        memcpy(ip + 24, pkt->src.a, 16);
    }

    if (tcp) {
        wr16(l4, pkt->dport);
        wr16(l4 + 2, pkt->sport);
        if (pkt->tcp_flags & FW_TCP_ACK) {
            wr32(l4 + 4, pkt->tcp_ack);
            l4[13] = FW_TCP_RST;
        } else {
            uint32_t ack = pkt->tcp_seq + pkt->l4_payload_len +
                           !!(pkt->tcp_flags & FW_TCP_SYN) +
                           !!(pkt->tcp_flags & FW_TCP_FIN);
            wr32(l4 + 8, ack);
            l4[13] = FW_TCP_RST | FW_TCP_ACK;
        }
        l4[12] = 5 << 4;
        sum = csum_pseudo(fam, ip + (fam == 4 ? 12 : 8),
                          ip + (fam == 4 ? 16 : 24), IPPROTO_NUM_TCP, 20);
        wr16(l4 + 16, csum_fold(csum_add(sum, l4, 20)));
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
        wr16(l4 + 2, csum_fold(csum_add(sum, l4, l4len)));
    }
    return total;
}

/* ------------------------------------------------------------------ */
/* Whole chain                                                         */
/* ------------------------------------------------------------------ */

static bool addr_is_link_local(const FwAddr *a)
{
    return a->family == 6 && a->a[0] == 0xfe && (a->a[1] & 0xc0) == 0x80;
}

static bool quarantine_allows_addr(const FwChain *c, const uint8_t *a,
                                   int family)
{
    FwAddr x = { .family = family };

    memcpy(x.a, a, addr_len(family));
    return prefix_list_match(c->quarantine_allow, c->n_quarantine_allow, &x);
}

/*
 * Quarantine lets through packets from or to an allowed address; ARP
 * and neighbour solicitations and advertisements also when the address
 * they resolve is allowed, so that allowed hosts stay reachable.
 */
static bool quarantine_allows(const FwChain *c, const FwPacket *pkt)
{
    if (pkt->l3 == FW_L3_ARP) {
        return quarantine_allows_addr(c, pkt->arp_spa, 4) ||
               quarantine_allows_addr(c, pkt->arp_tpa, 4);
    }
    if (!packet_family(pkt)) {
        return false;
    }
    if (prefix_list_match(c->quarantine_allow, c->n_quarantine_allow,
                          &pkt->src) ||
        prefix_list_match(c->quarantine_allow, c->n_quarantine_allow,
                          &pkt->dst)) {
        return true;
    }
    return pkt->nd && (pkt->icmp_type == 135 || pkt->icmp_type == 136) &&
           quarantine_allows_addr(c, pkt->nd_target, 6);
}

/*
 * Neighbour discovery that RFC 4861 allows: on the link only (hop limit
 * 255), solicitations to the target's solicited-node group or (for
 * unreachability detection, not from ::) the target itself, router
 * solicitations to all routers, router advertisements and redirects
 * from a link-local router.
 */
static bool nd_exempt(const FwPacket *pkt, FwDirection dir)
{
    static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
    static const uint8_t all_routers[16] = { 0xff, 0x02, [15] = 2 };
    static const uint8_t solicited[13] = { 0xff, 0x02, [11] = 1, 0xff };
    bool mcast = pkt->dst.a[0] == 0xff;

    if (pkt->ttl != 255 || pkt->icmp_code != 0 || pkt->frag ||
        pkt->l3_len > 1280) {
        return false;
    }
    switch (pkt->icmp_type) {
    case 133:
        return dir == FW_DIR_EGRESS && !memcmp(pkt->dst.a, all_routers, 16);
    case 134:
        return dir == FW_DIR_INGRESS && addr_is_link_local(&pkt->src) &&
               (!mcast || !memcmp(pkt->dst.a, all_nodes, 16));
    case 135:
        if (!memcmp(pkt->dst.a, solicited, 13) &&
            !memcmp(pkt->dst.a + 13, pkt->nd_target + 13, 3)) {
            return true;
        }
        return !addr_is_zero(&pkt->src) &&
               !memcmp(pkt->dst.a, pkt->nd_target, 16);
    case 136:
        return !addr_is_zero(&pkt->src) &&
               (!mcast || !memcmp(pkt->dst.a, all_nodes, 16));
    case 137:
        return dir == FW_DIR_INGRESS && addr_is_link_local(&pkt->src) &&
               !mcast;
    default:
        return false;
    }
}

#define DHCP_MIN_LEN    240     /* BOOTP header and the magic cookie */
#define DHCP_MAX_LEN    1472    /* what a 1500-byte MTU carries */

/*
 * The guest's DHCP: requests to broadcast or to the server that
 * answered, replies to transactions the guest started.  The DHCP
 * message is @pkt's UDP payload in @frame.
 */
static bool dhcp_exempt(const FwChain *c, const FwPacket *pkt,
                        FwDirection dir, const uint8_t *frame, int64_t now)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    const uint8_t *m = frame + pkt->l4_off + 8;
    size_t n = pkt->l4_payload_len;
    FwConntrack *ct = c->ct;
    const uint8_t *mac;
    uint32_t xid;

    if (pkt->l3 != FW_L3_IPV4 || pkt->frag || n < DHCP_MIN_LEN ||
        n > DHCP_MAX_LEN || rd32(m + 236) != 0x63825363 || m[1] != 1 ||
        m[2] != 6) {
        return false;
    }
    /* the guest's own MAC, as far as the filter knows it */
    mac = c->as ? c->as->mac : dir == FW_DIR_EGRESS ? pkt->src_mac :
          pkt->dst_mac[0] & 1 ? NULL : pkt->dst_mac;
    if (mac && memcmp(m + 28, mac, 6)) {
        return false;
    }
    xid = rd32(m + 4);
    if (dir == FW_DIR_EGRESS) {
        if (pkt->dhcp != FW_DHCP_REQUEST || pkt->sport != 68 ||
            pkt->dport != 67 || (memcmp(pkt->dst.a, bcast, 4) &&
             !(ct && ct->has_dhcp_server &&
               !memcmp(pkt->dst.a, ct->dhcp_server, 4)))) {
            return false;
        }
        if (ct) {
            ct_dhcp_request(ct, xid, now);
        }
        return true;
    }
    if (pkt->dhcp != FW_DHCP_REPLY || pkt->sport != 67 ||
        pkt->dport != 68 || !ct ||
        !ct_dhcp_requested(ct, xid, now) ||
        (c->as && memcmp(pkt->dst_mac, c->as->mac, 6) &&
         memcmp(pkt->dst_mac, bcast, 6))) {
        return false;
    }
    /* the server: its identifier (option 54), else the sender */
    memcpy(ct->dhcp_server, pkt->src.a, 4);
    ct->has_dhcp_server = true;
    for (size_t o = DHCP_MIN_LEN; o + 1 < n && m[o] != 255;
         o += m[o] ? 2 + m[o + 1] : 1) {
        if (m[o] == 54 && m[o + 1] == 4 && o + 6 <= n) {
            memcpy(ct->dhcp_server, m + o + 2, 4);
            break;
        }
    }
    return true;
}

static bool bootstrap_exempt(const FwChain *c, const FwPacket *pkt,
                             FwDirection dir, const uint8_t *frame,
                             int64_t now)
{
    if (pkt->l3 == FW_L3_ARP) {
        return (pkt->arp_op == 1 || pkt->arp_op == 2) &&
               pkt->frame_len <= 64 + 4u * pkt->n_vlans;
    }
    if (pkt->nd) {
        return nd_exempt(pkt, dir);
    }
    return pkt->dhcp && dhcp_exempt(c, pkt, dir, frame, now);
}

void fw_process(const FwChain *c, FwDirection dir, const uint8_t *frame,
                size_t len, size_t vnet_hdr_len, int64_t now,
                FwPacket *pkt, FwVerdict *v)
{
    const FwRuleset *rs = c->rs;
    FwConntrack *ct = c->ct;
    FwSpoofReason sr;
    int idx = -1;

    memset(v, 0, sizeof(*v));
    v->rule_index = -1;
    v->rule_id = FW_RULE_ID_DEFAULT;
    v->action = FW_ACTION_DROP;
    if (ct) {
        /* the connection's table slot loads while the frame is parsed */
        fw_conntrack_prefetch(ct, frame, len, vnet_hdr_len, dir);
    }
    v->parse_error = fw_parse_frame(frame, len, vnet_hdr_len, pkt);
    if (v->parse_error != FW_PARSE_OK) {
        v->reason = FW_DROP_INVALID;
        v->ct_state = FW_CT_INVALID;
        return;
    }
    if (pkt->n_vlans && !c->allow_vlan) {
        v->reason = FW_DROP_VLAN;
        return;
    }
    if (dir == FW_DIR_EGRESS && c->as) {
        sr = fw_antispoof_check(c->as, pkt);
        if (sr != FW_SPOOF_NONE) {
            static const FwDropReason map[FW_SPOOF__MAX] = {
                [FW_SPOOF_MAC] = FW_DROP_SPOOF_MAC,
                [FW_SPOOF_IP] = FW_DROP_SPOOF_IP,
                [FW_SPOOF_ARP] = FW_DROP_SPOOF_ARP,
                [FW_SPOOF_DHCP_SERVER] = FW_DROP_DHCP_SERVER,
                [FW_SPOOF_ROUTER_ADVERT] = FW_DROP_ROUTER_ADVERT,
            };
            v->reason = map[sr];
            return;
        }
    }
    if (c->quarantined && !quarantine_allows(c, pkt)) {
        v->reason = FW_DROP_QUARANTINE;
        return;
    }
    if ((pkt->l3 == FW_L3_ARP || pkt->nd || pkt->dhcp) &&
        bootstrap_exempt(c, pkt, dir, frame, now)) {
        v->action = FW_ACTION_ACCEPT;
        v->bootstrap = true;
        return;
    }
    if ((pkt->frag & FW_FRAG_LATER) && ct) {
        const FwFrag *fr = ct_frag_find(ct, pkt, now);

        if (fr) {
            v->action = fr->action;
            v->reason = fr->reason;
            v->ct_state = fr->ct_state;
            v->fragment = true;
            return;
        }
    }

    v->ct_state = ct ? fw_conntrack_lookup(ct, pkt, dir, now) : FW_CT_NEW;
    if (!rs) {
        v->action = FW_ACTION_ACCEPT;
    } else {
        /* a state no rule names needs no lookup */
        if (rs->states[dir] & FW_CT_MASK(v->ct_state)) {
            idx = fw_ruleset_classify(rs, pkt, dir, v->ct_state);
        }
        if (idx >= 0) {
            v->action = rs->rules[idx].action;
            v->rule_index = idx;
            v->rule_id = rs->rules[idx].id;
            v->need_log = rs->rules[idx].log;
            v->reason = v->action == FW_ACTION_ACCEPT ? FW_DROP_NONE :
                                                        FW_DROP_RULE;
        } else if (v->ct_state == FW_CT_ESTABLISHED ||
                   v->ct_state == FW_CT_RELATED) {
            v->action = FW_ACTION_ACCEPT;
        } else if (v->ct_state == FW_CT_INVALID) {
            v->reason = FW_DROP_CT_INVALID;
        } else {
            v->action = rs->def_action[dir];
            v->need_log = rs->def_log[dir];
            v->reason = v->action == FW_ACTION_ACCEPT ? FW_DROP_NONE :
                                                        FW_DROP_DEFAULT;
        }
    }
    if (v->action == FW_ACTION_ACCEPT && ct && v->ct_state == FW_CT_NEW &&
        !fw_conntrack_commit(ct, pkt, dir, v->rule_id, now)) {
        v->action = FW_ACTION_DROP;
        v->reason = FW_DROP_CT_FULL;
    }
    if ((pkt->frag & FW_FRAG_FIRST) && ct) {
        ct_frag_record(ct, pkt, v, now);
    }
}
