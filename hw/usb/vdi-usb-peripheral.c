/*
 * VDI host: the QMP side of the USB peripheral policy
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * usb-policy-set and query-usb-policy, query-usb-peripherals, and
 * usb-peripheral-attach / usb-peripheral-detach, which plug a terminal's
 * peripheral in one step.  The guards themselves and the VM's policy are
 * vdi-usb-guard.c's.
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

/* The policy as usb-policy-set gave it, for query-usb-policy */
static UsbPolicy *policy_qapi;

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

void qmp_usb_policy_set(UsbPolicyRuleList *rules, UsbPolicyAction dflt,
                        Error **errp)
{
    VdiUsbPolicy *p = policy_from_qapi(rules, dflt, errp);
    UsbPolicy q = { .rules = rules, .q_default = dflt };

    if (!p) {
        return;
    }
    qapi_free_UsbPolicy(policy_qapi);
    policy_qapi = QAPI_CLONE(UsbPolicy, &q);
    vdi_usb_guard_set_policy(p);
}

UsbPolicy *qmp_query_usb_policy(Error **errp)
{
    UsbPolicy *q;

    if (policy_qapi) {
        return QAPI_CLONE(UsbPolicy, policy_qapi);
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
    vdi_extension_register("usb-policy", 1);
}

type_init(vdi_usb_peripheral_register);
