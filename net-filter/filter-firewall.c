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
#include "hw/vmstate-if.h"
#include "migration/vmstate.h"
#include "net/filter.h"
#include "net/firewall-core.h"
#include "net/net.h"
#include "net/util.h"
#include "qapi/clone-visitor.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-firewall.h"
#include "qapi/qapi-events-firewall.h"
#include "qapi/qapi-visit-firewall.h"
#include "qapi/qobject-input-visitor.h"
#include "qapi/qobject-output-visitor.h"
#include "qapi/visitor.h"
#include "block/thread-pool.h"
#include "qemu/coroutine.h"
#include "qemu/error-report.h"
#include "qemu/iov.h"
#include "qemu/timer.h"
#include "qom/object.h"
#include "qobject/qjson.h"
#include "qobject/qobject.h"
#include "qom/object_interfaces.h"
#include "trace.h"

#define TYPE_FILTER_FIREWALL "filter-firewall"
OBJECT_DECLARE_SIMPLE_TYPE(FilterFirewall, FILTER_FIREWALL)

#define FIREWALL_DEFAULT_MAX_CONNECTIONS 65536
#define FIREWALL_DEFAULT_MAX_RULES       16384
#define FIREWALL_MAX_CONNECTION_LIST     1000
/*
 * Address sets: how many, how large, and all addresses together; the
 * classifier's own limit on entries bounds what rules make of them.
 */
#define FIREWALL_MAX_SETS                4096
#define FIREWALL_MAX_SET_ADDRESSES       65536
#define FIREWALL_MAX_ALL_SET_ADDRESSES   262144
#define FIREWALL_LOG_PER_SECOND          10
/*
 * A staged policy comes in commands of bounded size, so that reading
 * and freeing one command keeps the main loop short.
 */
#define FIREWALL_STAGE_MAX_RULES         1000
#define FIREWALL_STAGE_MAX_ADDRESSES     16384
#define FIREWALL_DEFAULT_STAGE_TIMEOUT   60000  /* ms */

/* A compiled policy with the QMP view it was built from */
typedef struct FirewallPolicy {
    uint64_t generation;
    FwRuleset *rs;
    FwRuleCounters *counters;           /* by rule index */
    FirewallRuleList *rules;            /* as given */
    FirewallAddressSetList *sets;
    FirewallAction defaults[FW_DIR__MAX];
} FirewallPolicy;

typedef struct FirewallStage FirewallStage;

struct FilterFirewall {
    NetFilterState parent_obj;

    /* properties */
    bool vnet_hdr;
    bool allow_vlan_tags;
    char *mac;
    strList *addresses;
    uint32_t max_connections;
    uint32_t max_rules;
    bool tcp_pickup;
    char *policy_file;
    uint32_t stage_timeout;             /* ms */

    FirewallPolicy *policy;
    FirewallStage *stage;               /* firewall-policy-stage */
    QEMUTimer *stage_timer;             /* discards an abandoned stage */
    CoMutex policy_lock;                /* one policy change at a time */
    FwConntrack *ct;
    FwAntispoof *antispoof;

    bool quarantined;
    strList *quarantine_allow;
    IpPrefix *quarantine_prefixes;
    size_t n_quarantine_prefixes;

    FirewallDrops drops;

    int64_t log_window;                 /* start of the current second */
    unsigned log_count;
    uint64_t log_suppressed;

    /* migration: the policy and quarantine as JSON, the connections */
    char *mig_policy;
    uint32_t mig_policy_len;
    char *mig_allow;
    uint32_t mig_allow_len;
    uint8_t *mig_ct;
    uint32_t mig_ct_len;
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

static bool parse_prefix(const char *s, IpPrefix *p, Error **errp)
{
    g_autofree char *msg = NULL;

    if (!ip_prefix_parse(s, p, &msg)) {
        error_setg(errp, "invalid address '%s': %s", s, msg);
        return false;
    }
    return true;
}

static IpPrefix *parse_prefix_list(strList *list, size_t *n, Error **errp)
{
    g_autofree IpPrefix *prefixes = g_new(IpPrefix,
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
static bool convert_rule(FirewallRule *r, GHashTable *set_names,
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
    if ((f->src.set && !g_hash_table_contains(set_names, f->src.set)) ||
        (f->dst.set && !g_hash_table_contains(set_names, f->dst.set))) {
        error_setg(errp, "rule %" PRIu32 ": unknown address set '%s'", r->id,
                   f->src.set && !g_hash_table_contains(set_names, f->src.set)
                   ? f->src.set : f->dst.set);
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

/*
 * Translate the QMP policy into the core's terms and compile it.  Uses
 * only its arguments, so that it can run in a worker thread.
 */
static FwRuleset *compile_policy(uint32_t max_rules, FirewallRuleList *rules,
                                 FirewallAddressSetList *sets,
                                 const FirewallAction *defaults,
                                 Error **errp)
{
    size_t n_rules = QAPI_LIST_LENGTH(rules);
    size_t n_sets = QAPI_LIST_LENGTH(sets);
    g_autoptr(GPtrArray) mem = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) ids = g_hash_table_new(NULL, NULL);
    g_autoptr(GHashTable) set_names = g_hash_table_new(g_str_hash,
                                                       g_str_equal);
    FwRule *fr;
    FwAddrSet *fs;
    FwPolicy policy = { .n_rules = n_rules, .n_sets = n_sets };
    g_autofree char *msg = NULL;
    FirewallAddressSetList *s;
    FirewallRuleList *l;
    FwRuleset *rs;
    size_t i, n, all_addresses = 0;
    int d;

    if (n_rules > max_rules) {
        error_setg(errp, "too many rules: %zu, the filter allows %" PRIu32
                   " (property max-rules)", n_rules, max_rules);
        return NULL;
    }
    if (n_sets > FIREWALL_MAX_SETS) {
        error_setg(errp, "too many address sets: %zu, at most %d",
                   n_sets, FIREWALL_MAX_SETS);
        return NULL;
    }
    for (s = sets; s; s = s->next) {
        n = QAPI_LIST_LENGTH(s->value->addresses);
        if (n > FIREWALL_MAX_SET_ADDRESSES) {
            error_setg(errp, "address set '%s' has %zu addresses, at most %d",
                       s->value->name, n, FIREWALL_MAX_SET_ADDRESSES);
            return NULL;
        }
        all_addresses += n;
        if (all_addresses > FIREWALL_MAX_ALL_SET_ADDRESSES) {
            error_setg(errp, "the address sets have more than %d addresses "
                       "together", FIREWALL_MAX_ALL_SET_ADDRESSES);
            return NULL;
        }
    }
    fr = g_new0(FwRule, MAX(1, n_rules));
    fs = g_new0(FwAddrSet, MAX(1, n_sets));
    g_ptr_array_add(mem, fr);
    g_ptr_array_add(mem, fs);
    policy.rules = fr;
    policy.sets = fs;
    for (d = 0; d < FW_DIR__MAX; d++) {
        policy.default_action[d] = core_action[defaults[d]];
    }
    for (i = 0, s = sets; s; s = s->next, i++) {
        if (!g_hash_table_add(set_names, s->value->name)) {
            error_setg(errp, "duplicate address set '%s'", s->value->name);
            return NULL;
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
        if (!convert_rule(l->value, set_names, &fr[i], mem, errp)) {
            return NULL;
        }
    }

    rs = fw_ruleset_compile(&policy, &msg);
    if (!rs) {
        error_setg(errp, "%s", msg);
    }
    return rs;
}

/* A policy change: what to compile, and the result */
typedef struct FirewallChange {
    bool offload;                       /* compile in a worker thread */
    uint32_t max_rules;
    uint64_t generation;
    FirewallRuleList *rules;
    FirewallAddressSetList *sets;
    FirewallAction defaults[FW_DIR__MAX];
    FwRuleset *rs;
    Error *err;
} FirewallChange;

static int firewall_compile_change(void *opaque)
{
    FirewallChange *c = opaque;

    c->rs = compile_policy(c->max_rules, c->rules, c->sets, c->defaults,
                           &c->err);
    return 0;
}

/*
 * Compile and swap in a new policy; takes ownership of @c's rules and
 * sets even on failure.  With @c->offload (QMP commands, which run in
 * a coroutine), compiling runs in a worker thread while the main loop
 * goes on with the old policy.
 * Every connection is then judged again by the new policy
 * (fw_conntrack_rejudge()): one walk over the table.
 */
static bool firewall_install(FilterFirewall *fw, FirewallChange *c,
                             Error **errp)
{
    FirewallPolicy *old = fw->policy;
    FirewallPolicy *p;

    c->max_rules = fw->max_rules;
    if (c->offload) {
        thread_pool_submit_co(firewall_compile_change, c);
    } else {
        firewall_compile_change(c);
    }
    if (!c->rs) {
        error_propagate(errp, c->err);
        qapi_free_FirewallRuleList(c->rules);
        qapi_free_FirewallAddressSetList(c->sets);
        return false;
    }
    p = g_new0(FirewallPolicy, 1);
    p->generation = c->generation;
    p->rs = c->rs;
    p->rules = c->rules;
    p->sets = c->sets;
    memcpy(p->defaults, c->defaults, sizeof(p->defaults));
    p->counters = g_new0(FwRuleCounters, MAX(1, fw_ruleset_n_rules(p->rs)));

    if (old) {
        fw_counters_carry(old->rs, old->counters, p->rs, p->counters);
        fw_conntrack_rejudge(fw->ct, p->rs);
    }
    fw->policy = p;
    firewall_policy_free(old);
    trace_filter_firewall_policy(
        object_get_canonical_path_component(OBJECT(fw)), c->generation,
        fw_ruleset_n_rules(p->rs));
    return true;
}

/*
 * A policy staged in pieces (firewall-policy-stage): the change that
 * firewall-policy-commit installs, assembled in place.
 */
struct FirewallStage {
    FirewallChange c;
    FirewallRuleList **rules_tail;
    GHashTable *sets_by_name;           /* name -> FirewallAddressSet */
    size_t n_rules, n_addresses;
};

static void firewall_stage_free(FirewallStage *st)
{
    if (st) {
        qapi_free_FirewallRuleList(st->c.rules);
        qapi_free_FirewallAddressSetList(st->c.sets);
        g_hash_table_unref(st->sets_by_name);
        g_free(st);
    }
}

static void firewall_stage_discard(FilterFirewall *fw, const char *why)
{
    if (fw->stage) {
        trace_filter_firewall_stage_discarded(
            object_get_canonical_path_component(OBJECT(fw)),
            fw->stage->c.generation, why);
        timer_del(fw->stage_timer);
        firewall_stage_free(g_steal_pointer(&fw->stage));
    }
}

static void firewall_stage_expired(void *opaque)
{
    firewall_stage_discard(opaque, "untouched for stage-timeout");
}

static bool firewall_check_generation(FilterFirewall *fw,
                                      uint64_t generation, Error **errp)
{
    if (generation < fw->policy->generation) {
        error_setg(errp, "generation %" PRIu64 " is older than the policy "
                   "in force (generation %" PRIu64 ")", generation,
                   fw->policy->generation);
        return false;
    }
    return true;
}

/* firewall_install() for QMP: refused below the generation in force */
static bool firewall_install_newer(FilterFirewall *fw, FirewallChange *c,
                                   Error **errp)
{
    if (!firewall_check_generation(fw, c->generation, errp)) {
        qapi_free_FirewallRuleList(c->rules);
        qapi_free_FirewallAddressSetList(c->sets);
        return false;
    }
    return firewall_install(fw, c, errp);
}

static void firewall_change_defaults(FirewallChange *c,
                                     bool has_ingress, FirewallAction ingress,
                                     bool has_egress, FirewallAction egress)
{
    c->defaults[FW_DIR_INGRESS] = has_ingress ? ingress
                                              : FIREWALL_ACTION_ACCEPT;
    c->defaults[FW_DIR_EGRESS] = has_egress ? egress : FIREWALL_ACTION_ACCEPT;
}

/* A QMP change that keeps the generation and defaults in force */
static FirewallChange firewall_change_of(FilterFirewall *fw)
{
    FirewallChange c = {
        .offload = true, .generation = fw->policy->generation,
    };

    memcpy(c.defaults, fw->policy->defaults, sizeof(c.defaults));
    return c;
}

/* The change that firewall-set-policy's arguments make */
static FirewallChange firewall_spec_change(FirewallPolicySpec *spec,
                                           bool offload)
{
    FirewallChange c = {
        .offload = offload,
        .generation = spec->generation,
        .rules = QAPI_CLONE(FirewallRuleList, spec->rules),
        .sets = QAPI_CLONE(FirewallAddressSetList, spec->sets),
    };

    firewall_change_defaults(&c, spec->has_default_ingress,
                             spec->default_ingress, spec->has_default_egress,
                             spec->default_egress);
    return c;
}

/* Install the policy given as firewall-set-policy's arguments */
static bool firewall_install_spec(FilterFirewall *fw,
                                  FirewallPolicySpec *spec, bool offload,
                                  Error **errp)
{
    FirewallChange c = firewall_spec_change(spec, offload);

    return firewall_install(fw, &c, errp);
}

/* A policy from JSON: firewall-set-policy's arguments without 'filter' */
static FirewallPolicySpec *firewall_policy_from_json(const char *json,
                                                     Error **errp)
{
    QObject *obj = qobject_from_json(json, errp);
    FirewallPolicySpec *spec = NULL;
    Visitor *v;

    if (obj) {
        v = qobject_input_visitor_new(obj);
        visit_type_FirewallPolicySpec(v, NULL, &spec, errp);
        visit_free(v);
        qobject_unref(obj);
    }
    return spec;
}

static FirewallPolicySpec *firewall_read_policy(const char *path,
                                                Error **errp)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) gerr = NULL;
    FirewallPolicySpec *spec;

    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        error_setg(errp, "policy-file: %s", gerr->message);
        return NULL;
    }
    spec = firewall_policy_from_json(text, errp);
    if (!spec) {
        error_prepend(errp, "policy-file '%s': ", path);
    }
    return spec;
}

/* Quarantine with the allow list @allow (@prefixes parsed); owns both */
static void firewall_set_quarantine(FilterFirewall *fw, strList *allow,
                                    IpPrefix *prefixes, size_t n)
{
    g_free(fw->quarantine_prefixes);
    qapi_free_strList(fw->quarantine_allow);
    fw->quarantine_prefixes = prefixes;
    fw->n_quarantine_prefixes = n;
    fw->quarantine_allow = allow;
    fw->quarantined = true;
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

/*
 * Migration: the policy in force and the quarantine travel as JSON,
 * the connection table in fw_conntrack_save()'s format, so that the
 * destination enforces the same policy and its connections go on.
 */
static char *firewall_to_json(QObject *obj, uint32_t *len)
{
    GString *json = qobject_to_json(obj);

    *len = json->len + 1;
    qobject_unref(obj);
    return g_string_free(json, false);
}

static int firewall_pre_save(void *opaque)
{
    FilterFirewall *fw = opaque;
    FirewallPolicy *p = fw->policy;
    FirewallPolicySpec spec = {
        .generation = p->generation, .rules = p->rules, .sets = p->sets,
        .has_default_ingress = true,
        .default_ingress = p->defaults[FW_DIR_INGRESS],
        .has_default_egress = true,
        .default_egress = p->defaults[FW_DIR_EGRESS],
    };
    FirewallPolicySpec *specp = &spec;
    strList *allow = fw->quarantine_allow;
    GByteArray *ct;
    QObject *obj;
    Visitor *v;

    v = qobject_output_visitor_new(&obj);
    visit_type_FirewallPolicySpec(v, NULL, &specp, &error_abort);
    visit_complete(v, &obj);
    visit_free(v);
    fw->mig_policy = firewall_to_json(obj, &fw->mig_policy_len);
    fw->mig_allow_len = 0;
    if (fw->quarantined) {
        v = qobject_output_visitor_new(&obj);
        visit_type_strList(v, NULL, &allow, &error_abort);
        visit_complete(v, &obj);
        visit_free(v);
        fw->mig_allow = firewall_to_json(obj, &fw->mig_allow_len);
    }
    ct = fw_conntrack_save(fw->ct, qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
    fw->mig_ct_len = ct->len;
    fw->mig_ct = g_byte_array_free(ct, false);
    return 0;
}

static void firewall_mig_free(FilterFirewall *fw)
{
    g_clear_pointer(&fw->mig_policy, g_free);
    g_clear_pointer(&fw->mig_allow, g_free);
    g_clear_pointer(&fw->mig_ct, g_free);
}

static int firewall_post_save(void *opaque)
{
    firewall_mig_free(opaque);
    return 0;
}

static bool firewall_load(FilterFirewall *fw, Error **errp)
{
    const char *id = object_get_canonical_path_component(OBJECT(fw));
    g_autoptr(FirewallPolicySpec) spec = NULL;
    QObject *obj;
    g_autofree char *msg = NULL;
    Visitor *v;
    bool ok;
    strList *allow = NULL;
    IpPrefix *prefixes;
    size_t n;

    if (!fw->mig_policy_len || fw->mig_policy[fw->mig_policy_len - 1] ||
        (fw->mig_allow_len && fw->mig_allow[fw->mig_allow_len - 1])) {
        error_setg(errp, "malformed migration data");
        return false;
    }
    spec = firewall_policy_from_json(fw->mig_policy, errp);
    if (!spec || !firewall_install_spec(fw, spec, false, errp)) {
        return false;
    }
    if (fw->mig_allow_len) {
        obj = qobject_from_json(fw->mig_allow, errp);
        if (!obj) {
            return false;
        }
        v = qobject_input_visitor_new(obj);
        ok = visit_type_strList(v, NULL, &allow, errp);
        visit_free(v);
        qobject_unref(obj);
        if (!ok) {
            return false;
        }
        prefixes = parse_prefix_list(allow, &n, errp);
        if (!prefixes) {
            qapi_free_strList(allow);
            return false;
        }
        firewall_set_quarantine(fw, allow, prefixes, n);
        qapi_event_send_firewall_quarantine(id, true, "migrated");
    }
    fw_conntrack_flush(fw->ct);
    if (!fw_conntrack_load(fw->ct, fw->mig_ct, fw->mig_ct_len,
                           qemu_clock_get_ns(QEMU_CLOCK_REALTIME), &msg)) {
        error_setg(errp, "%s", msg);
        return false;
    }
    return true;
}

static int firewall_post_load(void *opaque, int version_id)
{
    FilterFirewall *fw = opaque;
    Error *err = NULL;
    bool ok = firewall_load(fw, &err);

    firewall_mig_free(fw);
    if (!ok) {
        error_reportf_err(err, "filter-firewall '%s': ",
                          object_get_canonical_path_component(OBJECT(fw)));
        return -EINVAL;
    }
    return 0;
}

static const VMStateDescription vmstate_filter_firewall = {
    .name = TYPE_FILTER_FIREWALL,
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = firewall_pre_save,
    .post_save = firewall_post_save,
    .post_load = firewall_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(mig_policy_len, FilterFirewall),
        VMSTATE_VBUFFER_ALLOC_UINT32(mig_policy, FilterFirewall, 0, NULL,
                                     mig_policy_len),
        VMSTATE_UINT32(mig_allow_len, FilterFirewall),
        VMSTATE_VBUFFER_ALLOC_UINT32(mig_allow, FilterFirewall, 0, NULL,
                                     mig_allow_len),
        VMSTATE_UINT32(mig_ct_len, FilterFirewall),
        VMSTATE_VBUFFER_ALLOC_UINT32(mig_ct, FilterFirewall, 0, NULL,
                                     mig_ct_len),
        VMSTATE_END_OF_LIST()
    },
};

/* Migration sections of filters are named by the object's path */
static char *filter_firewall_vmstate_id(VMStateIf *obj)
{
    return object_get_canonical_path(OBJECT(obj));
}

/* Object life cycle and properties */

static void filter_firewall_setup(NetFilterState *nf, Error **errp)
{
    FilterFirewall *fw = FILTER_FIREWALL(nf);
    g_autofree IpPrefix *allowed = NULL;
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
    fw_conntrack_set_tcp_pickup(fw->ct, fw->tcp_pickup);
    if (fw->policy_file) {
        g_autoptr(FirewallPolicySpec) spec =
            firewall_read_policy(fw->policy_file, errp);

        if (!spec || !firewall_install_spec(fw, spec, false, errp)) {
            return;
        }
    } else {
        FirewallChange c = { .defaults = {
            FIREWALL_ACTION_ACCEPT, FIREWALL_ACTION_ACCEPT,
        } };

        firewall_install(fw, &c, &error_abort);
    }
    fw->stage_timer = timer_new_ms(QEMU_CLOCK_REALTIME,
                                   firewall_stage_expired, fw);
    vmstate_register(VMSTATE_IF(fw), VMSTATE_INSTANCE_ID_ANY,
                     &vmstate_filter_firewall, fw);
}

static void filter_firewall_cleanup(NetFilterState *nf)
{
    FilterFirewall *fw = FILTER_FIREWALL(nf);

    vmstate_unregister(VMSTATE_IF(fw), &vmstate_filter_firewall, fw);
    firewall_mig_free(fw);
    firewall_stage_free(g_steal_pointer(&fw->stage));
    timer_free(g_steal_pointer(&fw->stage_timer));
    firewall_policy_free(fw->policy);
    fw->policy = NULL;
    fw_conntrack_free(fw->ct);
    fw->ct = NULL;
    fw_antispoof_free(fw->antispoof);
    fw->antispoof = NULL;
    g_free(fw->quarantine_prefixes);
    qapi_free_strList(fw->quarantine_allow);
}

/* Kept with its state until a netdev of the same id comes back */
static void filter_firewall_detached(NetFilterState *nf)
{
    qapi_event_send_firewall_detached(
        object_get_canonical_path_component(OBJECT(nf)), nf->netdev_id);
}

static bool firewall_check_settable(Object *obj, Error **errp)
{
    if (NETFILTER(obj)->netdev || NETFILTER(obj)->detached) {
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

static bool filter_firewall_get_tcp_pickup(Object *obj, Error **errp)
{
    return FILTER_FIREWALL(obj)->tcp_pickup;
}

static void filter_firewall_set_tcp_pickup(Object *obj, bool value,
                                           Error **errp)
{
    if (firewall_check_settable(obj, errp)) {
        FILTER_FIREWALL(obj)->tcp_pickup = value;
    }
}

static char *filter_firewall_get_policy_file(Object *obj, Error **errp)
{
    return g_strdup(FILTER_FIREWALL(obj)->policy_file);
}

static void filter_firewall_set_policy_file(Object *obj, const char *value,
                                            Error **errp)
{
    FilterFirewall *fw = FILTER_FIREWALL(obj);

    if (firewall_check_settable(obj, errp)) {
        g_free(fw->policy_file);
        fw->policy_file = g_strdup(value);
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
    fw->tcp_pickup = true;
    fw->stage_timeout = FIREWALL_DEFAULT_STAGE_TIMEOUT;
    qemu_co_mutex_init(&fw->policy_lock);
    object_property_add(obj, "max-connections", "uint32",
                        filter_firewall_get_uint32,
                        filter_firewall_set_uint32, NULL,
                        &fw->max_connections);
    object_property_add(obj, "max-rules", "uint32",
                        filter_firewall_get_uint32,
                        filter_firewall_set_uint32, NULL, &fw->max_rules);
    object_property_add(obj, "stage-timeout", "uint32",
                        filter_firewall_get_uint32,
                        filter_firewall_set_uint32, NULL,
                        &fw->stage_timeout);
}

static void filter_firewall_finalize(Object *obj)
{
    FilterFirewall *fw = FILTER_FIREWALL(obj);

    g_free(fw->mac);
    g_free(fw->policy_file);
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
    object_class_property_add_bool(oc, "tcp-pickup",
                                   filter_firewall_get_tcp_pickup,
                                   filter_firewall_set_tcp_pickup);
    object_class_property_add_str(oc, "policy-file",
                                  filter_firewall_get_policy_file,
                                  filter_firewall_set_policy_file);

    VMSTATE_IF_CLASS(oc)->get_id = filter_firewall_vmstate_id;
    nfc->setup = filter_firewall_setup;
    nfc->cleanup = filter_firewall_cleanup;
    nfc->detached = filter_firewall_detached;
    nfc->receive_iov = filter_firewall_receive_iov;
}

static const TypeInfo filter_firewall_info = {
    .name = TYPE_FILTER_FIREWALL,
    .parent = TYPE_NETFILTER,
    .class_init = filter_firewall_class_init,
    .instance_init = filter_firewall_init,
    .instance_finalize = filter_firewall_finalize,
    .instance_size = sizeof(FilterFirewall),
    .interfaces = (InterfaceInfo[]) {
        { TYPE_VMSTATE_IF },
        { }
    },
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

/*
 * The policy commands run in a coroutine: compiling happens in a worker
 * thread (firewall_install()), and policy_lock keeps the changes of
 * concurrent monitors in order.  The reference keeps the filter alive
 * meanwhile; a filter deleted meanwhile gets the policy harmlessly.
 */
static FilterFirewall *coroutine_fn firewall_lock(const char *id,
                                                  Error **errp)
{
    FilterFirewall *fw = firewall_find(id, errp);

    if (fw) {
        object_ref(OBJECT(fw));
        qemu_co_mutex_lock(&fw->policy_lock);
    }
    return fw;
}

static void coroutine_fn firewall_unlock(FilterFirewall *fw)
{
    qemu_co_mutex_unlock(&fw->policy_lock);
    object_unref(OBJECT(fw));
}

void coroutine_fn qmp_firewall_set_policy(FirewallSetPolicyArguments *args,
                                          Error **errp)
{
    FilterFirewall *fw = firewall_lock(args->filter, errp);

    FirewallChange c;

    if (!fw) {
        return;
    }
    c = firewall_spec_change(qapi_FirewallSetPolicyArguments_base(args),
                             true);
    firewall_install_newer(fw, &c, errp);
    firewall_unlock(fw);
}

/*
 * Staged policies.  Staging runs outside the coroutine lock: a commit
 * takes the stage away before it compiles, so a stage begun meanwhile
 * is a new one.
 */

void qmp_firewall_policy_stage(const char *filter, uint64_t generation,
                               bool has_default_ingress,
                               FirewallAction default_ingress,
                               bool has_default_egress,
                               FirewallAction default_egress, Error **errp)
{
    FilterFirewall *fw = firewall_find(filter, errp);
    FirewallStage *st;

    if (!fw || !firewall_check_generation(fw, generation, errp)) {
        return;
    }
    firewall_stage_discard(fw, "staged again");
    st = g_new0(FirewallStage, 1);
    st->c.offload = true;
    st->c.generation = generation;
    firewall_change_defaults(&st->c, has_default_ingress, default_ingress,
                             has_default_egress, default_egress);
    st->rules_tail = &st->c.rules;
    st->sets_by_name = g_hash_table_new(g_str_hash, g_str_equal);
    fw->stage = st;
    timer_mod(fw->stage_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              fw->stage_timeout);
}

/* The filter's stage of @generation, kept alive for stage-timeout more */
static FirewallStage *firewall_stage_get(FilterFirewall *fw,
                                         uint64_t generation, Error **errp)
{
    const char *filter = object_get_canonical_path_component(OBJECT(fw));

    if (!fw->stage) {
        error_setg(errp, "filter '%s' has no staged policy "
                   "(firewall-policy-stage)", filter);
        return NULL;
    }
    if (fw->stage->c.generation != generation) {
        error_setg(errp, "filter '%s' has a staged policy of generation "
                   "%" PRIu64 ", not %" PRIu64, filter,
                   fw->stage->c.generation, generation);
        return NULL;
    }
    timer_mod(fw->stage_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              fw->stage_timeout);
    return fw->stage;
}

void qmp_firewall_policy_stage_rules(const char *filter, uint64_t generation,
                                     FirewallRuleList *rules, Error **errp)
{
    FilterFirewall *fw = firewall_find(filter, errp);
    FirewallStage *st = fw ? firewall_stage_get(fw, generation, errp) : NULL;
    size_t n = QAPI_LIST_LENGTH(rules);

    if (!st) {
        return;
    }
    if (n > FIREWALL_STAGE_MAX_RULES) {
        error_setg(errp, "%zu rules in one command, at most %d", n,
                   FIREWALL_STAGE_MAX_RULES);
        return;
    }
    if (st->n_rules + n > fw->max_rules) {
        error_setg(errp, "too many rules: %zu staged and %zu more, the "
                   "filter allows %" PRIu32 " (property max-rules)",
                   st->n_rules, n, fw->max_rules);
        return;
    }
    for (; rules; rules = rules->next) {
        QAPI_LIST_APPEND(st->rules_tail, QAPI_CLONE(FirewallRule,
                                                    rules->value));
    }
    st->n_rules += n;
}

void qmp_firewall_policy_stage_sets(const char *filter, uint64_t generation,
                                    FirewallAddressSetList *sets,
                                    Error **errp)
{
    FilterFirewall *fw = firewall_find(filter, errp);
    FirewallStage *st = fw ? firewall_stage_get(fw, generation, errp) : NULL;
    FirewallAddressSetList *l;
    size_t n = 0, n_sets;

    if (!st) {
        return;
    }
    n_sets = g_hash_table_size(st->sets_by_name);
    for (l = sets; l; l = l->next) {
        n += QAPI_LIST_LENGTH(l->value->addresses);
        n_sets += !g_hash_table_contains(st->sets_by_name, l->value->name);
    }
    if (n > FIREWALL_STAGE_MAX_ADDRESSES) {
        error_setg(errp, "%zu set addresses in one command, at most %d", n,
                   FIREWALL_STAGE_MAX_ADDRESSES);
        return;
    }
    if (n_sets > FIREWALL_MAX_SETS) {
        error_setg(errp, "too many address sets: %zu, at most %d", n_sets,
                   FIREWALL_MAX_SETS);
        return;
    }
    if (st->n_addresses + n > FIREWALL_MAX_ALL_SET_ADDRESSES) {
        error_setg(errp, "the address sets have more than %d addresses "
                   "together", FIREWALL_MAX_ALL_SET_ADDRESSES);
        return;
    }
    for (l = sets; l; l = l->next) {
        FirewallAddressSet *set = g_hash_table_lookup(st->sets_by_name,
                                                      l->value->name);
        strList **tail;

        if (!set) {
            set = QAPI_CLONE(FirewallAddressSet, l->value);
            QAPI_LIST_PREPEND(st->c.sets, set);
            g_hash_table_insert(st->sets_by_name, set->name, set);
            continue;
        }
        for (tail = &set->addresses; *tail; tail = &(*tail)->next) {
            /* the end of the set */
        }
        *tail = QAPI_CLONE(strList, l->value->addresses);
    }
    st->n_addresses += n;
}

void coroutine_fn qmp_firewall_policy_commit(const char *filter,
                                             uint64_t generation,
                                             Error **errp)
{
    FilterFirewall *fw = firewall_lock(filter, errp);
    FirewallChange c;

    if (!fw) {
        return;
    }
    if (firewall_stage_get(fw, generation, errp)) {
        c = fw->stage->c;
        fw->stage->c.rules = NULL;
        fw->stage->c.sets = NULL;
        firewall_stage_discard(fw, "committed");
        firewall_install_newer(fw, &c, errp);
    }
    firewall_unlock(fw);
}

void qmp_firewall_policy_abort(const char *filter, Error **errp)
{
    FilterFirewall *fw = firewall_find(filter, errp);

    if (fw) {
        firewall_stage_discard(fw, "aborted");
    }
}

void coroutine_fn qmp_firewall_add_rule(const char *filter,
                                        FirewallRule *rule, Error **errp)
{
    FilterFirewall *fw = firewall_lock(filter, errp);
    FirewallChange c;
    FirewallRuleList *l;

    if (!fw) {
        return;
    }
    for (l = fw->policy->rules; l; l = l->next) {
        if (l->value->id == rule->id) {
            error_setg(errp, "rule id %" PRIu32 " is in use", rule->id);
            firewall_unlock(fw);
            return;
        }
    }
    c = firewall_change_of(fw);
    c.rules = QAPI_CLONE(FirewallRuleList, fw->policy->rules);
    QAPI_LIST_PREPEND(c.rules, QAPI_CLONE(FirewallRule, rule));
    c.sets = QAPI_CLONE(FirewallAddressSetList, fw->policy->sets);
    firewall_install(fw, &c, errp);
    firewall_unlock(fw);
}

void coroutine_fn qmp_firewall_delete_rule(const char *filter, uint32_t id,
                                           Error **errp)
{
    FilterFirewall *fw = firewall_lock(filter, errp);
    FirewallChange c;
    FirewallRuleList **prev;

    if (!fw) {
        return;
    }
    c = firewall_change_of(fw);
    c.rules = QAPI_CLONE(FirewallRuleList, fw->policy->rules);
    for (prev = &c.rules; *prev; prev = &(*prev)->next) {
        if ((*prev)->value->id == id) {
            FirewallRuleList *gone = *prev;

            *prev = gone->next;
            gone->next = NULL;
            qapi_free_FirewallRuleList(gone);
            c.sets = QAPI_CLONE(FirewallAddressSetList, fw->policy->sets);
            firewall_install(fw, &c, errp);
            firewall_unlock(fw);
            return;
        }
    }
    qapi_free_FirewallRuleList(c.rules);
    error_setg(errp, "filter '%s' has no rule %" PRIu32, filter, id);
    firewall_unlock(fw);
}

void coroutine_fn qmp_firewall_set_address_set(const char *filter,
                                               FirewallAddressSet *set,
                                               Error **errp)
{
    FilterFirewall *fw = firewall_lock(filter, errp);
    FirewallChange c;
    FirewallAddressSetList *l;

    if (!fw) {
        return;
    }
    c = firewall_change_of(fw);
    c.sets = QAPI_CLONE(FirewallAddressSetList, fw->policy->sets);
    for (l = c.sets; l; l = l->next) {
        if (!strcmp(l->value->name, set->name)) {
            qapi_free_FirewallAddressSet(l->value);
            l->value = QAPI_CLONE(FirewallAddressSet, set);
            break;
        }
    }
    if (!l) {
        QAPI_LIST_PREPEND(c.sets, QAPI_CLONE(FirewallAddressSet, set));
    }
    c.rules = QAPI_CLONE(FirewallRuleList, fw->policy->rules);
    firewall_install(fw, &c, errp);
    firewall_unlock(fw);
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
    info->attached = !NETFILTER(fw)->detached;
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
    uint32_t skip;
    uint32_t left;
} ConnListing;

static char *addr_string(const IpAddr *a)
{
    char buf[INET6_ADDRSTRLEN];

    inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->a, buf, sizeof(buf));
    return g_strdup(buf);
}

static bool firewall_list_connection(const FwCtInfo *ci, void *opaque)
{
    ConnListing *cl = opaque;
    FirewallConnection *c;

    if (cl->skip) {
        cl->skip--;
        return true;
    }
    c = g_new0(FirewallConnection, 1);
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
                                                       bool has_offset,
                                                       uint32_t offset,
                                                       bool has_limit,
                                                       uint32_t limit,
                                                       Error **errp)
{
    FilterFirewall *fw = firewall_find(filter, errp);
    FirewallConnectionList *list = NULL;
    ConnListing cl = {
        .tail = &list, .skip = offset,
        .left = has_limit ? limit : FIREWALL_MAX_CONNECTION_LIST,
    };

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
    IpPrefix *prefixes;
    size_t n;

    if (!fw) {
        return;
    }
    prefixes = parse_prefix_list(allow, &n, errp);
    if (!prefixes) {
        return;
    }
    firewall_set_quarantine(fw, QAPI_CLONE(strList, allow), prefixes, n);
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
