/*
 * filter-firewall: the QMP commands
 *
 * Policy changes (firewall-set-policy, staged policies, rules and address
 * sets one by one), quarantine, and the queries of policies, counters and
 * connections.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/clone-visitor.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-firewall.h"
#include "qapi/qapi-events-firewall.h"
#include "qapi/qapi-visit-firewall.h"
#include "qom/object.h"
#include "filter-firewall-int.h"
#include "trace.h"

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
    c->direction = firewall_qapi_dir(ci->orig_dir);
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
    prefixes = firewall_parse_prefix_list(allow, &n, errp);
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
