/*
 * Per-VM firewall core: the decision path (fw_process())
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "firewall-int.h"

static const char *const drop_names[FW_DROP__MAX] = {
    [FW_DROP_NONE] = "none",
    [FW_DROP_INVALID] = "invalid",
    [FW_DROP_VLAN] = "vlan",
    [FW_DROP_SPOOF_MAC] = "spoof-mac",
    [FW_DROP_SPOOF_IP] = "spoof-ip",
    [FW_DROP_SPOOF_ARP] = "spoof-arp",
    [FW_DROP_DHCP_SERVER] = "dhcp-server",
    [FW_DROP_ROUTER_ADVERT] = "router-advert",
    [FW_DROP_QUARANTINE] = "quarantine",
    [FW_DROP_CT_INVALID] = "ct-invalid",
    [FW_DROP_CT_FULL] = "ct-full",
    [FW_DROP_RULE] = "rule",
    [FW_DROP_DEFAULT] = "default",
};

const char *fw_drop_reason_name(FwDropReason r)
{
    return (unsigned)r < FW_DROP__MAX ? drop_names[r] : "unknown";
}

const char *fw_direction_name(FwDirection dir)
{
    return dir == FW_DIR_INGRESS ? "ingress" :
           dir == FW_DIR_EGRESS ? "egress" : "unknown";
}

static bool addr_is_link_local(const IpAddr *a)
{
    return a->family == 6 && a->a[0] == 0xfe && (a->a[1] & 0xc0) == 0x80;
}

static bool quarantine_allows_addr(const FwChain *c, const uint8_t *a,
                                   int family)
{
    IpAddr x = { .family = family };

    memcpy(x.a, a, addr_len(family));
    return ip_prefix_list_match(c->quarantine_allow, c->n_quarantine_allow, &x);
}

/*
 * Quarantine lets through packets from or to an allowed address; ARP
 * and neighbour solicitations and advertisements also when the address
 * they resolve is allowed, so that allowed hosts stay reachable.
 */
static bool quarantine_allows(const FwChain *c, const FwPacket *pkt)
{
    if (pkt->l3 == FW_L3_ARP) {
        return quarantine_allows_addr(c, pkt->arp_spa, 4) ||
               quarantine_allows_addr(c, pkt->arp_tpa, 4);
    }
    if (!packet_family(pkt)) {
        return false;
    }
    if (ip_prefix_list_match(c->quarantine_allow, c->n_quarantine_allow,
                          &pkt->src) ||
        ip_prefix_list_match(c->quarantine_allow, c->n_quarantine_allow,
                          &pkt->dst)) {
        return true;
    }
    return pkt->nd && (pkt->icmp_type == FW_ICMP6_ND_NEIGH_SOL ||
                      pkt->icmp_type == FW_ICMP6_ND_NEIGH_ADV) &&
           quarantine_allows_addr(c, pkt->nd_target, 6);
}

/*
 * Neighbour discovery that RFC 4861 allows: on the link only (hop limit
 * 255), solicitations to the target's solicited-node group or (for
 * unreachability detection, not from ::) the target itself, router
 * solicitations to all routers, router advertisements and redirects
 * from a link-local router.
 */
static bool nd_exempt(const FwPacket *pkt, FwDirection dir)
{
    static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
    static const uint8_t all_routers[16] = { 0xff, 0x02, [15] = 2 };
    static const uint8_t solicited[13] = { 0xff, 0x02, [11] = 1, 0xff };
    bool mcast = pkt->dst.a[0] == 0xff;

    if (pkt->ttl != FW_ND_HOP_LIMIT || pkt->icmp_code != 0 || pkt->frag ||
        pkt->l3_len > FW_IP6_MIN_MTU) {
        return false;
    }
    switch (pkt->icmp_type) {
    case FW_ICMP6_ND_ROUTER_SOL:
        return dir == FW_DIR_EGRESS && !memcmp(pkt->dst.a, all_routers, 16);
    case FW_ICMP6_ND_ROUTER_ADV:
        return dir == FW_DIR_INGRESS && addr_is_link_local(&pkt->src) &&
               (!mcast || !memcmp(pkt->dst.a, all_nodes, 16));
    case FW_ICMP6_ND_NEIGH_SOL:
        if (!memcmp(pkt->dst.a, solicited, 13) &&
            !memcmp(pkt->dst.a + 13, pkt->nd_target + 13, 3)) {
            return true;
        }
        return !addr_is_zero(&pkt->src) &&
               !memcmp(pkt->dst.a, pkt->nd_target, 16);
    case FW_ICMP6_ND_NEIGH_ADV:
        return !addr_is_zero(&pkt->src) &&
               (!mcast || !memcmp(pkt->dst.a, all_nodes, 16));
    case FW_ICMP6_ND_REDIRECT:
        return dir == FW_DIR_INGRESS && addr_is_link_local(&pkt->src) &&
               !mcast;
    default:
        return false;
    }
}

/* The BOOTP message (RFC 951, RFC 2131 2) */
#define BOOTP_HTYPE         1           /* byte offsets */
#define BOOTP_HLEN          2
#define BOOTP_XID           4
#define BOOTP_CHADDR        28
#define BOOTP_COOKIE        236
#define DHCP_MAGIC_COOKIE   0x63825363
#define DHCP_MIN_LEN    240     /* BOOTP header and the magic cookie */
#define DHCP_MAX_LEN    1472    /* what a 1500-byte MTU carries */
#define DHCP_OPT_PAD        0           /* RFC 2132 */
#define DHCP_OPT_SERVER_ID  54
#define DHCP_OPT_END        255

/*
 * The guest's DHCP: requests to broadcast or to the server that
 * answered, replies to transactions the guest started.  The DHCP
 * message is @pkt's UDP payload in @frame.
 */
static bool dhcp_exempt(const FwChain *c, const FwPacket *pkt,
                        FwDirection dir, const uint8_t *frame, int64_t now)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    const uint8_t *m = frame + pkt->l4_off + FW_UDP_HLEN;
    size_t n = pkt->l4_payload_len;
    FwConntrack *ct = c->ct;
    const uint8_t *mac, *server;
    uint32_t xid;

    if (pkt->l3 != FW_L3_IPV4 || pkt->frag || n < DHCP_MIN_LEN ||
        n > DHCP_MAX_LEN || ldl_be_p(m + BOOTP_COOKIE) != DHCP_MAGIC_COOKIE ||
        m[BOOTP_HTYPE] != FW_ARP_HTYPE_ETHER || m[BOOTP_HLEN] != ETH_ALEN) {
        return false;
    }
    /* the guest's own MAC, as far as the filter knows it */
    mac = c->as ? c->as->mac : dir == FW_DIR_EGRESS ? pkt->src_mac :
          pkt->dst_mac[0] & 1 ? NULL : pkt->dst_mac;
    if (mac && memcmp(m + BOOTP_CHADDR, mac, ETH_ALEN)) {
        return false;
    }
    xid = ldl_be_p(m + BOOTP_XID);
    if (dir == FW_DIR_EGRESS) {
        if (pkt->dhcp != FW_DHCP_REQUEST ||
            pkt->sport != FW_DHCP_CLIENT_PORT ||
            pkt->dport != FW_DHCP_SERVER_PORT ||
            (memcmp(pkt->dst.a, bcast, 4) &&
             !(ct && fw_dhcp_server_is(fw_ct_dhcp(ct), pkt->dst.a)))) {
            return false;
        }
        if (ct) {
            fw_dhcp_request(fw_ct_dhcp(ct), xid, now);
        }
        return true;
    }
    if (pkt->dhcp != FW_DHCP_REPLY || pkt->sport != FW_DHCP_SERVER_PORT ||
        pkt->dport != FW_DHCP_CLIENT_PORT || !ct ||
        !fw_dhcp_requested(fw_ct_dhcp(ct), xid, now) ||
        (c->as && memcmp(pkt->dst_mac, c->as->mac, 6) &&
         memcmp(pkt->dst_mac, bcast, 6))) {
        return false;
    }
    /* the server: its identifier option, else the sender */
    server = pkt->src.a;
    for (size_t o = DHCP_MIN_LEN; o + 1 < n && m[o] != DHCP_OPT_END;
         o += m[o] != DHCP_OPT_PAD ? 2 + m[o + 1] : 1) {
        if (m[o] == DHCP_OPT_SERVER_ID && m[o + 1] == 4 && o + 6 <= n) {
            server = m + o + 2;
            break;
        }
    }
    fw_dhcp_set_server(fw_ct_dhcp(ct), server);
    return true;
}

static bool bootstrap_exempt(const FwChain *c, const FwPacket *pkt,
                             FwDirection dir, const uint8_t *frame,
                             int64_t now)
{
    if (pkt->l3 == FW_L3_ARP) {
        return (pkt->arp_op == FW_ARP_OP_REQUEST ||
                pkt->arp_op == FW_ARP_OP_REPLY) &&
               pkt->frame_len <= 64 + 4u * pkt->n_vlans;
    }
    if (pkt->nd) {
        return nd_exempt(pkt, dir);
    }
    return pkt->dhcp && dhcp_exempt(c, pkt, dir, frame, now);
}

void fw_process(const FwChain *c, FwDirection dir, const uint8_t *frame,
                size_t len, size_t vnet_hdr_len, int64_t now,
                FwPacket *pkt, FwVerdict *v)
{
    const FwRuleset *rs = c->rs;
    FwConntrack *ct = c->ct;
    FwSpoofReason sr;
    int idx = -1;

    memset(v, 0, sizeof(*v));
    v->rule_index = -1;
    v->rule_id = FW_RULE_ID_DEFAULT;
    v->action = FW_ACTION_DROP;
    if (ct) {
        /* the connection's table slot loads while the frame is parsed */
        fw_conntrack_prefetch(ct, frame, len, vnet_hdr_len, dir);
    }
    v->parse_error = fw_parse_frame(frame, len, vnet_hdr_len, pkt);
    if (v->parse_error != FW_PARSE_OK) {
        v->reason = FW_DROP_INVALID;
        v->ct_state = FW_CT_INVALID;
        return;
    }
    if (pkt->n_vlans && !c->allow_vlan) {
        v->reason = FW_DROP_VLAN;
        return;
    }
    if (dir == FW_DIR_EGRESS && c->as) {
        sr = fw_antispoof_check(c->as, pkt);
        if (sr != FW_SPOOF_NONE) {
            static const FwDropReason map[FW_SPOOF__MAX] = {
                [FW_SPOOF_MAC] = FW_DROP_SPOOF_MAC,
                [FW_SPOOF_IP] = FW_DROP_SPOOF_IP,
                [FW_SPOOF_ARP] = FW_DROP_SPOOF_ARP,
                [FW_SPOOF_DHCP_SERVER] = FW_DROP_DHCP_SERVER,
                [FW_SPOOF_ROUTER_ADVERT] = FW_DROP_ROUTER_ADVERT,
            };
            v->reason = map[sr];
            return;
        }
    }
    if (c->quarantined && !quarantine_allows(c, pkt)) {
        v->reason = FW_DROP_QUARANTINE;
        return;
    }
    if ((pkt->l3 == FW_L3_ARP || pkt->nd || pkt->dhcp) &&
        bootstrap_exempt(c, pkt, dir, frame, now)) {
        v->action = FW_ACTION_ACCEPT;
        v->bootstrap = true;
        return;
    }
    if ((pkt->frag & FW_FRAG_LATER) && ct) {
        const FwFrag *fr = fw_frag_find(fw_ct_frags(ct), pkt, now);

        if (fr) {
            v->action = fr->action;
            v->reason = fr->reason;
            v->ct_state = fr->ct_state;
            v->fragment = true;
            return;
        }
    }

    v->ct_state = ct ? fw_conntrack_lookup(ct, pkt, dir, now) : FW_CT_NEW;
    if (!rs) {
        v->action = FW_ACTION_ACCEPT;
    } else {
        /* a state no rule names needs no lookup */
        if (rs->states[dir] & FW_CT_MASK(v->ct_state)) {
            idx = fw_ruleset_classify(rs, pkt, dir, v->ct_state);
        }
        if (idx >= 0) {
            v->action = rs->rules[idx].action;
            v->rule_index = idx;
            v->rule_id = rs->rules[idx].id;
            v->need_log = rs->rules[idx].log;
            v->reason = v->action == FW_ACTION_ACCEPT ? FW_DROP_NONE :
                                                        FW_DROP_RULE;
        } else if (v->ct_state == FW_CT_ESTABLISHED ||
                   v->ct_state == FW_CT_RELATED) {
            v->action = FW_ACTION_ACCEPT;
        } else if (v->ct_state == FW_CT_INVALID) {
            v->reason = FW_DROP_CT_INVALID;
        } else {
            v->action = rs->def_action[dir];
            v->need_log = rs->def_log[dir];
            v->reason = v->action == FW_ACTION_ACCEPT ? FW_DROP_NONE :
                                                        FW_DROP_DEFAULT;
        }
    }
    if (v->action == FW_ACTION_ACCEPT && ct && v->ct_state == FW_CT_NEW &&
        !fw_conntrack_commit(ct, pkt, dir, v->rule_id, now)) {
        v->action = FW_ACTION_DROP;
        v->reason = FW_DROP_CT_FULL;
    }
    if ((pkt->frag & FW_FRAG_FIRST) && ct) {
        fw_frag_record(fw_ct_frags(ct), pkt, v, now);
    }
}
