/*
 * VDI host: the per-VM USB peripheral policy applied to redirected devices
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The policy is global to the QEMU process, set with usb-policy-set.  A
 * USB device model that passes a peripheral through (usb-redir, usb-host)
 * embeds one VdiUsbGuard and:
 *
 *  1. on connect, calls vdi_usb_guard_connect() and then sends the
 *     GET_DESCRIPTOR requests it returns, feeding each reply back with
 *     vdi_usb_guard_reply(), until that says DONE (attach) or DENIED
 *     (reject the device); the guard has emitted USB_PERIPHERAL_REJECTED;
 *     or, if it can carry out requests synchronously, calls
 *     vdi_usb_guard_fetch_sync() instead;
 *  2. calls vdi_usb_guard_attached() once the guest sees the device and
 *     vdi_usb_guard_disconnected() when it goes away;
 *  3. on the data path asks the vdi_usb_guard_*() helpers below which
 *     requests and endpoints the guest may use and hands the bulk traffic
 *     of read-only interfaces to their VdiBotFilter.
 *
 * When the policy changes, the guard calls ops->reject() for attached
 * devices the policy now denies and ops->replug() for those whose verdict
 * changed otherwise.
 */

#ifndef HW_USB_VDI_USB_GUARD_H
#define HW_USB_VDI_USB_GUARD_H

#include "qemu/queue.h"
#include "hw/usb.h"
#include "qapi/qapi-types-usb-policy.h"
#include "vdi-usb-guard-core.h"

typedef struct VdiUsbGuard VdiUsbGuard;

typedef struct VdiUsbGuardOps {
    /* The policy now denies the device: detach it and refuse it */
    void (*reject)(VdiUsbGuard *g);
    /* The verdict changed: detach the device and attach it again */
    void (*replug)(VdiUsbGuard *g);
} VdiUsbGuardOps;

struct VdiUsbGuard {
    /* set by vdi_usb_guard_init() */
    USBDevice *udev;
    const VdiUsbGuardOps *ops;
    UsbPeripheralKind kind;
    char *chardev;              /* redir: its chardev's id */
    QTAILQ_ENTRY(VdiUsbGuard) next;
    /* set by usb-peripheral-attach */
    char *terminal;             /* the terminal's address, or NULL */
    VdiUsbPolicy *own_policy;   /* the peripheral's own policy, or NULL */
    UsbPolicy *own_policy_qapi;

    VdiUsbGuardCore c;          /* what the policy decided */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint16_t bot_in_naked;      /* bulk IN endpoints a BOT filter NAKed */
};

void vdi_usb_guard_init(VdiUsbGuard *g, USBDevice *udev,
                        UsbPeripheralKind kind, const char *chardev,
                        const VdiUsbGuardOps *ops);
void vdi_usb_guard_finalize(VdiUsbGuard *g);

/* Descriptor fetch and evaluation */
void vdi_usb_guard_connect(VdiUsbGuard *g, VdiUsbGuardRequest *first);
VdiUsbGuardFetch vdi_usb_guard_reply(VdiUsbGuard *g, uint64_t id, bool ok,
                                     const uint8_t *data, size_t len,
                                     VdiUsbGuardRequest *next);
VdiUsbGuardFetch vdi_usb_guard_fetch_sync(VdiUsbGuard *g, VdiUsbGuardXfer xfer,
                                          void *opaque);
void vdi_usb_guard_attached(VdiUsbGuard *g);
void vdi_usb_guard_disconnected(VdiUsbGuard *g, bool was_attached);

/* Data path; all of them allow everything while no verdict is in force */
bool vdi_usb_guard_enforcing(const VdiUsbGuard *g);
bool vdi_usb_guard_read_only(const VdiUsbGuard *g);
bool vdi_usb_guard_control_allowed(const VdiUsbGuard *g, int request,
                                   int value, int index);
bool vdi_usb_guard_endpoint_allowed(const VdiUsbGuard *g, uint8_t ep);
VdiBotFilter *vdi_usb_guard_bot_filter(const VdiUsbGuard *g, uint8_t ep);
void vdi_usb_guard_reset_bot(VdiUsbGuard *g);
/* A BOT filter NAKed a bulk IN on @ep: wake it after the next OUT */
void vdi_usb_guard_bot_in_naked(VdiUsbGuard *g, uint8_t ep);
/* An OUT packet went through @bot: retry the IN packets it NAKed */
void vdi_usb_guard_bot_wake_in(VdiUsbGuard *g, VdiBotFilter *bot);
const uint8_t *vdi_usb_guard_config_desc(const VdiUsbGuard *g, size_t *len);

#endif
