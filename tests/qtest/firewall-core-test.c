/*
 * Unit tests of fw_process(), the firewall core's decision path
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/firewall-core.h"
#include "firewall-core-util.h"

/* ------------------------------------------------------------------ */
/* Names of every stage's reasons; fw_process() with some stages      */
/* ------------------------------------------------------------------ */

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
    stl_be_p(msg + 4, xid);
    memcpy(msg + 28, chaddr, 6);
    stl_be_p(msg + 236, 0x63825363);
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
    stw_be_p(f + 34, 68);
    stw_be_p(f + 36, 67);
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
    stw_be_p(f + 14 + 4, 0x4321);
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

    g_test_add_func("/firewall-core/parse/error-names",
                    test_parse_error_names);
    g_test_add_func("/firewall-core/rules/defaults-actions",
                    test_defaults_actions);
    g_test_add_func("/firewall-core/conntrack/table-full",
                    test_ct_table_full);
    g_test_add_func("/firewall-core/conntrack/process-chain",
                    test_ct_process_chain);
    g_test_add_func("/firewall-core/antispoof/process", test_spoof_process);
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
