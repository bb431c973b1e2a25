/*
 * VDI host: the per-VM USB peripheral policy applied to redirected devices
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The policy is global to the QEMU process, set with usb-policy-set.  A
 * USB device model that passes a remote peripheral through (usb-redir)
 * embeds one VdiUsbGuard and:
 *
 *  1. on connect, calls vdi_usb_guard_connect() and then sends the
 *     GET_DESCRIPTOR requests it returns, feeding each reply back with
 *     vdi_usb_guard_reply(), until that says DONE (attach) or DENIED
 *     (reject the device); the guard has emitted USB_PERIPHERAL_REJECTED;
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
#include "vdi-usb-policy.h"
#include "vdi-bot-filter.h"

typedef struct VdiUsbGuard VdiUsbGuard;

typedef struct VdiUsbGuardOps {
    /* The policy now denies the device: detach it and refuse it */
    void (*reject)(VdiUsbGuard *g);
    /* The verdict changed: detach the device and attach it again */
    void (*replug)(VdiUsbGuard *g);
} VdiUsbGuardOps;

/* A GET_DESCRIPTOR request the owner must send to the device */
typedef struct VdiUsbGuardRequest {
    uint64_t id;        /* private packet id, see vdi_usb_guard_owns_id() */
    uint16_t value;     /* wValue: type << 8 | index */
    uint16_t index;     /* wIndex: language id for strings */
    uint16_t length;    /* wLength */
} VdiUsbGuardRequest;

typedef enum VdiUsbGuardFetch {
    VDI_USB_GUARD_MORE,     /* send *next */
    VDI_USB_GUARD_DONE,     /* verdict ready: attach */
    VDI_USB_GUARD_DENIED,   /* refused (policy or bad descriptors) */
    VDI_USB_GUARD_IGNORED,  /* stale reply, nothing to do */
} VdiUsbGuardFetch;

struct VdiUsbGuard {
    /* set by vdi_usb_guard_init() */
    USBDevice *udev;
    const VdiUsbGuardOps *ops;
    char *chardev;
    QTAILQ_ENTRY(VdiUsbGuard) next;

    UsbPeripheralState state;
    int fetch_step;             /* descriptor fetch in progress, or 0 */
    uint16_t langid;
    /* what the device told us, kept until the next connect */
    bool have_dev_desc;
    VdiUsbDeviceDesc dev_desc;
    uint8_t *config;            /* raw configuration descriptor */
    size_t config_len;
    VdiUsbConfig *cfg;          /* parsed, NULL until evaluated */
    char *serial;
    /* the verdict, valid when cfg is set */
    VdiUsbVerdict *verdict;
    char *reject_reason;        /* malformed descriptors */
    uint8_t *guest_config;      /* config as the guest sees it, or NULL */
    size_t guest_config_len;
    VdiBotFilter *bot[VDI_USB_MAX_ALTS];    /* by verdict->ifaces index */
    uint64_t bytes_in;
    uint64_t bytes_out;
};

void vdi_usb_guard_init(VdiUsbGuard *g, USBDevice *udev, const char *chardev,
                        const VdiUsbGuardOps *ops);
void vdi_usb_guard_finalize(VdiUsbGuard *g);

/* Descriptor fetch and evaluation */
void vdi_usb_guard_connect(VdiUsbGuard *g, VdiUsbGuardRequest *first);
bool vdi_usb_guard_owns_id(uint64_t id);
VdiUsbGuardFetch vdi_usb_guard_reply(VdiUsbGuard *g, uint64_t id, bool ok,
                                     const uint8_t *data, size_t len,
                                     VdiUsbGuardRequest *next);
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
const uint8_t *vdi_usb_guard_config_desc(const VdiUsbGuard *g, size_t *len);

#endif
