/*
 * Unit tests of the firewall core's rule classifier
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/firewall-core.h"
#include "firewall-core-util.h"

/* ------------------------------------------------------------------ */
/* Rules                                                               */
/* ------------------------------------------------------------------ */

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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/firewall-core/rules/match-fields", test_match_fields);
    g_test_add_func("/firewall-core/rules/fragments", test_match_fragments);
    g_test_add_func("/firewall-core/rules/priorities", test_priorities);
    g_test_add_func("/firewall-core/rules/sets", test_sets);
    g_test_add_func("/firewall-core/rules/compile-errors",
                    test_compile_errors);
    g_test_add_func("/firewall-core/rules/counters-carry",
                    test_counters_carry);
    g_test_add_func("/firewall-core/rules/differential", test_differential);

    return g_test_run();
}
