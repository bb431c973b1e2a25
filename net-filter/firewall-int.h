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
 *   firewall-conntrack.c  connections (and, beside them, the two below)
 *   firewall-frag.c       first fragments' verdicts for later fragments
 *   firewall-dhcp.c       the guest's DHCP exchanges
 *   firewall-classify.c   rule compiler and classifier lookup
 *   firewall-spoof.c      anti-spoofing
 *   firewall-reject.c     frames answering rejected packets
 *   firewall-parse.c      frame parser
 *   ip-prefix.c           addresses and prefixes (shared with hw/vdi)
 *
 * Conntrack re-judges connections with the classifier; nothing below
 * firewall-core.c calls upwards.
 */

#ifndef NET_FIREWALL_INT_H
#define NET_FIREWALL_INT_H

#include "qemu/bswap.h"
#include "qemu/host-utils.h"
#include "net/eth.h"
#include "net/firewall-core.h"

/*
 * Protocol numbers: ethertypes and IPv4/IPv6 header constants come from
 * net/eth.h, IP protocols from <netinet/in.h> (IPPROTO_*); what neither
 * names is here.
 */
#define FW_ETH_P_QINQ           0x9100  /* pre-802.1ad double tagging */
#define FW_VLAN_HLEN            sizeof(struct vlan_header)
#define FW_IP4_HLEN             sizeof(struct ip_header)
#define FW_IP6_HLEN             sizeof(struct ip6_header)
#define FW_IP6_FRAG_HLEN        8       /* RFC 8200 4.5 */
#define FW_TCP_HLEN             sizeof(tcp_header)
#define FW_UDP_HLEN             sizeof(udp_header)
#define FW_SCTP_HLEN            12      /* RFC 9260 3.1 */
#define FW_ICMP_HLEN            8       /* type, code, checksum, 4 more */
/* Field offsets in the headers of net/eth.h (frames are unaligned) */
#define FW_IP6_OFF(m)           offsetof(struct ip6_header, m)
#define FW_TCP_OFF(m)           offsetof(tcp_header, m)
#define FW_UDP_OFF(m)           offsetof(udp_header, m)
#define FW_TCP_FLAGS_OFF        (FW_TCP_OFF(th_offset_flags) + 1)
#define FW_ARP_LEN              28      /* Ethernet/IPv4 ARP (RFC 826) */
#define FW_ARP_HTYPE_ETHER      1
#define FW_ARP_OP_REQUEST       1
#define FW_ARP_OP_REPLY         2

/* ICMP types (RFC 792) and codes */
#define FW_ICMP_ECHO_REPLY      0
#define FW_ICMP_DEST_UNREACH    3
#define FW_ICMP_SOURCE_QUENCH   4
#define FW_ICMP_REDIRECT        5
#define FW_ICMP_ECHO_REQUEST    8
#define FW_ICMP_TIME_EXCEEDED   11
#define FW_ICMP_PARAM_PROBLEM   12
#define FW_ICMP_TIMESTAMP       13
#define FW_ICMP_ADDRMASK_REPLY  18
#define FW_ICMP_PORT_UNREACH    3       /* code of DEST_UNREACH */

/* ICMPv6 types (RFC 4443, RFC 4861, RFC 3810) and codes */
#define FW_ICMP6_DEST_UNREACH   1
#define FW_ICMP6_PARAM_PROBLEM  4
#define FW_ICMP6_ECHO_REQUEST   128
#define FW_ICMP6_ECHO_REPLY     129
#define FW_ICMP6_ND_ROUTER_SOL  133
#define FW_ICMP6_ND_ROUTER_ADV  134
#define FW_ICMP6_ND_NEIGH_SOL   135
#define FW_ICMP6_ND_NEIGH_ADV   136
#define FW_ICMP6_ND_REDIRECT    137
#define FW_ICMP6_MLD2_REPORT    143
#define FW_ICMP6_INFO_LAST      161     /* last type IANA assigned */
#define FW_ICMP6_ADMIN_PROHIB   1       /* codes of DEST_UNREACH */
#define FW_ICMP6_PORT_UNREACH   4
#define FW_ND_OPT_SRC_LLADDR    1
#define FW_ND_OPT_TGT_LLADDR    2
#define FW_ND_HOP_LIMIT         255     /* RFC 4861: never forwarded */
#define FW_IP6_MIN_MTU          1280

/* DHCP and BOOTP (RFC 2131, RFC 8415) */
#define FW_DHCP_SERVER_PORT     67
#define FW_DHCP_CLIENT_PORT     68
#define FW_DHCP6_SERVER_PORT    547
#define FW_BOOTP_OP_REQUEST     1
#define FW_BOOTP_OP_REPLY       2

/* ------------------------------------------------------------------ */
/* Addresses and packets                                               */
/* ------------------------------------------------------------------ */

static inline int addr_len(uint8_t family)
{
    return family == 4 ? 4 : 16;
}

static inline bool addr_is_zero(const IpAddr *a)
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
    return family == 4 ? type == FW_ICMP_ECHO_REQUEST :
                         type == FW_ICMP6_ECHO_REQUEST;
}

static inline bool icmp_is_echo_reply(int family, uint8_t type)
{
    return family == 4 ? type == FW_ICMP_ECHO_REPLY :
                         type == FW_ICMP6_ECHO_REPLY;
}

static inline bool proto_has_ports(uint8_t proto)
{
    return proto == IPPROTO_TCP || proto == IPPROTO_UDP ||
           proto == IPPROTO_UDPLITE || proto == IPPROTO_SCTP;
}


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
    IpPrefix *allowed;
    size_t n_allowed;
    IpAddr link_local;
};

/* ------------------------------------------------------------------ */
/* Hashing (conntrack and fragment verdicts)                           */
/* ------------------------------------------------------------------ */

/* Words of seed a hash of five words is keyed by */
#define FW_HASH_SEED_WORDS      6

/* 64x64 -> 128-bit multiply, folded to 64 bits */
static inline uint64_t fw_mum(uint64_t a, uint64_t b)
{
    uint64_t lo, hi;

    mulu64(&lo, &hi, a, b);
    return lo ^ hi;
}

/*
 * Hash of five words keyed by a random seed.  The multiplies are
 * independent of each other, so the hash is ready a few cycles after the
 * key is: the slot load that follows is the expensive part of a lookup.
 */
static inline uint64_t fw_hash_words(const uint64_t *s, uint64_t w0,
                                     uint64_t w1, uint64_t w2, uint64_t w3,
                                     uint64_t w4)
{
    uint64_t h;

    h = fw_mum(w0 ^ s[0], w1 ^ s[1]) ^ fw_mum(w2 ^ s[2], w3 ^ s[3]) ^
        fw_mum(w4 ^ s[4], s[5]);
    return fw_mum(h ^ s[5], 0x9e3779b97f4a7c15ull);
}

/* A random seed for fw_hash_words() */
static inline void fw_hash_seed(uint64_t *s)
{
    for (int w = 0; w < FW_HASH_SEED_WORDS; w++) {
        s[w] = ((uint64_t)g_random_int() << 32) | g_random_int();
    }
}

/* ------------------------------------------------------------------ */
/* Fragment verdicts (firewall-frag.c)                                 */
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

typedef struct FwFragCache FwFragCache;

FwFragCache *fw_frag_cache_new(void);
void fw_frag_cache_free(FwFragCache *fc);
void fw_frag_cache_flush(FwFragCache *fc);

/* The live entry of the datagram of (later fragment) @pkt, or NULL */
const FwFrag *fw_frag_find(const FwFragCache *fc, const FwPacket *pkt,
                           int64_t now);

/* Remember the verdict @v of first fragment @pkt */
void fw_frag_record(FwFragCache *fc, const FwPacket *pkt, const FwVerdict *v,
                    int64_t now);

/* ------------------------------------------------------------------ */
/* The guest's DHCP exchanges (firewall-dhcp.c)                        */
/* ------------------------------------------------------------------ */

/* Transaction ids of the guest's recent DHCP requests */
#define FW_DHCP_XIDS    4

typedef struct FwDhcpMemory {
    struct {
        uint32_t xid;
        int64_t expires;
    } xids[FW_DHCP_XIDS];
    unsigned next;
    bool has_server;
    uint8_t server[4];          /* the server that answered the guest */
} FwDhcpMemory;

/* The guest sent a DHCP request with transaction id @xid */
void fw_dhcp_request(FwDhcpMemory *m, uint32_t xid, int64_t now);

/* Did the guest send a DHCP request with @xid in the last 60 s? */
bool fw_dhcp_requested(const FwDhcpMemory *m, uint32_t xid, int64_t now);

/* Is IPv4 address @a the DHCP server that answered the guest? */
bool fw_dhcp_server_is(const FwDhcpMemory *m, const uint8_t *a);

/* The DHCP server at IPv4 address @a answered the guest */
void fw_dhcp_set_server(FwDhcpMemory *m, const uint8_t *a);

/* ------------------------------------------------------------------ */
/* What fw_process() keeps beside an FwConntrack's connections        */
/* ------------------------------------------------------------------ */

FwFragCache *fw_ct_frags(FwConntrack *ct);
FwDhcpMemory *fw_ct_dhcp(FwConntrack *ct);

#endif /* NET_FIREWALL_INT_H */
