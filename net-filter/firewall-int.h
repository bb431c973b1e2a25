/*
 * Per-VM firewall core: what its files share (private to net/firewall-*.c)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

/*
 * The core is split by concern; each file includes this header and the
 * public net/firewall-core.h, and nothing of QEMU beyond qemu/osdep.h and
 * header-only helpers, so the unit test, the benchmark and the fuzz target
 * build it alone.  Dependencies go one way:
 *
 *   firewall-core.c       fw_process(): the decision path over all below
 *   firewall-conntrack.c  connections, fragment verdicts, DHCP exchanges
 *   firewall-classify.c   rule compiler and classifier lookup
 *   firewall-spoof.c      anti-spoofing
 *   firewall-reject.c     frames answering rejected packets
 *   firewall-parse.c      frame parser
 *   firewall-addr.c       addresses and prefixes
 *
 * Conntrack re-judges connections with the classifier; nothing below
 * firewall-core.c calls upwards.
 */

#ifndef NET_FIREWALL_INT_H
#define NET_FIREWALL_INT_H

#include "qemu/bswap.h"
#include "net/firewall-core.h"

#define ETH_P_IPV4      0x0800
#define ETH_P_ARP       0x0806
#define ETH_P_IPV6      0x86dd
#define ETH_P_8021Q     0x8100
#define ETH_P_8021AD    0x88a8
#define ETH_P_QINQ      0x9100

#define IPPROTO_NUM_ICMP      1
#define IPPROTO_NUM_TCP       6
#define IPPROTO_NUM_UDP       17
#define IPPROTO_NUM_ICMPV6    58
#define IPPROTO_NUM_SCTP      132
#define IPPROTO_NUM_UDPLITE   136

/* ------------------------------------------------------------------ */
/* Addresses and packets (firewall-addr.c)                             */
/* ------------------------------------------------------------------ */

static inline int addr_len(uint8_t family)
{
    return family == 4 ? 4 : 16;
}

static inline bool addr_is_zero(const FwAddr *a)
{
    static const uint8_t zero[16];

    return memcmp(a->a, zero, addr_len(a->family)) == 0;
}

static inline int packet_family(const FwPacket *pkt)
{
    return pkt->l3 == FW_L3_IPV4 ? 4 : pkt->l3 == FW_L3_IPV6 ? 6 : 0;
}

static inline bool icmp_is_echo_request(int family, uint8_t type)
{
    return family == 4 ? type == 8 : type == 128;
}

static inline bool icmp_is_echo_reply(int family, uint8_t type)
{
    return family == 4 ? type == 0 : type == 129;
}

static inline bool proto_has_ports(uint8_t proto)
{
    return proto == IPPROTO_NUM_TCP || proto == IPPROTO_NUM_UDP ||
           proto == IPPROTO_NUM_UDPLITE || proto == IPPROTO_NUM_SCTP;
}

/* Clear the host bits of @p */
void fw_prefix_normalize(FwPrefix *p);

/* Does @a lie in one of the @n prefixes @p? */
bool fw_prefix_list_match(const FwPrefix *p, size_t n, const FwAddr *a);

/* ------------------------------------------------------------------ */
/* Compiled rulesets (firewall-classify.c)                             */
/* ------------------------------------------------------------------ */

typedef struct FwSubtable FwSubtable;
typedef struct FwResolved FwResolved;
typedef struct FwSetCopy FwSetCopy;
typedef struct FwIdIndex FwIdIndex;

/* Read by fw_process() and fw_conntrack_rejudge() for each verdict */
struct FwRuleset {
    size_t n_rules;
    FwRule *rules;              /* sorted, deep copies */
    FwResolved *res;
    FwIdIndex *by_id;           /* sorted by id */
    FwSetCopy *sets;
    size_t n_sets;
    GHashTable *set_by_name;    /* name -> FwSetCopy */
    FwAction def_action[FW_DIR__MAX];
    bool def_log[FW_DIR__MAX];
    uint8_t states[FW_DIR__MAX];    /* FW_CT_MASK()s some rule matches */
    FwSubtable *subtables;
    size_t n_subtables;
    size_t n_entries;
};

/* ------------------------------------------------------------------ */
/* Anti-spoofing (firewall-spoof.c)                                    */
/* ------------------------------------------------------------------ */

/* fw_process() takes the guest's MAC from here */
struct FwAntispoof {
    uint8_t mac[6];
    FwPrefix *allowed;
    size_t n_allowed;
    FwAddr link_local;
};

/* ------------------------------------------------------------------ */
/* What fw_process() remembers in an FwConntrack (firewall-conntrack.c) */
/* ------------------------------------------------------------------ */

/* The verdict of a datagram's first fragment, for its later fragments */
typedef struct FwFrag {
    uint8_t src[16];
    uint8_t dst[16];
    uint32_t id;
    uint8_t family;
    uint8_t proto;              /* IPv4 only: RFC 8200 lets IPv6 vary */
    uint8_t action;             /* from here on: not part of the key */
    uint8_t reason;
    uint8_t ct_state;
    int64_t expires;            /* 0: free */
} FwFrag;

/* The live entry of the datagram of (later fragment) @pkt, or NULL */
const FwFrag *fw_ct_frag_find(const FwConntrack *ct, const FwPacket *pkt,
                              int64_t now);

/* Remember the verdict @v of first fragment @pkt */
void fw_ct_frag_record(FwConntrack *ct, const FwPacket *pkt,
                       const FwVerdict *v, int64_t now);

/* The guest sent a DHCP request with transaction id @xid */
void fw_ct_dhcp_request(FwConntrack *ct, uint32_t xid, int64_t now);

/* Did the guest send a DHCP request with @xid in the last 60 s? */
bool fw_ct_dhcp_requested(const FwConntrack *ct, uint32_t xid, int64_t now);

/* Is IPv4 address @a the DHCP server that answered the guest? */
bool fw_ct_dhcp_server_is(const FwConntrack *ct, const uint8_t *a);

/* The DHCP server at IPv4 address @a answered the guest */
void fw_ct_dhcp_set_server(FwConntrack *ct, const uint8_t *a);

#endif /* NET_FIREWALL_INT_H */
