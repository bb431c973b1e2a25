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

#include "vdi-usb-verdict.h"
#include "vdi-bot-filter.h"

/*
 * usbredir packet ids.  The guard's GET_DESCRIPTOR requests and the
 * guest's control transfers go to the same peer on the same endpoint, and
 * a guest's ids are whatever its host controller makes of them (a TRB or
 * TD address, any 64-bit value), so the guard owns the control endpoint's
 * id space: its requests take ids of the block VDI_USB_GUARD_ID_BASE
 * (BASE | generation << 8 | step), and the device model sends each guest
 * control transfer with vdi_usb_guard_wire_id(), which moves a guest id
 * of that block to the alias block.  A device has one guest control
 * transfer in flight at a time, so the id it aliases is never in flight
 * beside it, and a reply's id says whose request it answers.
 */
#define VDI_USB_GUARD_ID_MASK   0xff00000000000000ULL
#define VDI_USB_GUARD_ID_BASE   0xff00000000000000ULL
#define VDI_USB_GUARD_ID_ALIAS  0xfe00000000000000ULL

/* Descriptors the guard keeps, and serves the guest from */
#define VDI_USB_GUARD_MAX_DESCS 48

typedef enum VdiUsbGuardState {
    VDI_USB_GUARD_DISCONNECTED,
    VDI_USB_GUARD_CONNECTED,    /* offered, being evaluated or attached */
    VDI_USB_GUARD_ATTACHED,
    VDI_USB_GUARD_REJECTED,
} VdiUsbGuardState;

/* A GET_DESCRIPTOR request the owner must send to the device */
typedef struct VdiUsbGuardRequest {
    uint64_t id;        /* private packet id, see vdi_usb_guard_owns_id() */
    uint8_t type;       /* bmRequestType: 0x80, or 0x81 for an interface */
    uint16_t value;     /* wValue: type << 8 | index */
    uint16_t index;     /* wIndex: language id for strings */
    uint16_t length;    /* wLength */
} VdiUsbGuardRequest;

typedef enum VdiUsbGuardFetch {
    VDI_USB_GUARD_MORE,     /* send *next */
    VDI_USB_GUARD_DONE,     /* verdict ready: attach */
    VDI_USB_GUARD_DENIED,   /* refused (policy, bad or changed descriptors) */
    VDI_USB_GUARD_IGNORED,  /* stale reply, or a check found no change */
} VdiUsbGuardFetch;

/* A descriptor as the device gave it to the guard's GET_DESCRIPTOR */
typedef struct VdiUsbGuardDesc {
    uint8_t type;               /* bmRequestType */
    uint16_t value;             /* wValue */
    uint16_t index;             /* wIndex (any language for strings) */
    uint16_t len;
    uint8_t *data;
} VdiUsbGuardDesc;

/*
 * What the device's transport says about it besides its descriptors:
 * usbredir's device_connect, interface_info and ep_info, or for usb-host
 * the configuration the host's USB stack read.  It must agree with the
 * evaluated descriptors.
 */
#define VDI_USB_PEER_MAX 32
typedef struct VdiUsbPeerView {
    bool has_device;
    uint16_t vid, pid;
    uint8_t dev_class, dev_subclass, dev_protocol;
    unsigned n_ifaces;
    struct {
        uint8_t number, cls, subclass, protocol;
    } ifaces[VDI_USB_PEER_MAX];
    unsigned n_eps;
    struct {
        uint8_t address, type, iface;   /* type: bmAttributes & 3 */
    } eps[VDI_USB_PEER_MAX];
} VdiUsbPeerView;

/* What the data path does with a request or packet */
typedef enum VdiUsbGuardAction {
    VDI_USB_GUARD_PASS,     /* to the device (an OUT one as *fwd if set) */
    VDI_USB_GUARD_ANSWER,   /* the guard completed it successfully */
    VDI_USB_GUARD_STALL,    /* refused */
    VDI_USB_GUARD_NAK,      /* not now (a Bulk-Only IN before its turn) */
} VdiUsbGuardAction;

/* The counters every device model shares */
typedef struct VdiUsbGuardCounters {
    uint64_t bytes_in;      /* payload the device sent to the guest */
    uint64_t bytes_out;     /* payload the guest sent to the device */
    uint64_t blocked;       /* requests and packets the guard refused */
} VdiUsbGuardCounters;

/* What a new policy means for a device, see vdi_usb_guard_core_reevaluate */
typedef enum VdiUsbGuardChange {
    VDI_USB_GUARD_SAME,     /* nothing to do (maybe another rule decided) */
    VDI_USB_GUARD_NOW_DENIED,
    VDI_USB_GUARD_CHANGED,  /* attached: the guest must see it anew */
} VdiUsbGuardChange;

typedef struct VdiUsbGuardCore {
    VdiUsbGuardState state;
    int fetch_step;             /* descriptor fetch in progress, or 0 */
    uint32_t generation;        /* of the fetch, in its packet ids */
    bool checking;              /* the fetch compares, see _core_check() */
    uint16_t langid;
    /* the rest of the fetch after the configuration, see plan_fetch() */
    unsigned n_plan;
    VdiUsbGuardRequest plan[VDI_USB_GUARD_MAX_DESCS];
    /* every descriptor read, served to the guest in place of the device */
    unsigned n_descs;
    VdiUsbGuardDesc descs[VDI_USB_GUARD_MAX_DESCS];
    VdiUsbGuardCounters counters;
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

/*
 * What the core knows, for its owner's queries and events, tests and
 * fuzzers: nothing outside vdi-usb-guard-core.c and -fetch.c reads the
 * fields of VdiUsbGuardCore.
 */
VdiUsbGuardState vdi_usb_guard_core_state(const VdiUsbGuardCore *c);
/* The device descriptor, or NULL until the device gave one */
const VdiUsbDeviceDesc *vdi_usb_guard_core_device(const VdiUsbGuardCore *c);
/* The serial number, or NULL (none, or not readable) */
const char *vdi_usb_guard_core_serial(const VdiUsbGuardCore *c);
/* The policy's verdict, or NULL (not evaluated yet, or malformed) */
const VdiUsbVerdict *vdi_usb_guard_core_verdict(const VdiUsbGuardCore *c);
/* The read-only filter of the verdict's interface k, or NULL */
const VdiBotFilter *vdi_usb_guard_core_iface_filter(const VdiUsbGuardCore *c,
                                                    unsigned k);
/* Is a descriptor fetch or check in progress? */
bool vdi_usb_guard_core_fetching(const VdiUsbGuardCore *c);
const VdiUsbGuardCounters *vdi_usb_guard_core_counters(
    const VdiUsbGuardCore *c);

void vdi_usb_guard_core_init(VdiUsbGuardCore *c);
/* Forget the device and free what was allocated */
void vdi_usb_guard_core_clear(VdiUsbGuardCore *c);

/* Descriptor fetch and evaluation */
void vdi_usb_guard_core_connect(VdiUsbGuardCore *c, VdiUsbGuardRequest *first);
/* Is id one of the guard's requests' (never a guest transfer's wire id)? */
bool vdi_usb_guard_owns_id(uint64_t id);
/* The id a guest control transfer with this guest id travels with */
uint64_t vdi_usb_guard_wire_id(uint64_t guest_id);
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

/*
 * Read the device and configuration descriptors again and compare them
 * with the evaluated ones: replies then return IGNORED when they agree,
 * DENIED (the device is REJECTED) when the device changed its story.
 */
void vdi_usb_guard_core_check(VdiUsbGuardCore *c, VdiUsbGuardRequest *first);
/*
 * Does the transport's view agree with the evaluated descriptors?  If not,
 * the core is REJECTED with the reason and false is returned.
 */
bool vdi_usb_guard_core_check_peer(VdiUsbGuardCore *c,
                                   const VdiUsbPeerView *v);

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

/*
 * The whole data path, as every device model's packets take it.  Counts
 * what passes and what is refused in c->counters.
 *
 * A control request: GET_DESCRIPTOR of any kind is answered from the
 * descriptors the guard read (never from the device), *len bytes put in
 * data; what the policy hides stalls.
 */
VdiUsbGuardAction vdi_usb_guard_core_control(VdiUsbGuardCore *c, int request,
                                             int value, int index,
                                             int length, uint8_t *data,
                                             size_t *len);
/* The device completed a control request the guard passed */
void vdi_usb_guard_core_control_done(VdiUsbGuardCore *c, int request,
                                     bool ok, size_t len);
/*
 * An OUT packet of len bytes (a copy the guest cannot change).  On PASS
 * with *fwd set, send those *fwd_len bytes instead (a checked CBW).
 */
VdiUsbGuardAction vdi_usb_guard_core_out(VdiUsbGuardCore *c, uint8_t ep,
                                         const uint8_t *data, size_t len,
                                         const uint8_t **fwd,
                                         size_t *fwd_len, char **err);
/*
 * An IN packet of up to size bytes: on ANSWER the guard put *len bytes in
 * buf (at most bufsize).
 */
VdiUsbGuardAction vdi_usb_guard_core_in(VdiUsbGuardCore *c, uint8_t ep,
                                        size_t size, uint8_t *buf,
                                        size_t bufsize, size_t *len);
/*
 * The device completed an IN packet the guard passed with len bytes in
 * data (stalled if !ok).  Returns false if the guest must see a stall.
 */
bool vdi_usb_guard_core_in_done(VdiUsbGuardCore *c, uint8_t ep, bool ok,
                                bool stalled, uint8_t *data, size_t len,
                                size_t size, char **err);

#endif
