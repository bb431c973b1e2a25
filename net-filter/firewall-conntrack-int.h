/*
 * Per-VM firewall core: the connection table's layout, shared by
 * connection tracking (firewall-conntrack.c) and its migration format
 * (firewall-conntrack-save.c)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef NET_FIREWALL_CONNTRACK_INT_H
#define NET_FIREWALL_CONNTRACK_INT_H

#include "firewall-int.h"

/* Timeout classes; the TCP ones double as TCP states */
enum {
    CLS_TCP_SYN_SENT,
    CLS_TCP_SYN_RECV,
    CLS_TCP_ESTABLISHED,
    CLS_TCP_FIN_WAIT,
    CLS_TCP_LAST_ACK,
    CLS_TCP_TIME_WAIT,
    CLS_TCP_CLOSE,
    CLS_UDP,
    CLS_UDP_STREAM,
    CLS_ICMP,
    CLS_GENERIC,
    CLS__MAX,
};

/* Entry flags (FwCtKey.flags) */
#define CTF_SEEN_REPLY      0x01
#define CTF_FIN_ORIG        0x02
#define CTF_FIN_REPLY       0x04
#define CTF_ORIG_INGRESS    0x08    /* the first packet was ingress */
#define CTF_USED            0x80    /* the table slot holds an entry */

#define CT_KEY_WORDS    5
#define CT_NONE         UINT32_MAX  /* no entry (list link) */

/*
 * A connection key in egress orientation: src/sport is the guest's end
 * (the sender of egress packets), so a connection has one key for both
 * directions.  The last two bytes are not part of the key: entries keep
 * their timeout class and flags there (zero in lookup keys, masked out
 * when hashing and comparing).
 */
typedef union FwCtKey {
    uint64_t w[CT_KEY_WORDS];
    struct {
        uint8_t src[16];
        uint8_t dst[16];
        uint16_t sport;
        uint16_t dport;
        uint8_t proto;
        uint8_t family;
        uint8_t cls;            /* entries only */
        uint8_t flags;          /* entries only: CTF_* */
    };
} FwCtKey;

/*
 * The hot part of an entry, one cache line: everything that a packet of
 * a known connection reads or writes.  Packet and byte counts are kept
 * here as small deltas and only added to the cold part when they would
 * overflow.
 */
typedef struct QEMU_ALIGNED(64) FwCtHot {
    FwCtKey k;
    int64_t expires;
    int32_t qdelta;             /* expires - expiry when put on its list */
    uint32_t bytes[2];          /* [0] original, [1] reply direction */
    uint16_t packets[2];
} FwCtHot;

QEMU_BUILD_BUG_ON(sizeof(FwCtHot) != 64);

/* The cold part of an entry */
typedef struct FwCtCold {
    uint64_t packets[2];
    uint64_t bytes[2];
    uint32_t rule_id;
    uint32_t prev;              /* timeout class list */
    uint32_t next;
} FwCtCold;

/* A timeout class's entries in expiry order (see ct_touch()), via FwCtCold */
typedef struct FwCtList {
    uint32_t head;
    uint32_t tail;
} FwCtList;

struct FwConntrack {
    size_t max_entries;
    size_t count;
    uint32_t limit;             /* max_entries, limited to CT_MAX_ENTRIES */
    uint32_t mask;              /* slots - 1 */
    FwCtHot *hot;               /* the table */
    FwCtCold *cold;             /* parallel to hot */
    void *hot_mem;
    void *cold_mem;
    uint64_t seed[FW_HASH_SEED_WORDS];
    int64_t timeout_ns[CLS__MAX];
    int64_t requeue_ns[CLS__MAX];
    FwCtList lists[CLS__MAX];
    unsigned gc_next;
    FwFragCache *frags;         /* for fw_process(), firewall-frag.c */
    FwDhcpMemory dhcp;          /* for fw_process(), firewall-dhcp.c */
    bool tcp_pickup;
};

static inline FwCtHot *ct_hot(const FwConntrack *ct, uint32_t i)
{
    return &ct->hot[i];
}

static inline FwCtCold *ct_cold(const FwConntrack *ct, uint32_t i)
{
    return &ct->cold[i];
}

/*
 * Add the connection with key @k, expiring at @expires, as a saved table
 * had it: NULL if the table has the key already or is full
 */
FwCtHot *ct_restore(FwConntrack *ct, const FwCtKey *k, int cls,
                    uint8_t flags, int64_t expires, uint32_t rule_id);

#endif
