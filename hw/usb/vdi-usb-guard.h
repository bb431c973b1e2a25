/*
 * VDI host: the per-VM USB peripheral policy applied to redirected devices
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The VM's policy is its vdi-usb-policy object (vdi-usb-peripheral.c),
 * set with -object, object-add, qom-set or usb-policy-set.  A
 * USB device model that passes a peripheral through (usb-redir, usb-host)
 * embeds one VdiUsbGuard, which vdi_usb_guard_init() makes the device's
 * USBDevice.guard: from then on the USB core (hw/usb/core.c) hands every
 * control request and data packet of the device to the guard before the
 * device model sees it, and the guard answers GET_DESCRIPTOR itself,
 * refuses what the policy hides, runs the read-only Bulk-Only filters
 * and counts the traffic.  The device model only:
 *
 *  1. on connect, calls vdi_usb_guard_connect(), which sends the guard's
 *     GET_DESCRIPTOR requests through ops->fetch(), and feeds each reply
 *     to vdi_usb_guard_reply() until that says DONE (attach) or DENIED
 *     (reject the device; the guard has emitted USB_PERIPHERAL_REJECTED);
 *     or, if it can carry out requests synchronously, calls
 *     vdi_usb_guard_fetch_sync() instead;
 *  2. tells the guard what its transport says about the device with
 *     vdi_usb_guard_peer_view(), and rejects the device if that disagrees
 *     with the descriptors the policy evaluated;
 *  3. calls vdi_usb_guard_attached() once the guest sees the device and
 *     vdi_usb_guard_disconnected() when it goes away.
 *
 * When the policy changes, the guard calls ops->reject() for attached
 * devices the policy now denies and ops->replug() for those whose verdict
 * changed otherwise; with ops->fetch, a device the guest resets is read
 * again, and ops->reject() is called if its descriptors changed.
 */

#ifndef HW_USB_VDI_USB_GUARD_H
#define HW_USB_VDI_USB_GUARD_H

#include "qemu/queue.h"
#include "hw/usb.h"
#include "qapi/qapi-types-usb-policy.h"
#include "vdi-usb-guard-core.h"

typedef struct VdiUsbGuardOps {
    /* The policy now denies the device: detach it and refuse it */
    void (*reject)(VdiUsbGuard *g);
    /* The verdict changed: detach the device and attach it again */
    void (*replug)(VdiUsbGuard *g);
    /*
     * Send one of the guard's GET_DESCRIPTOR requests to the device; its
     * reply goes to vdi_usb_guard_reply().  NULL for synchronous fetches.
     */
    void (*fetch)(VdiUsbGuard *g, const VdiUsbGuardRequest *req);
} VdiUsbGuardOps;

struct VdiUsbGuard {
    /* set by vdi_usb_guard_init() */
    USBDevice *udev;
    const VdiUsbGuardOps *ops;
    UsbPeripheralKind kind;
    char *chardev;              /* redir: its chardev's id */
    bool suppress_remote_wake;  /* clear it in the configuration served */
    QTAILQ_ENTRY(VdiUsbGuard) next;
    /* set by usb-peripheral-attach */
    char *terminal;             /* the terminal's address, or NULL */
    VdiUsbPolicy *own_policy;   /* the peripheral's own policy, or NULL */
    UsbPolicy *own_policy_qapi;

    VdiUsbGuardCore c;          /* what the policy decided */
    bool has_peer;
    VdiUsbPeerView peer;        /* what the transport said last */
    uint16_t bot_in_naked;      /* bulk IN endpoints a BOT filter NAKed */
};

void vdi_usb_guard_init(VdiUsbGuard *g, USBDevice *udev,
                        UsbPeripheralKind kind, const char *chardev,
                        bool suppress_remote_wake, const VdiUsbGuardOps *ops);
void vdi_usb_guard_finalize(VdiUsbGuard *g);

/* Descriptor fetch and evaluation */
void vdi_usb_guard_connect(VdiUsbGuard *g);
VdiUsbGuardFetch vdi_usb_guard_reply(VdiUsbGuard *g, uint64_t id, bool ok,
                                     const uint8_t *data, size_t len);
VdiUsbGuardFetch vdi_usb_guard_fetch_sync(VdiUsbGuard *g, VdiUsbGuardXfer xfer,
                                          void *opaque);
/*
 * What the transport says about the device.  Returns false if it does not
 * match the evaluated descriptors: the device is then refused (with
 * USB_PERIPHERAL_REJECTED) and the caller must detach it.
 */
bool vdi_usb_guard_peer_view(VdiUsbGuard *g, const VdiUsbPeerView *v);
/* Why the device was refused, or NULL if it was not */
const char *vdi_usb_guard_refusal(const VdiUsbGuard *g);
void vdi_usb_guard_attached(VdiUsbGuard *g);
void vdi_usb_guard_disconnected(VdiUsbGuard *g, bool was_attached);
/* Is a read-only verdict in force? (no bulk streams, no bulk receiving) */
bool vdi_usb_guard_read_only(const VdiUsbGuard *g);

/*
 * Called by the USB core for every packet of the device.  A control
 * request the guard completed itself returns true.
 */
bool vdi_usb_guard_control(VdiUsbGuard *g, USBPacket *p, int request,
                           int value, int index, int length, uint8_t *data);
/* The device model completed a control request the guard passed */
void vdi_usb_guard_control_done(VdiUsbGuard *g, USBPacket *p, int request);
/* A data packet: the guard calls usb_device_handle_data() if it may go */
void vdi_usb_guard_handle_data(VdiUsbGuard *g, USBPacket *p);
/* The device model completed an asynchronous packet */
void vdi_usb_guard_complete(VdiUsbGuard *g, USBPacket *p);
/* The guest reset the device */
void vdi_usb_guard_reset(VdiUsbGuard *g);

/* For the QMP side, vdi-usb-peripheral.c */
/* The VM's policy changed: evaluate the devices again */
void vdi_usb_guard_policy_changed(void);
/* The VM's policy, or NULL without a vdi-usb-policy object */
const VdiUsbPolicy *vdi_usb_vm_policy(void);
/* The guard after g, or the first one if g is NULL */
VdiUsbGuard *vdi_usb_guard_next(VdiUsbGuard *g);
/* The name devices have in events and queries: qdev id, else QOM path */
char *vdi_usb_guard_name(VdiUsbGuard *g);
UsbPolicyAction vdi_usb_action_to_qapi(VdiUsbAction a);

/* Would usb-policy-set take this policy?  (hw/vdi/vdi-zone.c) */
bool vdi_usb_policy_check(UsbPolicyRuleList *rules, UsbPolicyAction dflt,
                          Error **errp);

#endif
