/*
 * VDI host: what the USB peripheral policy decides for one device
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The part of the guard (vdi-usb-guard.h) that knows nothing of QEMU:
 * it reads a device's descriptors through GET_DESCRIPTOR requests that
 * its owner carries out, evaluates them against a policy, and then
 * answers the data path's questions (may the guest send this control
 * request, use this endpoint; which Bulk-Only filter guards this bulk
 * endpoint).  usb-redir, usb-host and the usbredir fuzzer all decide
 * through it; vdi-usb-guard.c adds QMP, events and the device list.
 */

#ifndef HW_USB_VDI_USB_GUARD_CORE_H
#define HW_USB_VDI_USB_GUARD_CORE_H

#include "vdi-usb-policy.h"
#include "vdi-bot-filter.h"

/* Private packet ids of the descriptor fetch: 0xffffff00 + step */
#define VDI_USB_GUARD_ID_BASE   0xffffff00ULL

typedef enum VdiUsbGuardState {
    VDI_USB_GUARD_DISCONNECTED,
    VDI_USB_GUARD_CONNECTED,    /* offered, being evaluated or attached */
    VDI_USB_GUARD_ATTACHED,
    VDI_USB_GUARD_REJECTED,
} VdiUsbGuardState;

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

/* What a new policy means for a device, see vdi_usb_guard_core_reevaluate */
typedef enum VdiUsbGuardChange {
    VDI_USB_GUARD_SAME,     /* nothing to do (maybe another rule decided) */
    VDI_USB_GUARD_NOW_DENIED,
    VDI_USB_GUARD_CHANGED,  /* attached: the guest must see it anew */
} VdiUsbGuardChange;

typedef struct VdiUsbGuardCore {
    VdiUsbGuardState state;
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
} VdiUsbGuardCore;

void vdi_usb_guard_core_init(VdiUsbGuardCore *c);
/* Forget the device and free what was allocated */
void vdi_usb_guard_core_clear(VdiUsbGuardCore *c);

/* Descriptor fetch and evaluation */
void vdi_usb_guard_core_connect(VdiUsbGuardCore *c, VdiUsbGuardRequest *first);
bool vdi_usb_guard_owns_id(uint64_t id);
/*
 * A reply to a request of the fetch.  On DENIED the core is REJECTED and
 * vdi_usb_guard_core_refusal() says by which rule and why.
 */
VdiUsbGuardFetch vdi_usb_guard_core_reply(VdiUsbGuardCore *c,
                                          const VdiUsbPolicy *policy,
                                          uint64_t id, bool ok,
                                          const uint8_t *data, size_t len,
                                          VdiUsbGuardRequest *next);
void vdi_usb_guard_core_refusal(const VdiUsbGuardCore *c, const char **rule,
                                const char **reason);

/*
 * Carry out the whole fetch synchronously: xfer() performs one request
 * into buf (at most req->length bytes) and returns the length received,
 * or -1 if the request failed.  Returns DONE or DENIED.
 */
typedef int (*VdiUsbGuardXfer)(void *opaque, const VdiUsbGuardRequest *req,
                               uint8_t *buf);
VdiUsbGuardFetch vdi_usb_guard_core_fetch_sync(VdiUsbGuardCore *c,
                                               const VdiUsbPolicy *policy,
                                               VdiUsbGuardXfer xfer,
                                               void *opaque);

void vdi_usb_guard_core_attached(VdiUsbGuardCore *c);
void vdi_usb_guard_core_disconnected(VdiUsbGuardCore *c);

/* The policy changed: evaluate the device again */
VdiUsbGuardChange vdi_usb_guard_core_reevaluate(VdiUsbGuardCore *c,
                                                const VdiUsbPolicy *policy);

/*
 * Data path; all of them allow everything while no verdict is in force.
 * request is bmRequestType << 8 | bRequest, ep has bit 7 set for IN.
 */
bool vdi_usb_guard_core_enforcing(const VdiUsbGuardCore *c);
bool vdi_usb_guard_core_read_only(const VdiUsbGuardCore *c);
bool vdi_usb_guard_core_control_allowed(const VdiUsbGuardCore *c,
                                        int request, int value, int index);
bool vdi_usb_guard_core_endpoint_allowed(const VdiUsbGuardCore *c,
                                         uint8_t ep);
VdiBotFilter *vdi_usb_guard_core_bot_filter(const VdiUsbGuardCore *c,
                                            uint8_t ep);
void vdi_usb_guard_core_reset_bot(VdiUsbGuardCore *c);
const uint8_t *vdi_usb_guard_core_config_desc(const VdiUsbGuardCore *c,
                                              size_t *len);
/* Does this control request restart the Bulk-Only state of the device? */
bool vdi_usb_guard_resets_bot(int request);

#endif
