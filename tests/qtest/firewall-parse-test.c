/*
 * Unit tests of the firewall core's frame parser and of the
 * IP prefix parser
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/firewall-core.h"
#include "firewall-core-util.h"

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
    stw_be_p(f + 16, 0x86dd);
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
    stw_be_p(f + 16, 19);              /* total length < header */
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_BAD_IP_HEADER);
    stw_be_p(f + 16, n - 14 + 1);      /* longer than the frame */
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_TRUNCATED);
    stw_be_p(f + 16, 40);
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

        stw_be_p(f + 14 + 2, 28);
        stw_be_p(f + 14 + 6, 0x2000);
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
    stw_be_p(f + 34 + 4, 7);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==,
                    FW_PARSE_BAD_UDP_HEADER);
    stw_be_p(f + 34 + 4, 8 + 241);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==,
                    FW_PARSE_BAD_UDP_HEADER);
    /* UDP length shorter than the IP payload is fine */
    stw_be_p(f + 34 + 4, 8 + 10);
    parse_ok(f, n, 0, &p);
    g_assert_cmpint(p.l4_payload_len, ==, 10);
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
        stw_be_p(f + 16, 20 + 4);
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
    stw_be_p(f + 18, 0);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_TRUNCATED);
    stw_be_p(f + 18, n - 54 + 1);
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
    stw_be_p(f + 18, 4);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_BAD_IPV6_EXT);
    /* UDP header cut by the payload length */
    stw_be_p(f + 18, 8 + 4);
    g_assert_cmpint(fw_parse_frame(f, n, 0, &p), ==, FW_PARSE_TRUNCATED);
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
    g_test_add_func("/firewall-core/parse/truncation",
                    test_parse_truncation);
    g_test_add_func("/firewall-core/prefix/parse", test_prefix_parse);

    return g_test_run();
}
