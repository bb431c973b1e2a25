/*
 * Per-VM firewall core: the verdicts of first fragments
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Later fragments of a datagram carry no ports, so fw_process() judges
 * them by the verdict of the datagram's first fragment.  The verdicts sit
 * in a set-associative cache, so it is bounded and costs nothing to
 * packets that are not fragments.  A new datagram replaces the entry of
 * its set that expires first.
 */

#include "qemu/osdep.h"
#include "firewall-int.h"

#define FRAG_SETS       256
#define FRAG_WAYS       4
#define FRAG_TIMEOUT_NS (30 * 1000000000LL)     /* Linux' ipfrag_time */

struct FwFragCache {
    uint64_t seed[FW_HASH_SEED_WORDS];
    FwFrag frags[FRAG_SETS * FRAG_WAYS];
};

FwFragCache *fw_frag_cache_new(void)
{
    FwFragCache *fc = g_new0(FwFragCache, 1);

    fw_hash_seed(fc->seed);
    return fc;
}

void fw_frag_cache_free(FwFragCache *fc)
{
    g_free(fc);
}

void fw_frag_cache_flush(FwFragCache *fc)
{
    memset(fc->frags, 0, sizeof(fc->frags));
}

static void frag_key(const FwPacket *pkt, FwFrag *k)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->src, pkt->src.a, 16);
    memcpy(k->dst, pkt->dst.a, 16);
    k->id = pkt->frag_id;
    k->family = pkt->src.family;
    k->proto = pkt->l3 == FW_L3_IPV4 ? pkt->proto : 0;
}

static bool frag_key_eq(const FwFrag *a, const FwFrag *b)
{
    return memcmp(a, b, offsetof(FwFrag, action)) == 0;
}

/* The index of the first way of @k's set */
static size_t frag_set(const FwFragCache *fc, const FwFrag *k)
{
    uint64_t w[5] = { 0 };

    memcpy(w, k, offsetof(FwFrag, action));
    return (fw_hash_words(fc->seed, w[0], w[1], w[2], w[3], w[4]) &
            (FRAG_SETS - 1)) * FRAG_WAYS;
}

const FwFrag *fw_frag_find(const FwFragCache *fc, const FwPacket *pkt,
                           int64_t now)
{
    const FwFrag *set;
    FwFrag k;

    frag_key(pkt, &k);
    set = &fc->frags[frag_set(fc, &k)];
    for (int w = 0; w < FRAG_WAYS; w++) {
        if (set[w].expires > now && frag_key_eq(&set[w], &k)) {
            return &set[w];
        }
    }
    return NULL;
}

void fw_frag_record(FwFragCache *fc, const FwPacket *pkt, const FwVerdict *v,
                    int64_t now)
{
    FwFrag k, *set, *slot = NULL;

    frag_key(pkt, &k);
    set = &fc->frags[frag_set(fc, &k)];
    for (int w = 0; w < FRAG_WAYS; w++) {
        if (set[w].expires > now && frag_key_eq(&set[w], &k)) {
            slot = &set[w];
            break;
        }
        if (!slot || set[w].expires < slot->expires) {
            slot = &set[w];
        }
    }
    k.action = v->action;
    k.reason = v->reason;
    k.ct_state = v->ct_state;
    k.expires = now + FRAG_TIMEOUT_NS;
    *slot = k;
}
