/*
 * libFuzzer target for the firewall core: the decision path production
 * runs (fw_process(): parse, anti-spoofing, quarantine, bootstrap
 * exemptions, fragments, conntrack, rules), the classifier (compiled vs
 * linear) and reject frame construction
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/firewall-core.h"

/*
 * Input: byte 0 flags (bit 0 direction, bits 1-2 virtio-net header
 * length, bit 3 rules from the input, bit 4 quarantine, bit 5 also parse
 * the frame as a prefix string, bit 6 allow VLAN tags), byte 1 seconds
 * to advance the clock,
 * then with bit 3: a rule count and 16 bytes per rule; the rest is the
 * frame.  The conntrack table persists across inputs and is small, so
 * that it fills up and expires.
 */

#define RULE_BYTES 16

static const uint8_t VM_MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static FwRuleset *fixed_rs;
static FwConntrack *ct;
static FwAntispoof *as;
static IpPrefix quarantine_allow[2];
static int64_t clock_ns;

static FwRuleset *build_fixed(void)
{
    static IpPrefix pf[3];
    static FwPortRange pr[2] = { { 1024, 65535 }, { 80, 80 } };
    static FwRule r[5];
    FwAddrSet set = { .name = "s", .prefixes = pf, .n_prefixes = 2 };
    FwPolicy pol = { .rules = r, .n_rules = 5, .sets = &set, .n_sets = 1 };

    ip_prefix_parse("10.0.0.0/8", &pf[0], NULL);
    ip_prefix_parse("2001:db8::/32", &pf[1], NULL);
    ip_prefix_parse("192.168.1.0/24", &pf[2], NULL);
    r[0].id = 1;
    r[0].ct_states = FW_CT_MASK(FW_CT_ESTABLISHED) |
                     FW_CT_MASK(FW_CT_RELATED);
    r[1].id = 2;
    r[1].ct_states = FW_CT_MASK(FW_CT_INVALID);
    r[1].action = FW_ACTION_DROP;
    r[2].id = 3;
    r[2].priority = 5;
    r[2].dst.set = "s";
    r[2].dports = pr;
    r[2].n_dports = 2;
    r[3].id = 4;
    r[3].priority = 6;
    r[3].src.prefixes = &pf[2];
    r[3].src.n_prefixes = 1;
    r[3].action = FW_ACTION_REJECT;
    r[3].log = true;
    r[4].id = 5;
    r[4].priority = 7;
    r[4].has_icmp_type = true;
    r[4].icmp_type = 8;
    pol.default_action[FW_DIR_INGRESS] = FW_ACTION_REJECT;
    pol.default_action[FW_DIR_EGRESS] = FW_ACTION_ACCEPT;
    return fw_ruleset_compile(&pol, NULL);
}

static void init(void)
{
    IpPrefix allowed[2];

    ip_prefix_parse("10.0.0.2", &allowed[0], NULL);
    ip_prefix_parse("2001:db8::2", &allowed[1], NULL);
    ip_prefix_parse("10.0.0.1", &quarantine_allow[0], NULL);
    ip_prefix_parse("2001:db8::/64", &quarantine_allow[1], NULL);
    fixed_rs = build_fixed();
    if (!fixed_rs) {
        abort();
    }
    ct = fw_conntrack_new(64, NULL);
    as = fw_antispoof_new(VM_MAC, allowed, 2);
}

/* Rules derived from the input; returns NULL if they do not compile */
static FwRuleset *build_rules(const uint8_t *b, size_t n, IpPrefix *pf,
                              FwPortRange *pr, FwRule *r)
{
    static const uint8_t protos[4] = { 6, 17, 1, 58 };
    static const uint8_t families[4] = { 0, 4, 6, 0 };
    FwPolicy pol = { .rules = r, .n_rules = n };

    for (size_t i = 0; i < n; i++, b += RULE_BYTES) {
        FwRule *x = &r[i];
        IpPrefix *p = &pf[2 * i];

        memset(x, 0, sizeof(*x));
        x->id = i + 1;
        x->priority = b[0] & 7;
        x->dir_mask = b[1] & 3;
        x->family = families[(b[1] >> 2) & 3];
        x->has_proto = b[2] & 1;
        x->proto = protos[(b[2] >> 1) & 3];
        for (int side = 0; side < 2; side++) {
            uint8_t c = b[3 + side * 3];

            if (!(c & 1)) {
                continue;
            }
            memset(&p[side], 0, sizeof(IpPrefix));
            p[side].family = (c & 2) ? 6 : 4;
            if (x->family) {
                p[side].family = x->family;
            }
            if (p[side].family == 4) {
                p[side].addr[0] = 10;
                p[side].addr[2] = b[4 + side * 3];
                p[side].addr[3] = b[5 + side * 3];
                p[side].len = (c >> 2) % 33;
            } else {
                p[side].addr[0] = 0x20;
                p[side].addr[1] = 0x01;
                p[side].addr[14] = b[4 + side * 3];
                p[side].addr[15] = b[5 + side * 3];
                p[side].len = (c >> 2) % 129;
            }
            if (side) {
                x->dst.prefixes = &p[1];
                x->dst.n_prefixes = 1;
            } else {
                x->src.prefixes = &p[0];
                x->src.n_prefixes = 1;
            }
        }
        if (b[9] & 1) {
            pr[2 * i].lo = b[10] | ((b[9] & 0x80) << 8);
            pr[2 * i].hi = pr[2 * i].lo + b[11] * (b[9] >> 1);
            if (pr[2 * i].hi < pr[2 * i].lo) {
                pr[2 * i].hi = 65535;
            }
            if (b[9] & 2) {
                x->sports = &pr[2 * i];
                x->n_sports = 1;
            } else {
                x->dports = &pr[2 * i];
                x->n_dports = 1;
            }
        } else if (b[12] & 1) {
            x->has_icmp_type = true;
            x->icmp_type = b[12] >> 1;
            x->has_icmp_code = b[13] & 0x80;
            x->icmp_code = b[13] & 3;
        }
        x->ct_states = b[13] & 15;
        x->action = b[14] % FW_ACTION__MAX;
        x->log = b[15] & 1;
    }
    return fw_ruleset_compile(&pol, NULL);
}

static bool count_cb(const FwCtInfo *info, void *opaque)
{
    int *n = opaque;

    return ++*n < 8;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t vnet_lens[4] = { 0, 10, 12, 0 };
    g_autoptr(FwRuleset) own = NULL;
    const FwRuleset *rs = fixed_rs;
    IpPrefix pf[8];
    FwPortRange pr[8];
    FwRule r[4];
    FwDirection dir;
    size_t vnet;
    uint8_t flags;
    FwPacket pkt;
    FwVerdict v;
    uint8_t out[FW_REJECT_MAX_LEN];
    int n_listed = 0;
    FwChain chain = {
        .quarantine_allow = quarantine_allow, .n_quarantine_allow = 2,
    };

    if (!fixed_rs) {
        init();
    }
    if (size < 2) {
        return 0;
    }
    flags = data[0];
    dir = flags & 1 ? FW_DIR_EGRESS : FW_DIR_INGRESS;
    vnet = vnet_lens[(flags >> 1) & 3];
    clock_ns += (int64_t)data[1] * 1000000000LL;
    data += 2;
    size -= 2;

    if (flags & 0x08 && size >= 1) {
        size_t n = MIN(data[0] & 3, (size - 1) / RULE_BYTES);

        own = build_rules(data + 1, n, pf, pr, r);
        if (own) {
            rs = own;
        }
        data += 1 + n * RULE_BYTES;
        size -= 1 + n * RULE_BYTES;
    }
    if (flags & 0x20) {
        g_autofree char *s = g_strndup((const char *)data, MIN(size, 64));
        IpPrefix p;
        char *err = NULL;

        if (ip_prefix_parse(s, &p, &err)) {
            g_autofree char *back = ip_prefix_to_string(&p);
            IpPrefix q;

            if (!ip_prefix_parse(back, &q, NULL) || memcmp(&p, &q, sizeof(p))) {
                abort();
            }
        } else if (!err) {
            abort();
        }
        g_free(err);
    }

    chain.rs = rs;
    chain.ct = ct;
    chain.as = as;
    chain.quarantined = flags & 0x10;
    chain.allow_vlan = flags & 0x40;
    fw_process(&chain, dir, data, size, vnet, clock_ns, &pkt, &v);
    if (v.parse_error != FW_PARSE_OK) {
        return 0;
    }
    if ((v.bootstrap || v.fragment) && v.rule_index >= 0) {
        abort();
    }
    if (pkt.l2_off > size || pkt.l3_off > size ||
        pkt.l3_off + (size_t)pkt.l3_len > size ||
        (pkt.l4_off && pkt.l4_off + (size_t)pkt.l4_len > size)) {
        abort();
    }
    for (int st = 0; st < FW_CT__MAX; st++) {
        for (int d = 0; d < FW_DIR__MAX; d++) {
            if (fw_ruleset_classify(rs, &pkt, d, st) !=
                fw_ruleset_classify_linear(rs, &pkt, d, st)) {
                abort();
            }
        }
    }
    if (v.action == FW_ACTION_REJECT) {
        size_t n = fw_build_reject(&pkt, data, size, out, sizeof(out));
        FwPacket rp;

        if (n > sizeof(out)) {
            abort();
        }
        if (n && fw_parse_frame(out, n, 0, &rp) != FW_PARSE_OK) {
            abort();
        }
        /* no error answers an error */
        if (n && pkt.l4 == FW_L4_ICMP && pkt.icmp_error) {
            abort();
        }
    }
    fw_conntrack_foreach(ct, clock_ns, count_cb, &n_listed);
    if (fw_conntrack_count(ct) > fw_conntrack_max(ct)) {
        abort();
    }
    if ((flags & 0xc0) == 0xc0) {
        fw_conntrack_flush_rule(ct, 3);
    }
    return 0;
}
