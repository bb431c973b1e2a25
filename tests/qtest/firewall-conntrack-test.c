/*
 * Unit tests of the firewall core's connection tracking
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/firewall-core.h"
#include "firewall-core-util.h"

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
        stw_be_p(pl, s->sport);
        stw_be_p(pl + 2, s->dport);
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
            stw_be_p(pl, s.sport);
            stw_be_p(pl + 2, s.dport);
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

/* ------------------------------------------------------------------ */
/* Migration format (firewall-conntrack-save.c)                        */
/* ------------------------------------------------------------------ */

/* fw_conntrack_save()'s layout, as a stream from another host has it */
#define SAVE_HDR_LEN        12
#define SAVE_ENTRY_LEN      84
#define SAVE_SRC            0
#define SAVE_FAMILY         37
#define SAVE_CLS            38
#define SAVE_FLAGS          39

typedef struct SaveCtx {
    int n;
    FwCtInfo info[8];
} SaveCtx;

static bool save_cb(const FwCtInfo *info, void *opaque)
{
    SaveCtx *c = opaque;

    g_assert_cmpint(c->n, <, G_N_ELEMENTS(c->info));
    c->info[c->n++] = *info;
    return true;
}

/* A table with an established TCP connection (IPv4) and a UDP flow (IPv6) */
static FwConntrack *save_table(int64_t t)
{
    FwConntrack *ct = fw_conntrack_new(100, NULL);
    FwPacket syn, synack, ack, q, r;
    Spec s;

    tcp_pkt(&syn, 4, true, FW_TCP_SYN);
    tcp_pkt(&synack, 4, false, FW_TCP_SYN | FW_TCP_ACK);
    tcp_pkt(&ack, 4, true, FW_TCP_ACK);
    g_assert_cmpint(fw_conntrack_lookup(ct, &syn, OUT, t), ==, FW_CT_NEW);
    g_assert_true(fw_conntrack_commit(ct, &syn, OUT, 7, t));
    fw_conntrack_lookup(ct, &synack, IN, t + SEC);
    fw_conntrack_lookup(ct, &ack, OUT, t + 2 * SEC);

    spec_init(&s, 6, 17);
    s.dst = "2001:db8::9";
    s.sport = 5353;
    s.dport = 53;
    g_assert_cmpint(parse_spec(&s, &q), ==, FW_PARSE_OK);
    spec_init(&s, 6, 17);
    s.src = "2001:db8::9";
    s.dst = "2001:db8::2";
    s.sport = 53;
    s.dport = 5353;
    memcpy(s.smac, GW_MAC, 6);
    memcpy(s.dmac, VM_MAC, 6);
    g_assert_cmpint(parse_spec(&s, &r), ==, FW_PARSE_OK);
    g_assert_cmpint(fw_conntrack_lookup(ct, &r, IN, t), ==, FW_CT_NEW);
    g_assert_true(fw_conntrack_commit(ct, &r, IN, 9, t));
    fw_conntrack_lookup(ct, &q, OUT, t + SEC);
    return ct;
}

/*
 * A saved table loads on another host whose clock differs: same
 * connections, states, rules, counters and time left; loading it twice
 * adds nothing; a smaller table takes what fits
 */
static void test_ct_save_load(void)
{
    int64_t t = 1000 * SEC, t2 = 77 * SEC;
    g_autoptr(FwConntrack) ct = save_table(t);
    g_autoptr(FwConntrack) ct2 = fw_conntrack_new(100, NULL);
    g_autoptr(FwConntrack) small = fw_conntrack_new(1, NULL);
    g_autoptr(GByteArray) data = fw_conntrack_save(ct, t + 3 * SEC);
    char *err = NULL;
    SaveCtx a = { 0 }, b = { 0 };

    g_assert_cmpint(data->len, ==, SAVE_HDR_LEN + 2 * SAVE_ENTRY_LEN);
    g_assert_true(fw_conntrack_load(ct2, data->data, data->len, t2, &err));
    g_assert_null(err);
    fw_conntrack_foreach(ct, t + 3 * SEC, save_cb, &a);
    fw_conntrack_foreach(ct2, t2, save_cb, &b);
    g_assert_cmpint(a.n, ==, 2);
    g_assert_cmpint(b.n, ==, 2);
    for (int i = 0; i < a.n; i++) {
        const FwCtInfo *x = &a.info[i];
        const FwCtInfo *y = NULL;

        for (int j = 0; j < b.n; j++) {
            if (b.info[j].proto == x->proto) {
                y = &b.info[j];
            }
        }
        g_assert_nonnull(y);
        g_assert_cmpint(y->orig_dir, ==, x->orig_dir);
        g_assert_cmpint(y->src.family, ==, x->src.family);
        g_assert_true(!memcmp(y->src.a, x->src.a, 16));
        g_assert_true(!memcmp(y->dst.a, x->dst.a, 16));
        g_assert_cmpint(y->sport, ==, x->sport);
        g_assert_cmpint(y->dport, ==, x->dport);
        g_assert_cmpstr(y->state, ==, x->state);
        g_assert_cmpint(y->seen_reply, ==, x->seen_reply);
        g_assert_cmpint(y->expires_in_ns, ==, x->expires_in_ns);
        g_assert_cmpint(y->rule_id, ==, x->rule_id);
        for (int d = 0; d < 2; d++) {
            g_assert_cmpint(y->packets[d], ==, x->packets[d]);
            g_assert_cmpint(y->bytes[d], ==, x->bytes[d]);
        }
    }
    g_assert_true(fw_conntrack_load(ct2, data->data, data->len, t2, &err));
    g_assert_cmpint(fw_conntrack_count(ct2), ==, 2);
    g_assert_true(fw_conntrack_load(small, data->data, data->len, t2, &err));
    g_assert_cmpint(fw_conntrack_count(small), ==, 1);
}

/* Bytes that are not a saved table are refused with the reason */
static void test_ct_load_malformed(void)
{
    static const struct {
        int off;                /* in the second entry */
        uint8_t val;
    } bad[] = {
        { SAVE_FAMILY, 5 },
        { SAVE_CLS, 200 },
        { SAVE_FLAGS, 0x80 },   /* the table's own "slot used" bit */
    };
    int64_t t = 1000 * SEC;
    g_autoptr(FwConntrack) ct = save_table(t);
    g_autoptr(GByteArray) data = fw_conntrack_save(ct, t);
    g_autofree uint8_t *buf = g_memdup2(data->data, data->len);
    size_t len = data->len;
    int v4;
    char *err = NULL;

    for (size_t n = 0; n < SAVE_HDR_LEN; n++) {
        g_autoptr(FwConntrack) to = fw_conntrack_new(100, NULL);

        g_assert_false(fw_conntrack_load(to, buf, n, t, &err));
        g_assert_nonnull(strstr(err, "known version"));
        g_clear_pointer(&err, g_free);
    }
    for (int i = 0; i < 8; i++) {
        g_autoptr(FwConntrack) to = fw_conntrack_new(100, NULL);

        buf[i] ^= 1;            /* magic, then version */
        g_assert_false(fw_conntrack_load(to, buf, len, t, &err));
        g_assert_nonnull(strstr(err, "known version"));
        g_clear_pointer(&err, g_free);
        buf[i] ^= 1;
    }
    for (size_t n = SAVE_HDR_LEN + 1; n < len; n += SAVE_ENTRY_LEN / 2) {
        g_autoptr(FwConntrack) to = fw_conntrack_new(100, NULL);

        g_assert_false(fw_conntrack_load(to, buf, n, t, &err));
        g_assert_nonnull(strstr(err, "for 2 entries"));
        g_clear_pointer(&err, g_free);
        g_assert_cmpint(fw_conntrack_count(to), ==, 0);
    }

    /* which entry is the IPv4 one */
    v4 = buf[SAVE_HDR_LEN + SAVE_FAMILY] == 4 ? 0 : 1;
    for (int i = 0; i <= (int)G_N_ELEMENTS(bad); i++) {
        g_autoptr(FwConntrack) to = fw_conntrack_new(100, NULL);
        uint8_t *rec = buf + SAVE_HDR_LEN + SAVE_ENTRY_LEN;
        int off, keep;

        if (i < (int)G_N_ELEMENTS(bad)) {
            off = bad[i].off;
        } else {
            /* an IPv4 entry with bits beyond its 4-byte address */
            rec = buf + SAVE_HDR_LEN + v4 * SAVE_ENTRY_LEN;
            off = SAVE_SRC + 9;
        }
        keep = rec[off];
        rec[off] = i < (int)G_N_ELEMENTS(bad) ? bad[i].val : 1;
        g_assert_false(fw_conntrack_load(to, buf, len, t, &err));
        g_assert_nonnull(strstr(err, rec == buf + SAVE_HDR_LEN ?
                                "connection 0 is malformed" :
                                "connection 1 is malformed"));
        g_clear_pointer(&err, g_free);
        /* the entries before the malformed one are in */
        g_assert_cmpint(fw_conntrack_count(to), ==,
                        rec == buf + SAVE_HDR_LEN ? 0 : 1);
        rec[off] = keep;
    }
    g_assert_true(fw_conntrack_load(ct, buf, len, t, &err));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/firewall-core/conntrack/tcp-handshake",
                    test_ct_tcp_handshake);
    g_test_add_func("/firewall-core/conntrack/tcp-rst-reuse",
                    test_ct_tcp_rst_reuse);
    g_test_add_func("/firewall-core/conntrack/tcp-invalid-flags",
                    test_ct_tcp_invalid_flags);
    g_test_add_func("/firewall-core/conntrack/udp", test_ct_udp);
    g_test_add_func("/firewall-core/conntrack/icmp", test_ct_icmp);
    g_test_add_func("/firewall-core/conntrack/related", test_ct_related);
    g_test_add_func("/firewall-core/conntrack/flush-rule",
                    test_ct_flush_rule);
    g_test_add_func("/firewall-core/conntrack/incremental-expiry",
                    test_ct_incremental_expiry);
    g_test_add_func("/firewall-core/conntrack/info", test_ct_info);
    g_test_add_func("/firewall-core/conntrack/counters", test_ct_counters);
    g_test_add_func("/firewall-core/conntrack/many", test_ct_many);
    g_test_add_func("/firewall-core/conntrack/random-model",
                    test_ct_random_model);
    g_test_add_func("/firewall-core/conntrack/prefetch", test_ct_prefetch);
    g_test_add_func("/firewall-core/conntrack/save-load", test_ct_save_load);
    g_test_add_func("/firewall-core/conntrack/load-malformed",
                    test_ct_load_malformed);

    return g_test_run();
}
