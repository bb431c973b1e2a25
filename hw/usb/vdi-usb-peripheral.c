/*
 * VDI host: the QMP side of the USB peripheral policy
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The VM's policy as a QOM object, vdi-usb-policy, and usb-policy-set
 * and query-usb-policy on it; query-usb-peripherals, and
 * usb-peripheral-attach / usb-peripheral-detach, which plug a terminal's
 * peripheral in one step.  The guards themselves are vdi-usb-guard.c's.
 */

#include "qemu/osdep.h"
#include "hw/vdi/vdi-extension.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/module.h"
#include "qapi/clone-visitor.h"
#include "qapi/qapi-commands-usb-policy.h"
#include "qapi/qapi-visit-usb-policy.h"
#include "qapi/visitor.h"
#include "qom/object_interfaces.h"
#include "qapi/qapi-commands-char.h"
#include "qobject/qdict.h"
#include "hw/qdev-core.h"
#include "monitor/qdev.h"
#include "chardev/char.h"
#include "qemu/id.h"
#include "vdi-usb-guard.h"

static VdiUsbAction action_from_qapi(UsbPolicyAction a)
{
    switch (a) {
    case USB_POLICY_ACTION_DENY:
        return VDI_USB_ACTION_DENY;
    case USB_POLICY_ACTION_READ_ONLY:
        return VDI_USB_ACTION_READ_ONLY;
    default:
        return VDI_USB_ACTION_ALLOW;
    }
}

static UsbPeripheralState state_to_qapi(VdiUsbGuardState st)
{
    switch (st) {
    case VDI_USB_GUARD_CONNECTED:
        return USB_PERIPHERAL_STATE_CONNECTED;
    case VDI_USB_GUARD_ATTACHED:
        return USB_PERIPHERAL_STATE_ATTACHED;
    case VDI_USB_GUARD_REJECTED:
        return USB_PERIPHERAL_STATE_REJECTED;
    default:
        return USB_PERIPHERAL_STATE_DISCONNECTED;
    }
}

/* usb-policy-set, query-usb-policy */

static bool rule_from_qapi(const UsbPolicyRule *q, VdiUsbRule *r,
                           Error **errp)
{
    vdi_usb_rule_init(r, action_from_qapi(q->action));
    if (!q->id[0]) {
        error_setg(errp, "rule ids must not be empty");
        return false;
    }
    if (strlen(q->id) >= sizeof(r->id)) {
        error_setg(errp, "rule id '%s' is longer than %zu characters",
                   q->id, sizeof(r->id) - 1);
        return false;
    }
    pstrcpy(r->id, sizeof(r->id), q->id);
    r->hide = q->has_hide && q->hide;
#define MATCH(field, flag, dst)                 \
    if (q->has_##field) {                       \
        r->match |= (flag);                     \
        r->dst = q->field;                      \
    }
    MATCH(dev_class, VDI_USB_MATCH_DEV_CLASS, dev_class);
    MATCH(dev_subclass, VDI_USB_MATCH_DEV_SUBCLASS, dev_subclass);
    MATCH(dev_protocol, VDI_USB_MATCH_DEV_PROTOCOL, dev_protocol);
    MATCH(iface_class, VDI_USB_MATCH_IFACE_CLASS, iface_class);
    MATCH(iface_subclass, VDI_USB_MATCH_IFACE_SUBCLASS, iface_subclass);
    MATCH(iface_protocol, VDI_USB_MATCH_IFACE_PROTOCOL, iface_protocol);
    MATCH(vendor_id, VDI_USB_MATCH_VID, vid);
    MATCH(product_id, VDI_USB_MATCH_PID, pid);
    MATCH(bcd_min, VDI_USB_MATCH_BCD, bcd_lo);
    MATCH(bcd_max, VDI_USB_MATCH_BCD, bcd_hi);
#undef MATCH
    if (q->serial) {
        if (strlen(q->serial) >= sizeof(r->serial)) {
            error_setg(errp, "rule '%s': serial longer than %zu characters",
                       q->id, sizeof(r->serial) - 1);
            return false;
        }
        r->match |= VDI_USB_MATCH_SERIAL;
        pstrcpy(r->serial, sizeof(r->serial), q->serial);
    }
    return true;
}

/* Build a policy from its QMP form; all or nothing */
static VdiUsbPolicy *policy_from_qapi(UsbPolicyRuleList *rules,
                                      UsbPolicyAction dflt, Error **errp)
{
    VdiUsbPolicy *p = vdi_usb_policy_new(action_from_qapi(dflt));
    UsbPolicyRuleList *l;

    for (l = rules; l; l = l->next) {
        g_autofree char *err = NULL;
        VdiUsbRule r;

        if (!rule_from_qapi(l->value, &r, errp)) {
            goto fail;
        }
        if (!vdi_usb_policy_add_rule(p, &r, &err)) {
            error_setg(errp, "rule '%s': %s", l->value->id, err);
            goto fail;
        }
    }
    return p;

fail:
    vdi_usb_policy_free(p);
    return NULL;
}

bool vdi_usb_policy_check(UsbPolicyRuleList *rules, UsbPolicyAction dflt,
                          Error **errp)
{
    VdiUsbPolicy *p = policy_from_qapi(rules, dflt, errp);
    bool ok = p;

    vdi_usb_policy_free(p);
    return ok;
}

/* The vdi-usb-policy object: the VM's policy */

#define TYPE_VDI_USB_POLICY "vdi-usb-policy"
#define DEFAULT_POLICY_ID "usb-policy"
OBJECT_DECLARE_SIMPLE_TYPE(VdiUsbPolicyObject, VDI_USB_POLICY)

struct VdiUsbPolicyObject {
    Object parent_obj;
    UsbPolicy *q;               /* as given, for queries */
    VdiUsbPolicy *policy;       /* NULL until the object is complete */
};

static bool policy_object_is_complete(Object *obj)
{
    return VDI_USB_POLICY(obj)->policy;
}

/* The VM's policy object, or NULL */
static VdiUsbPolicyObject *policy_object(void)
{
    Object *obj = vdi_vm_object(TYPE_VDI_USB_POLICY,
                                policy_object_is_complete);

    return obj ? VDI_USB_POLICY(obj) : NULL;
}

const VdiUsbPolicy *vdi_usb_vm_policy(void)
{
    VdiUsbPolicyObject *s = policy_object();

    return s ? s->policy : NULL;
}

/* Does the VM's policy decide for g, and is g connected? */
static bool policy_decides(VdiUsbGuard *g)
{
    return !g->own_policy && (g->c.state == VDI_USB_GUARD_CONNECTED ||
                              g->c.state == VDI_USB_GUARD_ATTACHED);
}

/* Make rules and dflt the object's policy; all or nothing */
static bool policy_object_apply(VdiUsbPolicyObject *s,
                                UsbPolicyRuleList *rules,
                                UsbPolicyAction dflt, Error **errp)
{
    VdiUsbPolicy *p = policy_from_qapi(rules, dflt, errp);
    VdiUsbPolicy *old = s->policy;
    UsbPolicy *q;

    if (!p) {
        return false;
    }
    /* rules may be s->q's own */
    q = g_new0(UsbPolicy, 1);
    q->rules = QAPI_CLONE(UsbPolicyRuleList, rules);
    q->q_default = dflt;
    qapi_free_UsbPolicy(s->q);
    s->q = q;
    if (old) {
        s->policy = p;
        vdi_usb_guard_policy_changed();
        vdi_usb_policy_free(old);
    } else {
        /* not complete yet: complete() builds it */
        vdi_usb_policy_free(p);
    }
    return true;
}

static void policy_object_get_rules(Object *obj, Visitor *v,
                                    const char *name, void *opaque,
                                    Error **errp)
{
    VdiUsbPolicyObject *s = VDI_USB_POLICY(obj);
    UsbPolicyRuleList *rules = QAPI_CLONE(UsbPolicyRuleList, s->q->rules);

    visit_type_UsbPolicyRuleList(v, name, &rules, errp);
    qapi_free_UsbPolicyRuleList(rules);
}

static void policy_object_set_rules(Object *obj, Visitor *v,
                                    const char *name, void *opaque,
                                    Error **errp)
{
    VdiUsbPolicyObject *s = VDI_USB_POLICY(obj);
    UsbPolicyRuleList *rules = NULL;

    if (visit_type_UsbPolicyRuleList(v, name, &rules, errp)) {
        policy_object_apply(s, rules, s->q->q_default, errp);
    }
    qapi_free_UsbPolicyRuleList(rules);
}

static int policy_object_get_default(Object *obj, Error **errp)
{
    return VDI_USB_POLICY(obj)->q->q_default;
}

static void policy_object_set_default(Object *obj, int value, Error **errp)
{
    VdiUsbPolicyObject *s = VDI_USB_POLICY(obj);

    policy_object_apply(s, s->q->rules, value, errp);
}

/* "devices": the connected devices the policy decides for */
static void policy_object_get_devices(Object *obj, Visitor *v,
                                      const char *name, void *opaque,
                                      Error **errp)
{
    VdiUsbPolicyObject *s = VDI_USB_POLICY(obj);
    strList *list = NULL, **tail = &list;
    VdiUsbGuard *g;

    for (g = vdi_usb_guard_next(NULL); s->policy && g;
         g = vdi_usb_guard_next(g)) {
        if (policy_decides(g)) {
            QAPI_LIST_APPEND(tail, vdi_usb_guard_name(g));
        }
    }
    visit_type_strList(v, name, &list, errp);
    qapi_free_strList(list);
}

static void policy_object_complete(UserCreatable *uc, Error **errp)
{
    VdiUsbPolicyObject *s = VDI_USB_POLICY(uc);

    if (!vdi_vm_object_first(OBJECT(uc), policy_object_is_complete,
                             "a USB policy", errp)) {
        return;
    }
    s->policy = policy_from_qapi(s->q->rules, s->q->q_default, errp);
    if (s->policy) {
        vdi_usb_guard_policy_changed();
    }
}

/*
 * Not while a device it decides for is connected: without the policy,
 * that device would be allowed everything the next time it is evaluated.
 */
static bool policy_object_can_be_deleted(UserCreatable *uc)
{
    VdiUsbGuard *g;

    for (g = vdi_usb_guard_next(NULL); g; g = vdi_usb_guard_next(g)) {
        if (policy_decides(g)) {
            return false;
        }
    }
    return true;
}

static void policy_object_init(Object *obj)
{
    VdiUsbPolicyObject *s = VDI_USB_POLICY(obj);

    s->q = g_new0(UsbPolicy, 1);
    s->q->q_default = USB_POLICY_ACTION_ALLOW;
}

static void policy_object_finalize(Object *obj)
{
    VdiUsbPolicyObject *s = VDI_USB_POLICY(obj);

    qapi_free_UsbPolicy(s->q);
    vdi_usb_policy_free(s->policy);
}

static void policy_object_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = policy_object_complete;
    ucc->can_be_deleted = policy_object_can_be_deleted;
    object_class_property_add(oc, "rules", "UsbPolicyRuleList",
                              policy_object_get_rules,
                              policy_object_set_rules, NULL, NULL);
    object_class_property_set_description(oc, "rules",
        "the rules, in the order they are evaluated");
    object_class_property_add_enum(oc, "default", "UsbPolicyAction",
                                   &UsbPolicyAction_lookup,
                                   policy_object_get_default,
                                   policy_object_set_default);
    object_class_property_set_description(oc, "default",
        "action for interfaces that no rule matches");
    object_class_property_add(oc, "devices", "strList",
                              policy_object_get_devices, NULL, NULL, NULL);
    object_class_property_set_description(oc, "devices",
        "the connected devices the policy decides for");
}

static const TypeInfo policy_object_info = {
    .name = TYPE_VDI_USB_POLICY,
    .parent = TYPE_OBJECT,
    .class_init = policy_object_class_init,
    .instance_size = sizeof(VdiUsbPolicyObject),
    .instance_init = policy_object_init,
    .instance_finalize = policy_object_finalize,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

/* The VM's policy object, or NULL; if id is given, it must be that one */
static bool policy_object_named(const char *id, VdiUsbPolicyObject **ps,
                                Error **errp)
{
    VdiUsbPolicyObject *s = policy_object();
    const char *name;

    *ps = s;
    if (!s || !id) {
        return true;
    }
    name = object_get_canonical_path_component(OBJECT(s));
    if (strcmp(name, id)) {
        error_setg(errp, "the VM's USB policy is '%s', not '%s'", name, id);
        return false;
    }
    return true;
}

void qmp_usb_policy_set(UsbPolicyRuleList *rules, UsbPolicyAction dflt,
                        const char *id, Error **errp)
{
    VdiUsbPolicyObject *s;
    Object *obj;

    if (!policy_object_named(id, &s, errp)) {
        return;
    }
    if (s) {
        policy_object_apply(s, rules, dflt, errp);
        return;
    }
    /* the first policy: the VM's vdi-usb-policy object, with these rules */
    obj = object_new(TYPE_VDI_USB_POLICY);
    if (!policy_object_apply(VDI_USB_POLICY(obj), rules, dflt, errp)) {
        object_unref(obj);
        return;
    }
    vdi_vm_object_add(obj, id ? id : DEFAULT_POLICY_ID, errp);
}

UsbPolicy *qmp_query_usb_policy(const char *id, Error **errp)
{
    VdiUsbPolicyObject *s;
    UsbPolicy *q;

    if (!policy_object_named(id, &s, errp)) {
        return NULL;
    }
    if (s) {
        return QAPI_CLONE(UsbPolicy, s->q);
    }
    if (id) {
        error_setg(errp, "the VM has no USB policy '%s'", id);
        return NULL;
    }
    q = g_new0(UsbPolicy, 1);
    q->q_default = USB_POLICY_ACTION_ALLOW;
    return q;
}

static UsbPeripheralInterfaceList *query_ifaces(const VdiUsbGuard *g)
{
    UsbPeripheralInterfaceList *list = NULL, **tail = &list;
    const VdiUsbVerdict *v = vdi_usb_guard_core_verdict(&g->c);
    unsigned k;

    for (k = 0; v && k < v->n_ifaces; k++) {
        const VdiUsbIfaceVerdict *iv = &v->ifaces[k];
        const VdiBotFilter *bot = vdi_usb_guard_core_iface_filter(&g->c, k);
        UsbPeripheralInterface *i = g_new0(UsbPeripheralInterface, 1);

        i->number = iv->number;
        i->iface_class = iv->cls;
        i->iface_subclass = iv->subclass;
        i->iface_protocol = iv->protocol;
        i->decision = iv->decision == VDI_USB_IFACE_HIDDEN ?
            USB_INTERFACE_DECISION_HIDDEN :
            iv->decision == VDI_USB_IFACE_READ_ONLY ?
            USB_INTERFACE_DECISION_READ_ONLY : USB_INTERFACE_DECISION_ALLOWED;
        if (bot) {
            VdiBotStats st;

            vdi_bot_filter_get_stats(bot, &st);
            i->bot_filter = g_new0(UsbBotFilterStats, 1);
            i->bot_filter->commands = st.commands;
            i->bot_filter->passed = st.passed;
            i->bot_filter->blocked = st.blocked;
            i->bot_filter->protocol_errors = st.protocol_errors;
        }
        QAPI_LIST_APPEND(tail, i);
    }
    return list;
}

static UsbPeripheralInfo *guard_info(VdiUsbGuard *g)
{
    UsbPeripheralInfo *info = g_new0(UsbPeripheralInfo, 1);
    VdiUsbGuardState state = vdi_usb_guard_core_state(&g->c);
    bool present = state == VDI_USB_GUARD_CONNECTED ||
        state == VDI_USB_GUARD_ATTACHED;
    const VdiUsbDeviceDesc *d = vdi_usb_guard_core_device(&g->c);
    const VdiUsbVerdict *v = vdi_usb_guard_core_verdict(&g->c);
    const VdiUsbGuardCounters *n = vdi_usb_guard_core_counters(&g->c);
    const char *rule, *reason;

    info->id = vdi_usb_guard_name(g);
    info->kind = g->kind;
    info->chardev = g_strdup(g->chardev);
    info->terminal = g_strdup(g->terminal);
    if (g->own_policy_qapi) {
        info->policy = QAPI_CLONE(UsbPolicy, g->own_policy_qapi);
    }
    info->state = state_to_qapi(state);
    if (d) {
        info->has_vendor_id = info->has_product_id = true;
        info->vendor_id = d->vid;
        info->product_id = d->pid;
        info->has_dev_class = true;
        info->dev_class = d->dev_class;
    }
    if (present && g->udev->speed >= USB_SPEED_LOW &&
        g->udev->speed <= USB_SPEED_SUPER) {
        info->has_speed = true;
        /* USB_SPEED_LOW..SUPER are 0..3, in the same order */
        info->speed = (UsbPeripheralSpeed)g->udev->speed;
    }
    info->interfaces = query_ifaces(g);
    if (g->udev->attached && g->udev->port) {
        info->port = g_strdup(g->udev->port->path);
    }
    vdi_usb_guard_core_refusal(&g->c, &rule, &reason);
    if (v) {
        info->has_verdict = true;
        info->verdict = vdi_usb_action_to_qapi(v->action);
        info->rule = g_strdup(v->rule_id);
        info->reason = g_strdup(v->reason);
    } else if (*reason) {
        /* malformed descriptors */
        info->has_verdict = true;
        info->verdict = USB_POLICY_ACTION_DENY;
        info->rule = g_strdup("");
        info->reason = g_strdup(reason);
    }
    info->bytes_in = n->bytes_in;
    info->bytes_out = n->bytes_out;
    info->blocked = n->blocked;
    return info;
}

UsbPeripheralInfoList *qmp_query_usb_peripherals(Error **errp)
{
    UsbPeripheralInfoList *list = NULL, **tail = &list;
    VdiUsbGuard *g;

    for (g = vdi_usb_guard_next(NULL); g; g = vdi_usb_guard_next(g)) {
        QAPI_LIST_APPEND(tail, guard_info(g));
    }
    return list;
}

/* usb-peripheral-attach / usb-peripheral-detach */

#define PERIPHERAL_CHARDEV_PREFIX "usb-peripheral-"

/* Is obj a USB bus, and the one named *opaque if that is not NULL? */
static int find_usb_bus(Object *obj, void *opaque)
{
    const char *name = opaque;

    return object_dynamic_cast(obj, "usb-bus") &&
        (!name || !strcmp(BUS(obj)->name, name));
}

/* The terminal's address as a string, or NULL (and *errp) if unusable */
static char *terminal_address(const SocketAddress *addr, Error **errp)
{
    const InetSocketAddress *inet;
    unsigned long port;

    switch (addr->type) {
    case SOCKET_ADDRESS_TYPE_INET:
        inet = &addr->u.inet;
        if (!inet->host[0]) {
            error_setg(errp, "the terminal's address has no host");
            return NULL;
        }
        if (qemu_strtoul(inet->port, NULL, 10, &port) < 0 ||
            port == 0 || port > 65535) {
            error_setg(errp, "'%s' is not a TCP port number", inet->port);
            return NULL;
        }
        return strchr(inet->host, ':') ?
            g_strdup_printf("[%s]:%lu", inet->host, port) :
            g_strdup_printf("%s:%lu", inet->host, port);
    case SOCKET_ADDRESS_TYPE_UNIX:
        if (!addr->u.q_unix.path[0]) {
            error_setg(errp, "the terminal's socket path is empty");
            return NULL;
        }
        return g_strdup(addr->u.q_unix.path);
    default:
        error_setg(errp, "a terminal's address must be of type 'inet' or "
                   "'unix', not '%s'", SocketAddressType_str(addr->type));
        return NULL;
    }
}

/* A socket chardev that connects to the terminal */
static bool create_chardev(const char *chr_id, const SocketAddress *addr,
                           bool has_reconnect_ms, uint32_t reconnect_ms,
                           Error **errp)
{
    g_autoptr(ChardevBackend) backend = g_new0(ChardevBackend, 1);
    ChardevSocket *sock = g_new0(ChardevSocket, 1);
    SocketAddressLegacy *legacy = g_new0(SocketAddressLegacy, 1);
    ChardevReturn *ret;

    legacy->type = addr->type;
    if (addr->type == SOCKET_ADDRESS_TYPE_INET) {
        legacy->u.inet.data = QAPI_CLONE(InetSocketAddress, &addr->u.inet);
    } else {
        legacy->u.q_unix.data = QAPI_CLONE(UnixSocketAddress,
                                           &addr->u.q_unix);
    }
    sock->addr = legacy;
    sock->has_server = true;
    sock->server = false;
    if (has_reconnect_ms && reconnect_ms) {
        sock->has_reconnect_ms = true;
        sock->reconnect_ms = reconnect_ms;
    }
    backend->type = CHARDEV_BACKEND_KIND_SOCKET;
    backend->u.socket.data = sock;

    ret = qmp_chardev_add(chr_id, backend, errp);
    qapi_free_ChardevReturn(ret);
    return ret != NULL;
}

static VdiUsbGuard *find_guard(const char *id)
{
    VdiUsbGuard *g;

    for (g = vdi_usb_guard_next(NULL); g; g = vdi_usb_guard_next(g)) {
        DeviceState *d = DEVICE(g->udev);

        if (d->id && !strcmp(d->id, id)) {
            return g;
        }
    }
    return NULL;
}

UsbPeripheralInfo *qmp_usb_peripheral_attach(const char *id,
                                             SocketAddress *addr,
                                             const char *bus,
                                             bool has_reconnect_ms,
                                             uint32_t reconnect_ms,
                                             UsbPolicy *own,
                                             Error **errp)
{
    g_autofree char *chr_id = g_strconcat(PERIPHERAL_CHARDEV_PREFIX, id,
                                          NULL);
    g_autofree char *terminal = NULL;
    g_autoptr(QDict) opts = NULL;
    VdiUsbPolicy *own_policy = NULL;
    DeviceState *dev;
    VdiUsbGuard *g;

    if (!id_wellformed(id)) {
        error_setg(errp, "'%s' is not a valid device id", id);
        return NULL;
    }
    if (object_resolve_path_component(machine_get_container("peripheral"),
                                      id)) {
        error_setg(errp, "a device with id '%s' already exists", id);
        return NULL;
    }
    if (qemu_chr_find(chr_id)) {
        error_setg(errp, "a chardev with id '%s' already exists", chr_id);
        return NULL;
    }
    terminal = terminal_address(addr, errp);
    if (!terminal) {
        return NULL;
    }
    if (!object_class_by_name("usb-redir")) {
        error_setg(errp, "this QEMU has no usb-redir device");
        return NULL;
    }
    if (!object_child_foreach_recursive(object_get_root(), find_usb_bus,
                                        NULL)) {
        error_setg(errp, "the VM has no USB bus: add a USB controller "
                   "such as qemu-xhci first");
        return NULL;
    }
    if (bus && !object_child_foreach_recursive(object_get_root(),
                                               find_usb_bus, (void *)bus)) {
        error_setg(errp, "the VM has no USB bus '%s'", bus);
        return NULL;
    }
    if (own) {
        own_policy = policy_from_qapi(own->rules, own->q_default, errp);
        if (!own_policy) {
            return NULL;
        }
    }

    if (!create_chardev(chr_id, addr, has_reconnect_ms, reconnect_ms,
                        errp)) {
        error_prepend(errp, "cannot reach the terminal at %s: ", terminal);
        vdi_usb_policy_free(own_policy);
        return NULL;
    }
    opts = qdict_new();
    qdict_put_str(opts, "driver", "usb-redir");
    qdict_put_str(opts, "id", id);
    qdict_put_str(opts, "chardev", chr_id);
    if (bus) {
        qdict_put_str(opts, "bus", bus);
    }
    dev = qdev_device_add_from_qdict(opts, false, errp);
    if (!dev) {
        /* usb-redir deletes its chardev if it was realized */
        if (qemu_chr_find(chr_id)) {
            qmp_chardev_remove(chr_id, NULL);
        }
        vdi_usb_policy_free(own_policy);
        return NULL;
    }
    object_unref(OBJECT(dev));

    /*
     * The peer's device_connect is read from the main loop, so the
     * device is not evaluated before it gets its own policy here.
     */
    g = find_guard(id);
    assert(g && g->udev == USB_DEVICE(dev));
    g->terminal = g_steal_pointer(&terminal);
    g->own_policy = own_policy;
    g->own_policy_qapi = own ? QAPI_CLONE(UsbPolicy, own) : NULL;
    return guard_info(g);
}

void qmp_usb_peripheral_detach(const char *id, Error **errp)
{
    VdiUsbGuard *g = find_guard(id);
    g_autofree char *chr_id = NULL;
    Error *local_err = NULL;

    if (!g) {
        error_setg(errp, "no USB peripheral '%s'", id);
        return;
    }
    if (!g->terminal) {
        error_setg(errp, "USB peripheral '%s' was not attached with "
                   "usb-peripheral-attach; use device_del", id);
        return;
    }
    chr_id = g_strdup(g->chardev);
    qdev_unplug(DEVICE(g->udev), &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        return;
    }
    /* usb-redir removes its chardev when it is unrealized; make sure */
    if (qemu_chr_find(chr_id)) {
        qmp_chardev_remove(chr_id, NULL);
    }
}

static void vdi_usb_peripheral_register(void)
{
    type_register_static(&policy_object_info);
    /* 2: the vdi-usb-policy object, usb-policy-set's id */
    vdi_extension_register("usb-policy", 2);
}

type_init(vdi_usb_peripheral_register);
