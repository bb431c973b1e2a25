/*
 * VDI host: the per-VM USB peripheral policy applied to redirected devices
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Glue between the policy engine (vdi-usb-policy.c), the read-only
 * Bulk-Only filter (vdi-bot-filter.c), QMP and the device models.  See
 * vdi-usb-guard.h for how a device model uses it.
 */

#include "qemu/osdep.h"
#include "hw/vdi/vdi-extension.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/module.h"
#include "qapi/clone-visitor.h"
#include "qapi/qapi-commands-usb-policy.h"
#include "qapi/qapi-events-usb-policy.h"
#include "qapi/qapi-visit-usb-policy.h"
#include "qapi/qapi-commands-char.h"
#include "qobject/qdict.h"
#include "hw/qdev-core.h"
#include "monitor/qdev.h"
#include "chardev/char.h"
#include "qemu/id.h"
#include "vdi-usb-guard.h"

/* The policy; without usb-policy-set everything is allowed, as before */
static VdiUsbPolicy *policy;
static UsbPolicy *policy_qapi;
static QTAILQ_HEAD(, VdiUsbGuard) guards = QTAILQ_HEAD_INITIALIZER(guards);

static VdiUsbPolicy *get_policy(void)
{
    if (!policy) {
        policy = vdi_usb_policy_new(VDI_USB_ACTION_ALLOW);
    }
    return policy;
}

/* The policy that decides for this device */
static const VdiUsbPolicy *guard_policy(VdiUsbGuard *g)
{
    return g->own_policy ? g->own_policy : get_policy();
}

static UsbPolicyAction action_to_qapi(VdiUsbAction a)
{
    switch (a) {
    case VDI_USB_ACTION_DENY:
        return USB_POLICY_ACTION_DENY;
    case VDI_USB_ACTION_READ_ONLY:
        return USB_POLICY_ACTION_READ_ONLY;
    default:
        return USB_POLICY_ACTION_ALLOW;
    }
}

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

/* The name devices have in events and queries: qdev id, else QOM path */
static char *guard_name(VdiUsbGuard *g)
{
    DeviceState *d = DEVICE(g->udev);

    return d->id ? g_strdup(d->id) : object_get_canonical_path(OBJECT(d));
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

void vdi_usb_guard_init(VdiUsbGuard *g, USBDevice *udev,
                        UsbPeripheralKind kind, const char *chardev,
                        const VdiUsbGuardOps *ops)
{
    memset(g, 0, sizeof(*g));
    g->udev = udev;
    g->ops = ops;
    g->kind = kind;
    g->chardev = g_strdup(chardev);
    vdi_usb_guard_core_init(&g->c);
    QTAILQ_INSERT_TAIL(&guards, g, next);
}

void vdi_usb_guard_finalize(VdiUsbGuard *g)
{
    if (g->c.state == VDI_USB_GUARD_ATTACHED) {
        /* unplugged (device_del, usb-peripheral-detach) while attached */
        g_autofree char *name = guard_name(g);

        qapi_event_send_usb_peripheral_detached(name);
    }
    vdi_usb_guard_core_clear(&g->c);
    g_free(g->chardev);
    g_free(g->terminal);
    vdi_usb_policy_free(g->own_policy);
    qapi_free_UsbPolicy(g->own_policy_qapi);
    QTAILQ_REMOVE(&guards, g, next);
}

/* The core refused the device: say so */
static void report_refusal(VdiUsbGuard *g)
{
    g_autofree char *name = guard_name(g);
    const char *rule, *reason;

    vdi_usb_guard_core_refusal(&g->c, &rule, &reason);
    warn_report("%s %s: device %04x:%04x refused: %s",
                g->kind == USB_PERIPHERAL_KIND_HOST ? "usb-host" : "usb-redir",
                name, g->c.dev_desc.vid, g->c.dev_desc.pid, reason);
    qapi_event_send_usb_peripheral_rejected(name, g->c.dev_desc.vid,
                                            g->c.dev_desc.pid, rule, reason);
}

void vdi_usb_guard_connect(VdiUsbGuard *g, VdiUsbGuardRequest *first)
{
    vdi_usb_guard_core_connect(&g->c, first);
}

VdiUsbGuardFetch vdi_usb_guard_reply(VdiUsbGuard *g, uint64_t id, bool ok,
                                     const uint8_t *data, size_t len,
                                     VdiUsbGuardRequest *next)
{
    VdiUsbGuardFetch r = vdi_usb_guard_core_reply(&g->c, guard_policy(g), id,
                                                  ok, data, len, next);

    if (r == VDI_USB_GUARD_DENIED) {
        report_refusal(g);
    }
    return r;
}

VdiUsbGuardFetch vdi_usb_guard_fetch_sync(VdiUsbGuard *g, VdiUsbGuardXfer xfer,
                                          void *opaque)
{
    VdiUsbGuardFetch r = vdi_usb_guard_core_fetch_sync(&g->c, guard_policy(g),
                                                       xfer, opaque);

    if (r == VDI_USB_GUARD_DENIED) {
        report_refusal(g);
    }
    return r;
}

void vdi_usb_guard_attached(VdiUsbGuard *g)
{
    g_autofree char *name = guard_name(g);

    vdi_usb_guard_core_attached(&g->c);
    if (!g->c.verdict) {
        /* attached without evaluation, e.g. after migration */
        return;
    }
    qapi_event_send_usb_peripheral_attached(
        name, g->c.dev_desc.vid, g->c.dev_desc.pid,
        action_to_qapi(g->c.verdict->action), g->c.verdict->rule_id);
}

void vdi_usb_guard_disconnected(VdiUsbGuard *g, bool was_attached)
{
    if (was_attached) {
        g_autofree char *name = guard_name(g);

        qapi_event_send_usb_peripheral_detached(name);
    }
    vdi_usb_guard_core_disconnected(&g->c);
}

/* Data path */

bool vdi_usb_guard_enforcing(const VdiUsbGuard *g)
{
    return vdi_usb_guard_core_enforcing(&g->c);
}

bool vdi_usb_guard_read_only(const VdiUsbGuard *g)
{
    return vdi_usb_guard_core_read_only(&g->c);
}

bool vdi_usb_guard_control_allowed(const VdiUsbGuard *g, int request,
                                   int value, int index)
{
    return vdi_usb_guard_core_control_allowed(&g->c, request, value, index);
}

bool vdi_usb_guard_endpoint_allowed(const VdiUsbGuard *g, uint8_t ep)
{
    return vdi_usb_guard_core_endpoint_allowed(&g->c, ep);
}

VdiBotFilter *vdi_usb_guard_bot_filter(const VdiUsbGuard *g, uint8_t ep)
{
    return vdi_usb_guard_core_bot_filter(&g->c, ep);
}

void vdi_usb_guard_reset_bot(VdiUsbGuard *g)
{
    vdi_usb_guard_core_reset_bot(&g->c);
}

void vdi_usb_guard_bot_in_naked(VdiUsbGuard *g, uint8_t ep)
{
    g->bot_in_naked |= 1u << (ep & 0x0f);
}

/*
 * A bulk IN that comes before its command is NAKed by the filter, and
 * host controllers such as xHCI retry a NAKed bulk transfer only when
 * the endpoint is woken: do so once an OUT packet changed whose turn it
 * is, or the guest would wait for ever.
 */
void vdi_usb_guard_bot_wake_in(VdiUsbGuard *g, VdiBotFilter *bot)
{
    int nr;

    for (nr = 1; nr < USB_MAX_ENDPOINTS; nr++) {
        if ((g->bot_in_naked & (1u << nr)) &&
            vdi_usb_guard_bot_filter(g, USB_DIR_IN | nr) == bot) {
            g->bot_in_naked &= ~(1u << nr);
            usb_wakeup(usb_ep_get(g->udev, USB_TOKEN_IN, nr), 0);
        }
    }
}

const uint8_t *vdi_usb_guard_config_desc(const VdiUsbGuard *g, size_t *len)
{
    return vdi_usb_guard_core_config_desc(&g->c, len);
}

/* Policy changes */

static void reevaluate(VdiUsbGuard *g)
{
    g_autofree char *name = guard_name(g);

    switch (vdi_usb_guard_core_reevaluate(&g->c, guard_policy(g))) {
    case VDI_USB_GUARD_SAME:
        break;
    case VDI_USB_GUARD_NOW_DENIED:
        report_refusal(g);
        g->ops->reject(g);
        break;
    case VDI_USB_GUARD_CHANGED:
        qapi_event_send_usb_peripheral_detached(name);
        g->ops->replug(g);
        break;
    }
}

/* QMP */

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

void qmp_usb_policy_set(UsbPolicyRuleList *rules, UsbPolicyAction dflt,
                        Error **errp)
{
    VdiUsbPolicy *p = policy_from_qapi(rules, dflt, errp);
    UsbPolicy q = { .rules = rules, .q_default = dflt };
    VdiUsbGuard *g, *tmp;

    if (!p) {
        return;
    }
    vdi_usb_policy_free(policy);
    policy = p;
    qapi_free_UsbPolicy(policy_qapi);
    policy_qapi = QAPI_CLONE(UsbPolicy, &q);

    /*
     * Peripherals with a policy of their own keep it.  ops->reject() may
     * disconnect the device, but never removes it.
     */
    QTAILQ_FOREACH_SAFE(g, &guards, next, tmp) {
        if (!g->own_policy) {
            reevaluate(g);
        }
    }
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
    unsigned k;

    for (k = 0; g->c.verdict && k < g->c.verdict->n_ifaces; k++) {
        const VdiUsbIfaceVerdict *iv = &g->c.verdict->ifaces[k];
        UsbPeripheralInterface *i = g_new0(UsbPeripheralInterface, 1);

        i->number = iv->number;
        i->iface_class = iv->cls;
        i->iface_subclass = iv->subclass;
        i->iface_protocol = iv->protocol;
        i->decision = iv->decision == VDI_USB_IFACE_HIDDEN ?
            USB_INTERFACE_DECISION_HIDDEN :
            iv->decision == VDI_USB_IFACE_READ_ONLY ?
            USB_INTERFACE_DECISION_READ_ONLY : USB_INTERFACE_DECISION_ALLOWED;
        if (g->c.bot[k]) {
            VdiBotStats st;

            vdi_bot_filter_get_stats(g->c.bot[k], &st);
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
    bool present = g->c.state == VDI_USB_GUARD_CONNECTED ||
        g->c.state == VDI_USB_GUARD_ATTACHED;

    info->id = guard_name(g);
    info->kind = g->kind;
    info->chardev = g_strdup(g->chardev);
    info->terminal = g_strdup(g->terminal);
    if (g->own_policy_qapi) {
        info->policy = QAPI_CLONE(UsbPolicy, g->own_policy_qapi);
    }
    info->state = state_to_qapi(g->c.state);
    if (g->c.have_dev_desc) {
        info->has_vendor_id = info->has_product_id = true;
        info->vendor_id = g->c.dev_desc.vid;
        info->product_id = g->c.dev_desc.pid;
        info->has_dev_class = true;
        info->dev_class = g->c.dev_desc.dev_class;
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
    if (g->c.verdict) {
        info->has_verdict = true;
        info->verdict = action_to_qapi(g->c.verdict->action);
        info->rule = g_strdup(g->c.verdict->rule_id);
        info->reason = g_strdup(g->c.verdict->reason);
    } else if (g->c.reject_reason) {
        info->has_verdict = true;
        info->verdict = USB_POLICY_ACTION_DENY;
        info->rule = g_strdup("");
        info->reason = g_strdup(g->c.reject_reason);
    }
    info->bytes_in = g->bytes_in;
    info->bytes_out = g->bytes_out;
    return info;
}

UsbPeripheralInfoList *qmp_query_usb_peripherals(Error **errp)
{
    UsbPeripheralInfoList *list = NULL, **tail = &list;
    VdiUsbGuard *g;

    QTAILQ_FOREACH(g, &guards, next) {
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

    QTAILQ_FOREACH(g, &guards, next) {
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

static void vdi_usb_guard_register(void)
{
    vdi_extension_register("usb-policy", 1);
}

type_init(vdi_usb_guard_register);
