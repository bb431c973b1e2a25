/*
 * Unit tests for the firewall core (parser, classifier, conntrack,
 * anti-spoofing, reject frames)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/firewall-core.h"

#define MAXF 2048
#define SEC (1000LL * 1000 * 1000)

static const uint8_t VM_MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t GW_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* ------------------------------------------------------------------ */
/* Frame construction (independent of the code under test)             */
/* ------------------------------------------------------------------ */

typedef struct Spec {
    uint8_t dmac[6];
    uint8_t smac[6];
    int nvlan;
    uint16_t vid[3];
    int family;                 /* 4, 6, or 0 for a raw ethertype */
    uint16_t ethertype;
    const char *src;
    const char *dst;
    uint8_t proto;
    int ip_opts;                /* IPv4 option bytes, multiple of 4 */
    uint16_t frag_off;          /* in 8-byte units */
    bool mf;
    int n_ext;
    uint8_t ext[10];            /* IPv6 extension headers in order */
    uint16_t sport;
    uint16_t dport;
    uint8_t tcp_flags;
    uint32_t seq;
    uint32_t ack;
    int tcp_opts;
    uint8_t icmp_type;
    uint8_t icmp_code;
    uint16_t icmp_id;
    const uint8_t *payload;
    size_t payload_len;
    size_t vnet;
} Spec;

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static uint16_t get16(const uint8_t *p)
{
    return (p[0] << 8) | p[1];
}

/* RFC 1071 one's complement sum */
static uint32_t t_sum(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sum += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
    }
    return sum;
}

static uint16_t t_fold(uint32_t sum)
{
    while (sum > 0xffff) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum & 0xffff;
}

static uint32_t t_pseudo(int fam, const uint8_t *src, const uint8_t *dst,
                         uint8_t proto, uint32_t len)
{
    int al = fam == 4 ? 4 : 16;
    uint8_t tail[8] = { 0 };

    put32(tail, len);
    tail[7] = proto;
    return t_sum(t_sum(t_sum(0, src, al), dst, al), tail, 8);
}

static void t_addr(int fam, const char *s, uint8_t *out)
{
    memset(out, 0, 16);
    g_assert_cmpint(inet_pton(fam == 4 ? AF_INET : AF_INET6, s, out), ==, 1);
}

static void spec_init(Spec *s, int family, uint8_t proto)
{
    memset(s, 0, sizeof(*s));
    memcpy(s->smac, VM_MAC, 6);
    memcpy(s->dmac, GW_MAC, 6);
    s->family = family;
    s->proto = proto;
    s->src = family == 6 ? "2001:db8::2" : "10.0.0.2";
    s->dst = family == 6 ? "2001:db8::1" : "10.0.0.1";
    s->sport = 40000;
    s->dport = 80;
    s->tcp_flags = 0x02;
    s->seq = 1000;
    s->ack = 0;
    s->icmp_type = family == 6 ? 128 : 8;
    s->icmp_id = 77;
}

static size_t build_l4(const Spec *s, const uint8_t *src, const uint8_t *dst,
                       uint8_t *out)
{
    size_t n = 0;
    int fam = s->family;

    if (s->frag_off) {
        if (s->payload_len) {
            memcpy(out, s->payload, s->payload_len);
        }
        return s->payload_len;
    }
    switch (s->proto) {
    case 6:
        n = 20 + s->tcp_opts;
        memset(out, 0, n);
        put16(out, s->sport);
        put16(out + 2, s->dport);
        put32(out + 4, s->seq);
        put32(out + 8, s->ack);
        out[12] = (n / 4) << 4;
        out[13] = s->tcp_flags;
        put16(out + 14, 65535);
        for (int i = 20; i < n; i++) {
            out[i] = 1;             /* NOP options */
        }
        if (s->payload_len) {
            memcpy(out + n, s->payload, s->payload_len);
        }
        n += s->payload_len;
        put16(out + 16, t_fold(t_sum(t_pseudo(fam, src, dst, 6, n), out, n)));
        break;
    case 17:
        n = 8 + s->payload_len;
        memset(out, 0, 8);
        put16(out, s->sport);
        put16(out + 2, s->dport);
        put16(out + 4, n);
        if (s->payload_len) {
            memcpy(out + 8, s->payload, s->payload_len);
        }
        put16(out + 6, t_fold(t_sum(t_pseudo(fam, src, dst, 17, n), out, n)));
        break;
    case 1:
    case 58:
        n = 8 + s->payload_len;
        memset(out, 0, 8);
        out[0] = s->icmp_type;
        out[1] = s->icmp_code;
        put16(out + 4, s->icmp_id);
        if (s->payload_len) {
            memcpy(out + 8, s->payload, s->payload_len);
        }
        put16(out + 2, t_fold(t_sum(s->proto == 58 ?
                                    t_pseudo(6, src, dst, 58, n) : 0,
                                    out, n)));
        break;
    default:
        if (s->payload_len) {
            memcpy(out, s->payload, s->payload_len);
        }
        n = s->payload_len;
        break;
    }
    return n;
}

static size_t build_ip(const Spec *s, uint8_t *out)
{
    uint8_t src[16], dst[16], l4[MAXF];
    size_t l4len, n;

    t_addr(s->family, s->src, src);
    t_addr(s->family, s->dst, dst);
    l4len = build_l4(s, src, dst, l4);
    if (s->family == 4) {
        size_t hl = 20 + s->ip_opts;

        memset(out, 0, hl);
        out[0] = 0x40 | (hl / 4);
        put16(out + 2, hl + l4len);
        put16(out + 4, 0x1234);
        put16(out + 6, (s->mf ? 0x2000 : 0) | s->frag_off);
        out[8] = 64;
        out[9] = s->proto;
        memcpy(out + 12, src, 4);
        memcpy(out + 16, dst, 4);
        memset(out + 20, 1, s->ip_opts);
        put16(out + 10, t_fold(t_sum(0, out, hl)));
        memcpy(out + hl, l4, l4len);
        return hl + l4len;
    }
    memset(out, 0, 40);
    out[0] = 0x60;
    out[6] = s->n_ext ? s->ext[0] : s->proto;
    out[7] = 64;
    memcpy(out + 8, src, 16);
    memcpy(out + 24, dst, 16);
    n = 40;
    for (int i = 0; i < s->n_ext; i++) {
        uint8_t next = i + 1 < s->n_ext ? s->ext[i + 1] : s->proto;
        uint8_t *h = out + n;

        if (s->ext[i] == 44) {
            memset(h, 0, 8);
            h[0] = next;
            put16(h + 2, (s->frag_off << 3) | (s->mf ? 1 : 0));
            put32(h + 4, 0xabcd);
            n += 8;
        } else if (s->ext[i] == 51) {
            memset(h, 0, 16);
            h[0] = next;
            h[1] = 2;               /* (16 / 4) - 2 */
            n += 16;
        } else {
            memset(h, 0, 8);
            h[0] = next;
            h[2] = 1;               /* PadN, 4 bytes */
            h[3] = 4;
            n += 8;
        }
    }
    memcpy(out + n, l4, l4len);
    n += l4len;
    put16(out + 4, n - 40);
    return n;
}

static size_t build_frame(const Spec *s, uint8_t *out)
{
    size_t n = s->vnet;

    memset(out, 0xaa, s->vnet);
    memcpy(out + n, s->dmac, 6);
    memcpy(out + n + 6, s->smac, 6);
    n += 12;
    for (int i = 0; i < s->nvlan; i++) {
        put16(out + n, i == 0 && s->nvlan > 1 ? 0x88a8 : 0x8100);
        put16(out + n + 2, s->vid[i]);
        n += 4;
    }
    put16(out + n, s->family == 4 ? 0x0800 : s->family == 6 ? 0x86dd :
                   s->ethertype);
    n += 2;
    if (s->family) {
        n += build_ip(s, out + n);
    } else {
        if (s->payload_len) {
            memcpy(out + n, s->payload, s->payload_len);
        }
        n += s->payload_len;
    }
    return n;
}

static size_t build_arp(uint8_t *out, uint16_t op, const uint8_t *smac,
                        const uint8_t *sha, const char *spa,
                        const char *tpa)
{
    uint8_t a[16];

    memcpy(out, BCAST, 6);
    memcpy(out + 6, smac, 6);
    put16(out + 12, 0x0806);
    put16(out + 14, 1);
    put16(out + 16, 0x0800);
    out[18] = 6;
    out[19] = 4;
    put16(out + 20, op);
    memcpy(out + 22, sha, 6);
    t_addr(4, spa, a);
    memcpy(out + 28, a, 4);
    memset(out + 32, 0, 6);
    t_addr(4, tpa, a);
    memcpy(out + 38, a, 4);
    return 42;
}

static IpAddr addr_of(int fam, const char *s)
{
    IpAddr a = { .family = fam };

    t_addr(fam, s, a.a);
    return a;
}

static void parse_ok(const uint8_t *f, size_t len, size_t vnet, FwPacket *p)
{
    FwParseError e = fw_parse_frame(f, len, vnet, p);

    if (e != FW_PARSE_OK) {
        g_test_message("parse error %s", fw_parse_error_name(e));
    }
    g_assert_cmpint(e, ==, FW_PARSE_OK);
}

/* fw_process() with the stages given, no virtio-net header */
static void process(const FwRuleset *rs, FwConntrack *ct,
                    const FwAntispoof *as, FwDirection dir,
                    const uint8_t *f, size_t n, int64_t now,
                    FwPacket *p, FwVerdict *v)
{
    FwChain c = { .rs = rs, .ct = ct, .as = as };

    fw_process(&c, dir, f, n, 0, now, p, v);
}

static FwParseError parse_spec(const Spec *s, FwPacket *p)
{
    uint8_t f[MAXF];
    size_t n = build_frame(s, f);

    return fw_parse_frame(f, n, s->vnet, p);
}

/* ------------------------------------------------------------------ */
/* Parser                                                              */
/* ------------------------------------------------------------------ */

static void test_parse_eth(void)
{
    Spec s;
    FwPacket p;
    uint8_t pl[30] = { 0 };

    spec_init(&s, 0, 0);
    s.ethertype = 0x88cc;
    s.payload = pl;
    s.payload_len = sizeof(pl);
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.ethertype, ==, 0x88cc);
    g_assert_cmpint(p.l3, ==, FW_L3_NONE);
    g_assert_cmpint(p.frame_len, ==, 14 + 30);
    g_assert_cmpmem(p.src_mac, 6, VM_MAC, 6);
    g_assert_cmpmem(p.dst_mac, 6, GW_MAC, 6);
    g_assert_cmpint(p.l4, ==, FW_L4_NONE);
}

static void test_parse_vlan(void)
{
    Spec s;
    FwPacket p;

    spec_init(&s, 4, 17);
    s.nvlan = 1;
    s.vid[0] = 0x2064;              /* PCP 1, VID 100 */
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.n_vlans, ==, 1);
    g_assert_cmpint(p.vlan_id, ==, 100);
    g_assert_cmpint(p.ethertype, ==, 0x0800);
    g_assert_cmpint(p.l3_off, ==, 18);
    g_assert_cmpint(p.dport, ==, 80);

    s.nvlan = 2;
    s.vid[0] = 10;
    s.vid[1] = 20;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.n_vlans, ==, 2);
    g_assert_cmpint(p.vlan_id, ==, 10);
    g_assert_cmpint(p.inner_vlan_id, ==, 20);
    g_assert_cmpint(p.l3_off, ==, 22);
    g_assert_cmpint(p.l3, ==, FW_L3_IPV4);

    s.nvlan = 3;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_TOO_MANY_VLANS);
}

static void test_parse_vnet(void)
{
    Spec s;
    FwPacket p;
    uint8_t f[MAXF];
    size_t n;

    spec_init(&s, 4, 6);
    s.vnet = 12;
    n = build_frame(&s, f);
    parse_ok(f, n, 12, &p);
    g_assert_cmpint(p.l2_off, ==, 12);
    g_assert_cmpint(p.l3_off, ==, 26);
    g_assert_cmpint(p.frame_len, ==, n - 12);
    g_assert_cmpmem(p.src_mac, 6, VM_MAC, 6);
    g_assert_cmpint(p.sport, ==, 40000);
    g_assert_cmpint(fw_parse_frame(f, 11, 12, &p), ==, FW_PARSE_BAD_VNET_HDR);
    g_assert_cmpint(fw_parse_frame(f, 20, 12, &p), ==, FW_PARSE_TRUNCATED);
}

static void test_parse_arp(void)
{
    uint8_t f[64];
    size_t n = build_arp(f, 2, VM_MAC, VM_MAC, "10.0.0.2", "10.0.0.1");
    FwPacket p;
    uint8_t a[16];

    parse_ok(f, n, 0, &p);
    g_assert_cmpint(p.l3, ==, FW_L3_ARP);
    g_assert_cmpint(p.arp_op, ==, 2);
    g_assert_cmpmem(p.arp_sha, 6, VM_MAC, 6);
    t_addr(4, "10.0.0.2", a);
    g_assert_cmpmem(p.arp_spa, 4, a, 4);
    t_addr(4, "10.0.0.1", a);
    g_assert_cmpmem(p.arp_tpa, 4, a, 4);
    g_assert_cmpint(p.src.family, ==, 0);

    f[18] = 8;                      /* hardware length */
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_BAD_ARP);
    f[18] = 6;
    put16(f + 16, 0x86dd);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_BAD_ARP);
    g_assert_cmpint(fw_parse_frame(f, 41, 0, &p), ==, FW_PARSE_TRUNCATED);
}

static void test_parse_ipv4_tcp(void)
{
    Spec s;
    FwPacket p;
    uint8_t f[MAXF], pl[100];
    size_t n;
    IpAddr a;

    memset(pl, 0x5a, sizeof(pl));
    spec_init(&s, 4, 6);
    s.ip_opts = 12;
    s.tcp_opts = 12;
    s.tcp_flags = 0x18;
    s.seq = 0xdeadbeef;
    s.ack = 0x01020304;
    s.payload = pl;
    s.payload_len = sizeof(pl);
    n = build_frame(&s, f);
    f[n++] = 0;                     /* Ethernet padding is ignored */
    f[n++] = 0;
    parse_ok(f, n, 0, &p);
    g_assert_cmpint(p.l3, ==, FW_L3_IPV4);
    a = addr_of(4, "10.0.0.2");
    g_assert_cmpmem(&p.src, sizeof(IpAddr), &a, sizeof(IpAddr));
    a = addr_of(4, "10.0.0.1");
    g_assert_cmpmem(&p.dst, sizeof(IpAddr), &a, sizeof(IpAddr));
    g_assert_cmpint(p.proto, ==, 6);
    g_assert_cmpint(p.ttl, ==, 64);
    g_assert_cmpint(p.l4, ==, FW_L4_PORTS);
    g_assert_cmpint(p.sport, ==, 40000);
    g_assert_cmpint(p.dport, ==, 80);
    g_assert_cmpint(p.tcp_flags, ==, 0x18);
    g_assert_cmpuint(p.tcp_seq, ==, 0xdeadbeef);
    g_assert_cmpuint(p.tcp_ack, ==, 0x01020304);
    g_assert_cmpint(p.l3_off, ==, 14);
    g_assert_cmpint(p.l4_off, ==, 14 + 32);
    g_assert_cmpint(p.l3_len, ==, 32 + 32 + 100);
    g_assert_cmpint(p.l4_len, ==, 32 + 100);
    g_assert_cmpint(p.l4_payload_len, ==, 100);
    g_assert_cmpint(p.frag, ==, 0);
    g_assert_cmpint(p.frame_len, ==, n);
}

static void test_parse_ipv4_errors(void)
{
    Spec s;
    FwPacket p;
    uint8_t f[MAXF];
    size_t n;

    spec_init(&s, 4, 6);
    n = build_frame(&s, f);
    parse_ok(f, n, 0, &p);

    f[14] = 0x55;                   /* version 5 */
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_BAD_IP_HEADER);
    f[14] = 0x44;                   /* IHL 4 */
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_BAD_IP_HEADER);
    f[14] = 0x45;
    put16(f + 16, 19);              /* total length < header */
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_BAD_IP_HEADER);
    put16(f + 16, n - 14 + 1);      /* longer than the frame */
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_TRUNCATED);
    put16(f + 16, 40);
    f[14] = 0x4f;                   /* 60-byte header, frame has 54 */
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_TRUNCATED);
    f[14] = 0x45;

    /* TCP data offset below 5, and beyond the packet */
    f[34 + 12] = 0x40;
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==,
                    FW_PARSE_BAD_TCP_HEADER);
    f[34 + 12] = 0x60;
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_TRUNCATED);
}

static void test_parse_ipv4_frag(void)
{
    Spec s;
    FwPacket p;
    uint8_t pl[64];

    memset(pl, 7, sizeof(pl));
    /* First fragment: ports present */
    spec_init(&s, 4, 17);
    s.mf = true;
    s.payload = pl;
    s.payload_len = 16;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.frag, ==, FW_FRAG_FIRST);
    g_assert_cmpint(p.l4, ==, FW_L4_PORTS);
    g_assert_cmpint(p.dport, ==, 80);

    /* Later fragment: protocol but no ports */
    s.frag_off = 185;
    s.mf = false;
    s.payload_len = 64;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.frag, ==, FW_FRAG_LATER);
    g_assert_cmpint(p.l4, ==, FW_L4_NONE);
    g_assert_cmpint(p.proto, ==, 17);
    g_assert_cmpint(p.sport, ==, 0);

    /* Fragment running past 65535 */
    s.frag_off = 8191;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_BAD_FRAGMENT);

    /* TCP at offset 8 (RFC 1858) */
    spec_init(&s, 4, 6);
    s.frag_off = 1;
    s.payload = pl;
    s.payload_len = 24;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_BAD_FRAGMENT);
    s.frag_off = 2;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.frag, ==, FW_FRAG_LATER);

    /* Tiny first fragment: 8 bytes of TCP header */
    spec_init(&s, 4, 6);
    {
        uint8_t f[MAXF];
        size_t n = build_frame(&s, f);

        put16(f + 14 + 2, 28);
        put16(f + 14 + 6, 0x2000);
        g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==,
                        FW_PARSE_BAD_FRAGMENT);
    }
}

static void test_parse_udp_dhcp(void)
{
    Spec s;
    FwPacket p;
    uint8_t bootp[240] = { 1 };
    uint8_t f[MAXF];
    size_t n;

    spec_init(&s, 4, 17);
    s.src = "0.0.0.0";
    s.dst = "255.255.255.255";
    s.sport = 68;
    s.dport = 67;
    s.payload = bootp;
    s.payload_len = sizeof(bootp);
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.dhcp, ==, FW_DHCP_REQUEST);
    g_assert_cmpint(p.l4_payload_len, ==, 240);
    bootp[0] = 2;
    s.sport = 67;
    s.dport = 68;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.dhcp, ==, FW_DHCP_REPLY);
    s.dport = 53;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.dhcp, ==, FW_DHCP_NONE);

    /* UDP length below 8 and beyond the IP payload */
    n = build_frame(&s, f);
    put16(f + 34 + 4, 7);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==,
                    FW_PARSE_BAD_UDP_HEADER);
    put16(f + 34 + 4, 8 + 241);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==,
                    FW_PARSE_BAD_UDP_HEADER);
    /* UDP length shorter than the IP payload is fine */
    put16(f + 34 + 4, 8 + 10);
    parse_ok(f, n, 0, &p);
    g_assert_cmpint(p.l4_payload_len, ==, 10);
}

static size_t inner_udp(uint8_t *out, int fam)
{
    Spec in;

    spec_init(&in, fam, 17);
    in.sport = 5000;
    in.dport = 53;
    return build_ip(&in, out);
}

static void test_parse_icmp(void)
{
    Spec s;
    FwPacket p;
    uint8_t inner[MAXF];
    size_t ilen;
    IpAddr a;

    spec_init(&s, 4, 1);
    s.icmp_id = 0x4242;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.l4, ==, FW_L4_ICMP);
    g_assert_cmpint(p.icmp_type, ==, 8);
    g_assert_cmpint(p.icmp_code, ==, 0);
    g_assert_cmpint(p.icmp_id, ==, 0x4242);
    g_assert_false(p.icmp_error);

    /* Port unreachable quoting a UDP packet */
    ilen = inner_udp(inner, 4);
    spec_init(&s, 4, 1);
    s.src = "10.0.0.1";
    s.dst = "10.0.0.2";
    s.icmp_type = 3;
    s.icmp_code = 3;
    s.icmp_id = 0;
    s.payload = inner;
    s.payload_len = 28;             /* IP header + 8 bytes */
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_true(p.icmp_error);
    g_assert_cmpint(p.icmp_type, ==, 3);
    g_assert_cmpint(p.icmp_code, ==, 3);
    g_assert_cmpint(p.emb.proto, ==, 17);
    g_assert_cmpint(p.emb.l4, ==, FW_L4_PORTS);
    g_assert_cmpint(p.emb.sport, ==, 5000);
    g_assert_cmpint(p.emb.dport, ==, 53);
    a = addr_of(4, "10.0.0.2");
    g_assert_cmpmem(&p.emb.src, sizeof(IpAddr), &a, sizeof(IpAddr));

    s.payload_len = 22;             /* quote too short for the ports */
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_BAD_ICMP);
    s.payload_len = 12;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_BAD_ICMP);
    inner[0] = 0x65;
    s.payload_len = ilen;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_BAD_ICMP);

    /* ICMP shorter than its 8-byte header */
    {
        uint8_t f[MAXF];
        size_t n;

        spec_init(&s, 4, 1);
        n = build_frame(&s, f);
        put16(f + 16, 20 + 4);
        g_assert_cmpint(fw_parse_frame(f, n - 4, 0, &p), ==,
                        FW_PARSE_TRUNCATED);
    }
}

static void test_parse_ipv6(void)
{
    Spec s;
    FwPacket p;
    IpAddr a;
    uint8_t pl[40];

    memset(pl, 3, sizeof(pl));
    spec_init(&s, 6, 6);
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.l3, ==, FW_L3_IPV6);
    a = addr_of(6, "2001:db8::2");
    g_assert_cmpmem(&p.src, sizeof(IpAddr), &a, sizeof(IpAddr));
    a = addr_of(6, "2001:db8::1");
    g_assert_cmpmem(&p.dst, sizeof(IpAddr), &a, sizeof(IpAddr));
    g_assert_cmpint(p.proto, ==, 6);
    g_assert_cmpint(p.l4_off, ==, 14 + 40);
    g_assert_cmpint(p.dport, ==, 80);

    /* Every extension header kind, including an atomic fragment */
    s.n_ext = 5;
    s.ext[0] = 0;
    s.ext[1] = 60;
    s.ext[2] = 43;
    s.ext[3] = 51;
    s.ext[4] = 44;
    s.proto = 17;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.proto, ==, 17);
    g_assert_cmpint(p.l4, ==, FW_L4_PORTS);
    g_assert_cmpint(p.l4_off, ==, 14 + 40 + 8 + 8 + 8 + 16 + 8);
    g_assert_cmpint(p.frag, ==, 0);
    g_assert_cmpint(p.sport, ==, 40000);

    /* First and later fragments */
    s.mf = true;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.frag, ==, FW_FRAG_FIRST);
    g_assert_cmpint(p.dport, ==, 80);
    s.frag_off = 100;
    s.payload = pl;
    s.payload_len = sizeof(pl);
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.frag, ==, FW_FRAG_LATER);
    g_assert_cmpint(p.l4, ==, FW_L4_NONE);
    g_assert_cmpint(p.proto, ==, 17);

    /* Hop-by-hop not first */
    spec_init(&s, 6, 6);
    s.n_ext = 2;
    s.ext[0] = 60;
    s.ext[1] = 0;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_BAD_IPV6_EXT);

    /* Eight extension headers are fine, nine are not */
    s.n_ext = 8;
    for (int i = 0; i < 8; i++) {
        s.ext[i] = 60;
    }
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.dport, ==, 80);
    s.n_ext = 9;
    s.ext[8] = 60;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_BAD_IPV6_EXT);

    /* No next header */
    spec_init(&s, 6, 59);
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.proto, ==, 59);
    g_assert_cmpint(p.l4, ==, FW_L4_NONE);
}

static void test_parse_ipv6_errors(void)
{
    Spec s;
    FwPacket p;
    uint8_t f[MAXF];
    size_t n;

    spec_init(&s, 6, 17);
    n = build_frame(&s, f);
    parse_ok(f, n, 0, &p);
    f[14] = 0x40;
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==,
                    FW_PARSE_BAD_IPV6_HEADER);
    f[14] = 0x60;
    put16(f + 18, 0);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_TRUNCATED);
    put16(f + 18, n - 54 + 1);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_TRUNCATED);

    /* Extension header longer than the payload */
    spec_init(&s, 6, 17);
    s.n_ext = 1;
    s.ext[0] = 60;
    n = build_frame(&s, f);
    parse_ok(f, n, 0, &p);
    f[54 + 1] = 3;
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_BAD_IPV6_EXT);
    /* ... or cut short in its first 8 bytes */
    f[54 + 1] = 0;
    put16(f + 18, 4);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_BAD_IPV6_EXT);
    /* UDP header cut by the payload length */
    put16(f + 18, 8 + 4);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_TRUNCATED);
}

static size_t build_nd(uint8_t *f, uint8_t type, const char *src,
                       const char *target, int opt_type,
                       const uint8_t *lladdr, int opt_len8)
{
    Spec s;
    uint8_t body[64];
    size_t n = 0;

    spec_init(&s, 6, 58);
    s.src = src;
    s.dst = "ff02::1:ff00:1";
    s.icmp_type = type;
    s.icmp_id = 0;
    if (type == 134) {
        memset(body, 0, 8);
        n = 8;
    } else if (target) {
        t_addr(6, target, body);
        n = 16;
    }
    if (opt_type) {
        body[n] = opt_type;
        body[n + 1] = opt_len8;
        memcpy(body + n + 2, lladdr, 6);
        n += 8;
    }
    s.payload = body;
    s.payload_len = n;
    return build_frame(&s, f);
}

static void test_parse_icmpv6(void)
{
    Spec s;
    FwPacket p;
    uint8_t inner[MAXF], f[MAXF], t[16];
    size_t n;

    spec_init(&s, 6, 58);
    s.icmp_id = 9;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_cmpint(p.icmp_type, ==, 128);
    g_assert_cmpint(p.icmp_id, ==, 9);
    g_assert_false(p.nd);

    /* Destination unreachable quoting UDP */
    spec_init(&s, 6, 58);
    s.icmp_type = 1;
    s.icmp_code = 4;
    s.icmp_id = 0;
    s.payload = inner;
    s.payload_len = inner_udp(inner, 6);
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    g_assert_true(p.icmp_error);
    g_assert_cmpint(p.emb.proto, ==, 17);
    g_assert_cmpint(p.emb.sport, ==, 5000);
    g_assert_cmpint(p.emb.dport, ==, 53);
    s.payload_len = 40;
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_BAD_ICMP);

    /* Neighbour solicitation with a source link-layer address */
    n = build_nd(f, 135, "fe80::1", "fe80::2", 1, VM_MAC, 1);
    parse_ok(f, n, 0, &p);
    g_assert_true(p.nd);
    g_assert_true(p.has_nd_target);
    t_addr(6, "fe80::2", t);
    g_assert_cmpmem(p.nd_target, 16, t, 16);
    g_assert_true(p.has_nd_lladdr);
    g_assert_cmpmem(p.nd_lladdr, 6, VM_MAC, 6);
    /* option of length 0 */
    n = build_nd(f, 135, "fe80::1", "fe80::2", 1, VM_MAC, 0);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_BAD_ICMP);
    /* option longer than the message */
    n = build_nd(f, 136, "fe80::1", "fe80::2", 2, VM_MAC, 2);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_BAD_ICMP);
    /* NS without target */
    n = build_nd(f, 135, "fe80::1", NULL, 0, NULL, 0);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_BAD_ICMP);
    /* Router advertisement */
    n = build_nd(f, 134, "fe80::1", NULL, 0, NULL, 0);
    parse_ok(f, n, 0, &p);
    g_assert_true(p.nd);
    g_assert_cmpint(p.icmp_type, ==, 134);
}

static void test_parse_error_names(void)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

    for (int e = 0; e < FW_PARSE__MAX; e++) {
        const char *n = fw_parse_error_name(e);

        g_assert_nonnull(n);
        g_assert_false(g_hash_table_contains(seen, n));
        g_hash_table_add(seen, (gpointer)n);
    }
    g_assert_cmpstr(fw_parse_error_name(FW_PARSE_TRUNCATED), ==, "truncated");
    g_assert_cmpstr(fw_parse_error_name(FW_PARSE_BAD_IP_HEADER), ==,
                    "bad-ip-header");
    g_assert_cmpstr(fw_parse_error_name(FW_PARSE_BAD_IPV6_EXT), ==,
                    "bad-ipv6-ext");
    g_assert_cmpstr(fw_spoof_reason_name(FW_SPOOF_MAC), ==, "spoof-mac");
    g_assert_cmpstr(fw_spoof_reason_name(FW_SPOOF_ROUTER_ADVERT), ==,
                    "router-advert");
    g_assert_cmpstr(fw_drop_reason_name(FW_DROP_CT_FULL), ==, "ct-full");
}

/*
 * Every prefix of every valid frame: no crash, and for IP frames an
 * error whenever the cut removes part of the IP packet.
 */
static void test_parse_truncation(void)
{
    GPtrArray *frames = g_ptr_array_new_with_free_func(g_free);
    GArray *lens = g_array_new(false, false, sizeof(size_t));
    uint8_t inner[MAXF], pl[40];
    Spec s;
    size_t n;

    memset(pl, 1, sizeof(pl));
#define ADD_FRAME() do { \
        uint8_t *f_ = g_malloc(MAXF); \
        n = build_frame(&s, f_); \
        g_ptr_array_add(frames, f_); \
        g_array_append_val(lens, n); \
    } while (0)

    for (int fam = 4; fam <= 6; fam += 2) {
        uint8_t icmp = fam == 4 ? 1 : 58;

        spec_init(&s, fam, 6);
        s.tcp_opts = 8;
        s.payload = pl;
        s.payload_len = 10;
        ADD_FRAME();
        spec_init(&s, fam, 17);
        s.nvlan = 2;
        ADD_FRAME();
        spec_init(&s, fam, icmp);
        ADD_FRAME();
        spec_init(&s, fam, icmp);
        s.icmp_type = fam == 4 ? 3 : 1;
        s.payload = inner;
        s.payload_len = inner_udp(inner, fam);
        ADD_FRAME();
        spec_init(&s, fam, 132);
        s.payload = pl;
        s.payload_len = 12;
        ADD_FRAME();
        spec_init(&s, fam, 17);
        s.vnet = 10;
        ADD_FRAME();
    }
    spec_init(&s, 4, 6);
    s.ip_opts = 40;
    ADD_FRAME();
    spec_init(&s, 6, 17);
    s.n_ext = 4;
    s.ext[0] = 0;
    s.ext[1] = 51;
    s.ext[2] = 44;
    s.ext[3] = 60;
    s.mf = true;
    ADD_FRAME();
    {
        uint8_t *f = g_malloc(MAXF);

        n = build_nd(f, 136, "fe80::1", "fe80::1", 2, VM_MAC, 1);
        g_ptr_array_add(frames, f);
        g_array_append_val(lens, n);
        f = g_malloc(MAXF);
        n = build_arp(f, 1, VM_MAC, VM_MAC, "10.0.0.2", "10.0.0.1");
        g_ptr_array_add(frames, f);
        g_array_append_val(lens, n);
    }
#undef ADD_FRAME

    for (guint i = 0; i < frames->len; i++) {
        const uint8_t *f = frames->pdata[i];
        size_t full = g_array_index(lens, size_t, i);
        size_t vnet = (i == 5 || i == 11) ? 10 : 0;
        FwPacket ref, p;
        size_t need;

        parse_ok(f, full, vnet, &ref);
        need = ref.l3_off + ref.l3_len;
        g_assert_cmpuint(need, <=, full);
        for (size_t len = 0; len < full; len++) {
            /* Copy so that ASan/valgrind see reads beyond len */
            g_autofree uint8_t *cut = g_memdup2(f, len ? len : 1);
            FwParseError e = fw_parse_frame(cut, len, vnet, &p);

            if (len < need) {
                g_assert_cmpint(e, !=, FW_PARSE_OK);
            } else {
                g_assert_cmpint(e, ==, FW_PARSE_OK);
                g_assert_cmpmem(&p.src, sizeof(IpAddr), &ref.src,
                                sizeof(IpAddr));
                g_assert_cmpint(p.sport, ==, ref.sport);
            }
            g_assert_cmpint(e, <, FW_PARSE__MAX);
        }
    }
    g_ptr_array_free(frames, true);
    g_array_free(lens, true);
}

/* ------------------------------------------------------------------ */
/* Prefixes                                                            */
/* ------------------------------------------------------------------ */

static void test_prefix_parse(void)
{
    IpPrefix p;
    char *err = NULL;
    uint8_t a[16];
    static const char *const bad[] = {
        "10.0.0.0/33", "300.1.1.1", "fe80::/129", "", "1.2.3", "1.2.3.4.5",
        "01.2.3.4", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/08", "::g",
        "1.2.3.4 ", " 1.2.3.4", "1.2.3.4/32x", "fe80::1%eth0", "1..2.3",
        "1.2.3.4/1000", "2001:db8::/", "a.b.c.d", "1.2.3.4//8", "1234.1.1.1",
    };

    g_assert_true(ip_prefix_parse("10.1.2.3/8", &p, &err));
    g_assert_null(err);
    g_assert_cmpint(p.family, ==, 4);
    g_assert_cmpint(p.len, ==, 8);
    t_addr(4, "10.0.0.0", a);
    g_assert_cmpmem(p.addr, 4, a, 4);

    g_assert_true(ip_prefix_parse("192.168.1.77", &p, NULL));
    g_assert_cmpint(p.len, ==, 32);
    t_addr(4, "192.168.1.77", a);
    g_assert_cmpmem(p.addr, 4, a, 4);

    g_assert_true(ip_prefix_parse("0.0.0.0/0", &p, NULL));
    g_assert_cmpint(p.len, ==, 0);

    g_assert_true(ip_prefix_parse("2001:db8:ffff::1/35", &p, NULL));
    g_assert_cmpint(p.family, ==, 6);
    g_assert_cmpint(p.len, ==, 35);
    t_addr(6, "2001:db8:e000::", a);
    g_assert_cmpmem(p.addr, 16, a, 16);

    g_assert_true(ip_prefix_parse("fe80::1", &p, NULL));
    g_assert_cmpint(p.len, ==, 128);

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        err = NULL;
        if (ip_prefix_parse(bad[i], &p, &err)) {
            g_test_message("accepted '%s'", bad[i]);
            g_assert_not_reached();
        }
        g_assert_nonnull(err);
        g_free(err);
    }
    g_assert_false(ip_prefix_parse("10.0.0.0/33", &p, &err));
    g_assert_nonnull(strstr(err, "33"));
    g_free(err);
    g_assert_false(ip_prefix_parse("300.1.1.1", &p, &err));
    g_assert_nonnull(strstr(err, "300"));
    g_free(err);
    g_assert_false(ip_prefix_parse("fe80::/129", &p, &err));
    g_assert_nonnull(strstr(err, "129"));
    g_free(err);
    g_assert_false(ip_prefix_parse(NULL, &p, NULL));

    {
        IpAddr in = addr_of(4, "10.200.3.4"), out = addr_of(4, "11.0.0.1");
        IpAddr v6 = addr_of(6, "::a00:1");
        g_autofree char *s = NULL;

        g_assert_true(ip_prefix_parse("10.0.0.0/8", &p, NULL));
        g_assert_true(ip_prefix_contains(&p, &in));
        g_assert_false(ip_prefix_contains(&p, &out));
        g_assert_false(ip_prefix_contains(&p, &v6));
        s = ip_prefix_to_string(&p);
        g_assert_cmpstr(s, ==, "10.0.0.0/8");
    }
}

/* ------------------------------------------------------------------ */
/* Rules                                                               */
/* ------------------------------------------------------------------ */

static IpPrefix pfx(const char *s)
{
    IpPrefix p;

    g_assert_true(ip_prefix_parse(s, &p, NULL));
    return p;
}

static FwRuleset *compile_ok(const FwRule *rules, size_t n,
                             const FwAddrSet *sets, size_t n_sets,
                             FwAction def_in, FwAction def_out)
{
    FwPolicy pol = {
        .rules = rules, .n_rules = n, .sets = sets, .n_sets = n_sets,
        .default_action = { def_in, def_out },
    };
    char *err = NULL;
    FwRuleset *rs = fw_ruleset_compile(&pol, &err);

    if (err) {
        g_test_message("compile error: %s", err);
    }
    g_assert_null(err);
    g_assert_nonnull(rs);
    return rs;
}

static int classify_both(const FwRuleset *rs, const FwPacket *p,
                         FwDirection dir, FwCtState st)
{
    int a = fw_ruleset_classify(rs, p, dir, st);
    int b = fw_ruleset_classify_linear(rs, p, dir, st);

    g_assert_cmpint(a, ==, b);
    return a;
}

/* Does the single rule @r match the frame built from @s? */
static bool one_rule_matches(const FwRule *r, const FwAddrSet *sets,
                             size_t n_sets, const Spec *s, FwDirection dir,
                             FwCtState st)
{
    g_autoptr(FwRuleset) rs = compile_ok(r, 1, sets, n_sets,
                                         FW_ACTION_DROP, FW_ACTION_DROP);
    FwPacket p;
    int idx;

    g_assert_cmpint(parse_spec(s, &p), ==, FW_PARSE_OK);
    idx = classify_both(rs, &p, dir, st);
    g_assert_cmpint(idx, >=, -1);
    g_assert_cmpint(idx, <=, 0);
    return idx == 0;
}

#define MATCHES(r, s) one_rule_matches(r, NULL, 0, s, FW_DIR_EGRESS, \
                                       FW_CT_NEW)

static void test_match_fields(void)
{
    FwRule r;
    Spec s, s6;
    IpPrefix p[2];
    FwPortRange pr[2];

    spec_init(&s, 4, 6);
    spec_init(&s6, 6, 6);

    /* empty rule matches everything */
    memset(&r, 0, sizeof(r));
    r.id = 1;
    g_assert_true(MATCHES(&r, &s));
    g_assert_true(MATCHES(&r, &s6));

    /* direction */
    r.dir_mask = FW_DIR_MASK_INGRESS;
    g_assert_false(MATCHES(&r, &s));
    g_assert_true(one_rule_matches(&r, NULL, 0, &s, FW_DIR_INGRESS,
                                   FW_CT_NEW));
    r.dir_mask = FW_DIR_MASK_BOTH;
    g_assert_true(MATCHES(&r, &s));
    r.dir_mask = 0;

    /* ethertype */
    r.has_ethertype = true;
    r.ethertype = 0x86dd;
    g_assert_false(MATCHES(&r, &s));
    g_assert_true(MATCHES(&r, &s6));
    r.has_ethertype = false;

    /* family */
    r.family = 4;
    g_assert_true(MATCHES(&r, &s));
    g_assert_false(MATCHES(&r, &s6));
    r.family = 0;

    /* protocol */
    r.has_proto = true;
    r.proto = 17;
    g_assert_false(MATCHES(&r, &s));
    s.proto = 17;
    g_assert_true(MATCHES(&r, &s));
    s.proto = 6;
    r.proto = 0;                    /* proto 0 does not match non-IP */
    {
        Spec raw;
        uint8_t pl[46] = { 0 };

        spec_init(&raw, 0, 0);
        raw.ethertype = 0x1234;
        raw.payload = pl;
        raw.payload_len = sizeof(pl);
        g_assert_false(MATCHES(&r, &raw));
    }
    r.has_proto = false;

    /* source prefixes (v4 and v6 in one list) */
    p[0] = pfx("10.0.0.0/30");
    p[1] = pfx("2001:db8::/127");
    r.src.prefixes = p;
    r.src.n_prefixes = 2;
    g_assert_true(MATCHES(&r, &s));
    g_assert_false(MATCHES(&r, &s6));
    s6.src = "2001:db8::1";
    g_assert_true(MATCHES(&r, &s6));
    s.src = "10.0.0.4";
    g_assert_false(MATCHES(&r, &s));
    s.src = "10.0.0.2";
    r.src.n_prefixes = 0;

    /* destination prefixes */
    p[0] = pfx("10.0.0.1/32");
    r.dst.prefixes = p;
    r.dst.n_prefixes = 1;
    g_assert_true(MATCHES(&r, &s));
    s.dst = "10.0.0.3";
    g_assert_false(MATCHES(&r, &s));
    g_assert_false(MATCHES(&r, &s6));
    s.dst = "10.0.0.1";
    r.dst.n_prefixes = 0;

    /* ports */
    pr[0].lo = 79;
    pr[0].hi = 81;
    pr[1].lo = 443;
    pr[1].hi = 443;
    r.dports = pr;
    r.n_dports = 2;
    g_assert_true(MATCHES(&r, &s));
    s.dport = 443;
    g_assert_true(MATCHES(&r, &s));
    s.dport = 444;
    g_assert_false(MATCHES(&r, &s));
    s.dport = 78;
    g_assert_false(MATCHES(&r, &s));
    s.dport = 80;
    {
        Spec ic;

        spec_init(&ic, 4, 1);
        g_assert_false(MATCHES(&r, &ic));
    }
    r.n_dports = 0;
    pr[0].lo = 40000;
    pr[0].hi = 65535;
    r.sports = pr;
    r.n_sports = 1;
    g_assert_true(MATCHES(&r, &s));
    s.sport = 39999;
    g_assert_false(MATCHES(&r, &s));
    s.sport = 40000;
    r.n_sports = 0;

    /* ICMP type and code */
    {
        Spec ic;

        spec_init(&ic, 4, 1);
        ic.icmp_type = 3;
        ic.icmp_code = 1;
        ic.payload = (const uint8_t *)"\x45\0\0\x1c\0\0\0\0\x40\x11\0\0"
                     "\x0a\0\0\x02\x0a\0\0\x01\0\x35\0\x35\0\x08\0\0";
        ic.payload_len = 28;
        r.has_icmp_type = true;
        r.icmp_type = 3;
        g_assert_true(MATCHES(&r, &ic));
        g_assert_false(MATCHES(&r, &s));
        r.has_icmp_code = true;
        r.icmp_code = 1;
        g_assert_true(MATCHES(&r, &ic));
        r.icmp_code = 3;
        g_assert_false(MATCHES(&r, &ic));
        r.has_icmp_type = false;
        g_assert_false(MATCHES(&r, &ic));
        ic.icmp_code = 3;
        g_assert_true(MATCHES(&r, &ic));
        r.has_icmp_code = false;
    }

    /* connection state */
    r.ct_states = FW_CT_MASK(FW_CT_ESTABLISHED) | FW_CT_MASK(FW_CT_RELATED);
    g_assert_false(MATCHES(&r, &s));
    g_assert_true(one_rule_matches(&r, NULL, 0, &s, FW_DIR_EGRESS,
                                   FW_CT_RELATED));
    g_assert_true(one_rule_matches(&r, NULL, 0, &s, FW_DIR_EGRESS,
                                   FW_CT_ESTABLISHED));
    g_assert_false(one_rule_matches(&r, NULL, 0, &s, FW_DIR_EGRESS,
                                    FW_CT_INVALID));
}

static void test_match_fragments(void)
{
    FwRule r;
    FwPortRange pr = { 0, 65535 };
    Spec s;
    uint8_t pl[32] = { 0 };

    spec_init(&s, 4, 17);
    s.frag_off = 100;
    s.payload = pl;
    s.payload_len = sizeof(pl);
    memset(&r, 0, sizeof(r));
    r.id = 1;
    r.has_proto = true;
    r.proto = 17;
    g_assert_true(MATCHES(&r, &s));
    /* even the full port range needs ports */
    r.dports = &pr;
    r.n_dports = 1;
    g_assert_false(MATCHES(&r, &s));
    s.frag_off = 0;
    g_assert_true(MATCHES(&r, &s));
}

static void test_priorities(void)
{
    FwRule r[4];
    Spec s;
    FwPacket p;
    int idx;

    memset(r, 0, sizeof(r));
    r[0].id = 5;
    r[0].priority = 10;
    r[1].id = 3;
    r[1].priority = 10;
    r[2].id = 9;
    r[2].priority = -5;
    r[2].has_proto = true;
    r[2].proto = 17;
    r[3].id = 1;
    r[3].priority = 100;
    spec_init(&s, 4, 6);
    g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
    {
        g_autoptr(FwRuleset) rs = compile_ok(r, 4, NULL, 0, FW_ACTION_DROP,
                                             FW_ACTION_DROP);

        /* TCP: rule 9 does not match; tie at 10 goes to the lower id */
        idx = classify_both(rs, &p, FW_DIR_EGRESS, FW_CT_NEW);
        g_assert_cmpint(fw_ruleset_rule(rs, idx)->id, ==, 3);
        g_assert_cmpint(fw_ruleset_n_rules(rs), ==, 4);
        g_assert_cmpint(fw_ruleset_index_of(rs, 9), ==, 0);
        g_assert_cmpint(fw_ruleset_index_of(rs, 3), ==, 1);
        g_assert_cmpint(fw_ruleset_index_of(rs, 5), ==, 2);
        g_assert_cmpint(fw_ruleset_index_of(rs, 1), ==, 3);
        g_assert_cmpint(fw_ruleset_index_of(rs, 2), ==, -1);
        g_assert_null(fw_ruleset_rule(rs, 4));
        s.proto = 17;
        g_assert_cmpint(parse_spec(&s, &p), ==, FW_PARSE_OK);
        idx = classify_both(rs, &p, FW_DIR_EGRESS, FW_CT_NEW);
        g_assert_cmpint(fw_ruleset_rule(rs, idx)->id, ==, 9);
    }
}

static void test_defaults_actions(void)
{
    FwRule r[3];
    IpPrefix dst443 = pfx("10.0.0.1");
    FwPortRange p22 = { 22, 22 }, p443 = { 443, 443 };
    FwVerdict v;
    FwPacket p;
    uint8_t f[MAXF];
    Spec s;
    size_t n;

    memset(r, 0, sizeof(r));
    r[0].id = 1;
    r[0].dports = &p443;
    r[0].n_dports = 1;
    r[0].dst.prefixes = &dst443;
    r[0].dst.n_prefixes = 1;
    r[0].action = FW_ACTION_ACCEPT;
    r[1].id = 2;
    r[1].dports = &p22;
    r[1].n_dports = 1;
    r[1].action = FW_ACTION_REJECT;
    r[1].log = true;
    r[2].id = 3;
    r[2].has_proto = true;
    r[2].proto = 17;
    r[2].action = FW_ACTION_DROP;
    {
        g_autoptr(FwRuleset) rs = compile_ok(r, 3, NULL, 0, FW_ACTION_ACCEPT,
                                             FW_ACTION_DROP);

        spec_init(&s, 4, 6);
        s.dport = 443;
        n = build_frame(&s, f);
        process(rs, NULL, NULL, FW_DIR_EGRESS, f, n, 0, &p, &v);
        g_assert_cmpint(v.action, ==, FW_ACTION_ACCEPT);
        g_assert_cmpint(v.rule_id, ==, 1);
        g_assert_cmpint(v.reason, ==, FW_DROP_NONE);
        g_assert_false(v.need_log);

        s.dport = 22;
        n = build_frame(&s, f);
        process(rs, NULL, NULL, FW_DIR_EGRESS, f, n, 0, &p, &v);
        g_assert_cmpint(v.action, ==, FW_ACTION_REJECT);
        g_assert_cmpint(v.rule_id, ==, 2);
        g_assert_cmpint(v.reason, ==, FW_DROP_RULE);
        g_assert_true(v.need_log);

        s.dport = 8080;
        n = build_frame(&s, f);
        process(rs, NULL, NULL, FW_DIR_EGRESS, f, n, 0, &p, &v);
        g_assert_cmpint(v.action, ==, FW_ACTION_DROP);
        g_assert_cmpint(v.rule_index, ==, -1);
        g_assert_cmpint(v.reason, ==, FW_DROP_DEFAULT);
        process(rs, NULL, NULL, FW_DIR_INGRESS, f, n, 0, &p, &v);
        g_assert_cmpint(v.action, ==, FW_ACTION_ACCEPT);
        g_assert_cmpint(v.reason, ==, FW_DROP_NONE);

        s.proto = 17;
        n = build_frame(&s, f);
        process(rs, NULL, NULL, FW_DIR_INGRESS, f, n, 0, &p, &v);
        g_assert_cmpint(v.action, ==, FW_ACTION_DROP);
        g_assert_cmpint(v.reason, ==, FW_DROP_RULE);

        /* parse error and quarantine */
        process(rs, NULL, NULL, FW_DIR_INGRESS, f, 20, 0, &p, &v);
        g_assert_cmpint(v.action, ==, FW_ACTION_DROP);
        g_assert_cmpint(v.reason, ==, FW_DROP_INVALID);
        g_assert_cmpint(v.parse_error, ==, FW_PARSE_TRUNCATED);
        {
            FwChain c = { .rs = rs, .quarantined = true };

            fw_process(&c, FW_DIR_INGRESS, f, n, 0, 0, &p, &v);
        }
        g_assert_cmpint(v.reason, ==, FW_DROP_QUARANTINE);
        g_assert_cmpint(v.action, ==, FW_ACTION_DROP);
    }
}

static void test_sets(void)
{
    IpPrefix a[2] = { pfx("10.1.0.0/16"), pfx("2001:db8:1::/48") };
    FwAddrSet sets[2] = {
        { .name = "hosts", .prefixes = a, .n_prefixes = 2 },
        { .name = "empty" },
    };
    IpPrefix extra = pfx("192.168.0.1");
    IpPrefix narrow[2] = { pfx("192.168.0.1"), pfx("10.1.2.0/24") };
    IpPrefix wide[2] = { pfx("10.0.0.0/8"), pfx("2001:db8::/32") };
    const struct {
        IpPrefix *list;
        size_t n;
        const char *dst;
        bool match;
    } both[] = {
        { &extra, 1, "192.168.0.1", false },
        { &extra, 1, "10.1.2.3", false },
        { narrow, 2, "10.1.2.3", true },
        { narrow, 2, "10.1.3.3", false },
        { narrow, 2, "192.168.0.1", false },
        { wide, 2, "10.1.3.3", true },
        { wide, 2, "2001:db8:1::5", true },
        { wide, 2, "10.2.0.1", false },
        { wide, 2, "2001:db8:2::5", false },
    };
    FwRule r;
    Spec s, s6;
    char *err = NULL;

    memset(&r, 0, sizeof(r));
    r.id = 7;
    r.dst.set = "hosts";
    spec_init(&s, 4, 6);
    s.dst = "10.1.2.3";
    spec_init(&s6, 6, 6);
    s6.dst = "2001:db8:1::5";
    g_assert_true(one_rule_matches(&r, sets, 2, &s, FW_DIR_EGRESS,
                                   FW_CT_NEW));
    g_assert_true(one_rule_matches(&r, sets, 2, &s6, FW_DIR_EGRESS,
                                   FW_CT_NEW));
    /*
     * Set plus list: the destination must be in both (it matched their
     * union before).  The list's prefixes inside the set, and the set's
     * inside the list's, are what matches.
     */
    for (size_t i = 0; i < G_N_ELEMENTS(both); i++) {
        Spec *sp = strchr(both[i].dst, ':') ? &s6 : &s;

        r.dst.prefixes = both[i].list;
        r.dst.n_prefixes = both[i].n;
        sp->dst = both[i].dst;
        g_assert_cmpint(one_rule_matches(&r, sets, 2, sp, FW_DIR_EGRESS,
                                         FW_CT_NEW), ==, both[i].match);
    }
    r.dst.n_prefixes = 0;
    s.dst = "192.168.0.1";
    g_assert_false(one_rule_matches(&r, sets, 2, &s, FW_DIR_EGRESS,
                                    FW_CT_NEW));
    /* an empty set matches nothing */
    r.dst.set = "empty";
    s.dst = "10.1.2.3";
    g_assert_false(one_rule_matches(&r, sets, 2, &s, FW_DIR_EGRESS,
                                    FW_CT_NEW));
    r.dst.set = "hosts";

    /* unknown set */
    {
        FwPolicy pol = { .rules = &r, .n_rules = 1 };

        g_assert_null(fw_ruleset_compile(&pol, &err));
        g_assert_nonnull(strstr(err, "hosts"));
        g_free(err);
    }
}

static void test_compile_errors(void)
{
    FwRule r[2];
    FwPortRange bad = { 100, 99 }, ok = { 1, 2 };
    IpPrefix v6 = pfx("::1");
    FwPolicy pol = { .rules = r, .n_rules = 1 };
    char *err = NULL;

#define EXPECT_FAIL(n_) do { \
        pol.n_rules = (n_); \
        g_assert_null(fw_ruleset_compile(&pol, &err)); \
        g_assert_nonnull(err); \
        g_free(err); \
        err = NULL; \
    } while (0)

    memset(r, 0, sizeof(r));
    r[0].id = 1;
    r[1].id = 1;
    EXPECT_FAIL(2);
    r[1].id = 2;
    r[1].priority = 1;
    r[0].id = FW_RULE_ID_DEFAULT;
    EXPECT_FAIL(1);
    r[0].id = 1;
    r[0].dports = &bad;
    r[0].n_dports = 1;
    EXPECT_FAIL(1);
    r[0].dports = &ok;
    r[0].has_icmp_type = true;
    EXPECT_FAIL(1);
    r[0].has_icmp_type = false;
    r[0].has_proto = true;
    r[0].proto = 1;
    EXPECT_FAIL(1);
    r[0].n_dports = 0;
    r[0].has_icmp_code = true;
    r[0].proto = 6;
    EXPECT_FAIL(1);
    r[0].has_icmp_code = false;
    r[0].family = 4;
    r[0].src.prefixes = &v6;
    r[0].src.n_prefixes = 1;
    EXPECT_FAIL(1);
    r[0].family = 5;
    r[0].src.n_prefixes = 0;
    EXPECT_FAIL(1);
    r[0].family = 0;
    r[0].action = FW_ACTION__MAX;
    EXPECT_FAIL(1);
    r[0].action = FW_ACTION_DROP;
    r[0].ct_states = 0x10;
    EXPECT_FAIL(1);
    r[0].ct_states = 0;
    r[0].dir_mask = 4;
    EXPECT_FAIL(1);
    r[0].dir_mask = 0;
    pol.n_rules = 2;
    {
        FwRuleset *rs = fw_ruleset_compile(&pol, &err);

        g_assert_null(err);
        g_assert_nonnull(rs);
        fw_ruleset_free(rs);
    }
#undef EXPECT_FAIL
}

static void test_counters_carry(void)
{
    FwRule r[3];
    FwRuleCounters oc[3], nc[3];

    memset(r, 0, sizeof(r));
    r[0].id = 10;
    r[0].priority = 1;
    r[1].id = 20;
    r[1].priority = 2;
    r[2].id = 30;
    r[2].priority = 3;
    {
        g_autoptr(FwRuleset) a = compile_ok(r, 2, NULL, 0, 0, 0);
        g_autoptr(FwRuleset) b = NULL;

        oc[0] = (FwRuleCounters) { 5, 500 };     /* id 10 */
        oc[1] = (FwRuleCounters) { 7, 700 };     /* id 20 */
        /* new ruleset: 20 moves first, 10 removed, 30 added */
        r[1].priority = 0;
        b = compile_ok(r + 1, 2, NULL, 0, 0, 0);
        fw_counters_carry(a, oc, b, nc);
        g_assert_cmpint(fw_ruleset_rule(b, 0)->id, ==, 20);
        g_assert_cmpuint(nc[0].packets, ==, 7);
        g_assert_cmpuint(nc[0].bytes, ==, 700);
        g_assert_cmpuint(nc[1].packets, ==, 0);
        g_assert_cmpuint(nc[1].bytes, ==, 0);
    }
}

/*
 * Randomized differential test: compiled classifier vs linear scan.
 * Addresses, ports and types come from small pools so rules overlap.
 */
static void random_prefix(GRand *rnd, int fam, IpPrefix *p)
{
    memset(p, 0, sizeof(*p));
    p->family = fam;
    if (fam == 4) {
        p->addr[0] = 10;
        p->addr[2] = g_rand_int_range(rnd, 0, 4);
        p->addr[3] = g_rand_int_range(rnd, 0, 8) * 32;
        p->len = g_rand_boolean(rnd) ? g_rand_int_range(rnd, 22, 33) :
                                       g_rand_int_range(rnd, 0, 33);
    } else {
        p->addr[0] = 0x20;
        p->addr[1] = 0x01;
        p->addr[14] = g_rand_int_range(rnd, 0, 4);
        p->addr[15] = g_rand_int_range(rnd, 0, 8) * 32;
        p->len = g_rand_boolean(rnd) ? g_rand_int_range(rnd, 110, 129) :
                                       g_rand_int_range(rnd, 0, 129);
    }
}

static void random_ranges(GRand *rnd, FwPortRange *r, size_t *n)
{
    *n = g_rand_int_range(rnd, 1, 3);
    for (size_t i = 0; i < *n; i++) {
        uint16_t a = g_rand_int_range(rnd, 0, 70);
        uint16_t b = g_rand_int_range(rnd, 0, 70);

        if (g_rand_int_range(rnd, 0, 10) == 0) {
            b = 65535;
        }
        r[i].lo = MIN(a, b);
        r[i].hi = MAX(a, b);
    }
}

typedef struct RandRule {
    IpPrefix src[3];
    IpPrefix dst[3];
    FwPortRange sp[2];
    FwPortRange dp[2];
} RandRule;

static void random_packet(GRand *rnd, FwPacket *p)
{
    int kind = g_rand_int_range(rnd, 0, 10);
    static const uint8_t protos[] = { 6, 17, 1, 58, 132, 47 };

    memset(p, 0, sizeof(*p));
    if (kind == 0) {
        p->l3 = FW_L3_ARP;
        p->ethertype = 0x0806;
        return;
    }
    if (kind == 1) {
        p->ethertype = 0x88cc;
        return;
    }
    if (kind < 6) {
        p->l3 = FW_L3_IPV4;
        p->ethertype = 0x0800;
        p->src.family = p->dst.family = 4;
        p->src.a[0] = p->dst.a[0] = 10;
        p->src.a[2] = g_rand_int_range(rnd, 0, 4);
        p->src.a[3] = g_rand_int_range(rnd, 0, 256);
        p->dst.a[2] = g_rand_int_range(rnd, 0, 4);
        p->dst.a[3] = g_rand_int_range(rnd, 0, 256);
    } else {
        p->l3 = FW_L3_IPV6;
        p->ethertype = 0x86dd;
        p->src.family = p->dst.family = 6;
        p->src.a[0] = p->dst.a[0] = 0x20;
        p->src.a[1] = p->dst.a[1] = 0x01;
        p->src.a[14] = g_rand_int_range(rnd, 0, 4);
        p->src.a[15] = g_rand_int_range(rnd, 0, 256);
        p->dst.a[14] = g_rand_int_range(rnd, 0, 4);
        p->dst.a[15] = g_rand_int_range(rnd, 0, 256);
    }
    p->proto = protos[g_rand_int_range(rnd, 0, G_N_ELEMENTS(protos))];
    if (g_rand_int_range(rnd, 0, 8) == 0) {
        p->frag = FW_FRAG_LATER;
        return;
    }
    if (p->proto == 1 || p->proto == 58) {
        p->l4 = FW_L4_ICMP;
        p->icmp_type = g_rand_int_range(rnd, 0, 6);
        p->icmp_code = g_rand_int_range(rnd, 0, 4);
    } else if (p->proto != 47) {
        p->l4 = FW_L4_PORTS;
        p->sport = g_rand_int_range(rnd, 0, 10) ?
                   g_rand_int_range(rnd, 0, 72) : g_rand_int(rnd);
        p->dport = g_rand_int_range(rnd, 0, 10) ?
                   g_rand_int_range(rnd, 0, 72) : g_rand_int(rnd);
    }
}

static void test_differential(void)
{
    GRand *rnd = g_rand_new_with_seed(20260101);
    static const uint8_t protos[] = { 6, 17, 1, 58, 132 };
    size_t compared = 0, matched = 0;
    const int n_sets_rounds = 150;

    for (int round = 0; round < n_sets_rounds; round++) {
        int n = g_rand_int_range(rnd, 1, round < 100 ? 12 : 120);
        g_autofree FwRule *rules = g_new0(FwRule, n);
        g_autofree RandRule *rr = g_new0(RandRule, n);
        IpPrefix setp[2][6];
        FwAddrSet sets[2] = { { .name = "a" }, { .name = "b" } };
        g_autoptr(FwRuleset) rs = NULL;

        for (int si = 0; si < 2; si++) {
            sets[si].n_prefixes = g_rand_int_range(rnd, 0, 7);
            for (size_t k = 0; k < sets[si].n_prefixes; k++) {
                random_prefix(rnd, g_rand_boolean(rnd) ? 4 : 6,
                              &setp[si][k]);
            }
            sets[si].prefixes = setp[si];
        }
        for (int i = 0; i < n; i++) {
            FwRule *r = &rules[i];
            bool icmp = false;

            r->id = i * 7 + 1;
            r->priority = g_rand_int_range(rnd, 0, 8);
            r->action = g_rand_int_range(rnd, 0, FW_ACTION__MAX);
            r->dir_mask = g_rand_int_range(rnd, 0, 4);
            if (g_rand_int_range(rnd, 0, 6) == 0) {
                r->has_ethertype = true;
                r->ethertype = g_rand_boolean(rnd) ? 0x0800 : 0x0806;
            }
            if (g_rand_int_range(rnd, 0, 4) == 0) {
                r->family = g_rand_boolean(rnd) ? 4 : 6;
            }
            if (g_rand_int_range(rnd, 0, 3) == 0) {
                r->has_proto = true;
                r->proto = protos[g_rand_int_range(rnd, 0, 5)];
            }
            for (int side = 0; side < 2; side++) {
                FwAddrMatch *m = side ? &r->dst : &r->src;
                IpPrefix *pp = side ? rr[i].dst : rr[i].src;
                int k = g_rand_int_range(rnd, 0, 3) ?
                        0 : g_rand_int_range(rnd, 1, 4);

                if (g_rand_int_range(rnd, 0, 3) == 0) {
                    k = g_rand_int_range(rnd, 1, 4);
                }
                for (int j = 0; j < k; j++) {
                    int fam = r->family ? r->family :
                              g_rand_boolean(rnd) ? 4 : 6;
                    random_prefix(rnd, fam, &pp[j]);
                }
                m->prefixes = pp;
                m->n_prefixes = k;
                if (g_rand_int_range(rnd, 0, 8) == 0) {
                    m->set = g_rand_boolean(rnd) ? "a" : "b";
                }
            }
            if (r->has_proto && (r->proto == 1 || r->proto == 58)) {
                icmp = true;
            } else if (!r->has_proto && g_rand_int_range(rnd, 0, 6) == 0) {
                icmp = true;
            }
            if (icmp && g_rand_boolean(rnd)) {
                if (g_rand_boolean(rnd)) {
                    r->has_icmp_type = true;
                    r->icmp_type = g_rand_int_range(rnd, 0, 6);
                }
                if (g_rand_boolean(rnd)) {
                    r->has_icmp_code = true;
                    r->icmp_code = g_rand_int_range(rnd, 0, 4);
                }
            } else if (!icmp) {
                if (g_rand_int_range(rnd, 0, 3) == 0) {
                    random_ranges(rnd, rr[i].sp, &r->n_sports);
                    r->sports = rr[i].sp;
                }
                if (g_rand_int_range(rnd, 0, 2) == 0) {
                    random_ranges(rnd, rr[i].dp, &r->n_dports);
                    r->dports = rr[i].dp;
                }
            }
            if (g_rand_int_range(rnd, 0, 3) == 0) {
                r->ct_states = g_rand_int_range(rnd, 1, 16);
            }
        }
        rs = compile_ok(rules, n, sets, 2, FW_ACTION_DROP, FW_ACTION_DROP);
        for (int k = 0; k < 400; k++) {
            FwPacket p;
            FwDirection dir = g_rand_int_range(rnd, 0, 2);
            FwCtState st = g_rand_int_range(rnd, 0, FW_CT__MAX);
            int a, b;

            random_packet(rnd, &p);
            a = fw_ruleset_classify(rs, &p, dir, st);
            b = fw_ruleset_classify_linear(rs, &p, dir, st);
            if (a != b) {
                g_test_message("round %d packet %d: compiled %d linear %d",
                               round, k, a, b);
            }
            g_assert_cmpint(a, ==, b);
            compared++;
            matched += a >= 0;
        }
    }
    g_test_message("%zu packets compared, %zu matched a rule", compared,
                   matched);
    /* the pools must make the comparison meaningful */
    g_assert_cmpuint(matched, >, compared / 4);
    g_assert_cmpuint(matched, <, compared);
    g_rand_free(rnd);
}

/* ------------------------------------------------------------------ */
/* Conntrack                                                           */
/* ------------------------------------------------------------------ */

/* Parse a TCP frame between the VM (10.0.0.2:40000) and 10.0.0.1:80 */
static void tcp_pkt(FwPacket *p, int fam, bool from_vm, uint8_t flags)
{
    Spec s;

    spec_init(&s, fam, 6);
    s.tcp_flags = flags;
    if (!from_vm) {
        const char *t = s.src;
        s.src = s.dst;
        s.dst = t;
        s.sport = 80;
        s.dport = 40000;
        memcpy(s.smac, GW_MAC, 6);
        memcpy(s.dmac, VM_MAC, 6);
    }
    g_assert_cmpint(parse_spec(&s, p), ==, FW_PARSE_OK);
}

static void udp_pkt(FwPacket *p, bool from_vm, uint16_t vm_port)
{
    Spec s;

    spec_init(&s, 4, 17);
    s.sport = vm_port;
    s.dport = 53;
    if (!from_vm) {
        s.src = "10.0.0.1";
        s.dst = "10.0.0.2";
        s.sport = 53;
        s.dport = vm_port;
    }
    g_assert_cmpint(parse_spec(&s, p), ==, FW_PARSE_OK);
}

#define OUT FW_DIR_EGRESS
#define IN FW_DIR_INGRESS

typedef struct ListCtx {
    int n;
    char state[32];
    uint32_t rule_id;
    int max;
} ListCtx;

static bool list_cb(const FwCtInfo *info, void *opaque)
{
    ListCtx *c = opaque;

    c->n++;
    g_strlcpy(c->state, info->state, sizeof(c->state));
    c->rule_id = info->rule_id;
    return c->n < c->max;
}

static const char *ct_state_of_only(FwConntrack *ct, int64_t now)
{
    static ListCtx c;

    memset(&c, 0, sizeof(c));
    c.max = 100;
    fw_conntrack_foreach(ct, now, list_cb, &c);
    g_assert_cmpint(c.n, ==, 1);
    return c.state;
}

static void test_ct_tcp_handshake(void)
{
    for (int fam = 4; fam <= 6; fam += 2) {
        g_autoptr(FwConntrack) ct = fw_conntrack_new(100, NULL);
        FwPacket syn, synack, ack, fin_out, fin_in, ack_in, data_in;
        int64_t t = 1000 * SEC;

        tcp_pkt(&syn, fam, true, FW_TCP_SYN);
        tcp_pkt(&synack, fam, false, FW_TCP_SYN | FW_TCP_ACK);
        tcp_pkt(&ack, fam, true, FW_TCP_ACK);
        tcp_pkt(&data_in, fam, false, FW_TCP_ACK | FW_TCP_PSH);
        tcp_pkt(&fin_out, fam, true, FW_TCP_FIN | FW_TCP_ACK);
        tcp_pkt(&fin_in, fam, false, FW_TCP_FIN | FW_TCP_ACK);
        tcp_pkt(&ack_in, fam, false, FW_TCP_ACK);

        /* SYN-ACK without SYN */
        g_assert_cmpint(fw_conntrack_lookup(ct, &synack, IN, t), ==,
                        FW_CT_INVALID);
        g_assert_cmpint(fw_conntrack_lookup(ct, &syn, OUT, t), ==,
                        FW_CT_NEW);
        g_assert_true(fw_conntrack_commit(ct, &syn, OUT, 42, t));
        g_assert_cmpint(fw_conntrack_count(ct), ==, 1);
        g_assert_cmpstr(ct_state_of_only(ct, t), ==, "syn-sent");
        /* retransmitted SYN is still NEW; commit does not duplicate */
        g_assert_cmpint(fw_conntrack_lookup(ct, &syn, OUT, t), ==,
                        FW_CT_NEW);
        g_assert_true(fw_conntrack_commit(ct, &syn, OUT, 42, t));
        g_assert_cmpint(fw_conntrack_count(ct), ==, 1);
        /* the same tuple in the wrong direction is not this connection */
        g_assert_cmpint(fw_conntrack_lookup(ct, &synack, OUT, t), ==,
                        FW_CT_INVALID);
        g_assert_cmpint(fw_conntrack_lookup(ct, &synack, IN, t), ==,
                        FW_CT_ESTABLISHED);
        g_assert_cmpstr(ct_state_of_only(ct, t), ==, "syn-recv");
        g_assert_cmpint(fw_conntrack_lookup(ct, &ack, OUT, t), ==,
                        FW_CT_ESTABLISHED);
        g_assert_cmpstr(ct_state_of_only(ct, t), ==, "established");
        /* a day later the connection is still there */
        t += 86400 * SEC;
        g_assert_cmpint(fw_conntrack_lookup(ct, &data_in, IN, t), ==,
                        FW_CT_ESTABLISHED);
        /* SYN inside an established connection */
        g_assert_cmpint(fw_conntrack_lookup(ct, &syn, OUT, t), ==,
                        FW_CT_INVALID);
        g_assert_cmpint(fw_conntrack_lookup(ct, &fin_out, OUT, t), ==,
                        FW_CT_ESTABLISHED);
        g_assert_cmpstr(ct_state_of_only(ct, t), ==, "fin-wait");
        g_assert_cmpint(fw_conntrack_lookup(ct, &fin_in, IN, t), ==,
                        FW_CT_ESTABLISHED);
        g_assert_cmpstr(ct_state_of_only(ct, t), ==, "last-ack");
        g_assert_cmpint(fw_conntrack_lookup(ct, &ack, OUT, t), ==,
                        FW_CT_ESTABLISHED);
        g_assert_cmpstr(ct_state_of_only(ct, t), ==, "time-wait");
        /* a late ACK is still part of it */
        g_assert_cmpint(fw_conntrack_lookup(ct, &ack_in, IN, t + SEC), ==,
                        FW_CT_ESTABLISHED);
        /* after time-wait (120 s) it is gone */
        t += 121 * SEC;
        g_assert_cmpint(fw_conntrack_lookup(ct, &ack_in, IN, t), ==,
                        FW_CT_INVALID);
        g_assert_cmpint(fw_conntrack_count(ct), ==, 0);
    }
}

/* An ICMP error to the VM about its packet @proto from @vm_port */
static void icmp_error_about(FwPacket *p, int fam, uint8_t proto,
                             uint16_t vm_port)
{
    Spec in, s;
    uint8_t inner[MAXF];

    spec_init(&in, fam, proto);
    in.sport = vm_port;
    in.dport = proto == 6 ? 80 : 53;
    spec_init(&s, fam, fam == 4 ? 1 : 58);
    s.src = fam == 4 ? "192.0.2.1" : "2001:db8:ff::1";
    s.dst = in.src;
    s.icmp_type = fam == 4 ? 3 : 1;
    s.icmp_code = fam == 4 ? 3 : 4;
    s.icmp_id = 0;
    s.payload = inner;
    s.payload_len = build_ip(&in, inner);
    g_assert_cmpint(parse_spec(&s, p), ==, FW_PARSE_OK);
}

static void test_ct_tcp_rst_reuse(void)
{
    g_autoptr(FwConntrack) ct = fw_conntrack_new(100, NULL);
    FwPacket syn, rst, ack, err;
    int64_t t = 5 * SEC;

    tcp_pkt(&syn, 4, true, FW_TCP_SYN);
    tcp_pkt(&rst, 4, false, FW_TCP_RST | FW_TCP_ACK);
    tcp_pkt(&ack, 4, true, FW_TCP_ACK);
    icmp_error_about(&err, 4, 6, 40000);
    g_assert_cmpint(fw_conntrack_lookup(ct, &syn, OUT, t), ==, FW_CT_NEW);
    g_assert_true(fw_conntrack_commit(ct, &syn, OUT, 1, t));
    g_assert_cmpint(fw_conntrack_lookup(ct, &err, IN, t), ==,
                    FW_CT_RELATED);
    /*
     * Refused: the reset is part of it, then the connection is gone, and
     * an error quoting its SYN is invalid, as in Linux (it was related,
     * so it passed where Linux drops it)
     */
    g_assert_cmpint(fw_conntrack_lookup(ct, &rst, IN, t), ==,
                    FW_CT_ESTABLISHED);
    g_assert_cmpint(fw_conntrack_count(ct), ==, 0);
    g_assert_cmpint(fw_conntrack_lookup(ct, &err, IN, t), ==,
                    FW_CT_INVALID);
    /* the client retries: a new connection on the same tuple */
    g_assert_cmpint(fw_conntrack_lookup(ct, &syn, OUT, t + SEC), ==,
                    FW_CT_NEW);
    g_assert_cmpint(fw_conntrack_count(ct), ==, 0);
    g_assert_true(fw_conntrack_commit(ct, &syn, OUT, 1, t + SEC));
    g_assert_cmpstr(ct_state_of_only(ct, t + SEC), ==, "syn-sent");
    /* unanswered SYN expires after 120 s */
    g_assert_cmpint(fw_conntrack_lookup(ct, &syn, OUT, t + 100 * SEC), ==,
                    FW_CT_NEW);
    g_assert_cmpint(fw_conntrack_lookup(ct, &ack, OUT, t + 221 * SEC), ==,
                    FW_CT_INVALID);
    g_assert_cmpint(fw_conntrack_count(ct), ==, 0);
}

static void test_ct_tcp_invalid_flags(void)
{
    g_autoptr(FwConntrack) ct = fw_conntrack_new(100, NULL);
    static const uint8_t bad[] = {
        0, FW_TCP_SYN | FW_TCP_FIN, FW_TCP_SYN | FW_TCP_RST, FW_TCP_FIN,
        FW_TCP_FIN | FW_TCP_PSH | FW_TCP_URG, FW_TCP_SYN | FW_TCP_FIN |
        FW_TCP_ACK, FW_TCP_RST | FW_TCP_FIN, 0xff, FW_TCP_PSH,
    };
    FwPacket p, syn, synack;

    /* without a connection: also plain ACK, FIN+ACK and RST */
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        tcp_pkt(&p, 4, true, bad[i]);
        g_assert_cmpint(fw_conntrack_lookup(ct, &p, OUT, 0), ==,
                        FW_CT_INVALID);
        g_assert_true(fw_conntrack_commit(ct, &p, OUT, 1, 0));
        g_assert_cmpint(fw_conntrack_count(ct), ==, 0);
    }
    tcp_pkt(&p, 4, true, FW_TCP_ACK);
    g_assert_cmpint(fw_conntrack_lookup(ct, &p, OUT, 0), ==, FW_CT_INVALID);
    tcp_pkt(&p, 4, true, FW_TCP_RST);
    g_assert_cmpint(fw_conntrack_lookup(ct, &p, OUT, 0), ==, FW_CT_INVALID);
    /* SYN with ECN bits is a valid SYN */
    tcp_pkt(&p, 4, true, FW_TCP_SYN | FW_TCP_ECE | FW_TCP_CWR);
    g_assert_cmpint(fw_conntrack_lookup(ct, &p, OUT, 0), ==, FW_CT_NEW);

    /* within a connection */
    tcp_pkt(&syn, 4, true, FW_TCP_SYN);
    tcp_pkt(&synack, 4, false, FW_TCP_SYN | FW_TCP_ACK);
    g_assert_true(fw_conntrack_commit(ct, &syn, OUT, 1, 0));
    g_assert_cmpint(fw_conntrack_lookup(ct, &synack, IN, 0), ==,
                    FW_CT_ESTABLISHED);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        tcp_pkt(&p, 4, false, bad[i]);
        g_assert_cmpint(fw_conntrack_lookup(ct, &p, IN, 0), ==,
                        FW_CT_INVALID);
    }
    g_assert_cmpstr(ct_state_of_only(ct, 0), ==, "syn-recv");
}

static void test_ct_udp(void)
{
    g_autoptr(FwConntrack) ct = fw_conntrack_new(100, NULL);
    FwPacket q, r;
    int64_t t = 0;

    udp_pkt(&q, true, 5353);
    udp_pkt(&r, false, 5353);
    g_assert_cmpint(fw_conntrack_lookup(ct, &r, IN, t), ==, FW_CT_NEW);
    g_assert_cmpint(fw_conntrack_lookup(ct, &q, OUT, t), ==, FW_CT_NEW);
    g_assert_true(fw_conntrack_commit(ct, &q, OUT, 3, t));
    g_assert_cmpstr(ct_state_of_only(ct, t), ==, "udp");
    /* another query before any reply is still NEW */
    g_assert_cmpint(fw_conntrack_lookup(ct, &q, OUT, t + SEC), ==,
                    FW_CT_NEW);
    g_assert_cmpint(fw_conntrack_lookup(ct, &r, IN, t + 2 * SEC), ==,
                    FW_CT_ESTABLISHED);
    /* unreplied/replied once: 30 s */
    g_assert_cmpint(fw_conntrack_lookup(ct, &q, OUT, t + 31 * SEC), ==,
                    FW_CT_ESTABLISHED);
    g_assert_cmpstr(ct_state_of_only(ct, t + 31 * SEC), ==, "udp-stream");
    /* stream: 180 s */
    t += 31 * SEC;
    g_assert_cmpint(fw_conntrack_lookup(ct, &r, IN, t + 179 * SEC), ==,
                    FW_CT_ESTABLISHED);
    t += 179 * SEC;
    g_assert_cmpint(fw_conntrack_lookup(ct, &r, IN, t + 181 * SEC), ==,
                    FW_CT_NEW);
    g_assert_cmpint(fw_conntrack_count(ct), ==, 0);

    /* a single query expires after 30 s */
    g_assert_true(fw_conntrack_commit(ct, &q, OUT, 3, 0));
    g_assert_cmpint(fw_conntrack_lookup(ct, &r, IN, 29 * SEC), ==,
                    FW_CT_ESTABLISHED);
    g_assert_true(fw_conntrack_commit(ct, &q, OUT, 3, 100 * SEC));
    g_assert_cmpint(fw_conntrack_lookup(ct, &r, IN, 131 * SEC), ==,
                    FW_CT_NEW);
}

static void icmp_pkt(FwPacket *p, int fam, bool from_vm, uint8_t type,
                     uint16_t id)
{
    Spec s;

    spec_init(&s, fam, fam == 4 ? 1 : 58);
    s.icmp_type = type;
    s.icmp_id = id;
    if (!from_vm) {
        const char *t = s.src;
        s.src = s.dst;
        s.dst = t;
    }
    g_assert_cmpint(parse_spec(&s, p), ==, FW_PARSE_OK);
}

static void test_ct_icmp(void)
{
    for (int fam = 4; fam <= 6; fam += 2) {
        g_autoptr(FwConntrack) ct = fw_conntrack_new(100, NULL);
        uint8_t req = fam == 4 ? 8 : 128, rep = fam == 4 ? 0 : 129;
        FwPacket q, r, r2;

        icmp_pkt(&q, fam, true, req, 7);
        icmp_pkt(&r, fam, false, rep, 7);
        icmp_pkt(&r2, fam, false, rep, 8);
        g_assert_cmpint(fw_conntrack_lookup(ct, &r, IN, 0), ==,
                        FW_CT_INVALID);
        g_assert_cmpint(fw_conntrack_lookup(ct, &q, OUT, 0), ==, FW_CT_NEW);
        g_assert_true(fw_conntrack_commit(ct, &q, OUT, 1, 0));
        g_assert_cmpint(fw_conntrack_lookup(ct, &r2, IN, SEC), ==,
                        FW_CT_INVALID);
        g_assert_cmpint(fw_conntrack_lookup(ct, &r, IN, SEC), ==,
                        FW_CT_ESTABLISHED);
        g_assert_cmpstr(ct_state_of_only(ct, SEC), ==, "icmp");
        g_assert_cmpint(fw_conntrack_lookup(ct, &r, IN, 30 * SEC), ==,
                        FW_CT_ESTABLISHED);
        g_assert_cmpint(fw_conntrack_lookup(ct, &r, IN, 61 * SEC), ==,
                        FW_CT_INVALID);
        /* other ICMP types are not tracked */
        icmp_pkt(&q, fam, true, fam == 4 ? 13 : 130, 0);
        g_assert_cmpint(fw_conntrack_lookup(ct, &q, OUT, 0), ==, FW_CT_NEW);
        g_assert_true(fw_conntrack_commit(ct, &q, OUT, 1, 0));
        g_assert_cmpint(fw_conntrack_count(ct), ==, 0);
    }
}

static void icmp_error_pkt(FwPacket *p, int fam, uint16_t vm_port)
{
    icmp_error_about(p, fam, 17, vm_port);
}

static void test_ct_related(void)
{
    for (int fam = 4; fam <= 6; fam += 2) {
        g_autoptr(FwConntrack) ct = fw_conntrack_new(100, NULL);
        FwPacket q, err, err_other;
        Spec s;

        spec_init(&s, fam, 17);
        s.sport = 6000;
        s.dport = 53;
        g_assert_cmpint(parse_spec(&s, &q), ==, FW_PARSE_OK);
        icmp_error_pkt(&err, fam, 6000);
        icmp_error_pkt(&err_other, fam, 6001);
        g_assert_cmpint(fw_conntrack_lookup(ct, &err, IN, 0), ==,
                        FW_CT_INVALID);
        g_assert_cmpint(fw_conntrack_lookup(ct, &q, OUT, 0), ==, FW_CT_NEW);
        g_assert_true(fw_conntrack_commit(ct, &q, OUT, 1, 0));
        g_assert_cmpint(fw_conntrack_lookup(ct, &err, IN, SEC), ==,
                        FW_CT_RELATED);
        g_assert_cmpint(fw_conntrack_lookup(ct, &err_other, IN, SEC), ==,
                        FW_CT_INVALID);
        /* the direction must fit: the quoted packet went out */
        g_assert_cmpint(fw_conntrack_lookup(ct, &err, OUT, SEC), ==,
                        FW_CT_INVALID);
        /* errors are never committed */
        g_assert_true(fw_conntrack_commit(ct, &err, IN, 1, SEC));
        g_assert_cmpint(fw_conntrack_count(ct), ==, 1);
        g_assert_cmpint(fw_conntrack_lookup(ct, &err, IN, 40 * SEC), ==,
                        FW_CT_INVALID);
    }
}

static void test_ct_table_full(void)
{
    g_autoptr(FwConntrack) ct = fw_conntrack_new(4, NULL);
    FwPacket q, r;

    g_assert_cmpuint(fw_conntrack_max(ct), ==, 4);
    for (int i = 0; i < 4; i++) {
        udp_pkt(&q, true, 1000 + i);
        g_assert_true(fw_conntrack_commit(ct, &q, OUT, 1, 0));
    }
    udp_pkt(&q, true, 2000);
    g_assert_cmpint(fw_conntrack_lookup(ct, &q, OUT, SEC), ==, FW_CT_NEW);
    g_assert_false(fw_conntrack_commit(ct, &q, OUT, 1, SEC));
    g_assert_cmpint(fw_conntrack_count(ct), ==, 4);
    for (int i = 0; i < 4; i++) {
        udp_pkt(&r, false, 1000 + i);
        g_assert_cmpint(fw_conntrack_lookup(ct, &r, IN, 2 * SEC), ==,
                        FW_CT_ESTABLISHED);
    }
    /* fw_process counts it as ct-full */
    {
        uint8_t f[MAXF];
        Spec s;
        size_t n;
        FwPacket p;
        FwVerdict v;

        spec_init(&s, 4, 17);
        s.sport = 2001;
        n = build_frame(&s, f);
        process(NULL, ct, NULL, OUT, f, n, 3 * SEC, &p, &v);
        g_assert_cmpint(v.action, ==, FW_ACTION_DROP);
        g_assert_cmpint(v.reason, ==, FW_DROP_CT_FULL);
        g_assert_cmpint(v.ct_state, ==, FW_CT_NEW);
    }
    /* once they expire there is room again */
    g_assert_true(fw_conntrack_commit(ct, &q, OUT, 1, 200 * SEC));
    g_assert_cmpint(fw_conntrack_count(ct), ==, 1);
}

static void test_ct_flush_rule(void)
{
    g_autoptr(FwConntrack) ct = fw_conntrack_new(100, NULL);
    FwPacket q, r;
    ListCtx c = { .max = 2 };

    for (int i = 0; i < 10; i++) {
        udp_pkt(&q, true, 1000 + i);
        g_assert_true(fw_conntrack_commit(ct, &q, OUT, i % 2 ? 7 : 8, 0));
    }
    g_assert_cmpint(fw_conntrack_count(ct), ==, 10);
    g_assert_cmpint(fw_conntrack_foreach(ct, 0, list_cb, &c), ==, 2);
    g_assert_cmpuint(fw_conntrack_flush_rule(ct, 7), ==, 5);
    g_assert_cmpuint(fw_conntrack_flush_rule(ct, 7), ==, 0);
    g_assert_cmpint(fw_conntrack_count(ct), ==, 5);
    for (int i = 0; i < 10; i++) {
        udp_pkt(&r, false, 1000 + i);
        g_assert_cmpint(fw_conntrack_lookup(ct, &r, IN, SEC), ==,
                        i % 2 ? FW_CT_NEW : FW_CT_ESTABLISHED);
    }
    memset(&c, 0, sizeof(c));
    c.max = 100;
    fw_conntrack_foreach(ct, SEC, list_cb, &c);
    g_assert_cmpint(c.n, ==, 5);
    g_assert_cmpuint(c.rule_id, ==, 8);
    fw_conntrack_flush(ct);
    g_assert_cmpint(fw_conntrack_count(ct), ==, 0);
}

static void test_ct_incremental_expiry(void)
{
    g_autoptr(FwConntrack) ct = fw_conntrack_new(10000, NULL);
    FwPacket q, other;
    size_t before;

    for (int i = 0; i < 1000; i++) {
        udp_pkt(&q, true, 1000 + i);
        g_assert_true(fw_conntrack_commit(ct, &q, OUT, 1, 0));
    }
    udp_pkt(&other, true, 9);
    /* each call does a bounded amount of work */
    before = fw_conntrack_count(ct);
    for (int i = 0; i < 11; i++) {
        g_assert_cmpint(fw_conntrack_lookup(ct, &other, OUT, 60 * SEC), ==,
                        FW_CT_NEW);
    }
    g_assert_cmpuint(before - fw_conntrack_count(ct), >=, 1);
    g_assert_cmpuint(before - fw_conntrack_count(ct), <=, 2 * 11);
    g_assert_cmpuint(fw_conntrack_expire(ct, 60 * SEC, 100), ==, 100);
    g_assert_cmpuint(fw_conntrack_count(ct), <=, 900);
    for (int i = 0; i < 10000 && fw_conntrack_count(ct); i++) {
        fw_conntrack_lookup(ct, &other, OUT, 60 * SEC);
    }
    g_assert_cmpint(fw_conntrack_count(ct), ==, 0);
}

typedef struct InfoCtx {
    int n;
    FwCtInfo info;
} InfoCtx;

static bool info_cb(const FwCtInfo *info, void *opaque)
{
    InfoCtx *c = opaque;

    c->n++;
    c->info = *info;
    return true;
}

static const FwCtInfo *ct_info_of_only(FwConntrack *ct, int64_t now)
{
    static InfoCtx c;

    memset(&c, 0, sizeof(c));
    fw_conntrack_foreach(ct, now, info_cb, &c);
    g_assert_cmpint(c.n, ==, 1);
    return &c.info;
}

/* foreach reports the original tuple, whichever direction it came from */
static void test_ct_info(void)
{
    for (int fam = 4; fam <= 6; fam += 2) {
        for (int from_vm = 0; from_vm < 2; from_vm++) {
            g_autoptr(FwConntrack) ct = fw_conntrack_new(100, NULL);
            FwDirection d = from_vm ? OUT : IN;
            const FwCtInfo *i;
            FwPacket q, r;
            Spec s;
            const char *vm = fam == 6 ? "2001:db8::2" : "10.0.0.2";
            const char *peer = fam == 6 ? "2001:db8::9" : "192.0.2.9";
            const char *src = vm, *dst = peer;

            if (!from_vm) {
                src = peer;
                dst = vm;
            }
            spec_init(&s, fam, 17);
            s.src = src;
            s.dst = dst;
            s.sport = 1234;
            s.dport = 5678;
            g_assert_cmpint(parse_spec(&s, &q), ==, FW_PARSE_OK);
            s.src = dst;
            s.dst = src;
            s.sport = 5678;
            s.dport = 1234;
            g_assert_cmpint(parse_spec(&s, &r), ==, FW_PARSE_OK);

            g_assert_cmpint(fw_conntrack_lookup(ct, &q, d, 0), ==,
                            FW_CT_NEW);
            g_assert_true(fw_conntrack_commit(ct, &q, d, 17, 0));
            /* the same tuple in the other direction is another flow */
            g_assert_cmpint(fw_conntrack_lookup(ct, &q, !d, 0), ==,
                            FW_CT_NEW);
            g_assert_cmpint(fw_conntrack_lookup(ct, &r, !d, SEC), ==,
                            FW_CT_ESTABLISHED);
            g_assert_cmpint(fw_conntrack_lookup(ct, &r, !d, SEC), ==,
                            FW_CT_ESTABLISHED);
            g_assert_cmpint(fw_conntrack_lookup(ct, &q, d, 2 * SEC), ==,
                            FW_CT_ESTABLISHED);
            i = ct_info_of_only(ct, 2 * SEC);
            g_assert_cmpint(i->orig_dir, ==, d);
            g_assert_cmpint(i->src.family, ==, fam);
            g_assert_cmpint(i->dst.family, ==, fam);
            g_assert_true(!memcmp(i->src.a, q.src.a, 16));
            g_assert_true(!memcmp(i->dst.a, q.dst.a, 16));
            g_assert_cmpuint(i->sport, ==, 1234);
            g_assert_cmpuint(i->dport, ==, 5678);
            g_assert_cmpuint(i->proto, ==, 17);
            g_assert_cmpstr(i->state, ==, "udp-stream");
            g_assert_true(i->seen_reply);
            g_assert_cmpint(i->expires_in_ns, ==, 180 * SEC);
            g_assert_cmpuint(i->rule_id, ==, 17);
            g_assert_cmpuint(i->packets[0], ==, 2);
            g_assert_cmpuint(i->packets[1], ==, 2);
            g_assert_cmpuint(i->bytes[0], ==, 2 * q.frame_len);
            g_assert_cmpuint(i->bytes[1], ==, 2 * r.frame_len);
        }
    }
}

/* 64-bit packet and byte counters, also for many and huge packets */
static void test_ct_counters(void)
{
    g_autoptr(FwConntrack) ct = fw_conntrack_new(10, NULL);
    uint64_t bytes[2] = { 0, 0 };
    const FwCtInfo *i;
    FwPacket q, r;

    udp_pkt(&q, true, 1000);
    udp_pkt(&r, false, 1000);
    g_assert_true(fw_conntrack_commit(ct, &q, OUT, 1, 0));
    bytes[0] = q.frame_len;
    for (int n = 0; n < 200000; n++) {
        bool rep = n % 3 == 0;
        FwPacket *p = rep ? &r : &q;

        p->frame_len = n % 1000 == 7 ? UINT32_MAX - n : 60 + n % 1400;
        bytes[rep] += p->frame_len;
        g_assert_cmpint(fw_conntrack_lookup(ct, p, rep ? IN : OUT, SEC), ==,
                        rep || n ? FW_CT_ESTABLISHED : FW_CT_NEW);
    }
    i = ct_info_of_only(ct, SEC);
    g_assert_cmpuint(i->packets[0], ==, 1 + 200000 - 66667);
    g_assert_cmpuint(i->packets[1], ==, 66667);
    g_assert_cmpuint(i->bytes[0], ==, bytes[0]);
    g_assert_cmpuint(i->bytes[1], ==, bytes[1]);
}

/* A full large table: every flow found, deleted and its slot reused */
static void ct_many_pkt(FwPacket *p, const FwPacket *tmpl, int n, int round,
                        bool reply, uint8_t flags)
{
    *p = *tmpl;
    if (reply) {
        p->src = tmpl->dst;
        p->dst = tmpl->src;
        p->sport = tmpl->dport;
        p->dport = 1024 + round;
        p->src.a[2] = n >> 8;
        p->src.a[3] = n;
    } else {
        p->sport = 1024 + round;
        p->dst.a[2] = n >> 8;
        p->dst.a[3] = n;
    }
    p->tcp_flags = flags;
}

static void test_ct_many(void)
{
    enum { N = 20000, N_RULE1 = (N + 1) / 3 };
    g_autoptr(FwConntrack) ct = fw_conntrack_new(N, NULL);
    FwPacket tmpl, p;
    Spec s;

    spec_init(&s, 4, 6);
    g_assert_cmpint(parse_spec(&s, &tmpl), ==, FW_PARSE_OK);
    for (int round = 0; round < 2; round++) {
        int64_t t = round * 1000 * SEC;

        for (int n = 0; n < N; n++) {
            ct_many_pkt(&p, &tmpl, n, round, false, FW_TCP_SYN);
            g_assert_true(fw_conntrack_commit(ct, &p, OUT, n % 3, t));
        }
        g_assert_cmpuint(fw_conntrack_count(ct), ==, N);
        ct_many_pkt(&p, &tmpl, N, round, false, FW_TCP_SYN);
        g_assert_false(fw_conntrack_commit(ct, &p, OUT, 0, t));
        for (int n = 0; n < N; n++) {
            ct_many_pkt(&p, &tmpl, n, round, true,
                        FW_TCP_SYN | FW_TCP_ACK);
            g_assert_cmpint(fw_conntrack_lookup(ct, &p, IN, t + SEC), ==,
                            FW_CT_ESTABLISHED);
        }
        g_assert_cmpuint(fw_conntrack_flush_rule(ct, 1), ==, N_RULE1);
        g_assert_cmpuint(fw_conntrack_count(ct), ==, N - N_RULE1);
        for (int n = 0; n < N; n++) {
            ct_many_pkt(&p, &tmpl, n, round, true, FW_TCP_ACK);
            g_assert_cmpint(fw_conntrack_lookup(ct, &p, IN, t + SEC), ==,
                            n % 3 == 1 ? FW_CT_INVALID : FW_CT_ESTABLISHED);
        }
        if (round) {
            fw_conntrack_flush(ct);
        } else {
            g_assert_cmpuint(fw_conntrack_expire(ct, t + 200 * SEC, N), ==,
                             N - N_RULE1);
        }
        g_assert_cmpuint(fw_conntrack_count(ct), ==, 0);
    }
}

/*
 * Random commits, lookups, expiry and flushes of UDP flows against a
 * model, with tables of different sizes (deletion moves entries).
 */
enum { MODEL_PORTS = 48 };

typedef struct ModelFlow {
    int64_t expires;            /* 0: absent */
    uint32_t rule_id;
    bool seen_reply;
    bool stream;
} ModelFlow;

typedef struct ModelCtx {
    const ModelFlow *m;
    int64_t now;
    int n;
} ModelCtx;

static bool model_cb(const FwCtInfo *info, void *opaque)
{
    ModelCtx *c = opaque;
    int port = info->sport - 1000;

    g_assert_cmpint(port, >=, 0);
    g_assert_cmpint(port, <, MODEL_PORTS);
    g_assert_cmpint(info->orig_dir, ==, FW_DIR_EGRESS);
    g_assert_cmpint(c->m[port].expires, >, c->now);
    g_assert_cmpint(info->expires_in_ns, ==, c->m[port].expires - c->now);
    g_assert_cmpuint(info->rule_id, ==, c->m[port].rule_id);
    g_assert_cmpint(info->seen_reply, ==, c->m[port].seen_reply);
    g_assert_cmpstr(info->state, ==, c->m[port].stream ? "udp-stream" : "udp");
    c->n++;
    return true;
}

static void test_ct_random_model(void)
{
    static const size_t maxes[] = { 48, 60, 1000 };

    for (int t = 0; t < ARRAY_SIZE(maxes); t++) {
        g_autoptr(FwConntrack) ct = fw_conntrack_new(maxes[t], NULL);
        g_autoptr(GRand) rnd = g_rand_new_with_seed(t + 1);
        ModelFlow m[MODEL_PORTS] = { 0 };
        int64_t now = SEC;

        for (int it = 0; it < 30000; it++) {
            int port = g_rand_int_range(rnd, 0, MODEL_PORTS);
            int op = g_rand_int_range(rnd, 0, 100);
            ModelFlow *f = &m[port];
            bool live;
            FwPacket q;

            now += g_rand_int_range(rnd, 0, SEC);
            live = f->expires > now;
            if (op < 40) {
                udp_pkt(&q, true, 1000 + port);
                g_assert_true(fw_conntrack_commit(ct, &q, OUT, port % 5,
                                                  now));
                if (!live) {
                    *f = (ModelFlow) {
                        .expires = now + 30 * SEC, .rule_id = port % 5,
                    };
                }
            } else if (op < 65) {
                udp_pkt(&q, true, 1000 + port);
                g_assert_cmpint(fw_conntrack_lookup(ct, &q, OUT, now), ==,
                                live && f->seen_reply ? FW_CT_ESTABLISHED :
                                                        FW_CT_NEW);
                if (live) {
                    f->stream |= f->seen_reply;
                    f->expires = now + (f->stream ? 180 : 30) * SEC;
                }
            } else if (op < 90) {
                udp_pkt(&q, false, 1000 + port);
                g_assert_cmpint(fw_conntrack_lookup(ct, &q, IN, now), ==,
                                live ? FW_CT_ESTABLISHED : FW_CT_NEW);
                if (live) {
                    f->seen_reply = true;
                    f->expires = now + (f->stream ? 180 : 30) * SEC;
                }
            } else if (op < 95) {
                fw_conntrack_expire(ct, now, g_rand_int_range(rnd, 0, 8));
            } else if (op < 99) {
                uint32_t rule = g_rand_int_range(rnd, 0, 5);
                size_t n_live = 0;

                for (int p = 0; p < MODEL_PORTS; p++) {
                    if (m[p].expires > now && m[p].rule_id == rule) {
                        n_live++;
                    }
                    if (m[p].rule_id == rule) {
                        m[p].expires = 0;
                    }
                }
                g_assert_cmpuint(fw_conntrack_flush_rule(ct, rule), >=,
                                 n_live);
            } else {
                fw_conntrack_flush(ct);
                memset(m, 0, sizeof(m));
            }
            g_assert_cmpuint(fw_conntrack_count(ct), <=, maxes[t]);
            if (it % 64 == 0) {
                ModelCtx c = { .m = m, .now = now };
                int n_live = 0;

                for (int p = 0; p < MODEL_PORTS; p++) {
                    n_live += m[p].expires > now;
                }
                fw_conntrack_foreach(ct, now, model_cb, &c);
                g_assert_cmpint(c.n, ==, n_live);
            }
        }
        fw_conntrack_expire(ct, now + 200 * SEC, 1000);
        g_assert_cmpuint(fw_conntrack_count(ct), ==, 0);
    }
}

/*
 * fw_conntrack_prefetch() reads the connection key straight from the
 * frame: it must find the slot that the lookup of the parsed frame
 * probes first, for both directions of a connection, and do nothing
 * (SIZE_MAX) for frames it does not handle, without reading beyond the
 * frame.
 */
static void prefetch_spec(GRand *rnd, Spec *s, int fam, uint8_t proto,
                          char *src, char *dst, uint8_t *pl)
{
    spec_init(s, fam, proto);
    if (fam == 4) {
        sprintf(src, "10.%u.%u.%u", g_rand_int_range(rnd, 0, 256),
                g_rand_int_range(rnd, 0, 256), g_rand_int_range(rnd, 0, 256));
        sprintf(dst, "172.16.%u.%u", g_rand_int_range(rnd, 0, 256),
                g_rand_int_range(rnd, 0, 256));
    } else {
        sprintf(src, "2001:db8::%x:%x", g_rand_int_range(rnd, 0, 65536),
                g_rand_int_range(rnd, 0, 65536));
        sprintf(dst, "2001:db8:%x::%x", g_rand_int_range(rnd, 1, 65536),
                g_rand_int_range(rnd, 0, 65536));
    }
    s->src = src;
    s->dst = dst;
    s->sport = g_rand_int_range(rnd, 1, 65536);
    s->dport = g_rand_int_range(rnd, 1, 65536);
    s->tcp_flags = 0x10;
    if (proto == 132) {
        /* SCTP common header: ports, verification tag, checksum */
        memset(pl, 0, 12);
        put16(pl, s->sport);
        put16(pl + 2, s->dport);
        s->payload = pl;
        s->payload_len = 12;
    }
    if (g_rand_boolean(rnd)) {
        s->vnet = 12;
    }
}

static void test_ct_prefetch(void)
{
    static const uint8_t protos[] = { 6, 17, 132 };
    g_autoptr(FwConntrack) ct = fw_conntrack_new(100000, NULL);
    g_autoptr(GRand) rnd = g_rand_new_with_seed(11);
    uint8_t f[MAXF], pl[16];
    char src[64], dst[64];
    size_t hits[2] = { 0 };
    FwPacket p;
    Spec s;
    size_t n, slot, back;

    for (int i = 0; i < 600; i++) {
        int fam = i & 1 ? 6 : 4;
        uint8_t proto = protos[(i / 2) % G_N_ELEMENTS(protos)];

        prefetch_spec(rnd, &s, fam, proto, src, dst, pl);
        n = build_frame(&s, f);
        parse_ok(f, n, s.vnet, &p);
        slot = fw_conntrack_prefetch(ct, f, n, s.vnet, FW_DIR_EGRESS);
        g_assert_cmpuint(slot, !=, SIZE_MAX);
        g_assert_cmpuint(slot, ==,
                         fw_conntrack_home_slot(ct, &p, FW_DIR_EGRESS));
        /* the reply, seen ingress, belongs to the same slot */
        s.src = dst;
        s.dst = src;
        s.sport = p.dport;
        s.dport = p.sport;
        if (proto == 132) {
            put16(pl, s.sport);
            put16(pl + 2, s.dport);
        }
        n = build_frame(&s, f);
        parse_ok(f, n, s.vnet, &p);
        back = fw_conntrack_prefetch(ct, f, n, s.vnet, FW_DIR_INGRESS);
        g_assert_cmpuint(back, ==, slot);
        g_assert_cmpuint(back, ==,
                         fw_conntrack_home_slot(ct, &p, FW_DIR_INGRESS));
        /* the other direction of travel is another connection */
        hits[fw_conntrack_prefetch(ct, f, n, s.vnet, FW_DIR_EGRESS) ==
             slot]++;
    }
    g_assert_cmpuint(hits[1], <, 10);

    /* Frames it leaves alone; the parser still handles them */
    for (int i = 0; i < 6; i++) {
        int fam = i & 1 ? 6 : 4;

        prefetch_spec(rnd, &s, fam, 6, src, dst, pl);
        switch (i / 2) {
        case 0:
            s.nvlan = 1;
            s.vid[0] = 5;
            break;
        case 1:
            s.proto = fam == 4 ? 1 : 58;
            break;
        default:
            if (fam == 4) {
                s.frag_off = 10;
                s.payload = pl;
                s.payload_len = 16;
            } else {
                s.n_ext = 1;
                s.ext[0] = 60;
            }
            break;
        }
        n = build_frame(&s, f);
        parse_ok(f, n, s.vnet, &p);
        g_assert_cmpuint(fw_conntrack_prefetch(ct, f, n, s.vnet,
                                               FW_DIR_EGRESS), ==, SIZE_MAX);
    }
    n = build_arp(f, 1, VM_MAC, VM_MAC, "10.0.0.2", "10.0.0.1");
    g_assert_cmpuint(fw_conntrack_prefetch(ct, f, n, 0, FW_DIR_EGRESS), ==,
                     SIZE_MAX);

    /* Every truncation: nothing read beyond the end, no guess too early */
    for (int fam = 4; fam <= 6; fam += 2) {
        size_t l4;

        prefetch_spec(rnd, &s, fam, 6, src, dst, pl);
        s.vnet = 10;
        s.ip_opts = fam == 4 ? 8 : 0;
        n = build_frame(&s, f);
        parse_ok(f, n, s.vnet, &p);
        slot = fw_conntrack_home_slot(ct, &p, FW_DIR_EGRESS);
        l4 = s.vnet + 14 + (fam == 4 ? 28 : 40);
        for (size_t len = 0; len <= n; len++) {
            /* Copy so that ASan/valgrind see reads beyond len */
            g_autofree uint8_t *cut = g_memdup2(f, len ? len : 1);
            size_t r = fw_conntrack_prefetch(ct, cut, len, s.vnet,
                                             FW_DIR_EGRESS);

            if (len < l4 + 4) {
                g_assert_cmpuint(r, ==, SIZE_MAX);
            } else if (len == n) {
                g_assert_cmpuint(r, ==, slot);
            }
            g_assert_true(r == SIZE_MAX || r == slot);
        }
    }
}

static void test_ct_process_chain(void)
{
    FwRule r[2];
    FwPortRange p80 = { 80, 80 };
    g_autoptr(FwConntrack) ct = fw_conntrack_new(100, NULL);
    uint8_t f[MAXF];
    Spec s;
    size_t n;
    FwPacket p;
    FwVerdict v;

    memset(r, 0, sizeof(r));
    r[0].id = 1;
    r[0].ct_states = FW_CT_MASK(FW_CT_ESTABLISHED) |
                     FW_CT_MASK(FW_CT_RELATED);
    r[1].id = 2;
    r[1].priority = 10;
    r[1].dir_mask = FW_DIR_MASK_EGRESS;
    r[1].dports = &p80;
    r[1].n_dports = 1;
    {
        g_autoptr(FwRuleset) rs = compile_ok(r, 2, NULL, 0, FW_ACTION_DROP,
                                             FW_ACTION_DROP);

        spec_init(&s, 4, 6);
        n = build_frame(&s, f);
        process(rs, ct, NULL, OUT, f, n, 0, &p, &v);
        g_assert_cmpint(v.action, ==, FW_ACTION_ACCEPT);
        g_assert_cmpint(v.rule_id, ==, 2);
        g_assert_cmpint(v.ct_state, ==, FW_CT_NEW);
        g_assert_cmpint(fw_conntrack_count(ct), ==, 1);
        /* the answer comes in through the established rule */
        spec_init(&s, 4, 6);
        s.src = "10.0.0.1";
        s.dst = "10.0.0.2";
        s.sport = 80;
        s.dport = 40000;
        s.tcp_flags = FW_TCP_SYN | FW_TCP_ACK;
        n = build_frame(&s, f);
        process(rs, ct, NULL, IN, f, n, 0, &p, &v);
        g_assert_cmpint(v.action, ==, FW_ACTION_ACCEPT);
        g_assert_cmpint(v.rule_id, ==, 1);
        g_assert_cmpint(v.ct_state, ==, FW_CT_ESTABLISHED);
        /* an unsolicited SYN-ACK with another port is dropped */
        s.dport = 40001;
        n = build_frame(&s, f);
        process(rs, ct, NULL, IN, f, n, 0, &p, &v);
        g_assert_cmpint(v.action, ==, FW_ACTION_DROP);
        g_assert_cmpint(v.reason, ==, FW_DROP_CT_INVALID);
        g_assert_cmpint(v.ct_state, ==, FW_CT_INVALID);
        /* removing rule 2 ends its connections */
        g_assert_cmpuint(fw_conntrack_flush_rule(ct, 2), ==, 1);
    }
}

/* ------------------------------------------------------------------ */
/* Anti-spoofing                                                       */
/* ------------------------------------------------------------------ */

static FwAntispoof *make_as(void)
{
    IpPrefix allowed[3] = {
        pfx("10.0.0.2"), pfx("2001:db8::2"), pfx("2001:db8:5::/64"),
    };

    return fw_antispoof_new(VM_MAC, allowed, 3);
}

static FwSpoofReason spoof_of(const FwAntispoof *as, const uint8_t *f,
                              size_t n)
{
    FwPacket p;

    parse_ok(f, n, 0, &p);
    return fw_antispoof_check(as, &p);
}

static void test_spoof_ip(void)
{
    g_autoptr(FwAntispoof) as = make_as();
    uint8_t f[MAXF], bootp[240] = { 1 };
    Spec s;

    spec_init(&s, 4, 6);
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_NONE);
    s.smac[5] ^= 1;
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_MAC);
    memcpy(s.smac, VM_MAC, 6);
    s.src = "10.0.0.3";
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_IP);
    s.src = "0.0.0.0";
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_IP);

    /* DHCP discover from 0.0.0.0 is fine, DHCP server traffic is not */
    spec_init(&s, 4, 17);
    s.src = "0.0.0.0";
    s.dst = "255.255.255.255";
    s.sport = 68;
    s.dport = 67;
    s.payload = bootp;
    s.payload_len = sizeof(bootp);
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_NONE);
    s.dport = 53;
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_IP);
    s.src = "10.0.0.2";
    s.sport = 67;
    s.dport = 68;
    bootp[0] = 2;
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==,
                    FW_SPOOF_DHCP_SERVER);
    s.sport = 68;
    s.dport = 67;
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==,
                    FW_SPOOF_DHCP_SERVER);

    /* IPv6 */
    spec_init(&s, 6, 17);
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_NONE);
    s.src = "2001:db8:5::1234";
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_NONE);
    s.src = "2001:db8:6::1";
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_IP);
    /* the EUI-64 link-local of 52:54:00:12:34:56 */
    s.src = "fe80::5054:ff:fe12:3456";
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_NONE);
    s.src = "fe80::5054:ff:fe12:3457";
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_IP);
    s.src = "::";
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_IP);
    s.src = "2001:db8::2";
    s.sport = 547;
    s.dport = 546;
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==,
                    FW_SPOOF_DHCP_SERVER);
    /* DHCPv6 client is fine */
    s.src = "fe80::5054:ff:fe12:3456";
    s.sport = 546;
    s.dport = 547;
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_NONE);
}

static void test_spoof_arp(void)
{
    g_autoptr(FwAntispoof) as = make_as();
    uint8_t f[64], other[6] = { 2, 0, 0, 0, 0, 9 };
    size_t n;

    n = build_arp(f, 1, VM_MAC, VM_MAC, "10.0.0.2", "10.0.0.1");
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_NONE);
    n = build_arp(f, 1, VM_MAC, VM_MAC, "0.0.0.0", "10.0.0.2");
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_NONE);
    n = build_arp(f, 2, VM_MAC, other, "10.0.0.2", "10.0.0.1");
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_ARP);
    n = build_arp(f, 2, VM_MAC, VM_MAC, "10.0.0.1", "10.0.0.1");
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_ARP);
    n = build_arp(f, 2, other, VM_MAC, "10.0.0.2", "10.0.0.1");
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_MAC);
}

static void test_spoof_nd(void)
{
    g_autoptr(FwAntispoof) as = make_as();
    uint8_t f[MAXF], other[6] = { 2, 0, 0, 0, 0, 9 };
    const char *ll = "fe80::5054:ff:fe12:3456";
    size_t n;

    /* DAD from :: and normal NS/NA for own addresses */
    n = build_nd(f, 135, "::", ll, 0, NULL, 0);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_NONE);
    n = build_nd(f, 135, ll, "fe80::1", 1, VM_MAC, 1);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_NONE);
    n = build_nd(f, 136, ll, "2001:db8::2", 2, VM_MAC, 1);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_NONE);
    n = build_nd(f, 133, "::", NULL, 0, NULL, 0);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_NONE);
    /* NA for someone else's address */
    n = build_nd(f, 136, ll, "2001:db8::1", 2, VM_MAC, 1);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_IP);
    /* link-layer option with another MAC */
    n = build_nd(f, 136, ll, "2001:db8::2", 2, other, 1);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_MAC);
    /* NA from :: */
    n = build_nd(f, 136, "::", "2001:db8::2", 0, NULL, 0);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_IP);
    /* router advertisement and redirect */
    n = build_nd(f, 134, ll, NULL, 0, NULL, 0);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_ROUTER_ADVERT);
    {
        Spec s;
        uint8_t body[32] = { 0 };

        spec_init(&s, 6, 58);
        s.src = ll;
        s.icmp_type = 137;
        s.icmp_id = 0;
        s.payload = body;
        s.payload_len = 32;
        n = build_frame(&s, f);
        g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_ROUTER_ADVERT);
    }
}

static void test_spoof_process(void)
{
    g_autoptr(FwAntispoof) as = make_as();
    uint8_t f[MAXF];
    Spec s;
    size_t n;
    FwPacket p;
    FwVerdict v;

    spec_init(&s, 4, 17);
    s.src = "10.9.9.9";
    n = build_frame(&s, f);
    process(NULL, NULL, as, OUT, f, n, 0, &p, &v);
    g_assert_cmpint(v.action, ==, FW_ACTION_DROP);
    g_assert_cmpint(v.reason, ==, FW_DROP_SPOOF_IP);
    /* ingress frames are not checked */
    process(NULL, NULL, as, IN, f, n, 0, &p, &v);
    g_assert_cmpint(v.action, ==, FW_ACTION_ACCEPT);
    s.src = "10.0.0.2";
    n = build_frame(&s, f);
    process(NULL, NULL, as, OUT, f, n, 0, &p, &v);
    g_assert_cmpint(v.action, ==, FW_ACTION_ACCEPT);
    g_assert_cmpint(v.reason, ==, FW_DROP_NONE);
}

/* ------------------------------------------------------------------ */
/* Reject frames                                                       */
/* ------------------------------------------------------------------ */

/* Verify IP header and L4 checksums of a frame by recomputation */
static void verify_checksums(const uint8_t *f, size_t n, size_t l3)
{
    int fam = f[l3] >> 4;

    if (fam == 4) {
        size_t hl = (f[l3] & 0xf) * 4, tot = get16(f + l3 + 2);
        uint8_t proto = f[l3 + 9];
        uint32_t sum;

        g_assert_cmpuint(l3 + tot, ==, n);
        g_assert_cmpint(t_fold(t_sum(0, f + l3, hl)), ==, 0);
        sum = proto == 1 ? 0 : t_pseudo(4, f + l3 + 12, f + l3 + 16, proto,
                                        tot - hl);
        g_assert_cmpint(t_fold(t_sum(sum, f + l3 + hl, tot - hl)), ==, 0);
    } else {
        size_t plen = get16(f + l3 + 4);
        uint32_t sum = t_pseudo(6, f + l3 + 8, f + l3 + 24, f[l3 + 6], plen);

        g_assert_cmpint(fam, ==, 6);
        g_assert_cmpuint(l3 + 40 + plen, ==, n);
        g_assert_cmpint(t_fold(t_sum(sum, f + l3 + 40, plen)), ==, 0);
    }
}

static void test_reject_tcp(void)
{
    for (int fam = 4; fam <= 6; fam += 2) {
        Spec s;
        uint8_t f[MAXF], out[FW_REJECT_MAX_LEN], pl[10] = { 0 };
        FwPacket p, r;
        size_t n, m;

        spec_init(&s, fam, 6);
        s.nvlan = 1;
        s.vid[0] = 42;
        s.seq = 0xfffffff0;
        s.payload = pl;
        s.payload_len = sizeof(pl);
        n = build_frame(&s, f);
        parse_ok(f, n, 0, &p);
        m = fw_build_reject(&p, f, n, out, sizeof(out));
        g_assert_cmpuint(m, ==, 18 + (fam == 4 ? 20 : 40) + 20);
        g_assert_cmpmem(out, 6, VM_MAC, 6);
        g_assert_cmpmem(out + 6, 6, GW_MAC, 6);
        g_assert_cmpint(get16(out + 12), ==, 0x8100);
        g_assert_cmpint(get16(out + 14), ==, 42);
        verify_checksums(out, m, 18);
        parse_ok(out, m, 0, &r);
        g_assert_cmpmem(&r.src, sizeof(IpAddr), &p.dst, sizeof(IpAddr));
        g_assert_cmpmem(&r.dst, sizeof(IpAddr), &p.src, sizeof(IpAddr));
        g_assert_cmpint(r.sport, ==, 80);
        g_assert_cmpint(r.dport, ==, 40000);
        g_assert_cmpint(r.tcp_flags, ==, FW_TCP_RST | FW_TCP_ACK);
        g_assert_cmpuint(r.tcp_seq, ==, 0);
        /* SYN counts one, plus 10 bytes of payload, wrapping */
        g_assert_cmpuint(r.tcp_ack, ==, 0xfffffff0u + 11);
        g_assert_cmpint(r.vlan_id, ==, 42);

        /* a segment with ACK gets RST with seq = its ack */
        s.tcp_flags = FW_TCP_ACK;
        s.ack = 0x11223344;
        n = build_frame(&s, f);
        parse_ok(f, n, 0, &p);
        m = fw_build_reject(&p, f, n, out, sizeof(out));
        g_assert_cmpuint(m, >, 0);
        verify_checksums(out, m, 18);
        parse_ok(out, m, 0, &r);
        g_assert_cmpint(r.tcp_flags, ==, FW_TCP_RST);
        g_assert_cmpuint(r.tcp_seq, ==, 0x11223344);

        /* never answer a RST */
        s.tcp_flags = FW_TCP_RST;
        n = build_frame(&s, f);
        parse_ok(f, n, 0, &p);
        g_assert_cmpuint(fw_build_reject(&p, f, n, out, sizeof(out)), ==, 0);
        /* buffer too small */
        s.tcp_flags = FW_TCP_SYN;
        n = build_frame(&s, f);
        parse_ok(f, n, 0, &p);
        g_assert_cmpuint(fw_build_reject(&p, f, n, out, 40), ==, 0);
    }
}

static void test_reject_icmp(void)
{
    for (int fam = 4; fam <= 6; fam += 2) {
        Spec s;
        uint8_t f[MAXF], out[FW_REJECT_MAX_LEN], pl[1400];
        FwPacket p, r;
        size_t n, m, hl = fam == 4 ? 20 : 40;

        memset(pl, 0x33, sizeof(pl));
        spec_init(&s, fam, 17);
        s.vnet = 10;
        s.payload = pl;
        s.payload_len = 100;
        n = build_frame(&s, f);
        parse_ok(f, n, 10, &p);
        m = fw_build_reject(&p, f, n, out, sizeof(out));
        /* whole original packet quoted */
        g_assert_cmpuint(m, ==, 14 + hl + 8 + p.l3_len);
        verify_checksums(out, m, 14);
        g_assert_cmpmem(out, 6, VM_MAC, 6);
        g_assert_cmpmem(out + 14 + hl + 8, p.l3_len, f + 24, p.l3_len);
        parse_ok(out, m, 0, &r);
        g_assert_true(r.icmp_error);
        g_assert_cmpint(r.icmp_type, ==, fam == 4 ? 3 : 1);
        g_assert_cmpint(r.icmp_code, ==, fam == 4 ? 3 : 4);
        g_assert_cmpint(r.emb.sport, ==, 40000);
        g_assert_cmpmem(&r.dst, sizeof(IpAddr), &p.src, sizeof(IpAddr));
        g_assert_cmpmem(&r.src, sizeof(IpAddr), &p.dst, sizeof(IpAddr));
        /* the error is RELATED for a connection through it */
        {
            g_autoptr(FwConntrack) ct = fw_conntrack_new(10, NULL);

            g_assert_true(fw_conntrack_commit(ct, &p, OUT, 1, 0));
            g_assert_cmpint(fw_conntrack_lookup(ct, &r, IN, 0), ==,
                            FW_CT_RELATED);
        }

        /* big packets are quoted up to the minimum MTU */
        s.payload_len = sizeof(pl);
        n = build_frame(&s, f);
        parse_ok(f, n, 10, &p);
        m = fw_build_reject(&p, f, n, out, sizeof(out));
        g_assert_cmpuint(m, ==, 14 + (fam == 4 ? 576 : 1280));
        verify_checksums(out, m, 14);

        /* other protocols: IPv6 administratively prohibited */
        s.proto = fam == 4 ? 47 : 132;
        s.payload_len = 20;
        n = build_frame(&s, f);
        parse_ok(f, n, 10, &p);
        m = fw_build_reject(&p, f, n, out, sizeof(out));
        g_assert_cmpuint(m, >, 0);
        verify_checksums(out, m, 14);
        parse_ok(out, m, 0, &r);
        g_assert_cmpint(r.icmp_code, ==, fam == 4 ? 3 : 1);

        /* no answer to ICMP errors, broadcasts and later fragments */
        icmp_error_pkt(&p, fam, 7);
        g_assert_cmpuint(fw_build_reject(&p, f, n, out, sizeof(out)), ==, 0);
        spec_init(&s, fam, 17);
        memcpy(s.dmac, BCAST, 6);
        n = build_frame(&s, f);
        parse_ok(f, n, 0, &p);
        g_assert_cmpuint(fw_build_reject(&p, f, n, out, sizeof(out)), ==, 0);
        spec_init(&s, fam, 17);
        s.dst = fam == 4 ? "224.0.0.251" : "ff02::fb";
        n = build_frame(&s, f);
        parse_ok(f, n, 0, &p);
        g_assert_cmpuint(fw_build_reject(&p, f, n, out, sizeof(out)), ==, 0);
        spec_init(&s, fam, 17);
        s.n_ext = fam == 6 ? 1 : 0;
        s.ext[0] = 44;
        s.frag_off = 10;
        s.payload = pl;
        s.payload_len = 16;
        n = build_frame(&s, f);
        parse_ok(f, n, 0, &p);
        g_assert_cmpint(p.frag, ==, FW_FRAG_LATER);
        g_assert_cmpuint(fw_build_reject(&p, f, n, out, sizeof(out)), ==, 0);
    }
}

static void test_reject_icmp_types(void)
{
    static const struct {
        int fam;
        uint8_t type;
        bool answered;
    } cases[] = {
        { 4, 8, true }, { 4, 13, true }, { 4, 3, false }, { 4, 5, false },
        { 4, 6, false }, { 4, 11, false }, { 4, 40, false },
        { 6, 128, true }, { 6, 1, false }, { 6, 5, false },
        { 6, 100, false }, { 6, 127, false }, { 6, 137, false },
        { 6, 200, false }, { 6, 255, false },
    };
    uint8_t f[MAXF], out[FW_REJECT_MAX_LEN], body[MAXF];
    FwPacket p;
    Spec s;
    size_t n;

    /* RFC 1122 3.2.2, RFC 4443 2.4: no error about an error or the unknown */
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        int fam = cases[i].fam;

        spec_init(&s, fam, fam == 4 ? 1 : 58);
        s.icmp_type = cases[i].type;
        s.payload = body;
        s.payload_len = inner_udp(body, fam);
        n = build_frame(&s, f);
        parse_ok(f, n, 0, &p);
        g_test_message("IPv%d ICMP type %u", cases[i].fam, cases[i].type);
        g_assert_cmpint(fw_build_reject(&p, f, n, out, sizeof(out)) != 0, ==,
                        cases[i].answered);
    }
    /* nor about a packet whose source is not one host */
    spec_init(&s, 4, 17);
    s.src = "127.0.0.1";
    n = build_frame(&s, f);
    parse_ok(f, n, 0, &p);
    g_assert_cmpuint(fw_build_reject(&p, f, n, out, sizeof(out)), ==, 0);
    s.src = "240.0.0.1";
    n = build_frame(&s, f);
    parse_ok(f, n, 0, &p);
    g_assert_cmpuint(fw_build_reject(&p, f, n, out, sizeof(out)), ==, 0);
    spec_init(&s, 6, 17);
    s.src = "::1";
    n = build_frame(&s, f);
    parse_ok(f, n, 0, &p);
    g_assert_cmpuint(fw_build_reject(&p, f, n, out, sizeof(out)), ==, 0);
}

/* ------------------------------------------------------------------ */
/* The decision path                                                   */
/* ------------------------------------------------------------------ */

/* Rules, a connection table and anti-spoofing, as production has them */
typedef struct Chain {
    FwRuleset *rs;
    FwConntrack *ct;
    FwAntispoof *as;
    FwChain c;
} Chain;

static void chain_init(Chain *ch, const FwRule *rules, size_t n,
                       FwAction def)
{
    ch->rs = compile_ok(rules, n, NULL, 0, def, def);
    ch->ct = fw_conntrack_new(100, NULL);
    ch->as = make_as();
    ch->c = (FwChain) { .rs = ch->rs, .ct = ch->ct, .as = ch->as };
}

static void chain_free(Chain *ch)
{
    fw_ruleset_free(ch->rs);
    fw_conntrack_free(ch->ct);
    fw_antispoof_free(ch->as);
}

static FwVerdict chain_run(Chain *ch, FwDirection dir, const uint8_t *f,
                           size_t n, int64_t now)
{
    FwPacket p;
    FwVerdict v;

    fw_process(&ch->c, dir, f, n, 0, now, &p, &v);
    g_assert_cmpint(v.parse_error, ==, FW_PARSE_OK);
    return v;
}

static bool chain_passes(Chain *ch, FwDirection dir, const uint8_t *f,
                         size_t n, int64_t now)
{
    return chain_run(ch, dir, f, n, now).action == FW_ACTION_ACCEPT;
}

/* A DHCP message of @len bytes (0: 300) in a frame to or from the VM */
static size_t dhcp_frame(uint8_t *f, bool from_vm, uint8_t op, uint32_t xid,
                         const uint8_t *chaddr, const char *src,
                         const char *dst, const char *server_id, size_t len)
{
    static uint8_t msg[1600];
    Spec s;
    size_t o = 243;

    len = len ? len : 300;
    memset(msg, 0, len);
    msg[0] = op;
    msg[1] = 1;
    msg[2] = 6;
    put32(msg + 4, xid);
    memcpy(msg + 28, chaddr, 6);
    put32(msg + 236, 0x63825363);
    msg[240] = 53;                      /* message type */
    msg[241] = 1;
    msg[242] = op == 1 ? 1 : 2;
    if (server_id) {
        msg[o] = 54;
        msg[o + 1] = 4;
        t_addr(4, server_id, msg + o + 2);
        o += 6;
    }
    msg[o] = 255;
    spec_init(&s, 4, 17);
    if (!from_vm) {
        memcpy(s.smac, GW_MAC, 6);
        memcpy(s.dmac, VM_MAC, 6);
    } else {
        memcpy(s.dmac, BCAST, 6);
    }
    s.src = src;
    s.dst = dst;
    s.sport = op == 1 ? 68 : 67;
    s.dport = op == 1 ? 67 : 68;
    s.payload = msg;
    s.payload_len = len;
    return build_frame(&s, f);
}

static void test_chain_dhcp(void)
{
    static const uint8_t other[6] = { 2, 0, 0, 0, 0, 9 };
    Chain ch;
    uint8_t f[MAXF];
    FwVerdict v;
    size_t n;

    chain_init(&ch, NULL, 0, FW_ACTION_DROP);
    /* a reply nobody asked for */
    n = dhcp_frame(f, false, 2, 0x1111, VM_MAC, "10.0.0.1",
                   "255.255.255.255", NULL, 0);
    v = chain_run(&ch, IN, f, n, 0);
    g_assert_false(v.bootstrap);
    g_assert_cmpint(v.reason, ==, FW_DROP_DEFAULT);
    /* the discover to broadcast */
    n = dhcp_frame(f, true, 1, 0x1111, VM_MAC, "0.0.0.0", "255.255.255.255",
                   NULL, 0);
    v = chain_run(&ch, OUT, f, n, 0);
    g_assert_true(v.bootstrap);
    g_assert_cmpint(v.action, ==, FW_ACTION_ACCEPT);
    /* a request to some unicast address is not bootstrap traffic */
    n = dhcp_frame(f, true, 1, 0x1111, VM_MAC, "10.0.0.2", "192.0.2.9",
                   NULL, 0);
    g_assert_false(chain_passes(&ch, OUT, f, n, 0));
    /* replies: another transaction, another client, the wrong ports */
    n = dhcp_frame(f, false, 2, 0x2222, VM_MAC, "10.0.0.1",
                   "255.255.255.255", NULL, 0);
    g_assert_false(chain_passes(&ch, IN, f, n, SEC));
    n = dhcp_frame(f, false, 2, 0x1111, other, "10.0.0.1",
                   "255.255.255.255", NULL, 0);
    g_assert_false(chain_passes(&ch, IN, f, n, SEC));
    n = dhcp_frame(f, false, 2, 0x1111, VM_MAC, "10.0.0.1",
                   "255.255.255.255", NULL, 0);
    put16(f + 34, 68);
    put16(f + 36, 67);
    g_assert_false(chain_passes(&ch, IN, f, n, SEC));
    /* the offer of the guest's transaction, naming its server */
    n = dhcp_frame(f, false, 2, 0x1111, VM_MAC, "10.0.0.1",
                   "255.255.255.255", "10.0.0.53", 0);
    v = chain_run(&ch, IN, f, n, SEC);
    g_assert_true(v.bootstrap);
    /* now unicast requests to that server are, to another one are not */
    n = dhcp_frame(f, true, 1, 0x3333, VM_MAC, "10.0.0.2", "10.0.0.53",
                   NULL, 0);
    g_assert_true(chain_run(&ch, OUT, f, n, 2 * SEC).bootstrap);
    n = dhcp_frame(f, true, 1, 0x3333, VM_MAC, "10.0.0.2", "10.0.0.1",
                   NULL, 0);
    g_assert_false(chain_passes(&ch, OUT, f, n, 2 * SEC));
    /* another client hardware address, too large, no magic cookie */
    n = dhcp_frame(f, true, 1, 0x4444, other, "0.0.0.0", "255.255.255.255",
                   NULL, 0);
    g_assert_false(chain_passes(&ch, OUT, f, n, 2 * SEC));
    n = dhcp_frame(f, true, 1, 0x4444, VM_MAC, "0.0.0.0", "255.255.255.255",
                   NULL, 1473);
    g_assert_false(chain_passes(&ch, OUT, f, n, 2 * SEC));
    n = dhcp_frame(f, true, 1, 0x4444, VM_MAC, "0.0.0.0", "255.255.255.255",
                   NULL, 1472);
    g_assert_true(chain_passes(&ch, OUT, f, n, 2 * SEC));
    f[14 + 20 + 8 + 236] = 0;
    g_assert_false(chain_passes(&ch, OUT, f, n, 2 * SEC));
    /* replies to a transaction end 60 s after its last request */
    n = dhcp_frame(f, false, 2, 0x1111, VM_MAC, "10.0.0.1",
                   "255.255.255.255", NULL, 0);
    g_assert_true(chain_passes(&ch, IN, f, n, 59 * SEC));
    g_assert_false(chain_passes(&ch, IN, f, n, 61 * SEC));

    /* quarantine: none of it, unless the allow list says so */
    ch.c.quarantined = true;
    n = dhcp_frame(f, true, 1, 0x5555, VM_MAC, "0.0.0.0", "255.255.255.255",
                   NULL, 0);
    v = chain_run(&ch, OUT, f, n, 70 * SEC);
    g_assert_cmpint(v.reason, ==, FW_DROP_QUARANTINE);
    chain_free(&ch);
}

/* A neighbour discovery message with hop limit @hops */
static size_t nd_frame(uint8_t *f, bool from_vm, uint8_t type,
                       const char *src, const char *dst, const char *target,
                       uint8_t hops)
{
    static const size_t body_len[5] = { 0, 8, 16, 16, 32 };
    uint8_t body[32] = { 0 };
    Spec s;
    size_t n;

    spec_init(&s, 6, 58);
    if (!from_vm) {
        memcpy(s.smac, GW_MAC, 6);
        memcpy(s.dmac, VM_MAC, 6);
    }
    s.src = src;
    s.dst = dst;
    s.icmp_type = type;
    s.icmp_id = 0;
    if (target) {
        t_addr(6, target, body);
    }
    s.payload = body;
    s.payload_len = body_len[type - 133];
    n = build_frame(&s, f);
    f[14 + 7] = hops;
    return n;
}

static void test_chain_nd(void)
{
    const char *ll = "fe80::5054:ff:fe12:3456";
    IpPrefix allow = pfx("fe80::1");
    Chain ch;
    uint8_t f[MAXF];
    FwVerdict v;
    size_t n;

    chain_init(&ch, NULL, 0, FW_ACTION_DROP);
    /* from and to global addresses off the link */
    n = nd_frame(f, false, 135, "2001:db8::9", "2001:db8::2", "2001:db8::2",
                 64);
    v = chain_run(&ch, IN, f, n, 0);
    g_assert_false(v.bootstrap);
    g_assert_cmpint(v.reason, ==, FW_DROP_DEFAULT);
    n = nd_frame(f, false, 136, "2001:db8::9", "2001:db8::2", "2001:db8::9",
                 64);
    g_assert_false(chain_passes(&ch, IN, f, n, 0));
    n = nd_frame(f, true, 136, "2001:db8::2", "2001:db8::9", "2001:db8::2",
                 64);
    g_assert_false(chain_passes(&ch, OUT, f, n, 0));
    /* on the link: to the solicited-node group or the target itself */
    n = nd_frame(f, false, 135, "fe80::1", "ff02::1:ff00:2", "2001:db8::2",
                 255);
    g_assert_true(chain_run(&ch, IN, f, n, 0).bootstrap);
    n = nd_frame(f, false, 135, "fe80::1", "ff02::1:ff00:3", "2001:db8::2",
                 255);
    g_assert_false(chain_passes(&ch, IN, f, n, 0));
    n = nd_frame(f, false, 135, "2001:db8::9", "2001:db8::2", "2001:db8::2",
                 255);
    g_assert_true(chain_passes(&ch, IN, f, n, 0));
    n = nd_frame(f, false, 135, "2001:db8::9", "2001:db8::3", "2001:db8::2",
                 255);
    g_assert_false(chain_passes(&ch, IN, f, n, 0));
    n = nd_frame(f, true, 135, "::", "2001:db8::1", "2001:db8::1", 255);
    g_assert_false(chain_passes(&ch, OUT, f, n, 0));
    n = nd_frame(f, true, 135, "::", "ff02::1:ff00:2", "2001:db8::2", 255);
    g_assert_true(chain_passes(&ch, OUT, f, n, 0));
    n = nd_frame(f, true, 136, ll, "ff02::1", "2001:db8::2", 255);
    g_assert_true(chain_passes(&ch, OUT, f, n, 0));
    /* routers: solicited at ff02::2, advertising from link-local */
    n = nd_frame(f, true, 133, ll, "ff02::2", NULL, 255);
    g_assert_true(chain_passes(&ch, OUT, f, n, 0));
    n = nd_frame(f, true, 133, ll, "ff02::1", NULL, 255);
    g_assert_false(chain_passes(&ch, OUT, f, n, 0));
    n = nd_frame(f, false, 134, "fe80::1", "ff02::1", NULL, 255);
    g_assert_true(chain_passes(&ch, IN, f, n, 0));
    n = nd_frame(f, false, 134, "2001:db8::1", "ff02::1", NULL, 255);
    g_assert_false(chain_passes(&ch, IN, f, n, 0));
    n = nd_frame(f, false, 137, "fe80::1", "2001:db8::2", "2001:db8::7",
                 255);
    g_assert_true(chain_passes(&ch, IN, f, n, 0));
    n = nd_frame(f, false, 137, "fe80::1", "2001:db8::2", "2001:db8::7",
                 254);
    g_assert_false(chain_passes(&ch, IN, f, n, 0));

    /* quarantine: only resolving allowed addresses */
    ch.c.quarantined = true;
    ch.c.quarantine_allow = &allow;
    ch.c.n_quarantine_allow = 1;
    n = nd_frame(f, true, 135, ll, "ff02::1:ff00:1", "fe80::1", 255);
    g_assert_true(chain_run(&ch, OUT, f, n, 0).bootstrap);
    n = nd_frame(f, true, 135, ll, "ff02::1:ff00:9", "fe80::9", 255);
    v = chain_run(&ch, OUT, f, n, 0);
    g_assert_cmpint(v.reason, ==, FW_DROP_QUARANTINE);
    n = nd_frame(f, false, 135, "fe80::1", "ff02::1:ff00:2", "2001:db8::2",
                 255);
    g_assert_true(chain_passes(&ch, IN, f, n, 0));
    n = nd_frame(f, false, 135, "fe80::9", "ff02::1:ff00:2", "2001:db8::2",
                 255);
    g_assert_false(chain_passes(&ch, IN, f, n, 0));
    chain_free(&ch);
}

static void test_chain_arp(void)
{
    IpPrefix allow = pfx("10.0.0.1");
    Chain ch;
    uint8_t f[MAXF];
    size_t n;

    chain_init(&ch, NULL, 0, FW_ACTION_DROP);
    n = build_arp(f, 1, VM_MAC, VM_MAC, "10.0.0.2", "10.0.0.1");
    g_assert_true(chain_run(&ch, OUT, f, n, 0).bootstrap);
    /* padded to the Ethernet minimum with FCS room (slirp), no more */
    memset(f + n, 0, 64 - n);
    g_assert_true(chain_passes(&ch, OUT, f, 64, 0));
    g_assert_false(chain_passes(&ch, OUT, f, 65, 0));
    n = build_arp(f, 3, VM_MAC, VM_MAC, "10.0.0.2", "10.0.0.1");
    g_assert_false(chain_passes(&ch, OUT, f, n, 0));

    ch.c.quarantined = true;
    n = build_arp(f, 1, VM_MAC, VM_MAC, "10.0.0.2", "10.0.0.1");
    g_assert_cmpint(chain_run(&ch, OUT, f, n, 0).reason, ==,
                    FW_DROP_QUARANTINE);
    ch.c.quarantine_allow = &allow;
    ch.c.n_quarantine_allow = 1;
    g_assert_true(chain_passes(&ch, OUT, f, n, 0));
    n = build_arp(f, 1, VM_MAC, VM_MAC, "10.0.0.2", "10.0.0.9");
    g_assert_false(chain_passes(&ch, OUT, f, n, 0));
    chain_free(&ch);
}

static void test_chain_nd_options(void)
{
    static const uint8_t other[6] = { 2, 0, 0, 0, 0, 9 };
    g_autoptr(FwAntispoof) as = make_as();
    const char *ll = "fe80::5054:ff:fe12:3456";
    uint8_t f[MAXF], body[16 + 66 * 8] = { 0 };
    size_t o = 16;
    Spec s;

    /* 64 nonce options, then a link-layer address that is not the VM's */
    spec_init(&s, 6, 58);
    s.src = ll;
    s.dst = "ff02::1";
    s.icmp_type = 136;
    s.icmp_id = 0;
    t_addr(6, "2001:db8::2", body);
    for (int i = 0; i < 64; i++, o += 8) {
        body[o] = 14;
        body[o + 1] = 1;
    }
    body[o] = 2;
    body[o + 1] = 1;
    memcpy(body + o + 2, other, 6);
    s.payload = body;
    s.payload_len = o + 8;
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_MAC);

    /* two link-layer address options: the VM's after another one */
    o = 16;
    body[o] = 2;
    body[o + 1] = 1;
    memcpy(body + o + 2, other, 6);
    body[o + 8] = 2;
    body[o + 9] = 1;
    memcpy(body + o + 10, VM_MAC, 6);
    s.payload_len = o + 16;
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_MAC);
    memcpy(body + o + 2, VM_MAC, 6);
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_NONE);
}

static void test_chain_icmp_outer(void)
{
    for (int fam = 4; fam <= 6; fam += 2) {
        g_autoptr(FwConntrack) ct = fw_conntrack_new(100, NULL);
        uint8_t inner[MAXF], f[MAXF];
        Spec in, s;
        FwPacket q, err;

        spec_init(&in, fam, 17);
        in.sport = 6000;
        in.dport = 53;
        g_assert_cmpint(parse_spec(&in, &q), ==, FW_PARSE_OK);
        g_assert_cmpint(fw_conntrack_lookup(ct, &q, OUT, 0), ==, FW_CT_NEW);
        g_assert_true(fw_conntrack_commit(ct, &q, OUT, 1, 0));
        /* from a router on the path to the VM: related */
        spec_init(&s, fam, fam == 4 ? 1 : 58);
        s.src = fam == 4 ? "192.0.2.1" : "2001:db8:ff::1";
        s.dst = in.src;
        s.icmp_type = fam == 4 ? 3 : 1;
        s.icmp_id = 0;
        s.payload = inner;
        s.payload_len = build_ip(&in, inner);
        parse_ok(f, build_frame(&s, f), 0, &err);
        g_assert_cmpint(fw_conntrack_lookup(ct, &err, IN, SEC), ==,
                        FW_CT_RELATED);
        /* the same error sent to another host: invalid, as in Linux */
        s.dst = fam == 4 ? "10.0.0.3" : "2001:db8::3";
        parse_ok(f, build_frame(&s, f), 0, &err);
        g_assert_cmpint(fw_conntrack_lookup(ct, &err, IN, SEC), ==,
                        FW_CT_INVALID);
        /* and the guest's own error about it, to someone else */
        s.src = in.src;
        s.dst = fam == 4 ? "192.0.2.7" : "2001:db8:77::7";
        memcpy(s.smac, VM_MAC, 6);
        parse_ok(f, build_frame(&s, f), 0, &err);
        g_assert_cmpint(fw_conntrack_lookup(ct, &err, OUT, SEC), ==,
                        FW_CT_INVALID);
    }
}

static void test_chain_state_rules(void)
{
    FwRule r[2];
    IpPrefix peer = pfx("10.0.0.1");
    Chain ch;
    uint8_t f[MAXF];
    FwVerdict v;
    Spec s;
    size_t n;

    memset(r, 0, sizeof(r));
    r[0].id = 1;
    r[0].dir_mask = FW_DIR_MASK_INGRESS;
    r[0].src.prefixes = &peer;
    r[0].src.n_prefixes = 1;
    r[0].ct_states = FW_CT_MASK(FW_CT_ESTABLISHED);
    r[0].action = FW_ACTION_DROP;
    r[1].id = 2;
    r[1].dir_mask = FW_DIR_MASK_EGRESS;
    r[1].ct_states = FW_CT_MASK(FW_CT_NEW);
    chain_init(&ch, r, 2, FW_ACTION_DROP);

    for (int i = 0; i < 2; i++) {
        spec_init(&s, 4, 17);
        s.dst = i ? "10.0.0.9" : "10.0.0.1";
        s.sport = 6000;
        s.dport = 53;
        n = build_frame(&s, f);
        v = chain_run(&ch, OUT, f, n, 0);
        g_assert_cmpint(v.action, ==, FW_ACTION_ACCEPT);
        g_assert_cmpint(v.rule_id, ==, 2);
        s.src = s.dst;
        s.dst = "10.0.0.2";
        s.sport = 53;
        s.dport = 6000;
        n = build_frame(&s, f);
        v = chain_run(&ch, IN, f, n, SEC);
        g_assert_cmpint(v.ct_state, ==, FW_CT_ESTABLISHED);
        if (i == 0) {
            /* the state rule matches the answer, and counts it */
            g_assert_cmpint(v.rule_index, ==, 0);
            g_assert_cmpint(v.action, ==, FW_ACTION_DROP);
            g_assert_cmpint(v.reason, ==, FW_DROP_RULE);
        } else {
            /* no rule: an established packet is accepted, not defaulted */
            g_assert_cmpint(v.rule_index, ==, -1);
            g_assert_cmpint(v.action, ==, FW_ACTION_ACCEPT);
        }
    }
    chain_free(&ch);
}

static void test_chain_fragments(void)
{
    FwRule r[3];
    FwPortRange p53 = { 53, 53 }, p7000 = { 7000, 7000 };
    IpPrefix attacker = pfx("10.0.0.7");
    uint8_t f[MAXF], data[1024];
    Chain ch;
    FwVerdict v;
    Spec s;
    size_t n;

    memset(r, 0, sizeof(r));
    memset(data, 0x5a, sizeof(data));
    r[0].id = 1;
    r[0].dir_mask = FW_DIR_MASK_EGRESS;
    r[0].has_proto = true;
    r[0].proto = 17;
    r[0].dports = &p53;
    r[0].n_dports = 1;
    r[1].id = 2;
    r[1].dir_mask = FW_DIR_MASK_INGRESS;
    r[1].has_proto = true;
    r[1].proto = 17;
    r[1].dports = &p7000;
    r[1].n_dports = 1;
    r[1].action = FW_ACTION_DROP;
    r[2].id = 3;
    r[2].priority = 1;
    r[2].dir_mask = FW_DIR_MASK_INGRESS;
    r[2].src.prefixes = &attacker;
    r[2].src.n_prefixes = 1;
    chain_init(&ch, r, 3, FW_ACTION_DROP);

    /* a DNS query, and its answer in two fragments */
    spec_init(&s, 4, 17);
    s.sport = 6000;
    s.dport = 53;
    n = build_frame(&s, f);
    g_assert_true(chain_passes(&ch, OUT, f, n, 0));
    spec_init(&s, 4, 17);
    memcpy(s.smac, GW_MAC, 6);
    memcpy(s.dmac, VM_MAC, 6);
    s.src = "10.0.0.1";
    s.dst = "10.0.0.2";
    s.sport = 53;
    s.dport = 6000;
    s.mf = true;
    s.payload = data;
    s.payload_len = 1000;
    n = build_frame(&s, f);
    v = chain_run(&ch, IN, f, n, SEC);
    g_assert_cmpint(v.action, ==, FW_ACTION_ACCEPT);
    g_assert_cmpint(v.ct_state, ==, FW_CT_ESTABLISHED);
    s.mf = false;
    s.frag_off = 126;
    n = build_frame(&s, f);
    v = chain_run(&ch, IN, f, n, SEC);
    g_assert_cmpint(v.action, ==, FW_ACTION_ACCEPT);
    g_assert_true(v.fragment);
    /* until the datagram times out */
    g_assert_false(chain_passes(&ch, IN, f, n, 32 * SEC));

    /*
     * A first fragment dropped by its port: the rest does not pass
     * through a rule that would take fragments without ports.
     */
    s.src = "10.0.0.7";
    s.sport = 53;
    s.dport = 7000;
    s.mf = true;
    s.frag_off = 0;
    n = build_frame(&s, f);
    v = chain_run(&ch, IN, f, n, 40 * SEC);
    g_assert_cmpint(v.reason, ==, FW_DROP_RULE);
    s.mf = false;
    s.frag_off = 126;
    n = build_frame(&s, f);
    v = chain_run(&ch, IN, f, n, 40 * SEC);
    g_assert_cmpint(v.action, ==, FW_ACTION_DROP);
    g_assert_true(v.fragment);
    /* without a first fragment, rules decide as for any packet */
    put16(f + 14 + 4, 0x4321);
    g_assert_true(chain_passes(&ch, IN, f, n, 40 * SEC));
    chain_free(&ch);
}

static void test_chain_icmpv6_ext(void)
{
    Chain ch;
    uint8_t inner[MAXF], f[MAXF];
    FwVerdict v;
    Spec in, s;
    size_t n;

    chain_init(&ch, NULL, 0, FW_ACTION_DROP);
    ch.c.rs = NULL;                 /* the SYN goes out */
    spec_init(&in, 6, 6);
    in.n_ext = 1;
    in.ext[0] = 60;                 /* destination options */
    n = build_frame(&in, f);
    g_assert_true(chain_passes(&ch, OUT, f, n, 0));
    ch.c.rs = ch.rs;
    /* Packet Too Big from a router, quoting it with its options */
    spec_init(&s, 6, 58);
    memcpy(s.smac, GW_MAC, 6);
    memcpy(s.dmac, VM_MAC, 6);
    s.src = "2001:db8:ff::1";
    s.dst = in.src;
    s.icmp_type = 2;
    s.icmp_id = 0;
    s.payload = inner;
    s.payload_len = build_ip(&in, inner);
    n = build_frame(&s, f);
    v = chain_run(&ch, IN, f, n, SEC);
    g_assert_cmpint(v.ct_state, ==, FW_CT_RELATED);
    g_assert_cmpint(v.action, ==, FW_ACTION_ACCEPT);
    chain_free(&ch);
}

static void test_chain_vlan(void)
{
    FwRule r;
    FwPortRange p53 = { 53, 53 };
    Chain ch;
    uint8_t f[MAXF];
    FwVerdict v;
    Spec s;
    size_t n;

    memset(&r, 0, sizeof(r));
    r.id = 1;
    r.dports = &p53;
    r.n_dports = 1;
    r.action = FW_ACTION_DROP;
    chain_init(&ch, &r, 1, FW_ACTION_ACCEPT);
    spec_init(&s, 4, 17);
    s.nvlan = 1;
    s.vid[0] = 7;
    n = build_frame(&s, f);
    v = chain_run(&ch, OUT, f, n, 0);
    g_assert_cmpint(v.action, ==, FW_ACTION_DROP);
    g_assert_cmpint(v.reason, ==, FW_DROP_VLAN);
    /* allowed, they are classified on what the tags carry */
    ch.c.allow_vlan = true;
    g_assert_true(chain_passes(&ch, OUT, f, n, 0));
    s.dport = 53;
    n = build_frame(&s, f);
    g_assert_cmpint(chain_run(&ch, OUT, f, n, 0).reason, ==, FW_DROP_RULE);
    chain_free(&ch);
}

static void test_chain_quarantine(void)
{
    IpPrefix allow = pfx("10.0.0.1");
    Chain ch;
    uint8_t f[MAXF];
    Spec s;
    size_t n;

    chain_init(&ch, NULL, 0, FW_ACTION_ACCEPT);
    ch.c.quarantined = true;
    ch.c.quarantine_allow = &allow;
    ch.c.n_quarantine_allow = 1;
    spec_init(&s, 4, 6);
    n = build_frame(&s, f);
    g_assert_true(chain_passes(&ch, OUT, f, n, 0));
    s.dst = "10.0.0.9";
    n = build_frame(&s, f);
    g_assert_cmpint(chain_run(&ch, OUT, f, n, 0).reason, ==,
                    FW_DROP_QUARANTINE);
    chain_free(&ch);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/firewall-core/parse/ethernet", test_parse_eth);
    g_test_add_func("/firewall-core/parse/vlan", test_parse_vlan);
    g_test_add_func("/firewall-core/parse/vnet-header", test_parse_vnet);
    g_test_add_func("/firewall-core/parse/arp", test_parse_arp);
    g_test_add_func("/firewall-core/parse/ipv4-tcp", test_parse_ipv4_tcp);
    g_test_add_func("/firewall-core/parse/ipv4-errors",
                    test_parse_ipv4_errors);
    g_test_add_func("/firewall-core/parse/ipv4-fragments",
                    test_parse_ipv4_frag);
    g_test_add_func("/firewall-core/parse/udp-dhcp", test_parse_udp_dhcp);
    g_test_add_func("/firewall-core/parse/icmp", test_parse_icmp);
    g_test_add_func("/firewall-core/parse/ipv6", test_parse_ipv6);
    g_test_add_func("/firewall-core/parse/ipv6-errors",
                    test_parse_ipv6_errors);
    g_test_add_func("/firewall-core/parse/icmpv6-nd", test_parse_icmpv6);
    g_test_add_func("/firewall-core/parse/error-names",
                    test_parse_error_names);
    g_test_add_func("/firewall-core/parse/truncation",
                    test_parse_truncation);
    g_test_add_func("/firewall-core/prefix/parse", test_prefix_parse);
    g_test_add_func("/firewall-core/rules/match-fields", test_match_fields);
    g_test_add_func("/firewall-core/rules/fragments", test_match_fragments);
    g_test_add_func("/firewall-core/rules/priorities", test_priorities);
    g_test_add_func("/firewall-core/rules/defaults-actions",
                    test_defaults_actions);
    g_test_add_func("/firewall-core/rules/sets", test_sets);
    g_test_add_func("/firewall-core/rules/compile-errors",
                    test_compile_errors);
    g_test_add_func("/firewall-core/rules/counters-carry",
                    test_counters_carry);
    g_test_add_func("/firewall-core/rules/differential", test_differential);
    g_test_add_func("/firewall-core/conntrack/tcp-handshake",
                    test_ct_tcp_handshake);
    g_test_add_func("/firewall-core/conntrack/tcp-rst-reuse",
                    test_ct_tcp_rst_reuse);
    g_test_add_func("/firewall-core/conntrack/tcp-invalid-flags",
                    test_ct_tcp_invalid_flags);
    g_test_add_func("/firewall-core/conntrack/udp", test_ct_udp);
    g_test_add_func("/firewall-core/conntrack/icmp", test_ct_icmp);
    g_test_add_func("/firewall-core/conntrack/related", test_ct_related);
    g_test_add_func("/firewall-core/conntrack/table-full",
                    test_ct_table_full);
    g_test_add_func("/firewall-core/conntrack/flush-rule",
                    test_ct_flush_rule);
    g_test_add_func("/firewall-core/conntrack/incremental-expiry",
                    test_ct_incremental_expiry);
    g_test_add_func("/firewall-core/conntrack/info", test_ct_info);
    g_test_add_func("/firewall-core/conntrack/counters", test_ct_counters);
    g_test_add_func("/firewall-core/conntrack/many", test_ct_many);
    g_test_add_func("/firewall-core/conntrack/prefetch", test_ct_prefetch);
    g_test_add_func("/firewall-core/conntrack/random-model",
                    test_ct_random_model);
    g_test_add_func("/firewall-core/conntrack/process-chain",
                    test_ct_process_chain);
    g_test_add_func("/firewall-core/antispoof/ip", test_spoof_ip);
    g_test_add_func("/firewall-core/antispoof/arp", test_spoof_arp);
    g_test_add_func("/firewall-core/antispoof/nd", test_spoof_nd);
    g_test_add_func("/firewall-core/antispoof/process", test_spoof_process);
    g_test_add_func("/firewall-core/reject/tcp", test_reject_tcp);
    g_test_add_func("/firewall-core/reject/icmp", test_reject_icmp);
    g_test_add_func("/firewall-core/reject/icmp-types",
                    test_reject_icmp_types);
    g_test_add_func("/firewall-core/chain/dhcp", test_chain_dhcp);
    g_test_add_func("/firewall-core/chain/nd", test_chain_nd);
    g_test_add_func("/firewall-core/chain/arp", test_chain_arp);
    g_test_add_func("/firewall-core/chain/nd-options",
                    test_chain_nd_options);
    g_test_add_func("/firewall-core/chain/icmp-outer",
                    test_chain_icmp_outer);
    g_test_add_func("/firewall-core/chain/state-rules",
                    test_chain_state_rules);
    g_test_add_func("/firewall-core/chain/fragments", test_chain_fragments);
    g_test_add_func("/firewall-core/chain/icmpv6-ext", test_chain_icmpv6_ext);
    g_test_add_func("/firewall-core/chain/vlan", test_chain_vlan);
    g_test_add_func("/firewall-core/chain/quarantine", test_chain_quarantine);

    return g_test_run();
}
