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
#include "qemu/iov.h"
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
                        bool suppress_remote_wake, const VdiUsbGuardOps *ops)
{
    memset(g, 0, sizeof(*g));
    g->udev = udev;
    g->ops = ops;
    g->kind = kind;
    g->chardev = g_strdup(chardev);
    g->suppress_remote_wake = suppress_remote_wake;
    vdi_usb_guard_core_init(&g->c);
    QTAILQ_INSERT_TAIL(&guards, g, next);
    udev->guard = g;
}

void vdi_usb_guard_finalize(VdiUsbGuard *g)
{
    if (g->c.state == VDI_USB_GUARD_ATTACHED) {
        /* unplugged (device_del, usb-peripheral-detach) while attached */
        g_autofree char *name = guard_name(g);

        qapi_event_send_usb_peripheral_detached(name);
    }
    g->udev->guard = NULL;
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

const char *vdi_usb_guard_refusal(const VdiUsbGuard *g)
{
    const char *rule, *reason;

    if (g->c.state != VDI_USB_GUARD_REJECTED) {
        return NULL;
    }
    vdi_usb_guard_core_refusal(&g->c, &rule, &reason);
    return reason;
}

void vdi_usb_guard_connect(VdiUsbGuard *g)
{
    VdiUsbGuardRequest req;

    vdi_usb_guard_core_connect(&g->c, &req);
    g->ops->fetch(g, &req);
}

/* A verdict is in force: does the transport agree with the descriptors? */
static VdiUsbGuardFetch check_peer(VdiUsbGuard *g, VdiUsbGuardFetch r)
{
    if (r == VDI_USB_GUARD_DONE && g->has_peer &&
        !vdi_usb_guard_core_check_peer(&g->c, &g->peer)) {
        r = VDI_USB_GUARD_DENIED;
    }
    if (r == VDI_USB_GUARD_DENIED) {
        report_refusal(g);
    }
    return r;
}

VdiUsbGuardFetch vdi_usb_guard_reply(VdiUsbGuard *g, uint64_t id, bool ok,
                                     const uint8_t *data, size_t len)
{
    VdiUsbGuardRequest next;
    VdiUsbGuardFetch r = vdi_usb_guard_core_reply(&g->c, guard_policy(g), id,
                                                  ok, data, len, &next);

    if (r == VDI_USB_GUARD_MORE) {
        g->ops->fetch(g, &next);
    }
    return check_peer(g, r);
}

VdiUsbGuardFetch vdi_usb_guard_fetch_sync(VdiUsbGuard *g, VdiUsbGuardXfer xfer,
                                          void *opaque)
{
    return check_peer(g, vdi_usb_guard_core_fetch_sync(&g->c, guard_policy(g),
                                                       xfer, opaque));
}

bool vdi_usb_guard_peer_view(VdiUsbGuard *g, const VdiUsbPeerView *v)
{
    g->peer = *v;
    g->has_peer = true;
    if (vdi_usb_guard_core_check_peer(&g->c, v)) {
        return true;
    }
    report_refusal(g);
    return false;
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
    g->has_peer = false;
    vdi_usb_guard_core_disconnected(&g->c);
}

bool vdi_usb_guard_read_only(const VdiUsbGuard *g)
{
    return vdi_usb_guard_core_read_only(&g->c);
}

/* The data path: hw/usb/core.c calls these for every packet */

static uint8_t packet_ep(const USBPacket *p)
{
    return p->ep->nr | (p->pid == USB_TOKEN_IN ? USB_DIR_IN : 0);
}

/*
 * Is this a packet of the guest's at all?  The guard's own ids are never
 * the guest's (see VDI_USB_GUARD_ID_BASE); a packet that claims one is
 * refused rather than mistaken for a reply to the guard.
 */
static bool foreign_id(VdiUsbGuard *g, USBPacket *p)
{
    if (!vdi_usb_guard_owns_id(p->id)) {
        return false;
    }
    g->c.counters.blocked++;
    p->status = USB_RET_STALL;
    return true;
}

bool vdi_usb_guard_control(VdiUsbGuard *g, USBPacket *p, int request,
                           int value, int index, int length, uint8_t *data)
{
    size_t len;

    if (foreign_id(g, p)) {
        return true;
    }
    switch (vdi_usb_guard_core_control(&g->c, request, value, index, length,
                                       data, &len)) {
    case VDI_USB_GUARD_ANSWER:
        if (g->suppress_remote_wake && value == USB_DT_CONFIG << 8 &&
            len > 7) {
            data[7] &= ~USB_CFG_ATT_WAKEUP;
        }
        /* a SuperSpeed device behind a port without SuperSpeed */
        if (value == USB_DT_DEVICE << 8 && g->udev->speed == USB_SPEED_SUPER &&
            g->udev->port &&
            !(g->udev->port->speedmask & USB_SPEED_MASK_SUPER) &&
            len > 7 && data[7] == 9) {
            data[7] = 64;
        }
        p->actual_length = len;
        p->status = USB_RET_SUCCESS;
        return true;
    case VDI_USB_GUARD_PASS:
        return false;
    default:
        p->status = USB_RET_STALL;
        return true;
    }
}

void vdi_usb_guard_control_done(VdiUsbGuard *g, USBPacket *p, int request)
{
    vdi_usb_guard_core_control_done(&g->c, request,
                                    p->status == USB_RET_SUCCESS,
                                    p->actual_length);
}

/*
 * A bulk IN that comes before its command is NAKed by the filter, and
 * host controllers such as xHCI retry a NAKed bulk transfer only when
 * the endpoint is woken: do so once an OUT packet changed whose turn it
 * is, or the guest would wait for ever.
 */
static void bot_wake_in(VdiUsbGuard *g, uint8_t out_ep)
{
    VdiBotFilter *bot = vdi_usb_guard_core_bot_filter(&g->c, out_ep);
    int nr;

    for (nr = 1; bot && nr < USB_MAX_ENDPOINTS; nr++) {
        if ((g->bot_in_naked & (1u << nr)) &&
            vdi_usb_guard_core_bot_filter(&g->c, USB_DIR_IN | nr) == bot) {
            g->bot_in_naked &= ~(1u << nr);
            usb_wakeup(usb_ep_get(g->udev, USB_TOKEN_IN, nr), 0);
        }
    }
}

/*
 * An OUT packet passes as the copy the guard checked, never as guest
 * memory the guest could change in between: the device model reads it
 * from a bounce buffer.
 */
static void handle_out(VdiUsbGuard *g, USBPacket *p, uint8_t ep)
{
    size_t size = usb_packet_size(p);
    g_autofree uint8_t *buf = NULL;
    g_autofree char *err = NULL;
    const uint8_t *fwd;
    size_t fwd_len;
    QEMUIOVector guest_iov;
    struct iovec bounce;

    if (vdi_usb_guard_core_bot_filter(&g->c, ep)) {
        /* only a Bulk-Only filter reads what the guest sends */
        buf = g_malloc(MAX(size, 1));
        iov_to_buf(p->iov.iov, p->iov.niov, 0, buf, size);
    }
    switch (vdi_usb_guard_core_out(&g->c, ep, buf, size, &fwd, &fwd_len,
                                   &err)) {
    case VDI_USB_GUARD_PASS:
        break;
    case VDI_USB_GUARD_ANSWER:
        usb_packet_skip(p, size);
        p->status = USB_RET_SUCCESS;
        bot_wake_in(g, ep);
        return;
    default:
        if (err) {
            warn_report("USB device %s: read-only mass storage: %s",
                        g->udev->product_desc, err);
        }
        p->status = USB_RET_STALL;
        return;
    }
    if (!fwd) {
        usb_device_handle_data(g->udev, p);
        return;
    }
    bounce.iov_base = (void *)fwd;
    bounce.iov_len = fwd_len;
    guest_iov = p->iov;
    qemu_iovec_init_external(&p->iov, &bounce, 1);
    usb_device_handle_data(g->udev, p);
    p->iov = guest_iov;
    if (p->status == USB_RET_SUCCESS) {
        /* the guest's packet is consumed whole once the device has the CBW */
        p->actual_length = size;
    }
    bot_wake_in(g, ep);
}

static void in_done(VdiUsbGuard *g, USBPacket *p)
{
    g_autofree uint8_t *buf = g_malloc(MAX(p->actual_length, 1));
    g_autofree char *err = NULL;
    bool ok = p->status == USB_RET_SUCCESS;

    iov_to_buf(p->iov.iov, p->iov.niov, 0, buf, p->actual_length);
    if (!vdi_usb_guard_core_in_done(&g->c, packet_ep(p), ok,
                                    p->status == USB_RET_STALL, buf,
                                    p->actual_length, usb_packet_size(p),
                                    &err)) {
        warn_report("USB device %s: read-only mass storage: %s",
                    g->udev->product_desc, err);
        p->status = USB_RET_STALL;
        p->actual_length = 0;
        return;
    }
    if (ok) {
        /* the filter may have edited it (MODE SENSE write protection) */
        iov_from_buf(p->iov.iov, p->iov.niov, 0, buf, p->actual_length);
    }
}

void vdi_usb_guard_handle_data(VdiUsbGuard *g, USBPacket *p)
{
    uint8_t ep = packet_ep(p);
    USBPacket *first = usb_ep_find_packet_by_id(g->udev, p->pid, p->ep->nr,
                                                p->id);
    uint8_t buf[64];    /* more than a CSW or the filter's sense data */
    size_t len;

    if (first && first != p) {
        /* resubmitted while in flight: the device model knows it */
        usb_device_handle_data(g->udev, p);
        return;
    }
    if (foreign_id(g, p)) {
        return;
    }
    if (vdi_usb_guard_core_bot_filter(&g->c, ep)) {
        /* the filter completes packets synchronously, in order */
        p->ep->pipeline = false;
    }
    if (!(ep & USB_DIR_IN)) {
        handle_out(g, p, ep);
        return;
    }
    switch (vdi_usb_guard_core_in(&g->c, ep, usb_packet_size(p), buf,
                                  sizeof(buf), &len)) {
    case VDI_USB_GUARD_PASS:
        usb_device_handle_data(g->udev, p);
        if (p->status != USB_RET_ASYNC && p->status != USB_RET_NAK &&
            p->status != USB_RET_ADD_TO_QUEUE) {
            in_done(g, p);
        }
        return;
    case VDI_USB_GUARD_ANSWER:
        usb_packet_copy(p, buf, len);
        p->status = USB_RET_SUCCESS;
        return;
    case VDI_USB_GUARD_NAK:
        g->bot_in_naked |= 1u << p->ep->nr;
        p->status = USB_RET_NAK;
        return;
    default:
        p->status = USB_RET_STALL;
        return;
    }
}

void vdi_usb_guard_complete(VdiUsbGuard *g, USBPacket *p)
{
    if (p->ep->nr == 0) {
        return;     /* control: see vdi_usb_guard_control_done() */
    }
    if (p->pid == USB_TOKEN_IN) {
        in_done(g, p);
    } else if (p->status == USB_RET_SUCCESS &&
               vdi_usb_guard_core_bot_filter(&g->c, packet_ep(p))) {
        /* the device got the checked CBW: the guest's packet is done */
        p->actual_length = usb_packet_size(p);
    }
}

void vdi_usb_guard_reset(VdiUsbGuard *g)
{
    VdiUsbGuardRequest req;

    vdi_usb_guard_core_reset_bot(&g->c);
    /* a device the guest resets is read again: has its story changed? */
    if (g->ops->fetch && g->c.state == VDI_USB_GUARD_ATTACHED &&
        g->c.verdict && !g->c.fetch_step) {
        vdi_usb_guard_core_check(&g->c, &req);
        g->ops->fetch(g, &req);
    }
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
    info->bytes_in = g->c.counters.bytes_in;
    info->bytes_out = g->c.counters.bytes_out;
    info->blocked = g->c.counters.blocked;
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
