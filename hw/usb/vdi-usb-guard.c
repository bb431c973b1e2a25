/*
 * VDI host: the per-VM USB peripheral policy applied to redirected devices
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Glue between the guard core (vdi-usb-guard-core.c) and the device
 * models and the USB core: the VM's policy, the list of guards, events,
 * and every packet of a guarded device.  See vdi-usb-guard.h for how a
 * device model uses it; the QMP commands are vdi-usb-peripheral.c.
 */

#include "qemu/osdep.h"
#include "qemu/iov.h"
#include "qemu/error-report.h"
#include "qapi/qapi-events-usb-policy.h"
#include "hw/qdev-core.h"
#include "vdi-usb-guard.h"

static QTAILQ_HEAD(, VdiUsbGuard) guards = QTAILQ_HEAD_INITIALIZER(guards);

/* The vdi-usb-policy object's; without one everything is allowed */
static const VdiUsbPolicy *get_policy(void)
{
    static VdiUsbPolicy *allow_all;
    const VdiUsbPolicy *p = vdi_usb_vm_policy();

    if (p) {
        return p;
    }
    if (!allow_all) {
        allow_all = vdi_usb_policy_new(VDI_USB_ACTION_ALLOW);
    }
    return allow_all;
}

/* The policy that decides for this device */
static const VdiUsbPolicy *guard_policy(VdiUsbGuard *g)
{
    return g->own_policy ? g->own_policy : get_policy();
}

UsbPolicyAction vdi_usb_action_to_qapi(VdiUsbAction a)
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

/* The name devices have in events and queries: qdev id, else QOM path */
char *vdi_usb_guard_name(VdiUsbGuard *g)
{
    DeviceState *d = DEVICE(g->udev);

    return d->id ? g_strdup(d->id) : object_get_canonical_path(OBJECT(d));
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
    if (vdi_usb_guard_core_state(&g->c) == VDI_USB_GUARD_ATTACHED) {
        /* unplugged (device_del, usb-peripheral-detach) while attached */
        g_autofree char *name = vdi_usb_guard_name(g);

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

/* The device descriptor, zeros until the device gave one */
static const VdiUsbDeviceDesc *device_desc(const VdiUsbGuard *g)
{
    static const VdiUsbDeviceDesc none;
    const VdiUsbDeviceDesc *d = vdi_usb_guard_core_device(&g->c);

    return d ? d : &none;
}

/* The core refused the device: say so */
static void report_refusal(VdiUsbGuard *g)
{
    g_autofree char *name = vdi_usb_guard_name(g);
    const VdiUsbDeviceDesc *d = device_desc(g);
    const char *rule, *reason;

    vdi_usb_guard_core_refusal(&g->c, &rule, &reason);
    warn_report("%s %s: device %04x:%04x refused: %s",
                g->kind == USB_PERIPHERAL_KIND_HOST ? "usb-host" : "usb-redir",
                name, d->vid, d->pid, reason);
    qapi_event_send_usb_peripheral_rejected(name, d->vid, d->pid, rule,
                                            reason);
}

const char *vdi_usb_guard_refusal(const VdiUsbGuard *g)
{
    const char *rule, *reason;

    if (vdi_usb_guard_core_state(&g->c) != VDI_USB_GUARD_REJECTED) {
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
    g_autofree char *name = vdi_usb_guard_name(g);
    const VdiUsbVerdict *v = vdi_usb_guard_core_verdict(&g->c);

    vdi_usb_guard_core_attached(&g->c);
    if (!v) {
        /* attached without evaluation, e.g. after migration */
        return;
    }
    qapi_event_send_usb_peripheral_attached(
        name, device_desc(g)->vid, device_desc(g)->pid,
        vdi_usb_action_to_qapi(v->action), v->rule_id);
}

void vdi_usb_guard_disconnected(VdiUsbGuard *g, bool was_attached)
{
    if (was_attached) {
        g_autofree char *name = vdi_usb_guard_name(g);

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

bool vdi_usb_guard_control(VdiUsbGuard *g, USBPacket *p, int request,
                           int value, int index, int length, uint8_t *data)
{
    size_t len;

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
    if (g->ops->fetch &&
        vdi_usb_guard_core_state(&g->c) == VDI_USB_GUARD_ATTACHED &&
        vdi_usb_guard_core_verdict(&g->c) &&
        !vdi_usb_guard_core_fetching(&g->c)) {
        vdi_usb_guard_core_check(&g->c, &req);
        g->ops->fetch(g, &req);
    }
}

/* Policy changes */

static void reevaluate(VdiUsbGuard *g)
{
    g_autofree char *name = vdi_usb_guard_name(g);

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

void vdi_usb_guard_policy_changed(void)
{
    VdiUsbGuard *g, *tmp;

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

VdiUsbGuard *vdi_usb_guard_next(VdiUsbGuard *g)
{
    return g ? QTAILQ_NEXT(g, next) : QTAILQ_FIRST(&guards);
}
