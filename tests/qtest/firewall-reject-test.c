/*
 * Unit tests of the firewall core's reject frames
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/firewall-core.h"
#include "firewall-core-util.h"

/* ------------------------------------------------------------------ */
/* Reject frames                                                       */
/* ------------------------------------------------------------------ */

/* Verify IP header and L4 checksums of a frame by recomputation */
static void verify_checksums(const uint8_t *f, size_t n, size_t l3)
{
    int fam = f[l3] >> 4;

    if (fam == 4) {
        size_t hl = (f[l3] & 0xf) * 4, tot = lduw_be_p(f + l3 + 2);
        uint8_t proto = f[l3 + 9];
        uint32_t sum;

        g_assert_cmpuint(l3 + tot, ==, n);
        g_assert_cmpint(t_fold(t_sum(0, f + l3, hl)), ==, 0);
        sum = proto == 1 ? 0 : t_pseudo(4, f + l3 + 12, f + l3 + 16, proto,
                                        tot - hl);
        g_assert_cmpint(t_fold(t_sum(sum, f + l3 + hl, tot - hl)), ==, 0);
    } else {
        size_t plen = lduw_be_p(f + l3 + 4);
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
        g_assert_cmpint(lduw_be_p(out + 12), ==, 0x8100);
        g_assert_cmpint(lduw_be_p(out + 14), ==, 42);
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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/firewall-core/reject/tcp", test_reject_tcp);
    g_test_add_func("/firewall-core/reject/icmp", test_reject_icmp);
    g_test_add_func("/firewall-core/reject/icmp-types",
                    test_reject_icmp_types);

    return g_test_run();
}
