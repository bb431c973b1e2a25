/*
 * Per-VM firewall core: frame parser, compiled rule classifier,
 * connection tracking and anti-spoofing (QEMU-independent)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef NET_FIREWALL_CORE_H
#define NET_FIREWALL_CORE_H

#include "ip-prefix.h"

/*
 * Threading: a compiled FwRuleset and an FwAntispoof are immutable after
 * creation and may be read by any number of threads.  An FwConntrack is
 * not thread-safe: the caller serializes every call on one table.
 * Time is always passed in by the caller (monotonic nanoseconds).
 */

/* ------------------------------------------------------------------ */
/* Common types                                                        */
/* ------------------------------------------------------------------ */

typedef enum FwDirection {
    FW_DIR_INGRESS = 0,         /* to the guest */
    FW_DIR_EGRESS = 1,          /* from the guest */
    FW_DIR__MAX,
} FwDirection;

/* Direction mask of a rule; 0 (or both bits) means both directions */
#define FW_DIR_MASK_INGRESS   (1u << FW_DIR_INGRESS)
#define FW_DIR_MASK_EGRESS    (1u << FW_DIR_EGRESS)
#define FW_DIR_MASK_BOTH      (FW_DIR_MASK_INGRESS | FW_DIR_MASK_EGRESS)

typedef enum FwL3 {
    FW_L3_NONE = 0,
    FW_L3_IPV4,
    FW_L3_IPV6,
    FW_L3_ARP,
} FwL3;

/* An inclusive port range */
typedef struct FwPortRange {
    uint16_t lo;
    uint16_t hi;
} FwPortRange;

/* Connection tracking states (also bit positions of FwRule.ct_states) */
typedef enum FwCtState {
    FW_CT_NEW = 0,
    FW_CT_ESTABLISHED,
    FW_CT_RELATED,
    FW_CT_INVALID,
    FW_CT__MAX,
} FwCtState;

#define FW_CT_MASK(s)   (1u << (s))
#define FW_CT_MASK_ALL  ((1u << FW_CT__MAX) - 1)

typedef enum FwAction {
    FW_ACTION_ACCEPT = 0,
    FW_ACTION_DROP,
    FW_ACTION_REJECT,           /* drop, caller sends fw_build_reject() */
    FW_ACTION__MAX,
} FwAction;

const char *fw_direction_name(FwDirection dir);

/* ------------------------------------------------------------------ */
/* Frame parser                                                        */
/* ------------------------------------------------------------------ */

typedef enum FwParseError {
    FW_PARSE_OK = 0,
    FW_PARSE_TRUNCATED,         /* a header runs past the end of frame */
    FW_PARSE_BAD_VNET_HDR,      /* shorter than the virtio-net header */
    FW_PARSE_TOO_MANY_VLANS,    /* more than two 802.1Q/802.1ad tags */
    FW_PARSE_BAD_ARP,           /* not Ethernet/IPv4 ARP */
    FW_PARSE_BAD_IP_HEADER,     /* IPv4 version, IHL or total length */
    FW_PARSE_BAD_FRAGMENT,      /* tiny or overlapping-header fragment */
    FW_PARSE_BAD_IPV6_HEADER,   /* IPv6 version or payload length */
    FW_PARSE_BAD_IPV6_EXT,      /* extension header chain bad/too long */
    FW_PARSE_BAD_TCP_HEADER,    /* TCP data offset */
    FW_PARSE_BAD_UDP_HEADER,    /* UDP length */
    FW_PARSE_BAD_ICMP,          /* ICMP body (embedded packet, ND) */
    FW_PARSE__MAX,
} FwParseError;

const char *fw_parse_error_name(FwParseError e);

/* FwPacket.l4 */
typedef enum FwL4Kind {
    FW_L4_NONE = 0,             /* no L4 header (or non-first fragment) */
    FW_L4_PORTS,                /* TCP, UDP, UDP-Lite, SCTP: ports valid */
    FW_L4_ICMP,                 /* ICMP or ICMPv6: type/code valid */
} FwL4Kind;

/* FwPacket.frag */
#define FW_FRAG_FIRST   0x01    /* offset 0, more fragments follow */
#define FW_FRAG_LATER   0x02    /* offset != 0: no L4 header */

/* TCP flags (FwPacket.tcp_flags) */
#define FW_TCP_FIN  0x01
#define FW_TCP_SYN  0x02
#define FW_TCP_RST  0x04
#define FW_TCP_PSH  0x08
#define FW_TCP_ACK  0x10
#define FW_TCP_URG  0x20
#define FW_TCP_ECE  0x40
#define FW_TCP_CWR  0x80

typedef enum FwDhcp {
    FW_DHCP_NONE = 0,
    FW_DHCP_REQUEST,            /* BOOTP op 1 on UDP 67/68 */
    FW_DHCP_REPLY,              /* BOOTP op 2 on UDP 67/68 */
} FwDhcp;

/* The L3/L4 tuple of the packet embedded in an ICMP/ICMPv6 error */
typedef struct FwEmbedded {
    IpAddr src;
    IpAddr dst;
    uint8_t proto;
    uint8_t l4;                 /* FwL4Kind */
    uint16_t sport;
    uint16_t dport;
    uint8_t icmp_type;
    uint16_t icmp_id;
} FwEmbedded;

typedef struct FwPacket {
    uint32_t frame_len;         /* Ethernet frame length (no vnet hdr) */
    uint32_t l2_off;            /* offsets into the buffer given */
    uint32_t l3_off;
    uint32_t l4_off;
    uint32_t l3_len;            /* IP packet length (header+payload) */
    uint32_t l4_len;            /* L4 header+payload length */

    uint8_t dst_mac[6];
    uint8_t src_mac[6];
    uint16_t ethertype;         /* after VLAN tags */
    uint8_t n_vlans;            /* 0, 1 or 2 */
    uint16_t vlan_id;           /* outermost VID (0 if untagged) */
    uint16_t inner_vlan_id;     /* second VID (0 if < 2 tags) */

    uint8_t l3;                 /* FwL3 */
    IpAddr src;                 /* IPv4/IPv6 source (family 0 otherwise) */
    IpAddr dst;
    uint8_t proto;              /* upper-layer protocol */
    uint8_t ttl;                /* TTL / hop limit */
    uint8_t frag;               /* FW_FRAG_* */
    uint32_t frag_id;           /* IPv4 identification, IPv6 fragment id */

    uint8_t l4;                 /* FwL4Kind */
    uint16_t sport;
    uint16_t dport;
    uint8_t tcp_flags;
    uint32_t tcp_seq;
    uint32_t tcp_ack;
    uint32_t l4_payload_len;    /* bytes after the TCP/UDP header */
    uint8_t icmp_type;
    uint8_t icmp_code;
    uint16_t icmp_id;           /* echo request/reply identifier */
    bool icmp_error;            /* carries an embedded packet */
    FwEmbedded emb;             /* valid if icmp_error */

    uint16_t arp_op;
    uint8_t arp_sha[6];
    uint8_t arp_spa[4];
    uint8_t arp_tha[6];
    uint8_t arp_tpa[4];

    uint8_t dhcp;               /* FwDhcp */
    bool nd;                    /* ICMPv6 type 133..137 */
    bool has_nd_target;         /* NS, NA, redirect */
    uint8_t nd_target[16];
    bool has_nd_lladdr;         /* source/target link-layer option */
    uint8_t nd_lladdr[6];       /* the first one */
    bool nd_lladdr_differ;      /* another one differs from the first */
} FwPacket;

/*
 * Parse an Ethernet frame of @len bytes, the first @vnet_hdr_len of
 * which are a virtio-net header that is skipped.  Never reads outside
 * [frame, frame + len).  Trailing bytes after the IP packet (Ethernet
 * padding) are ignored.  IPv4 header checksums are not verified (the
 * guest may rely on offloads).  Non-first fragments (IPv4 offset != 0,
 * IPv6 fragment header with offset != 0) get l4 = FW_L4_NONE: they carry
 * the IP protocol but no ports/ICMP type, so rules that match ports or
 * ICMP type/code never match them, while rules on protocol/addresses do.
 * They are not connection-tracked (state NEW, never committed).
 */
FwParseError fw_parse_frame(const uint8_t *frame, size_t len,
                            size_t vnet_hdr_len, FwPacket *pkt);

/* ------------------------------------------------------------------ */
/* Rules and compiled rulesets                                         */
/* ------------------------------------------------------------------ */

/* Reserved rule id used for connections accepted by the default action */
#define FW_RULE_ID_DEFAULT  UINT32_MAX

/*
 * Source or destination address match.  Empty list and no set: any
 * address (also non-IP frames).  Otherwise the packet must be IPv4/IPv6
 * with its address in one of the prefixes or in the named set; a rule
 * naming an empty set (and no prefixes) matches nothing.
 * Addresses of ARP frames are not matched by prefixes (use ethertype).
 */
typedef struct FwAddrMatch {
    const IpPrefix *prefixes;
    size_t n_prefixes;
    const char *set;            /* name of an FwAddrSet, or NULL */
} FwAddrMatch;

/*
 * One rule.  All pointers are borrowed: fw_ruleset_compile() copies them.
 * Zero-initialized fields are wildcards, except action (0 = accept).
 */
typedef struct FwRule {
    uint32_t id;                /* unique, != FW_RULE_ID_DEFAULT */
    int32_t priority;           /* lower first; ties: lower id first */
    uint8_t dir_mask;           /* FW_DIR_MASK_*; 0 = both */
    bool has_ethertype;
    uint16_t ethertype;
    uint8_t family;             /* 0 = any, 4, 6 */
    bool has_proto;
    uint8_t proto;
    FwAddrMatch src;
    FwAddrMatch dst;
    const FwPortRange *sports;  /* none = any; else packet needs ports */
    size_t n_sports;
    const FwPortRange *dports;
    size_t n_dports;
    bool has_icmp_type;         /* ICMP or ICMPv6 type (needs ICMP) */
    uint8_t icmp_type;
    bool has_icmp_code;
    uint8_t icmp_code;
    uint8_t ct_states;          /* FW_CT_MASK() bits; 0 = any */
    FwAction action;
    bool log;
} FwRule;

/* A named set of prefixes (IPv4 and IPv6 may be mixed) */
typedef struct FwAddrSet {
    const char *name;
    const IpPrefix *prefixes;
    size_t n_prefixes;
} FwAddrSet;

typedef struct FwPolicy {
    const FwRule *rules;
    size_t n_rules;
    const FwAddrSet *sets;
    size_t n_sets;
    FwAction default_action[FW_DIR__MAX];
    bool default_log[FW_DIR__MAX];
} FwPolicy;

typedef struct FwRuleset FwRuleset;

/*
 * Compile @policy.  Errors (NULL + *@errmsg): duplicate or reserved id,
 * unknown set, port range lo > hi, ports together with ICMP type/code,
 * ports with a protocol other than TCP/UDP/UDP-Lite/SCTP, ICMP fields
 * with a protocol other than ICMP/ICMPv6, prefix family contradicting
 * the rule family, invalid action, or too many classifier entries.
 */
FwRuleset *fw_ruleset_compile(const FwPolicy *policy, char **errmsg);

void fw_ruleset_free(FwRuleset *rs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FwRuleset, fw_ruleset_free)

/*
 * Rule index: position in evaluation order (priority, then id), in
 * [0, fw_ruleset_n_rules()).  -1 means "no rule".
 */
size_t fw_ruleset_n_rules(const FwRuleset *rs);
int fw_ruleset_index_of(const FwRuleset *rs, uint32_t id);
const FwRule *fw_ruleset_rule(const FwRuleset *rs, int index);
/* Number of classifier subtables / entries (for statistics and tests) */
size_t fw_ruleset_n_subtables(const FwRuleset *rs);
size_t fw_ruleset_n_entries(const FwRuleset *rs);

/* Returns the index of the first matching rule, or -1 */
int fw_ruleset_classify(const FwRuleset *rs, const FwPacket *pkt,
                        FwDirection dir, FwCtState state);
/* Reference evaluator: linear scan over the sorted rules */
int fw_ruleset_classify_linear(const FwRuleset *rs, const FwPacket *pkt,
                               FwDirection dir, FwCtState state);

/* Per-rule hit counters, owned by the caller, indexed by rule index */
typedef struct FwRuleCounters {
    uint64_t packets;
    uint64_t bytes;
} FwRuleCounters;

/*
 * Fill @new_c (fw_ruleset_n_rules(@new_rs) entries) from @old_c by rule
 * id; rules that are new in @new_rs start at zero.
 */
void fw_counters_carry(const FwRuleset *old_rs, const FwRuleCounters *old_c,
                       const FwRuleset *new_rs, FwRuleCounters *new_c);

/* ------------------------------------------------------------------ */
/* Connection tracking                                                 */
/* ------------------------------------------------------------------ */

typedef struct FwConntrack FwConntrack;

/* Timeouts in seconds */
typedef struct FwCtTimeouts {
    uint32_t tcp_syn_sent;      /* 120 */
    uint32_t tcp_syn_recv;      /* 60 */
    uint32_t tcp_established;   /* 432000 */
    uint32_t tcp_fin_wait;      /* 120 */
    uint32_t tcp_last_ack;      /* 30 */
    uint32_t tcp_time_wait;     /* 120 */
    uint32_t tcp_close;         /* 10 */
    uint32_t udp;               /* 30 */
    uint32_t udp_stream;        /* 180 */
    uint32_t icmp;              /* 30 */
    uint32_t generic;           /* 600 */
} FwCtTimeouts;

/* @timeouts may be NULL for the defaults; @max_entries >= 1 */
FwConntrack *fw_conntrack_new(size_t max_entries,
                              const FwCtTimeouts *timeouts);
void fw_conntrack_free(FwConntrack *ct);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FwConntrack, fw_conntrack_free)

size_t fw_conntrack_count(const FwConntrack *ct);
size_t fw_conntrack_max(const FwConntrack *ct);

/*
 * Track a packet travelling in @dir: updates the entry it belongs to
 * (TCP state, timeout, counters) and returns its state:
 * ESTABLISHED for packets of a known connection once a reply was seen
 * (or the packet is the reply); NEW for a first packet, or further
 * original-direction packets before any reply, and for packets that are
 * not tracked (non-IP, non-first fragments, ICMP other than echo and
 * errors); RELATED for ICMP errors about a known connection sent to the
 * host that sent the quoted packet (the outer destination is the quoted
 * source; the outer source may be any router on the path, as in Linux);
 * INVALID for bad TCP flag combinations (none, SYN+FIN, SYN+RST, FIN
 * without ACK, ...), TCP non-SYN without a connection, invalid
 * transitions, echo replies without request, and ICMP errors about
 * unknown connections or sent to another host.
 * TCP sequence numbers are not tracked.
 */
FwCtState fw_conntrack_lookup(FwConntrack *ct, const FwPacket *pkt,
                              FwDirection dir, int64_t now);

/*
 * Start loading the table slot where the connection of a raw frame
 * (@len bytes, the first @vnet_hdr_len a virtio-net header) would be,
 * so that the memory access overlaps parsing: call it before
 * fw_parse_frame() and fw_conntrack_lookup().  Only a hint, and cheap:
 * it reads the Ethernet and IP headers and the ports, never outside
 * [frame, frame + len), handles untagged IPv4 and IPv6 (no extension
 * headers) TCP, UDP, UDP-Lite and SCTP, and returns the slot index, or
 * SIZE_MAX when it did nothing.  For tests:
 * fw_conntrack_home_slot() is the slot index where the connection of a
 * parsed packet starts its probe (SIZE_MAX: not tracked); the two agree
 * on every frame the prefetch handles and the parser accepts.
 */
size_t fw_conntrack_prefetch(const FwConntrack *ct, const uint8_t *frame,
                             size_t len, size_t vnet_hdr_len,
                             FwDirection dir);
size_t fw_conntrack_home_slot(const FwConntrack *ct, const FwPacket *pkt,
                              FwDirection dir);

/*
 * After the policy accepted a NEW packet: create its entry (TCP SYN,
 * UDP, ICMP echo request, other IP protocols), recording @rule_id.
 * Returns false only if the table is full (after trying to expire);
 * true if created, already present, or the packet is not tracked.
 */
bool fw_conntrack_commit(FwConntrack *ct, const FwPacket *pkt,
                         FwDirection dir, uint32_t rule_id, int64_t now);

/*
 * Expire at most @budget timed-out entries; returns the number removed.
 * Lookup and commit already do a small bounded amount of this.  Entries
 * are reclaimed at most 1 s after they time out (packets always see
 * exact timeouts).
 */
size_t fw_conntrack_expire(FwConntrack *ct, int64_t now, size_t budget);
void fw_conntrack_flush(FwConntrack *ct);
/* Remove the entries committed by rule @rule_id; returns how many */
size_t fw_conntrack_flush_rule(FwConntrack *ct, uint32_t rule_id);

/*
 * Judge every connection again with @rs, as its first packet would be
 * judged now: the original tuple, in the original direction, in state
 * NEW (TCP as a SYN, ICMP as an echo request).  Connections that @rs
 * does not accept (its first matching rule, or the default action of
 * the original direction, drops or rejects) are removed; the others
 * keep their state and now record the id of the rule that accepts them
 * (FW_RULE_ID_DEFAULT: the default action).  Rule ids of the old policy
 * play no part.  One walk over the table; returns how many were removed.
 */
size_t fw_conntrack_rejudge(FwConntrack *ct, const FwRuleset *rs);

/*
 * TCP mid-stream pickup, like Linux' nf_conntrack_tcp_loose (off when
 * the table is created): a TCP segment with ACK and without SYN, FIN or
 * RST that belongs to no connection is NEW instead of INVALID, and when
 * the policy accepts it fw_conntrack_commit() creates the connection as
 * established.  Its packets in the original direction stay NEW until
 * one in the reply direction is seen.  This lets connections survive a
 * flush, a quarantine, a filter added to a running VM or a migration
 * without their state.
 */
void fw_conntrack_set_tcp_pickup(FwConntrack *ct, bool on);

/*
 * Serialize the live entries into a self-describing, endian-independent
 * byte string (for migration), with expiry times relative to @now.
 */
GByteArray *fw_conntrack_save(const FwConntrack *ct, int64_t now);

/*
 * Add the entries of a fw_conntrack_save() string to @ct (expiry times
 * relative to @now, at most a full timeout of their state).  Entries
 * already present are kept; entries beyond the table's limit are left
 * out.  Returns false and sets *@errmsg if @data is malformed; then the
 * entries before the malformed one have been added.
 */
bool fw_conntrack_load(FwConntrack *ct, const uint8_t *data, size_t len,
                       int64_t now, char **errmsg);

typedef struct FwCtInfo {
    FwDirection orig_dir;       /* direction of the first packet */
    IpAddr src;                 /* original tuple */
    IpAddr dst;
    uint8_t proto;
    uint16_t sport;             /* ICMP echo: identifier */
    uint16_t dport;
    const char *state;          /* "syn-sent", "established", "udp", ... */
    bool seen_reply;
    int64_t expires_in_ns;      /* relative to the 'now' passed */
    uint32_t rule_id;
    uint64_t packets[2];        /* [0] original, [1] reply direction */
    uint64_t bytes[2];
} FwCtInfo;

/*
 * Call @cb for each live entry until it returns false; returns the
 * number of calls.  @cb must not modify the table.
 */
size_t fw_conntrack_foreach(FwConntrack *ct, int64_t now,
                            bool (*cb)(const FwCtInfo *info, void *opaque),
                            void *opaque);

/* ------------------------------------------------------------------ */
/* Anti-spoofing (egress only)                                         */
/* ------------------------------------------------------------------ */

typedef enum FwSpoofReason {
    FW_SPOOF_NONE = 0,
    FW_SPOOF_MAC,               /* "spoof-mac" */
    FW_SPOOF_IP,                /* "spoof-ip" */
    FW_SPOOF_ARP,               /* "spoof-arp" */
    FW_SPOOF_DHCP_SERVER,       /* "dhcp-server" */
    FW_SPOOF_ROUTER_ADVERT,     /* "router-advert" (RA and redirect) */
    FW_SPOOF__MAX,
} FwSpoofReason;

const char *fw_spoof_reason_name(FwSpoofReason r);

typedef struct FwAntispoof FwAntispoof;

/*
 * @mac is the VM's MAC; @allowed lists the prefixes its IPv4/IPv6
 * source addresses may come from (use /32 and /128 for single hosts).
 * The EUI-64 link-local address fe80::/64 + modified-EUI-64(@mac) is
 * always allowed as an IPv6 source.
 */
FwAntispoof *fw_antispoof_new(const uint8_t mac[6],
                              const IpPrefix *allowed, size_t n_allowed);
void fw_antispoof_free(FwAntispoof *as);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FwAntispoof, fw_antispoof_free)

/*
 * Check a frame sent by the guest.  Drops: source MAC != VM MAC
 * (spoof-mac; also a ND link-layer address option that differs);
 * ARP with sender MAC != VM MAC or sender IP neither allowed nor 0.0.0.0
 * (spoof-arp); UDP source port 67 or 547, or a BOOTP reply
 * (dhcp-server); ICMPv6 router advertisement or redirect
 * (router-advert); IPv4 source not allowed, except 0.0.0.0 for a DHCP
 * request (UDP 68 -> 67, BOOTP op 1); IPv6 source not allowed, except
 * :: for neighbour solicitation (DAD), router solicitation and MLDv2
 * report; neighbour advertisement for a target not allowed (spoof-ip).
 * Other ethertypes only get the MAC check.
 */
FwSpoofReason fw_antispoof_check(const FwAntispoof *as, const FwPacket *pkt);

/* ------------------------------------------------------------------ */
/* Reject frames                                                       */
/* ------------------------------------------------------------------ */

/* Largest frame fw_build_reject() produces */
#define FW_REJECT_MAX_LEN   1536

/*
 * Build the frame answering a rejected packet (parsed into @pkt from
 * @frame/@len, the same buffer given to fw_parse_frame()), to be sent
 * back to the packet's sender: Ethernet addresses swapped, VLAN tags
 * kept, no virtio-net header.  TCP gets a RST from the peer; other IPv4
 * gets ICMP port unreachable; IPv6 UDP gets ICMPv6 port unreachable and
 * other IPv6 gets ICMPv6 administratively prohibited.  The ICMP body
 * quotes the original packet (up to 576 / 1280 bytes total).  Returns
 * the length written to @out, or 0 when nothing must be sent: TCP RST;
 * ICMP errors, redirects and unknown types (RFC 1122 3.2.2: only echo,
 * timestamp, information and address mask messages are answered);
 * ICMPv6 errors (types 0-127), redirects and unknown informational
 * types (RFC 4443 2.4 (e.1), (e.2), (b): only types 128-161 are
 * answered); non-first fragments; multicast/broadcast destinations;
 * sources that are not one host (unspecified, multicast, broadcast,
 * loopback, IPv4 class E); non-IP; @out_size too small.
 */
size_t fw_build_reject(const FwPacket *pkt, const uint8_t *frame, size_t len,
                       uint8_t *out, size_t out_size);

/* ------------------------------------------------------------------ */
/* Whole chain                                                         */
/* ------------------------------------------------------------------ */

typedef enum FwDropReason {
    FW_DROP_NONE = 0,           /* accepted */
    FW_DROP_INVALID,            /* parse error */
    FW_DROP_VLAN,               /* 802.1Q/802.1ad tagged, not allowed */
    FW_DROP_SPOOF_MAC,
    FW_DROP_SPOOF_IP,
    FW_DROP_SPOOF_ARP,
    FW_DROP_DHCP_SERVER,
    FW_DROP_ROUTER_ADVERT,
    FW_DROP_QUARANTINE,         /* quarantined, not in the allow list */
    FW_DROP_CT_INVALID,         /* conntrack state invalid, no rule */
    FW_DROP_CT_FULL,            /* accepted NEW, conntrack table full */
    FW_DROP_RULE,               /* a rule dropped/rejected it */
    FW_DROP_DEFAULT,            /* the default action dropped/rejected */
    FW_DROP__MAX,
} FwDropReason;

const char *fw_drop_reason_name(FwDropReason r);

/* What fw_process() works with; NULL members switch their stage off */
typedef struct FwChain {
    const FwRuleset *rs;        /* NULL: no rules, everything accepted */
    FwConntrack *ct;            /* connections, fragments, DHCP */
    const FwAntispoof *as;      /* egress anti-spoofing */
    bool allow_vlan;            /* classify tagged frames on inner headers */
    bool quarantined;
    const IpPrefix *quarantine_allow;
    size_t n_quarantine_allow;
} FwChain;

typedef struct FwVerdict {
    FwAction action;            /* accept, drop or reject */
    int rule_index;             /* -1: no rule decided */
    uint32_t rule_id;           /* FW_RULE_ID_DEFAULT if rule_index < 0 */
    FwDropReason reason;
    FwParseError parse_error;
    FwCtState ct_state;
    bool bootstrap;             /* accepted as ARP, ND or DHCP exchange */
    bool fragment;              /* a later fragment: its first's verdict */
    bool need_log;
} FwVerdict;

/*
 * The firewall's one decision path, for every frame in both directions:
 *
 * 1. parse (errors: invalid); tagged frames are dropped (vlan) unless
 *    @allow_vlan;
 * 2. egress anti-spoofing (fw_antispoof_check());
 * 3. quarantine: only packets from or to an allowed address pass; ARP
 *    and neighbour solicitations/advertisements count the address they
 *    resolve;
 * 4. bootstrap exemptions (accepted without rules): ARP requests and
 *    replies of at most 64 bytes; neighbour discovery that stays on the
 *    link (hop limit 255, code 0, at most 1280 bytes; solicitations to
 *    the target's solicited-node group or the target itself, router
 *    solicitations to ff02::2 from the guest, advertisements and
 *    redirects from a link-local router to the guest); the guest's DHCP
 *    (BOOTP with the DHCP magic cookie, 240 to 1472 bytes, hardware
 *    address the guest's MAC, unfragmented): requests from UDP 68 to 67
 *    sent to 255.255.255.255 or to the server that answered, replies
 *    from UDP 67 to 68 carrying the transaction id of a request the
 *    guest sent in the last 60 s;
 * 5. a later IPv4/IPv6 fragment gets the verdict of its datagram's
 *    first fragment (within 30 s), otherwise it goes on like any packet;
 * 6. connection tracking (fw_conntrack_lookup());
 * 7. rules, first match (lowest index) wins, with the packet's state as
 *    a match field; when none matches, established and related packets
 *    are accepted, invalid ones dropped (ct-invalid), new ones get the
 *    default action of their direction;
 * 8. accepted new packets are committed to the connection table
 *    (ct-full when it is full).
 *
 * Fills @pkt (may be used for fw_build_reject()) and @v.
 */
void fw_process(const FwChain *c, FwDirection dir, const uint8_t *frame,
                size_t len, size_t vnet_hdr_len, int64_t now,
                FwPacket *pkt, FwVerdict *v);

#endif /* NET_FIREWALL_CORE_H */
