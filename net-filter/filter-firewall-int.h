/*
 * filter-firewall: what its object, policy and QMP files share
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef NET_FILTER_FIREWALL_INT_H
#define NET_FILTER_FIREWALL_INT_H

#include "net/filter.h"
#include "net/firewall-core.h"
#include "qapi/qapi-types-firewall.h"
#include "qemu/coroutine.h"
#include "qemu/timer.h"

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

/* The QAPI name of a core direction */
static inline FirewallDirection firewall_qapi_dir(FwDirection dir)
{
    return dir == FW_DIR_INGRESS ? FIREWALL_DIRECTION_INGRESS :
        FIREWALL_DIRECTION_EGRESS;
}

/* filter-firewall-policy.c: QMP policies compiled and installed */
void firewall_policy_free(FirewallPolicy *p);

IpPrefix *firewall_parse_prefix_list(strList *list, size_t *n, Error **errp);

bool firewall_install(FilterFirewall *fw, FirewallChange *c,
                      Error **errp);

void firewall_stage_free(FirewallStage *st);

void firewall_stage_discard(FilterFirewall *fw, const char *why);

void firewall_stage_expired(void *opaque);

bool firewall_check_generation(FilterFirewall *fw,
                               uint64_t generation, Error **errp);

bool firewall_install_newer(FilterFirewall *fw, FirewallChange *c,
                            Error **errp);

void firewall_change_defaults(FirewallChange *c,
                              bool has_ingress, FirewallAction ingress,
                              bool has_egress, FirewallAction egress);

FirewallChange firewall_change_of(FilterFirewall *fw);

FirewallChange firewall_spec_change(FirewallPolicySpec *spec,
                                    bool offload);

bool firewall_install_spec(FilterFirewall *fw,
                           FirewallPolicySpec *spec, bool offload,
                           Error **errp);

FirewallPolicySpec *firewall_policy_from_json(const char *json,
                                              Error **errp);

FirewallPolicySpec *firewall_read_policy(const char *path,
                                         Error **errp);

void firewall_set_quarantine(FilterFirewall *fw, strList *allow,
                             IpPrefix *prefixes, size_t n);

#endif
