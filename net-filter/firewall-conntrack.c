/*
 * Per-VM firewall core: connection tracking
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

/*
 * Design notes
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
 * The same object holds, for fw_process(), the verdicts of first
 * fragments (firewall-frag.c) and the guest's DHCP transactions
 * (firewall-dhcp.c), so that they are flushed with the connections.
 */

#include "qemu/osdep.h"
#include "firewall-conntrack-int.h"

static const FwCtTimeouts fw_ct_default_timeouts = {
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

static const char *const cls_names[CLS__MAX] = {
    "syn-sent", "syn-recv", "established", "fin-wait", "last-ack",
    "time-wait", "close", "udp", "udp-stream", "icmp", "generic",
};

enum { KIND_TCP, KIND_UDP, KIND_ICMP, KIND_GENERIC };

/* Bytes of the last key word that belong to the key */
static const FwCtKey ct_key_mask = {
    .sport = 0xffff, .dport = 0xffff, .proto = 0xff, .family = 0xff,
};

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

#define NS_PER_SEC 1000000000LL

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
    ct->frags = fw_frag_cache_new();
    for (int c = 0; c < CLS__MAX; c++) {
        ct->lists[c].head = ct->lists[c].tail = CT_NONE;
    }
    fw_hash_seed(ct->seed);
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
    fw_frag_cache_free(ct->frags);
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

static inline uint64_t ct_hash(const FwConntrack *ct, const FwCtKey *k)
{
    QEMU_BUILD_BUG_ON(CT_KEY_WORDS != 5);
    return fw_hash_words(ct->seed, k->w[0], k->w[1], k->w[2], k->w[3],
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

static inline void ct_key_make(FwCtKey *k, const IpAddr *src, const IpAddr *dst,
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
        *kind = pkt->proto == IPPROTO_TCP ? KIND_TCP : KIND_UDP;
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

    const struct ip_header *ip = (const struct ip_header *)(f + ETH_HLEN);
    const uint8_t *ip6 = f + ETH_HLEN;

    if (len < vnet_hdr_len || len - vnet_hdr_len < ETH_HLEN + FW_IP4_HLEN) {
        return SIZE_MAX;
    }
    len -= vnet_hdr_len;
    switch (lduw_be_p(f + offsetof(struct eth_header, h_proto))) {
    case ETH_P_IP:
        l4 = ETH_HLEN + IP_HDR_GET_LEN(ip);
        proto = ip->ip_p;
        if (IP_HEADER_VERSION(ip) != IP_HEADER_VERSION_4 ||
            l4 < ETH_HLEN + FW_IP4_HLEN || len < l4 + 4 ||
            (lduw_be_p(&ip->ip_off) & IP_OFFMASK) ||
            !proto_has_ports(proto)) {
            return SIZE_MAX;
        }
        family = 4;
        a0 = ct_word_ipv4((const uint8_t *)&ip->ip_src);
        b0 = ct_word_ipv4((const uint8_t *)&ip->ip_dst);
        a1 = b1 = 0;
        break;
    case ETH_P_IPV6:
        l4 = ETH_HLEN + FW_IP6_HLEN;
        proto = ip6[FW_IP6_OFF(ip6_nxt)];
        if ((ip6[0] >> 4) != IP_HEADER_VERSION_6 || len < l4 + 4 ||
            !proto_has_ports(proto)) {
            return SIZE_MAX;
        }
        family = 6;
        a0 = ldq_he_p(ip6 + FW_IP6_OFF(ip6_src));
        a1 = ldq_he_p(ip6 + FW_IP6_OFF(ip6_src) + 8);
        b0 = ldq_he_p(ip6 + FW_IP6_OFF(ip6_dst));
        b1 = ldq_he_p(ip6 + FW_IP6_OFF(ip6_dst) + 8);
        break;
    default:
        return SIZE_MAX;
    }
    /* TCP, UDP, UDP-Lite and SCTP all start with the two ports */
    sport = lduw_be_p(f + l4 + FW_UDP_OFF(uh_sport));
    dport = lduw_be_p(f + l4 + FW_UDP_OFF(uh_dport));
    if (dir == FW_DIR_INGRESS) {
        /* egress orientation, as ct_key_make() */
        t = a0, a0 = b0, b0 = t;
        t = a1, a1 = b1, b1 = t;
        p = sport, sport = dport, dport = p;
    }
    i = fw_hash_words(ct->seed, a0, a1, b0, b1,
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
    fw_frag_cache_flush(ct->frags);
    memset(&ct->dhcp, 0, sizeof(ct->dhcp));
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
    p->ethertype = t.src.family == 4 ? ETH_P_IP : ETH_P_IPV6;
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
        p->icmp_type = t.src.family == 4 ? FW_ICMP_ECHO_REQUEST :
                                           FW_ICMP6_ECHO_REQUEST;
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
        if (memcmp(&pkt->dst, &m->src, sizeof(IpAddr)) != 0) {
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

FwCtHot *ct_restore(FwConntrack *ct, const FwCtKey *k, int cls,
                    uint8_t flags, int64_t expires, uint32_t rule_id)
{
    if (ct_slot(ct, k) != CT_NONE || ct->count >= ct->limit) {
        return NULL;
    }
    return ct_insert(ct, k, cls, flags, expires, rule_id);
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

FwFragCache *fw_ct_frags(FwConntrack *ct)
{
    return ct->frags;
}

FwDhcpMemory *fw_ct_dhcp(FwConntrack *ct)
{
    return &ct->dhcp;
}
