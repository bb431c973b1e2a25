/*
 * Per-VM firewall core: rule classifier: compiler and lookup
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

/*
 * Design notes
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
 * compiled ruleset keeps copies of the rules for fw_ruleset_rule() and
 * for fw_ruleset_classify_linear(), the reference that reads them field
 * by field.  A source (destination) given both as a list and
 * as a set compiles to the prefixes of their intersection.
 */

#include "qemu/osdep.h"
#include "firewall-int.h"

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

struct FwSubtable {
    FwKey mask;
    FwKey cmask;                /* bits equal in all entries ... */
    FwKey cval;                 /* ... and their value */
    int best;                   /* lowest rule index in the subtable */
    uint32_t size_mask;
    FwSlot *slots;
    FwKey *keys;
};

/* A rule's source/destination prefixes, lists and sets resolved */
struct FwResolved {
    bool src_any;
    bool dst_any;
    IpPrefix *src;
    size_t n_src;
    IpPrefix *dst;
    size_t n_dst;
};

struct FwSetCopy {
    char *name;
    IpPrefix *prefixes;
    size_t n_prefixes;
};

struct FwIdIndex {
    uint32_t id;
    int index;
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
                         const IpAddr *a)
{
    const FwSetCopy *set;

    if (m->n_prefixes && !ip_prefix_list_match(m->prefixes, m->n_prefixes, a)) {
        return false;
    }
    if (!m->set) {
        return true;
    }
    set = find_set(rs, m->set);
    return ip_prefix_list_match(set->prefixes, set->n_prefixes, a);
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

static void dim_addr(GArray *dim, bool any, const IpPrefix *pf, size_t n,
                     int off)
{
    if (any) {
        part_wild(dim);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        FwPart p;
        IpPrefix norm = pf[i];

        memset(&p, 0, sizeof(p));
        ip_prefix_normalize(&norm);
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
                                  src->src.n_prefixes * sizeof(IpPrefix));
    dst->src.set = g_strdup(src->src.set);
    dst->dst.prefixes = g_memdup2(src->dst.prefixes,
                                  src->dst.n_prefixes * sizeof(IpPrefix));
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

static bool check_prefixes(const IpPrefix *p, size_t n, const char *what,
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
    if (icmp && r->has_proto && r->proto != IPPROTO_ICMP &&
        r->proto != IPPROTO_ICMPV6) {
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
    GHashTable *set;            /* IpPrefix -> itself */
    bool has_len[2][129];       /* IPv4, IPv6 */
} FwPrefixIndex;

static guint prefix_ghash(gconstpointer p)
{
    const uint8_t *b = p;
    guint h = 5381;

    for (size_t i = 0; i < sizeof(IpPrefix); i++) {
        h = h * 33 + b[i];
    }
    return h;
}

static gboolean prefix_gequal(gconstpointer a, gconstpointer b)
{
    return !memcmp(a, b, sizeof(IpPrefix));
}

static void prefix_index_init(FwPrefixIndex *ix, const IpPrefix *p, size_t n)
{
    memset(ix, 0, sizeof(*ix));
    ix->set = g_hash_table_new(prefix_ghash, prefix_gequal);
    for (size_t i = 0; i < n; i++) {
        g_hash_table_add(ix->set, (gpointer)&p[i]);
        ix->has_len[p[i].family == 6][p[i].len] = true;
    }
}

/* Is @x inside a prefix of @ix (one shorter than @x's if @strictly)? */
static bool prefix_index_covers(const FwPrefixIndex *ix, const IpPrefix *x,
                                bool strictly)
{
    for (unsigned l = 0; l + strictly <= x->len; l++) {
        IpPrefix t = *x;

        if (ix->has_len[x->family == 6][l]) {
            t.len = l;
            ip_prefix_normalize(&t);
            if (g_hash_table_contains(ix->set, &t)) {
                return true;
            }
        }
    }
    return false;
}

static IpPrefix *prefixes_normalized(const IpPrefix *p, size_t n)
{
    IpPrefix *out = g_new(IpPrefix, MAX(n, 1));

    for (size_t i = 0; i < n; i++) {
        out[i] = p[i];
        ip_prefix_normalize(&out[i]);
    }
    return out;
}

/*
 * The addresses in both prefix lists @a and @b (normalized), as prefixes.
 * Two prefixes are nested or disjoint, so these are the prefixes of either
 * list that lie inside one of the other; a prefix in both counts once.
 */
static IpPrefix *prefixes_intersect(const IpPrefix *a, size_t na,
                                    const IpPrefix *b, size_t nb, size_t *n)
{
    IpPrefix *out = g_new(IpPrefix, MAX(na + nb, 1));
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
                         uint32_t id, bool *any, IpPrefix **out,
                         size_t *n_out, char **err)
{
    const FwSetCopy *set = NULL;
    g_autofree IpPrefix *list = NULL;
    g_autofree IpPrefix *members = NULL;

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
                                         s->n_prefixes * sizeof(IpPrefix));
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
