/*
 * Frames and helpers shared by the firewall core's unit tests
 *
 * The frames are built here byte by byte, independently of the code
 * under test.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_QTEST_FIREWALL_CORE_UTIL_H
#define TESTS_QTEST_FIREWALL_CORE_UTIL_H

#include "qemu/bswap.h"
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

/* RFC 1071 one's complement sum */
static inline uint32_t t_sum(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sum += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
    }
    return sum;
}

static inline uint16_t t_fold(uint32_t sum)
{
    while (sum > 0xffff) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum & 0xffff;
}

static inline uint32_t t_pseudo(int fam, const uint8_t *src, const uint8_t *dst,
                                uint8_t proto, uint32_t len)
{
    int al = fam == 4 ? 4 : 16;
    uint8_t tail[8] = { 0 };

    stl_be_p(tail, len);
    tail[7] = proto;
    return t_sum(t_sum(t_sum(0, src, al), dst, al), tail, 8);
}

static inline void t_addr(int fam, const char *s, uint8_t *out)
{
    memset(out, 0, 16);
    g_assert_cmpint(inet_pton(fam == 4 ? AF_INET : AF_INET6, s, out), ==, 1);
}

static inline void spec_init(Spec *s, int family, uint8_t proto)
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

static inline size_t build_l4(const Spec *s, const uint8_t *src,
                              const uint8_t *dst, uint8_t *out)
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
        stw_be_p(out, s->sport);
        stw_be_p(out + 2, s->dport);
        stl_be_p(out + 4, s->seq);
        stl_be_p(out + 8, s->ack);
        out[12] = (n / 4) << 4;
        out[13] = s->tcp_flags;
        stw_be_p(out + 14, 65535);
        for (int i = 20; i < n; i++) {
            out[i] = 1;             /* NOP options */
        }
        if (s->payload_len) {
            memcpy(out + n, s->payload, s->payload_len);
        }
        n += s->payload_len;
        stw_be_p(out + 16,
                 t_fold(t_sum(t_pseudo(fam, src, dst, 6, n), out, n)));
        break;
    case 17:
        n = 8 + s->payload_len;
        memset(out, 0, 8);
        stw_be_p(out, s->sport);
        stw_be_p(out + 2, s->dport);
        stw_be_p(out + 4, n);
        if (s->payload_len) {
            memcpy(out + 8, s->payload, s->payload_len);
        }
        stw_be_p(out + 6,
                 t_fold(t_sum(t_pseudo(fam, src, dst, 17, n), out, n)));
        break;
    case 1:
    case 58:
        n = 8 + s->payload_len;
        memset(out, 0, 8);
        out[0] = s->icmp_type;
        out[1] = s->icmp_code;
        stw_be_p(out + 4, s->icmp_id);
        if (s->payload_len) {
            memcpy(out + 8, s->payload, s->payload_len);
        }
        stw_be_p(out + 2, t_fold(t_sum(s->proto == 58 ?
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

static inline size_t build_ip(const Spec *s, uint8_t *out)
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
        stw_be_p(out + 2, hl + l4len);
        stw_be_p(out + 4, 0x1234);
        stw_be_p(out + 6, (s->mf ? 0x2000 : 0) | s->frag_off);
        out[8] = 64;
        out[9] = s->proto;
        memcpy(out + 12, src, 4);
        memcpy(out + 16, dst, 4);
        memset(out + 20, 1, s->ip_opts);
        stw_be_p(out + 10, t_fold(t_sum(0, out, hl)));
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
            stw_be_p(h + 2, (s->frag_off << 3) | (s->mf ? 1 : 0));
            stl_be_p(h + 4, 0xabcd);
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
    stw_be_p(out + 4, n - 40);
    return n;
}

static inline size_t build_frame(const Spec *s, uint8_t *out)
{
    size_t n = s->vnet;

    memset(out, 0xaa, s->vnet);
    memcpy(out + n, s->dmac, 6);
    memcpy(out + n + 6, s->smac, 6);
    n += 12;
    for (int i = 0; i < s->nvlan; i++) {
        stw_be_p(out + n, i == 0 && s->nvlan > 1 ? 0x88a8 : 0x8100);
        stw_be_p(out + n + 2, s->vid[i]);
        n += 4;
    }
    stw_be_p(out + n, s->family == 4 ? 0x0800 : s->family == 6 ? 0x86dd :
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

static inline size_t build_arp(uint8_t *out, uint16_t op, const uint8_t *smac,
                               const uint8_t *sha, const char *spa,
                               const char *tpa)
{
    uint8_t a[16];

    memcpy(out, BCAST, 6);
    memcpy(out + 6, smac, 6);
    stw_be_p(out + 12, 0x0806);
    stw_be_p(out + 14, 1);
    stw_be_p(out + 16, 0x0800);
    out[18] = 6;
    out[19] = 4;
    stw_be_p(out + 20, op);
    memcpy(out + 22, sha, 6);
    t_addr(4, spa, a);
    memcpy(out + 28, a, 4);
    memset(out + 32, 0, 6);
    t_addr(4, tpa, a);
    memcpy(out + 38, a, 4);
    return 42;
}

static inline IpAddr addr_of(int fam, const char *s)
{
    IpAddr a = { .family = fam };

    t_addr(fam, s, a.a);
    return a;
}

static inline void parse_ok(const uint8_t *f, size_t len, size_t vnet,
                            FwPacket *p)
{
    FwParseError e = fw_parse_frame(f, len, vnet, p);

    if (e != FW_PARSE_OK) {
        g_test_message("parse error %s", fw_parse_error_name(e));
    }
    g_assert_cmpint(e, ==, FW_PARSE_OK);
}

/* fw_process() with the stages given, no virtio-net header */
static inline void process(const FwRuleset *rs, FwConntrack *ct,
                           const FwAntispoof *as, FwDirection dir,
                           const uint8_t *f, size_t n, int64_t now,
                           FwPacket *p, FwVerdict *v)
{
    FwChain c = { .rs = rs, .ct = ct, .as = as };

    fw_process(&c, dir, f, n, 0, now, p, v);
}

static inline FwParseError parse_spec(const Spec *s, FwPacket *p)
{
    uint8_t f[MAXF];
    size_t n = build_frame(s, f);

    return fw_parse_frame(f, n, s->vnet, p);
}

/* ------------------------------------------------------------------ */
/* Packets, rule sets and anti-spoofing of the tests                  */
/* ------------------------------------------------------------------ */

static inline size_t inner_udp(uint8_t *out, int fam)
{
    Spec in;

    spec_init(&in, fam, 17);
    in.sport = 5000;
    in.dport = 53;
    return build_ip(&in, out);
}

static inline size_t build_nd(uint8_t *f, uint8_t type, const char *src,
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

static inline void udp_pkt(FwPacket *p, bool from_vm, uint16_t vm_port)
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

/* An ICMP error to the VM about its packet @proto from @vm_port */
static inline void icmp_error_about(FwPacket *p, int fam, uint8_t proto,
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

static inline void icmp_error_pkt(FwPacket *p, int fam, uint16_t vm_port)
{
    icmp_error_about(p, fam, 17, vm_port);
}

static inline IpPrefix pfx(const char *s)
{
    IpPrefix p;

    g_assert_true(ip_prefix_parse(s, &p, NULL));
    return p;
}

static inline FwRuleset *compile_ok(const FwRule *rules, size_t n,
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

static inline FwAntispoof *make_as(void)
{
    IpPrefix allowed[3] = {
        pfx("10.0.0.2"), pfx("2001:db8::2"), pfx("2001:db8:5::/64"),
    };

    return fw_antispoof_new(VM_MAC, allowed, 3);
}

static inline FwSpoofReason spoof_of(const FwAntispoof *as, const uint8_t *f,
                                     size_t n)
{
    FwPacket p;

    parse_ok(f, n, 0, &p);
    return fw_antispoof_check(as, &p);
}

#endif
