/*
 * filter-firewall: a per-VM stateful firewall as a netfilter
 *
 * The rule classifier, connection tracking and anti-spoofing live in
 * firewall-core.c; this file is the QEMU side: the QOM object, the
 * packet path and the QMP commands.
 *
 * Packets and QMP commands both run with the BQL held, so a policy is
 * compiled completely and then swapped in with one pointer store: no
 * packet ever sees part of two policies.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/vdi/vdi-extension.h"
#include "net/filter.h"
#include "net/firewall-core.h"
#include "net/net.h"
#include "net/util.h"
#include "qapi/clone-visitor.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-firewall.h"
#include "qapi/qapi-events-firewall.h"
#include "qapi/qapi-visit-firewall.h"
#include "qapi/visitor.h"
#include "qemu/iov.h"
#include "qemu/timer.h"
#include "qom/object.h"
#include "qom/object_interfaces.h"
#include "trace.h"

#define TYPE_FILTER_FIREWALL "filter-firewall"
OBJECT_DECLARE_SIMPLE_TYPE(FilterFirewall, FILTER_FIREWALL)

#define FIREWALL_DEFAULT_MAX_CONNECTIONS 65536
#define FIREWALL_DEFAULT_MAX_RULES       16384
#define FIREWALL_MAX_CONNECTION_LIST     100000
#define FIREWALL_LOG_PER_SECOND          10

/* A compiled policy with the QMP view it was built from */
typedef struct FirewallPolicy {
    uint64_t generation;
    FwRuleset *rs;
    FwRuleCounters *counters;           /* by rule index */
    FirewallRuleList *rules;            /* as given */
    FirewallAddressSetList *sets;
    FirewallAction defaults[FW_DIR__MAX];
} FirewallPolicy;

struct FilterFirewall {
    NetFilterState parent_obj;

    /* properties */
    bool vnet_hdr;
    bool allow_vlan_tags;
    char *mac;
    strList *addresses;
    uint32_t max_connections;
    uint32_t max_rules;

    FirewallPolicy *policy;
    FwConntrack *ct;
    FwAntispoof *antispoof;

    bool quarantined;
    strList *quarantine_allow;
    FwPrefix *quarantine_prefixes;
    size_t n_quarantine_prefixes;

    FirewallDrops drops;

    int64_t log_window;                 /* start of the current second */
    unsigned log_count;
    uint64_t log_suppressed;
};

static const FirewallDirection qapi_dir[FW_DIR__MAX] = {
    [FW_DIR_INGRESS] = FIREWALL_DIRECTION_INGRESS,
    [FW_DIR_EGRESS] = FIREWALL_DIRECTION_EGRESS,
};

static const FwAction core_action[FIREWALL_ACTION__MAX] = {
    [FIREWALL_ACTION_ACCEPT] = FW_ACTION_ACCEPT,
    [FIREWALL_ACTION_DROP] = FW_ACTION_DROP,
    [FIREWALL_ACTION_REJECT] = FW_ACTION_REJECT,
};

static const FirewallAction qapi_action[FW_ACTION__MAX] = {
    [FW_ACTION_ACCEPT] = FIREWALL_ACTION_ACCEPT,
    [FW_ACTION_DROP] = FIREWALL_ACTION_DROP,
    [FW_ACTION_REJECT] = FIREWALL_ACTION_REJECT,
};

static void firewall_policy_free(FirewallPolicy *p)
{
    if (p) {
        fw_ruleset_free(p->rs);
        g_free(p->counters);
        qapi_free_FirewallRuleList(p->rules);
        qapi_free_FirewallAddressSetList(p->sets);
        g_free(p);
    }
}

static bool parse_prefix(const char *s, FwPrefix *p, Error **errp)
{
    g_autofree char *msg = NULL;

    if (!fw_parse_prefix(s, p, &msg)) {
        error_setg(errp, "invalid address '%s': %s", s, msg);
        return false;
    }
    return true;
}

static FwPrefix *parse_prefix_list(strList *list, size_t *n, Error **errp)
{
    g_autofree FwPrefix *prefixes = g_new(FwPrefix,
                                          MAX(1, QAPI_LIST_LENGTH(list)));
    size_t i = 0;

    for (; list; list = list->next) {
        if (!parse_prefix(list->value, &prefixes[i++], errp)) {
            return NULL;
        }
    }
    *n = i;
    return g_steal_pointer(&prefixes);
}

static FwPortRange *convert_ports(FirewallPortRangeList *list, size_t *n,
                                  uint32_t rule_id, Error **errp)
{
    g_autofree FwPortRange *ranges = g_new(FwPortRange,
                                           MAX(1, QAPI_LIST_LENGTH(list)));
    size_t i = 0;

    for (; list; list = list->next, i++) {
        ranges[i].lo = list->value->start;
        ranges[i].hi = list->value->has_end ? list->value->end
                                             : list->value->start;
        if (ranges[i].hi < ranges[i].lo) {
            error_setg(errp, "rule %" PRIu32 ": reversed port range %u-%u",
                       rule_id, ranges[i].lo, ranges[i].hi);
            return NULL;
        }
    }
    *n = i;
    return g_steal_pointer(&ranges);
}

static bool set_known(FirewallAddressSetList *sets, const char *name)
{
    for (; sets; sets = sets->next) {
        if (!strcmp(sets->value->name, name)) {
            return true;
        }
    }
    return false;
}

static int rule_ct_states(FirewallConnStateList *list)
{
    static const FwCtState map[FIREWALL_CONN_STATE__MAX] = {
        [FIREWALL_CONN_STATE_NEW] = FW_CT_NEW,
        [FIREWALL_CONN_STATE_ESTABLISHED] = FW_CT_ESTABLISHED,
        [FIREWALL_CONN_STATE_RELATED] = FW_CT_RELATED,
        [FIREWALL_CONN_STATE_INVALID] = FW_CT_INVALID,
    };
    int mask = 0;

    for (; list; list = list->next) {
        mask |= FW_CT_MASK(map[list->value]);
    }
    return mask;
}

/* Translate one QMP rule; what @f points to is added to @mem. */
static bool convert_rule(FirewallRule *r, FirewallAddressSetList *sets,
                         FwRule *f, GPtrArray *mem, Error **errp)
{
    size_t n;

    f->id = r->id;
    f->priority = r->has_priority ? r->priority : 0;
    f->dir_mask = !r->has_direction ? FW_DIR_MASK_BOTH :
        r->direction == FIREWALL_DIRECTION_INGRESS ? FW_DIR_MASK_INGRESS :
        r->direction == FIREWALL_DIRECTION_EGRESS ? FW_DIR_MASK_EGRESS :
        FW_DIR_MASK_BOTH;
    f->has_ethertype = r->has_ethertype;
    f->ethertype = r->ethertype;
    f->has_proto = r->has_protocol;
    f->proto = r->protocol;
    if (r->source) {
        f->src.prefixes = parse_prefix_list(r->source, &n, errp);
        if (!f->src.prefixes) {
            return false;
        }
        f->src.n_prefixes = n;
        g_ptr_array_add(mem, (void *)f->src.prefixes);
    }
    if (r->destination) {
        f->dst.prefixes = parse_prefix_list(r->destination, &n, errp);
        if (!f->dst.prefixes) {
            return false;
        }
        f->dst.n_prefixes = n;
        g_ptr_array_add(mem, (void *)f->dst.prefixes);
    }
    f->src.set = r->source_set;
    f->dst.set = r->destination_set;
    if ((f->src.set && !set_known(sets, f->src.set)) ||
        (f->dst.set && !set_known(sets, f->dst.set))) {
        error_setg(errp, "rule %" PRIu32 ": unknown address set '%s'", r->id,
                   f->src.set && !set_known(sets, f->src.set) ?
                   f->src.set : f->dst.set);
        return false;
    }
    if (r->source_ports) {
        f->sports = convert_ports(r->source_ports, &n, r->id, errp);
        if (!f->sports) {
            return false;
        }
        f->n_sports = n;
        g_ptr_array_add(mem, (void *)f->sports);
    }
    if (r->destination_ports) {
        f->dports = convert_ports(r->destination_ports, &n, r->id, errp);
        if (!f->dports) {
            return false;
        }
        f->n_dports = n;
        g_ptr_array_add(mem, (void *)f->dports);
    }
    f->has_icmp_type = r->has_icmp_type;
    f->icmp_type = r->icmp_type;
    f->has_icmp_code = r->has_icmp_code;
    f->icmp_code = r->icmp_code;
    f->ct_states = rule_ct_states(r->state);
    f->action = core_action[r->action];
    f->log = r->has_log && r->log;
    return true;
}

/* Translate the QMP policy into the core's terms and compile it. */
static FwRuleset *compile_policy(FilterFirewall *fw, FirewallRuleList *rules,
                                 FirewallAddressSetList *sets,
                                 const FirewallAction *defaults,
                                 Error **errp)
{
    size_t n_rules = QAPI_LIST_LENGTH(rules);
    size_t n_sets = QAPI_LIST_LENGTH(sets);
    g_autoptr(GPtrArray) mem = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) ids = g_hash_table_new(NULL, NULL);
    FwRule *fr = g_new0(FwRule, MAX(1, n_rules));
    FwAddrSet *fs = g_new0(FwAddrSet, MAX(1, n_sets));
    FwPolicy policy = {
        .rules = fr, .n_rules = n_rules, .sets = fs, .n_sets = n_sets,
    };
    g_autofree char *msg = NULL;
    FirewallAddressSetList *s, *other;
    FirewallRuleList *l;
    FwRuleset *rs;
    size_t i, n;
    int d;

    g_ptr_array_add(mem, fr);
    g_ptr_array_add(mem, fs);
    if (n_rules > fw->max_rules) {
        error_setg(errp, "too many rules: %zu, the filter allows %" PRIu32
                   " (property max-rules)", n_rules, fw->max_rules);
        return NULL;
    }
    for (d = 0; d < FW_DIR__MAX; d++) {
        policy.default_action[d] = core_action[defaults[d]];
    }
    for (i = 0, s = sets; s; s = s->next, i++) {
        for (other = s->next; other; other = other->next) {
            if (!strcmp(other->value->name, s->value->name)) {
                error_setg(errp, "duplicate address set '%s'", s->value->name);
                return NULL;
            }
        }
        fs[i].name = s->value->name;
        fs[i].prefixes = parse_prefix_list(s->value->addresses, &n, errp);
        if (!fs[i].prefixes) {
            return NULL;
        }
        fs[i].n_prefixes = n;
        g_ptr_array_add(mem, (void *)fs[i].prefixes);
    }
    for (i = 0, l = rules; l; l = l->next, i++) {
        if (!g_hash_table_add(ids, GUINT_TO_POINTER(l->value->id))) {
            error_setg(errp, "duplicate rule id %" PRIu32, l->value->id);
            return NULL;
        }
        if (!convert_rule(l->value, sets, &fr[i], mem, errp)) {
            return NULL;
        }
    }

    rs = fw_ruleset_compile(&policy, &msg);
    if (!rs) {
        error_setg(errp, "%s", msg);
    }
    return rs;
}

/*
 * Compile and swap in a new policy; takes ownership of @rules and @sets
 * even on failure.  Connections accepted by a rule the new policy no
 * longer has, or by a default action that no longer accepts, are ended.
 */
static bool firewall_install(FilterFirewall *fw, uint64_t generation,
                             FirewallRuleList *rules,
                             FirewallAddressSetList *sets,
                             const FirewallAction *defaults, Error **errp)
{
    FirewallPolicy *old = fw->policy;
    FirewallPolicy *p;
    FwRuleset *rs;
    size_t i;
    int d;

    rs = compile_policy(fw, rules, sets, defaults, errp);
    if (!rs) {
        qapi_free_FirewallRuleList(rules);
        qapi_free_FirewallAddressSetList(sets);
        return false;
    }
    p = g_new0(FirewallPolicy, 1);
    p->generation = generation;
    p->rs = rs;
    p->rules = rules;
    p->sets = sets;
    memcpy(p->defaults, defaults, sizeof(p->defaults));
    p->counters = g_new0(FwRuleCounters, MAX(1, fw_ruleset_n_rules(rs)));

    if (old) {
        fw_counters_carry(old->rs, old->counters, rs, p->counters);
        for (i = 0; i < fw_ruleset_n_rules(old->rs); i++) {
            uint32_t id = fw_ruleset_rule(old->rs, i)->id;

            if (fw_ruleset_index_of(rs, id) < 0) {
                fw_conntrack_flush_rule(fw->ct, id);
            }
        }
        /* One id covers the default of both directions: end them all */
        for (d = 0; d < FW_DIR__MAX; d++) {
            if (old->defaults[d] == FIREWALL_ACTION_ACCEPT &&
                defaults[d] != FIREWALL_ACTION_ACCEPT) {
                fw_conntrack_flush_rule(fw->ct, FW_RULE_ID_DEFAULT);
                break;
            }
        }
    }
    fw->policy = p;
    firewall_policy_free(old);
    trace_filter_firewall_policy(
        object_get_canonical_path_component(OBJECT(fw)), generation,
        fw_ruleset_n_rules(rs));
    return true;
}

/* The packet path */

static void firewall_log(FilterFirewall *fw, const FwRule *rule,
                         FwDirection dir, FwAction action, const FwPacket *pkt)
{
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
    bool ip = pkt->l3 == FW_L3_IPV4 || pkt->l3 == FW_L3_IPV6;
    int af = pkt->l3 == FW_L3_IPV4 ? AF_INET : AF_INET6;
    bool ports = pkt->l4 == FW_L4_PORTS;

    if (now - fw->log_window >= 1000) {
        fw->log_window = now;
        fw->log_count = 0;
    }
    if (fw->log_count >= FIREWALL_LOG_PER_SECOND) {
        fw->log_suppressed++;
        return;
    }
    fw->log_count++;
    if (ip) {
        inet_ntop(af, pkt->src.a, src, sizeof(src));
        inet_ntop(af, pkt->dst.a, dst, sizeof(dst));
    }
    qapi_event_send_firewall_log(
        object_get_canonical_path_component(OBJECT(fw)), rule->id,
        qapi_dir[dir], qapi_action[action],
        ip, pkt->proto, ip ? src : NULL, ip ? dst : NULL,
        ports, pkt->sport, ports, pkt->dport, fw->log_suppressed);
    fw->log_suppressed = 0;
}

/* Count a drop by its reason */
static void firewall_count_drop(FilterFirewall *fw, FwDropReason reason)
{
    FirewallDrops *d = &fw->drops;

    switch (reason) {
    case FW_DROP_INVALID:
        d->invalid++;
        break;
    case FW_DROP_VLAN:
        d->vlan++;
        break;
    case FW_DROP_SPOOF_MAC:
    case FW_DROP_SPOOF_IP:
    case FW_DROP_SPOOF_ARP:
        d->spoofed++;
        break;
    case FW_DROP_DHCP_SERVER:
    case FW_DROP_ROUTER_ADVERT:
        d->rogue_server++;
        break;
    case FW_DROP_QUARANTINE:
        d->quarantine++;
        break;
    case FW_DROP_CT_INVALID:
        d->conn_invalid++;
        break;
    case FW_DROP_CT_FULL:
        d->conn_table_full++;
        break;
    case FW_DROP_RULE:
        d->rule++;
        break;
    case FW_DROP_DEFAULT:
        d->q_default++;
        break;
    case FW_DROP_NONE:
    case FW_DROP__MAX:
        break;
    }
}

/* Decide on a frame with the core's one decision path; count and log */
static void firewall_decide(FilterFirewall *fw, FwDirection dir,
                            const uint8_t *buf, size_t len, FwPacket *pkt,
                            FwVerdict *v)
{
    FirewallPolicy *p = fw->policy;
    const FwChain chain = {
        .rs = p->rs,
        .ct = fw->ct,
        .as = fw->antispoof,
        .allow_vlan = fw->allow_vlan_tags,
        .quarantined = fw->quarantined,
        .quarantine_allow = fw->quarantine_prefixes,
        .n_quarantine_allow = fw->n_quarantine_prefixes,
    };
    size_t vnet_len = fw->vnet_hdr ? NETFILTER(fw)->netdev->vnet_hdr_len : 0;

    fw_process(&chain, dir, buf, len, vnet_len,
               qemu_clock_get_ns(QEMU_CLOCK_REALTIME), pkt, v);
    if (v->rule_index >= 0) {
        p->counters[v->rule_index].packets++;
        p->counters[v->rule_index].bytes += pkt->frame_len;
        if (v->need_log) {
            firewall_log(fw, fw_ruleset_rule(p->rs, v->rule_index), dir,
                         v->action, pkt);
        }
    }
    firewall_count_drop(fw, v->reason);
}

/* Send a frame the firewall made (a reject answer) into the guest. */
static void firewall_send_to_guest(FilterFirewall *fw, uint8_t *frame,
                                   size_t len)
{
    NetFilterState *nf = NETFILTER(fw);
    size_t vnet_len = fw->vnet_hdr ? nf->netdev->vnet_hdr_len : 0;
    g_autofree uint8_t *hdr = g_malloc0(MAX(1, vnet_len));
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = vnet_len },
        { .iov_base = frame, .iov_len = len },
    };

    qemu_netfilter_pass_to_next(nf->netdev, 0, vnet_len ? iov : iov + 1,
                                vnet_len ? 2 : 1, nf);
}

/*
 * Answer a rejected egress frame.  The answer buffer lives here, not in
 * the per-packet path, where QEMU's -ftrivial-auto-var-init=zero would
 * clear it for every packet.
 */
static void firewall_reject(FilterFirewall *fw, const FwPacket *pkt,
                            const uint8_t *buf, size_t size)
{
    uint8_t reject[FW_REJECT_MAX_LEN];
    size_t n = fw_build_reject(pkt, buf, size, reject, sizeof(reject));

    if (n) {
        firewall_send_to_guest(fw, reject, n);
    }
}

static ssize_t filter_firewall_receive_iov(NetFilterState *nf,
                                           NetClientState *sender,
                                           unsigned flags,
                                           const struct iovec *iov,
                                           int iovcnt,
                                           NetPacketSent *sent_cb)
{
    FilterFirewall *fw = FILTER_FIREWALL(nf);
    FwDirection dir = sender == nf->netdev ? FW_DIR_INGRESS : FW_DIR_EGRESS;
    size_t size = iov_size(iov, iovcnt);
    g_autofree uint8_t *copy = NULL;
    const uint8_t *buf;
    /* fw_process() fills them all first */
    FwPacket pkt QEMU_UNINITIALIZED;
    FwVerdict v QEMU_UNINITIALIZED;

    if (iovcnt == 1) {
        buf = iov[0].iov_base;
    } else {
        copy = g_malloc(size);
        iov_to_buf(iov, iovcnt, 0, copy, size);
        buf = copy;
    }

    firewall_decide(fw, dir, buf, size, &pkt, &v);
    if (v.action == FW_ACTION_ACCEPT) {
        return 0;
    }
    trace_filter_firewall_drop(object_get_canonical_path_component(OBJECT(fw)),
                               fw_direction_name(dir),
                               fw_drop_reason_name(v.reason));
    if (v.action == FW_ACTION_REJECT && dir == FW_DIR_EGRESS) {
        firewall_reject(fw, &pkt, buf, size);
    }
    return size;
}

/* Object life cycle and properties */

static void filter_firewall_setup(NetFilterState *nf, Error **errp)
{
    FilterFirewall *fw = FILTER_FIREWALL(nf);
    const FirewallAction accept[FW_DIR__MAX] = {
        FIREWALL_ACTION_ACCEPT, FIREWALL_ACTION_ACCEPT,
    };
    g_autofree FwPrefix *allowed = NULL;
    uint8_t mac[6];
    size_t n = 0;

    if (fw->max_connections < 1) {
        error_setg(errp, "max-connections must be at least 1");
        return;
    }
    if (fw->mac) {
        if (strlen(fw->mac) != 17 || net_parse_macaddr(mac, fw->mac) < 0) {
            error_setg(errp, "mac: '%s' is not a MAC address "
                       "(xx:xx:xx:xx:xx:xx)", fw->mac);
            return;
        }
        allowed = parse_prefix_list(fw->addresses, &n, errp);
        if (!allowed) {
            error_prepend(errp, "addresses: ");
            return;
        }
        fw->antispoof = fw_antispoof_new(mac, allowed, n);
    } else if (fw->addresses) {
        error_setg(errp, "addresses needs mac: anti-spoofing is bound to the "
                   "VM's MAC address");
        return;
    }
    fw->ct = fw_conntrack_new(fw->max_connections, NULL);
    firewall_install(fw, 0, NULL, NULL, accept, errp);
}

static void filter_firewall_cleanup(NetFilterState *nf)
{
    FilterFirewall *fw = FILTER_FIREWALL(nf);

    firewall_policy_free(fw->policy);
    fw->policy = NULL;
    fw_conntrack_free(fw->ct);
    fw->ct = NULL;
    fw_antispoof_free(fw->antispoof);
    fw->antispoof = NULL;
    g_free(fw->quarantine_prefixes);
    qapi_free_strList(fw->quarantine_allow);
}

static bool firewall_check_settable(Object *obj, Error **errp)
{
    if (NETFILTER(obj)->netdev) {
        error_setg(errp, "filter-firewall properties cannot change after "
                   "creation; use the firewall-* commands");
        return false;
    }
    return true;
}

static bool filter_firewall_get_vnet_hdr(Object *obj, Error **errp)
{
    return FILTER_FIREWALL(obj)->vnet_hdr;
}

static void filter_firewall_set_vnet_hdr(Object *obj, bool value,
                                         Error **errp)
{
    if (firewall_check_settable(obj, errp)) {
        FILTER_FIREWALL(obj)->vnet_hdr = value;
    }
}

static bool filter_firewall_get_allow_vlan_tags(Object *obj, Error **errp)
{
    return FILTER_FIREWALL(obj)->allow_vlan_tags;
}

static void filter_firewall_set_allow_vlan_tags(Object *obj, bool value,
                                                Error **errp)
{
    if (firewall_check_settable(obj, errp)) {
        FILTER_FIREWALL(obj)->allow_vlan_tags = value;
    }
}

static char *filter_firewall_get_mac(Object *obj, Error **errp)
{
    return g_strdup(FILTER_FIREWALL(obj)->mac);
}

static void filter_firewall_set_mac(Object *obj, const char *value,
                                    Error **errp)
{
    FilterFirewall *fw = FILTER_FIREWALL(obj);

    if (firewall_check_settable(obj, errp)) {
        g_free(fw->mac);
        fw->mac = g_strdup(value);
    }
}

static void filter_firewall_get_addresses(Object *obj, Visitor *v,
                                          const char *name, void *opaque,
                                          Error **errp)
{
    strList *list = FILTER_FIREWALL(obj)->addresses;

    visit_type_strList(v, name, &list, errp);
}

static void filter_firewall_set_addresses(Object *obj, Visitor *v,
                                          const char *name, void *opaque,
                                          Error **errp)
{
    FilterFirewall *fw = FILTER_FIREWALL(obj);
    strList *list = NULL;

    if (!firewall_check_settable(obj, errp) ||
        !visit_type_strList(v, name, &list, errp)) {
        return;
    }
    qapi_free_strList(fw->addresses);
    fw->addresses = list;
}

static void filter_firewall_get_uint32(Object *obj, Visitor *v,
                                       const char *name, void *opaque,
                                       Error **errp)
{
    visit_type_uint32(v, name, opaque, errp);
}

static void filter_firewall_set_uint32(Object *obj, Visitor *v,
                                       const char *name, void *opaque,
                                       Error **errp)
{
    uint32_t value;

    if (firewall_check_settable(obj, errp) &&
        visit_type_uint32(v, name, &value, errp)) {
        *(uint32_t *)opaque = value;
    }
}

static void filter_firewall_init(Object *obj)
{
    FilterFirewall *fw = FILTER_FIREWALL(obj);

    fw->max_connections = FIREWALL_DEFAULT_MAX_CONNECTIONS;
    fw->max_rules = FIREWALL_DEFAULT_MAX_RULES;
    object_property_add(obj, "max-connections", "uint32",
                        filter_firewall_get_uint32,
                        filter_firewall_set_uint32, NULL,
                        &fw->max_connections);
    object_property_add(obj, "max-rules", "uint32",
                        filter_firewall_get_uint32,
                        filter_firewall_set_uint32, NULL, &fw->max_rules);
}

static void filter_firewall_finalize(Object *obj)
{
    FilterFirewall *fw = FILTER_FIREWALL(obj);

    g_free(fw->mac);
    qapi_free_strList(fw->addresses);
}

static void filter_firewall_class_init(ObjectClass *oc, void *data)
{
    NetFilterClass *nfc = NETFILTER_CLASS(oc);

    object_class_property_add_bool(oc, "vnet-hdr-support",
                                   filter_firewall_get_vnet_hdr,
                                   filter_firewall_set_vnet_hdr);
    object_class_property_add_bool(oc, "allow-vlan-tags",
                                   filter_firewall_get_allow_vlan_tags,
                                   filter_firewall_set_allow_vlan_tags);
    object_class_property_add_str(oc, "mac", filter_firewall_get_mac,
                                  filter_firewall_set_mac);
    object_class_property_add(oc, "addresses", "strList",
                              filter_firewall_get_addresses,
                              filter_firewall_set_addresses, NULL, NULL);

    nfc->setup = filter_firewall_setup;
    nfc->cleanup = filter_firewall_cleanup;
    nfc->receive_iov = filter_firewall_receive_iov;
}

static const TypeInfo filter_firewall_info = {
    .name = TYPE_FILTER_FIREWALL,
    .parent = TYPE_NETFILTER,
    .class_init = filter_firewall_class_init,
    .instance_init = filter_firewall_init,
    .instance_finalize = filter_firewall_finalize,
    .instance_size = sizeof(FilterFirewall),
};

static void filter_firewall_register_types(void)
{
    type_register_static(&filter_firewall_info);
    vdi_extension_register("firewall", 1);
}

type_init(filter_firewall_register_types);

/* QMP */

static FilterFirewall *firewall_find(const char *id, Error **errp)
{
    Object *obj = object_resolve_path_component(object_get_objects_root(),
                                                id);

    if (!obj) {
        error_setg(errp, "no filter-firewall '%s'", id);
        return NULL;
    }
    if (!object_dynamic_cast(obj, TYPE_FILTER_FIREWALL)) {
        error_setg(errp, "'%s' is not a filter-firewall", id);
        return NULL;
    }
    return FILTER_FIREWALL(obj);
}

void qmp_firewall_set_policy(const char *filter, uint64_t generation,
                             FirewallRuleList *rules,
                             bool has_sets, FirewallAddressSetList *sets,
                             bool has_default_ingress,
                             FirewallAction default_ingress,
                             bool has_default_egress,
                             FirewallAction default_egress, Error **errp)
{
    FilterFirewall *fw = firewall_find(filter, errp);
    FirewallAction defaults[FW_DIR__MAX] = {
        [FW_DIR_INGRESS] = has_default_ingress ? default_ingress
                                               : FIREWALL_ACTION_ACCEPT,
        [FW_DIR_EGRESS] = has_default_egress ? default_egress
                                             : FIREWALL_ACTION_ACCEPT,
    };

    if (!fw) {
        return;
    }
    if (generation < fw->policy->generation) {
        error_setg(errp, "generation %" PRIu64 " is older than the policy "
                   "in force (generation %" PRIu64 ")", generation,
                   fw->policy->generation);
        return;
    }
    firewall_install(fw, generation, QAPI_CLONE(FirewallRuleList, rules),
                     QAPI_CLONE(FirewallAddressSetList, sets), defaults, errp);
}

void qmp_firewall_add_rule(const char *filter, FirewallRule *rule,
                           Error **errp)
{
    FilterFirewall *fw = firewall_find(filter, errp);
    FirewallRuleList *rules;
    FirewallRuleList *l;

    if (!fw) {
        return;
    }
    for (l = fw->policy->rules; l; l = l->next) {
        if (l->value->id == rule->id) {
            error_setg(errp, "rule id %" PRIu32 " is in use", rule->id);
            return;
        }
    }
    rules = QAPI_CLONE(FirewallRuleList, fw->policy->rules);
    QAPI_LIST_PREPEND(rules, QAPI_CLONE(FirewallRule, rule));
    firewall_install(fw, fw->policy->generation, rules,
                     QAPI_CLONE(FirewallAddressSetList, fw->policy->sets),
                     fw->policy->defaults, errp);
}

void qmp_firewall_delete_rule(const char *filter, uint32_t id, Error **errp)
{
    FilterFirewall *fw = firewall_find(filter, errp);
    FirewallRuleList *rules, **prev;

    if (!fw) {
        return;
    }
    rules = QAPI_CLONE(FirewallRuleList, fw->policy->rules);
    for (prev = &rules; *prev; prev = &(*prev)->next) {
        if ((*prev)->value->id == id) {
            FirewallRuleList *gone = *prev;

            *prev = gone->next;
            gone->next = NULL;
            qapi_free_FirewallRuleList(gone);
            firewall_install(fw, fw->policy->generation, rules,
                             QAPI_CLONE(FirewallAddressSetList,
                                        fw->policy->sets),
                             fw->policy->defaults, errp);
            return;
        }
    }
    qapi_free_FirewallRuleList(rules);
    error_setg(errp, "filter '%s' has no rule %" PRIu32, filter, id);
}

void qmp_firewall_set_address_set(const char *filter, FirewallAddressSet *set,
                                  Error **errp)
{
    FilterFirewall *fw = firewall_find(filter, errp);
    FirewallAddressSetList *sets, *l;

    if (!fw) {
        return;
    }
    sets = QAPI_CLONE(FirewallAddressSetList, fw->policy->sets);
    for (l = sets; l; l = l->next) {
        if (!strcmp(l->value->name, set->name)) {
            qapi_free_FirewallAddressSet(l->value);
            l->value = QAPI_CLONE(FirewallAddressSet, set);
            break;
        }
    }
    if (!l) {
        QAPI_LIST_PREPEND(sets, QAPI_CLONE(FirewallAddressSet, set));
    }
    firewall_install(fw, fw->policy->generation,
                     QAPI_CLONE(FirewallRuleList, fw->policy->rules), sets,
                     fw->policy->defaults, errp);
}

static FirewallInfo *firewall_info(FilterFirewall *fw)
{
    FirewallPolicy *p = fw->policy;
    FirewallInfo *info = g_new0(FirewallInfo, 1);
    FirewallRuleInfoList **tail = &info->rules;
    g_autoptr(GHashTable) by_id = g_hash_table_new(NULL, NULL);
    FirewallRuleList *l;
    size_t i;

    info->filter = g_strdup(object_get_canonical_path_component(OBJECT(fw)));
    info->netdev = g_strdup(NETFILTER(fw)->netdev_id);
    info->generation = p->generation;
    info->default_ingress = p->defaults[FW_DIR_INGRESS];
    info->default_egress = p->defaults[FW_DIR_EGRESS];
    for (l = p->rules; l; l = l->next) {
        g_hash_table_insert(by_id, GUINT_TO_POINTER(l->value->id), l->value);
    }
    for (i = 0; i < fw_ruleset_n_rules(p->rs); i++) {
        FirewallRuleInfo *ri = g_new0(FirewallRuleInfo, 1);
        FirewallRule *r = g_hash_table_lookup(by_id,
            GUINT_TO_POINTER(fw_ruleset_rule(p->rs, i)->id));

        ri->rule = QAPI_CLONE(FirewallRule, r);
        ri->packets = p->counters[i].packets;
        ri->bytes = p->counters[i].bytes;
        QAPI_LIST_APPEND(tail, ri);
    }
    info->sets = QAPI_CLONE(FirewallAddressSetList, p->sets);
    info->quarantined = fw->quarantined;
    info->quarantine_allow = QAPI_CLONE(strList, fw->quarantine_allow);
    info->drops = QAPI_CLONE(FirewallDrops, &fw->drops);
    info->connections = fw_conntrack_count(fw->ct);
    info->max_connections = fw_conntrack_max(fw->ct);
    return info;
}

static int firewall_collect(Object *obj, void *opaque)
{
    FirewallInfoList ***tail = opaque;

    if (object_dynamic_cast(obj, TYPE_FILTER_FIREWALL)) {
        QAPI_LIST_APPEND(*tail, firewall_info(FILTER_FIREWALL(obj)));
    }
    return 0;
}

FirewallInfoList *qmp_query_firewall(const char *filter, Error **errp)
{
    FirewallInfoList *list = NULL, **tail = &list;
    FilterFirewall *fw;

    if (filter) {
        fw = firewall_find(filter, errp);
        if (fw) {
            QAPI_LIST_APPEND(tail, firewall_info(fw));
        }
        return list;
    }
    object_child_foreach(object_get_objects_root(), firewall_collect, &tail);
    return list;
}

typedef struct ConnListing {
    FirewallConnectionList **tail;
    uint32_t left;
} ConnListing;

static char *addr_string(const FwAddr *a)
{
    char buf[INET6_ADDRSTRLEN];

    inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->a, buf, sizeof(buf));
    return g_strdup(buf);
}

static bool firewall_list_connection(const FwCtInfo *ci, void *opaque)
{
    ConnListing *cl = opaque;
    FirewallConnection *c = g_new0(FirewallConnection, 1);

    c->direction = qapi_dir[ci->orig_dir];
    c->protocol = ci->proto;
    c->source = addr_string(&ci->src);
    c->destination = addr_string(&ci->dst);
    c->source_port = ci->sport;
    c->destination_port = ci->dport;
    c->state = g_strdup(ci->state);
    c->has_rule = ci->rule_id != FW_RULE_ID_DEFAULT;
    c->rule = ci->rule_id;
    c->expires = ci->expires_in_ns / SCALE_MS;
    QAPI_LIST_APPEND(cl->tail, c);
    return --cl->left > 0;
}

FirewallConnectionList *qmp_query_firewall_connections(const char *filter,
                                                       bool has_limit,
                                                       uint32_t limit,
                                                       Error **errp)
{
    FilterFirewall *fw = firewall_find(filter, errp);
    FirewallConnectionList *list = NULL;
    ConnListing cl = { .tail = &list, .left = has_limit ? limit : 1000 };

    if (!fw) {
        return NULL;
    }
    if (cl.left == 0 || cl.left > FIREWALL_MAX_CONNECTION_LIST) {
        error_setg(errp, "limit must be between 1 and %d",
                   FIREWALL_MAX_CONNECTION_LIST);
        return NULL;
    }
    fw_conntrack_foreach(fw->ct, qemu_clock_get_ns(QEMU_CLOCK_REALTIME),
                         firewall_list_connection, &cl);
    return list;
}

void qmp_firewall_flush_connections(const char *filter, Error **errp)
{
    FilterFirewall *fw = firewall_find(filter, errp);

    if (fw) {
        fw_conntrack_flush(fw->ct);
    }
}

void qmp_firewall_quarantine(const char *filter, bool has_allow,
                             strList *allow, const char *reason,
                             Error **errp)
{
    FilterFirewall *fw = firewall_find(filter, errp);
    FwPrefix *prefixes;
    size_t n;

    if (!fw) {
        return;
    }
    prefixes = parse_prefix_list(allow, &n, errp);
    if (!prefixes) {
        return;
    }
    g_free(fw->quarantine_prefixes);
    qapi_free_strList(fw->quarantine_allow);
    fw->quarantine_prefixes = prefixes;
    fw->n_quarantine_prefixes = n;
    fw->quarantine_allow = QAPI_CLONE(strList, allow);
    fw->quarantined = true;
    fw_conntrack_flush(fw->ct);
    qapi_event_send_firewall_quarantine(filter, true, reason);
}

void qmp_firewall_unquarantine(const char *filter, Error **errp)
{
    FilterFirewall *fw = firewall_find(filter, errp);

    if (!fw) {
        return;
    }
    if (!fw->quarantined) {
        error_setg(errp, "filter '%s' is not quarantined", filter);
        return;
    }
    fw->quarantined = false;
    qapi_event_send_firewall_quarantine(filter, false, NULL);
}
