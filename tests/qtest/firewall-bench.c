/*
 * Benchmark of the firewall core: classification of new packets and the
 * established-flow fast path
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/madvise.h"
#include "qemu/memalign.h"
#include "net/firewall-core.h"

#define N_FRAMES    4096
#define FRAME_LEN   64
#define MIN_NS      (300 * 1000 * 1000LL)

static const uint8_t VM_MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t GW_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * CPU time of this thread: unlike wall-clock time it leaves out the
 * time the thread waits for a CPU on a loaded machine (cache misses
 * still count)
 */
static int64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint16_t csum(const uint8_t *p, size_t n)
{
    uint32_t s = 0;

    for (size_t i = 0; i + 1 < n; i += 2) {
        s += (p[i] << 8) | p[i + 1];
    }
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return ~s;
}

/* A minimal TCP frame (checksums are not looked at by the core) */
static size_t tcp_frame(uint8_t *f, int fam, const uint8_t *src,
                        const uint8_t *dst, uint16_t sport, uint16_t dport,
                        uint8_t flags, bool to_vm)
{
    size_t l3 = 14, l4;

    memset(f, 0, 128);
    memcpy(f, to_vm ? VM_MAC : GW_MAC, 6);
    memcpy(f + 6, to_vm ? GW_MAC : VM_MAC, 6);
    if (fam == 4) {
        f[12] = 0x08;
        f[l3] = 0x45;
        f[l3 + 3] = 40;
        f[l3 + 8] = 64;
        f[l3 + 9] = 6;
        memcpy(f + l3 + 12, src, 4);
        memcpy(f + l3 + 16, dst, 4);
        l4 = l3 + 20;
        {
            uint16_t c = csum(f + l3, 20);
            f[l3 + 10] = c >> 8;
            f[l3 + 11] = c;
        }
    } else {
        f[12] = 0x86;
        f[13] = 0xdd;
        f[l3] = 0x60;
        f[l3 + 5] = 20;
        f[l3 + 6] = 6;
        f[l3 + 7] = 64;
        memcpy(f + l3 + 8, src, 16);
        memcpy(f + l3 + 24, dst, 16);
        l4 = l3 + 40;
    }
    f[l4] = sport >> 8;
    f[l4 + 1] = sport;
    f[l4 + 2] = dport >> 8;
    f[l4 + 3] = dport;
    f[l4 + 12] = 0x50;
    f[l4 + 13] = flags;
    return MAX(l4 + 20, 60);
}

static void v4(uint8_t *a, uint32_t x)
{
    memset(a, 0, 16);
    a[0] = x >> 24;
    a[1] = x >> 16;
    a[2] = x >> 8;
    a[3] = x;
}

static void v6(uint8_t *a, uint32_t x)
{
    memset(a, 0, 16);
    a[0] = 0x20;
    a[1] = 0x01;
    a[2] = 0x0d;
    a[3] = 0xb8;
    a[12] = x >> 24;
    a[13] = x >> 16;
    a[14] = x >> 8;
    a[15] = x;
}

static const uint8_t VM4[16] = { 10, 0, 0, 2 };

/*
 * A hospital-like policy: established/related accept, invalid drop, then
 * rules cycling through eight shapes: per-host /32 allows on one service
 * port (four of the eight), per-host port ranges (VDI display ports),
 * per-subnet allows of varying length, egress UDP to subnets (DNS/NTP or
 * high ports), per-host IPv6 /128 allows.
 */
typedef struct Policy {
    FwRule *rules;
    IpPrefix *pfx;
    FwPortRange *ports;
    size_t n;
} Policy;

static void make_policy(Policy *p, size_t n)
{
    static const uint16_t svc[] = { 22, 80, 443, 3389, 8080, 5432 };
    static const FwPortRange ranges[] = {
        { 5900, 5999 }, { 8000, 8099 }, { 1024, 65535 },
    };
    static const int sublen[] = { 16, 20, 24, 28 };

    p->n = n;
    p->rules = g_new0(FwRule, n);
    p->pfx = g_new0(IpPrefix, n);
    p->ports = g_new0(FwPortRange, n);
    p->rules[0].id = 1;
    p->rules[0].ct_states = FW_CT_MASK(FW_CT_ESTABLISHED) |
                            FW_CT_MASK(FW_CT_RELATED);
    p->rules[1].id = 2;
    p->rules[1].priority = 1;
    p->rules[1].ct_states = FW_CT_MASK(FW_CT_INVALID);
    p->rules[1].action = FW_ACTION_DROP;
    for (size_t i = 2; i < n; i++) {
        FwRule *r = &p->rules[i];
        size_t k = i - 2;
        IpPrefix *pf = &p->pfx[i];
        FwPortRange *pr = &p->ports[i];

        r->id = i + 1;
        r->priority = 10 + k;
        r->ct_states = FW_CT_MASK(FW_CT_NEW);
        r->has_proto = true;
        r->proto = 6;
        pf->family = 4;
        pf->len = 32;
        v4(pf->addr, 0xac100000 + k);          /* 172.16.x.y */
        r->dir_mask = FW_DIR_MASK_EGRESS;
        r->dst.prefixes = pf;
        r->dst.n_prefixes = 1;
        r->dports = pr;
        r->n_dports = 1;
        switch (k % 8) {
        case 0:
        case 2:
        case 4:
        case 6:
            pr->lo = pr->hi = svc[(k / 8) % G_N_ELEMENTS(svc)];
            break;
        case 1:
            *pr = ranges[(k / 8) % 2];
            break;
        case 3: {
            int len = sublen[(k / 8) % 4];

            r->dst.prefixes = NULL;
            r->dst.n_prefixes = 0;
            r->src.prefixes = pf;
            r->src.n_prefixes = 1;
            r->dir_mask = FW_DIR_MASK_INGRESS;
            r->has_proto = false;
            r->n_dports = 0;
            pf->len = len;
            v4(pf->addr, (0xc0a80000 + (k << 4)) & ~((1u << (32 - len)) - 1));
            break;
        }
        case 5:
            r->proto = 17;
            pf->len = 24;
            v4(pf->addr, 0x0a640000 + (k << 8));
            if ((k / 8) % 3 == 2) {
                *pr = ranges[2];
            } else {
                pr->lo = pr->hi = (k / 8) % 3 ? 123 : 53;
            }
            break;
        case 7:
            pf->family = 6;
            pf->len = 128;
            v6(pf->addr, k);
            pr->lo = pr->hi = 443;
            break;
        }
    }
}

static void free_policy(Policy *p)
{
    g_free(p->rules);
    g_free(p->pfx);
    g_free(p->ports);
}

/* New connections from the VM: 75% to a rule's target, 25% elsewhere */
static void make_new_frames(const Policy *pol, uint8_t (*fr)[FRAME_LEN + 64],
                            size_t *len, FwDirection *dir, GRand *rnd)
{
    for (int i = 0; i < N_FRAMES; i++) {
        size_t ri = 2 + g_rand_int_range(rnd, 0, pol->n - 2);
        const FwRule *r = &pol->rules[ri];
        uint8_t peer[16];
        bool miss = g_rand_int_range(rnd, 0, 4) == 0;
        uint16_t port = 443;
        int fam = 4;

        if (r->n_dports) {
            port = g_rand_int_range(rnd, r->dports[0].lo,
                                    r->dports[0].hi + 1);
        }
        if (r->src.n_prefixes) {
            /* ingress from a subnet */
            const IpPrefix *pf = r->src.prefixes;
            uint32_t a = (pf->addr[0] << 24) | (pf->addr[1] << 16) |
                         (pf->addr[2] << 8) | pf->addr[3];

            v4(peer, a + (miss ? 0x01000000 : 1));
            len[i] = tcp_frame(fr[i], 4, peer, VM4, 50000, port,
                               FW_TCP_SYN, true);
            dir[i] = FW_DIR_INGRESS;
            continue;
        }
        memcpy(peer, r->dst.prefixes[0].addr, 16);
        fam = r->dst.prefixes[0].family;
        if (miss) {
            peer[fam == 4 ? 0 : 1] ^= 0x40;
        }
        if (fam == 4) {
            len[i] = tcp_frame(fr[i], 4, VM4, peer, 40000 + i, port,
                               FW_TCP_SYN, false);
            if (r->proto == 17) {
                /* turn it into UDP with a 20-byte datagram */
                fr[i][14 + 9] = 17;
                fr[i][14 + 20 + 4] = 0;
                fr[i][14 + 20 + 5] = 20;
            }
        } else {
            uint8_t vm6[16];

            v6(vm6, 0xffff);
            len[i] = tcp_frame(fr[i], 6, vm6, peer, 40000 + i, port,
                               FW_TCP_SYN, false);
        }
        dir[i] = FW_DIR_EGRESS;
    }
}

typedef struct Result {
    double ns;
    size_t matched;
} Result;

enum { MODE_PARSE, MODE_COMPILED, MODE_LINEAR };

static Result run_classify(const FwRuleset *rs, int mode,
                           uint8_t (*fr)[FRAME_LEN + 64], const size_t *len,
                           const FwDirection *dir)
{
    int64_t t0 = now_ns(), t;
    size_t iters = 0, matched = 0;
    /* volatile: keep the compiler from dropping the classification */
    volatile int sink = 0;

    do {
        for (int i = 0; i < N_FRAMES; i++) {
            FwPacket p QEMU_UNINITIALIZED;  /* as in filter-firewall */
            int idx = -1;

            if (fw_parse_frame(fr[i], len[i], 0, &p) != FW_PARSE_OK) {
                abort();
            }
            if (mode == MODE_COMPILED) {
                idx = fw_ruleset_classify(rs, &p, dir[i], FW_CT_NEW);
            } else if (mode == MODE_LINEAR) {
                idx = fw_ruleset_classify_linear(rs, &p, dir[i], FW_CT_NEW);
            } else {
                idx = p.dport;
            }
            sink += idx;
            matched += idx >= 0;
        }
        iters += N_FRAMES;
        t = now_ns() - t0;
    } while (t < MIN_NS);
    (void)sink;
    return (Result) { (double)t / iters, matched * N_FRAMES / iters };
}

static void bench_classify(void)
{
    static const size_t sizes[] = { 10, 100, 1000, 10000 };
    uint8_t (*fr)[FRAME_LEN + 64] = g_malloc(N_FRAMES * (FRAME_LEN + 64));
    size_t *len = g_new(size_t, N_FRAMES);
    FwDirection *dir = g_new(FwDirection, N_FRAMES);
    double comp[G_N_ELEMENTS(sizes)], lin[G_N_ELEMENTS(sizes)];

    printf("Classification of NEW packets (parse + classify), "
           "%d distinct frames\n\n", N_FRAMES);
    printf("%7s %6s %9s | %9s %7s | %9s %7s | %9s %7s | %7s %6s\n",
           "rules", "subtbl", "entries", "parse ns", "Mpps", "compiled",
           "Mpps", "linear", "Mpps", "lin/cmp", "hit%");
    for (size_t s = 0; s < G_N_ELEMENTS(sizes); s++) {
        Policy pol;
        FwPolicy fp = { 0 };
        g_autoptr(FwRuleset) rs = NULL;
        g_autoptr(GRand) rnd = g_rand_new_with_seed(42 + s);
        Result rp, rc, rl;
        char *err = NULL;

        make_policy(&pol, sizes[s]);
        fp.rules = pol.rules;
        fp.n_rules = pol.n;
        fp.default_action[0] = fp.default_action[1] = FW_ACTION_DROP;
        rs = fw_ruleset_compile(&fp, &err);
        if (!rs) {
            fprintf(stderr, "compile: %s\n", err);
            exit(1);
        }
        make_new_frames(&pol, fr, len, dir, rnd);
        rp = run_classify(rs, MODE_PARSE, fr, len, dir);
        rc = run_classify(rs, MODE_COMPILED, fr, len, dir);
        rl = run_classify(rs, MODE_LINEAR, fr, len, dir);
        comp[s] = rc.ns;
        lin[s] = rl.ns;
        printf("%7zu %6zu %9zu | %9.1f %7.2f | %9.1f %7.2f | %9.1f %7.2f |"
               " %7.1f %5.1f%%\n",
               sizes[s], fw_ruleset_n_subtables(rs), fw_ruleset_n_entries(rs),
               rp.ns, 1000 / rp.ns, rc.ns, 1000 / rc.ns, rl.ns, 1000 / rl.ns,
               rl.ns / rc.ns, 100.0 * rc.matched / N_FRAMES);
        free_policy(&pol);
    }
    printf("\ncompiled 10k/10 rules: %.2fx    linear 10k/10 rules: %.1fx\n\n",
           comp[3] / comp[0], lin[3] / lin[0]);
    g_free(fr);
    g_free(len);
    g_free(dir);
}

/*
 * Established flows: prefetch + parse + conntrack lookup of ACK segments
 * of random flows (the sequence filter-firewall runs per packet).  A
 * received frame is hot in the cache, so each packet is made by writing
 * the flow's address and port into one of two hot templates; the flow
 * sequence is read sequentially.
 */
typedef struct FlowRef {
    uint32_t peer;
    uint16_t port;
    uint16_t in;
} FlowRef;

static void bench_established(size_t n_flows, size_t n_active)
{
    g_autoptr(FwConntrack) ct = fw_conntrack_new(n_flows, NULL);
    size_t n_seq = MAX(n_flows, 65536);
    FlowRef *seq = g_new(FlowRef, n_seq);
    g_autoptr(GRand) rnd = g_rand_new_with_seed(7);
    int64_t now = 1000000000LL, t0, t, c0;
    size_t iters = 0, est = 0, flen;
    uint8_t f[128], tmpl[2][128];

    for (size_t i = 0; i < n_flows; i++) {
        uint8_t peer[16];
        uint16_t sport = 1024 + (i % 60000);
        FwPacket p;

        v4(peer, 0xac100000 + i / 60000);
        tcp_frame(f, 4, VM4, peer, sport, 443, FW_TCP_SYN, false);
        fw_parse_frame(f, 60, 0, &p);
        fw_conntrack_lookup(ct, &p, FW_DIR_EGRESS, now);
        if (!fw_conntrack_commit(ct, &p, FW_DIR_EGRESS, 3, now)) {
            fprintf(stderr, "commit failed\n");
            exit(1);
        }
        tcp_frame(f, 4, peer, VM4, 443, sport, FW_TCP_SYN | FW_TCP_ACK,
                  true);
        fw_parse_frame(f, 60, 0, &p);
        fw_conntrack_lookup(ct, &p, FW_DIR_INGRESS, now);
        tcp_frame(f, 4, VM4, peer, sport, 443, FW_TCP_ACK, false);
        fw_parse_frame(f, 60, 0, &p);
        fw_conntrack_lookup(ct, &p, FW_DIR_EGRESS, now);
    }
    for (size_t i = 0; i < n_seq; i++) {
        /* active flows spread over the whole table */
        size_t fl = g_rand_int_range(rnd, 0, n_active) * (n_flows / n_active);

        seq[i].peer = 0xac100000 + fl / 60000;
        seq[i].port = 1024 + (fl % 60000);
        seq[i].in = g_rand_boolean(rnd);
    }
    {
        uint8_t any[16] = { 0 };

        flen = tcp_frame(tmpl[0], 4, VM4, any, 0, 443,
                         FW_TCP_ACK | FW_TCP_PSH, false);
        tcp_frame(tmpl[1], 4, any, VM4, 443, 0, FW_TCP_ACK | FW_TCP_PSH,
                  true);
    }
    t0 = now_ns();
    c0 = cpu_ns();
    do {
        for (size_t k = 0; k < n_seq; k++) {
            const FlowRef *r = &seq[k];
            uint8_t *fr = tmpl[r->in];
            FwPacket p QEMU_UNINITIALIZED;  /* as in filter-firewall */

            /* peer address and the VM's port */
            fr[r->in ? 26 : 30] = r->peer >> 24;
            fr[r->in ? 27 : 31] = r->peer >> 16;
            fr[r->in ? 28 : 32] = r->peer >> 8;
            fr[r->in ? 29 : 33] = r->peer;
            fr[r->in ? 36 : 34] = r->port >> 8;
            fr[r->in ? 37 : 35] = r->port;
            /* as filter-firewall does: load the slot while parsing */
            fw_conntrack_prefetch(ct, fr, flen, 0, r->in ? FW_DIR_INGRESS :
                                  FW_DIR_EGRESS);
            if (fw_parse_frame(fr, flen, 0, &p) != FW_PARSE_OK) {
                abort();
            }
            est += fw_conntrack_lookup(ct, &p, r->in ? FW_DIR_INGRESS :
                                       FW_DIR_EGRESS, now) ==
                   FW_CT_ESTABLISHED;
        }
        now += 1000;
        iters += n_seq;
        t = now_ns() - t0;
    } while (t < MIN_NS);
    c0 = cpu_ns() - c0;
    printf("%9zu flows %9zu active  %8.1f ns/pkt  %7.2f Mpps  "
           "cpu %6.1f ns/pkt  (%.1f%% established)\n", n_flows, n_active,
           (double)t / iters, 1000.0 * iters / t, (double)c0 / iters,
           100.0 * est / iters);
    if (est != iters) {
        fprintf(stderr, "not all packets were established\n");
        exit(1);
    }
    g_free(seq);
}

/*
 * The floor under the 100k-flow case: a chain of dependent loads from
 * @n_lines random cache lines of a huge-page buffer as large as the
 * connection table's, i.e. one cache (and no TLB) miss per access.
 */
static char *volatile memory_floor_sink;

static void bench_memory_floor(size_t n_lines)
{
    const size_t size = 16u << 20;
    size_t lines = size / 64, i, n = 0;
    g_autofree size_t *perm = g_new(size_t, lines);
    char *mem = qemu_memalign(2u << 20, size);
    char *p;
    int64_t c0;
    double ns;

    qemu_madvise(mem, size, QEMU_MADV_HUGEPAGE);
    memset(mem, 0, size);
    for (i = 0; i < lines; i++) {
        perm[i] = i;
    }
    for (i = lines - 1; i > 0; i--) {
        size_t j = g_random_int_range(0, i + 1), t = perm[i];

        perm[i] = perm[j];
        perm[j] = t;
    }
    for (i = 0; i < n_lines; i++) {
        *(char **)(mem + perm[i] * 64) = mem + perm[(i + 1) % n_lines] * 64;
    }
    p = mem + perm[0] * 64;
    c0 = cpu_ns();
    do {
        for (i = 0; i < 1000000; i++) {
            p = *(char **)p;
        }
        n += i;
    } while (cpu_ns() - c0 < MIN_NS);
    ns = (double)(cpu_ns() - c0) / n;
    memory_floor_sink = p;
    printf("%9s memory floor: one dependent load from %zu random lines "
           "of 16 MiB: cpu %6.1f ns\n", "", n_lines, ns);
    qemu_vfree(mem);
}

int main(int argc, char **argv)
{
    bench_classify();
    printf("Established-flow fast path (prefetch + parse + conntrack "
           "lookup, random order)\n\n");
    bench_established(10000, 10000);
    bench_established(100000, 100000);
    bench_established(100000, 4096);
    bench_memory_floor(100000);
    return 0;
}
