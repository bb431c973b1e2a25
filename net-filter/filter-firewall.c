/*
 * filter-firewall: a per-VM stateful firewall as a netfilter
 *
 * The rule classifier, connection tracking and anti-spoofing live in
 * firewall-core.c; this file is the QEMU object: its properties, the
 * packet path and migration.  Policies are installed by
 * filter-firewall-policy.c, the QMP commands are in filter-firewall-qmp.c.
 *
 * Packets and QMP commands both run with the BQL held.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/vdi/vdi-extension.h"
#include "hw/vmstate-if.h"
#include "migration/vmstate.h"
#include "net/net.h"
#include "net/util.h"
#include "qapi/error.h"
#include "qapi/qapi-events-firewall.h"
#include "qapi/qapi-visit-firewall.h"
#include "qapi/qobject-input-visitor.h"
#include "qapi/qobject-output-visitor.h"
#include "qapi/visitor.h"
#include "qemu/iov.h"
#include "qobject/qjson.h"
#include "qobject/qobject.h"
#include "qom/object_interfaces.h"
#include "filter-firewall-int.h"
#include "trace.h"

static const FirewallAction qapi_action[FW_ACTION__MAX] = {
    [FW_ACTION_ACCEPT] = FIREWALL_ACTION_ACCEPT,
    [FW_ACTION_DROP] = FIREWALL_ACTION_DROP,
    [FW_ACTION_REJECT] = FIREWALL_ACTION_REJECT,
};

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
        firewall_qapi_dir(dir), qapi_action[action],
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
        prefixes = firewall_parse_prefix_list(allow, &n, errp);
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
        allowed = firewall_parse_prefix_list(fw->addresses, &n, errp);
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
