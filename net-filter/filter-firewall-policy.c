/*
 * filter-firewall: policies from QMP, compiled and installed
 *
 * Translates a policy in QAPI terms (firewall-set-policy, a policy file,
 * a staged or migrated policy) into the classifier's, compiles it (in a
 * worker thread for QMP commands) and swaps it in with one pointer
 * store, so that no packet ever sees part of two policies.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/clone-visitor.h"
#include "qapi/error.h"
#include "qapi/qapi-visit-firewall.h"
#include "qapi/qobject-input-visitor.h"
#include "block/thread-pool.h"
#include "qobject/qjson.h"
#include "qobject/qobject.h"
#include "filter-firewall-int.h"
#include "trace.h"

static const FwAction core_action[FIREWALL_ACTION__MAX] = {
    [FIREWALL_ACTION_ACCEPT] = FW_ACTION_ACCEPT,
    [FIREWALL_ACTION_DROP] = FW_ACTION_DROP,
    [FIREWALL_ACTION_REJECT] = FW_ACTION_REJECT,
};

void firewall_policy_free(FirewallPolicy *p)
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

IpPrefix *firewall_parse_prefix_list(strList *list, size_t *n, Error **errp)
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
        f->src.prefixes = firewall_parse_prefix_list(r->source, &n, errp);
        if (!f->src.prefixes) {
            return false;
        }
        f->src.n_prefixes = n;
        g_ptr_array_add(mem, (void *)f->src.prefixes);
    }
    if (r->destination) {
        f->dst.prefixes = firewall_parse_prefix_list(r->destination, &n, errp);
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
        fs[i].prefixes = firewall_parse_prefix_list(s->value->addresses,
                                                    &n, errp);
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
bool firewall_install(FilterFirewall *fw, FirewallChange *c,
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


void firewall_stage_free(FirewallStage *st)
{
    if (st) {
        qapi_free_FirewallRuleList(st->c.rules);
        qapi_free_FirewallAddressSetList(st->c.sets);
        g_hash_table_unref(st->sets_by_name);
        g_free(st);
    }
}

void firewall_stage_discard(FilterFirewall *fw, const char *why)
{
    if (fw->stage) {
        trace_filter_firewall_stage_discarded(
            object_get_canonical_path_component(OBJECT(fw)),
            fw->stage->c.generation, why);
        timer_del(fw->stage_timer);
        firewall_stage_free(g_steal_pointer(&fw->stage));
    }
}

void firewall_stage_expired(void *opaque)
{
    firewall_stage_discard(opaque, "untouched for stage-timeout");
}

bool firewall_check_generation(FilterFirewall *fw,
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
bool firewall_install_newer(FilterFirewall *fw, FirewallChange *c,
                                   Error **errp)
{
    if (!firewall_check_generation(fw, c->generation, errp)) {
        qapi_free_FirewallRuleList(c->rules);
        qapi_free_FirewallAddressSetList(c->sets);
        return false;
    }
    return firewall_install(fw, c, errp);
}

void firewall_change_defaults(FirewallChange *c,
                                     bool has_ingress, FirewallAction ingress,
                                     bool has_egress, FirewallAction egress)
{
    c->defaults[FW_DIR_INGRESS] = has_ingress ? ingress
                                              : FIREWALL_ACTION_ACCEPT;
    c->defaults[FW_DIR_EGRESS] = has_egress ? egress : FIREWALL_ACTION_ACCEPT;
}

/* A QMP change that keeps the generation and defaults in force */
FirewallChange firewall_change_of(FilterFirewall *fw)
{
    FirewallChange c = {
        .offload = true, .generation = fw->policy->generation,
    };

    memcpy(c.defaults, fw->policy->defaults, sizeof(c.defaults));
    return c;
}

/* The change that firewall-set-policy's arguments make */
FirewallChange firewall_spec_change(FirewallPolicySpec *spec,
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
bool firewall_install_spec(FilterFirewall *fw,
                                  FirewallPolicySpec *spec, bool offload,
                                  Error **errp)
{
    FirewallChange c = firewall_spec_change(spec, offload);

    return firewall_install(fw, &c, errp);
}

/* A policy from JSON: firewall-set-policy's arguments without 'filter' */
FirewallPolicySpec *firewall_policy_from_json(const char *json,
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

FirewallPolicySpec *firewall_read_policy(const char *path,
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
void firewall_set_quarantine(FilterFirewall *fw, strList *allow,
                                    IpPrefix *prefixes, size_t n)
{
    g_free(fw->quarantine_prefixes);
    qapi_free_strList(fw->quarantine_allow);
    fw->quarantine_prefixes = prefixes;
    fw->n_quarantine_prefixes = n;
    fw->quarantine_allow = allow;
    fw->quarantined = true;
}
