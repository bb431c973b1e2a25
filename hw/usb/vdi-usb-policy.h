/*
 * VDI host: per-VM USB device policy: rules and their evaluation
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * This core has no QEMU dependencies beyond qemu/osdep.h (GLib).  Errors
 * are returned as in vdi-usb-desc.h.
 *
 * Rules are kept in an ordered list; for each alternate setting of each
 * interface the first matching rule decides, else the policy default.
 * Device-level fields (dev-class/subclass/protocol, vid, pid, bcd, serial)
 * match the device, interface-level fields (iface-class/subclass/protocol)
 * match the alternate setting being evaluated.  A rule without any
 * interface-level field therefore applies to every interface.
 *
 * Actions:
 *  - ALLOW: the interface is passed through.
 *  - DENY: the whole device is refused, unless the rule has the hide flag,
 *    in which case just that interface is hidden from the guest.
 *  - READ_ONLY: only meaningful for mass storage (interface class 08).
 *    The interface is attached with its Bulk-Only Transport (protocol 50h)
 *    alternate setting only, and its bulk traffic must go through the
 *    vdi-bot-filter.  Other alternate settings (UAS, CBI, anything else)
 *    are refused.  On any other class READ_ONLY behaves like ALLOW.  Once
 *    one interface of a device is read-only, every mass storage interface
 *    of that device is read-only too.
 *
 * See vdi-usb-policy.c for the exact evaluation order.
 */

#ifndef HW_USB_VDI_USB_POLICY_H
#define HW_USB_VDI_USB_POLICY_H

#include "vdi-usb-desc.h"

#define VDI_USB_MAX_RULES       1024
#define VDI_USB_RULE_ID_MAX       64  /* including the NUL */
#define VDI_USB_SERIAL_MAX       384  /* including the NUL; 126 UTF-16 units */
#define VDI_USB_REASON_MAX       256

typedef enum VdiUsbAction {
    VDI_USB_ACTION_ALLOW,
    VDI_USB_ACTION_DENY,
    VDI_USB_ACTION_READ_ONLY,
} VdiUsbAction;

/* Which fields of a VdiUsbRule take part in matching */
enum {
    VDI_USB_MATCH_DEV_CLASS      = 1 << 0,
    VDI_USB_MATCH_DEV_SUBCLASS   = 1 << 1,
    VDI_USB_MATCH_DEV_PROTOCOL   = 1 << 2,
    VDI_USB_MATCH_IFACE_CLASS    = 1 << 3,
    VDI_USB_MATCH_IFACE_SUBCLASS = 1 << 4,
    VDI_USB_MATCH_IFACE_PROTOCOL = 1 << 5,
    VDI_USB_MATCH_VID            = 1 << 6,
    VDI_USB_MATCH_PID            = 1 << 7,
    VDI_USB_MATCH_BCD            = 1 << 8,
    VDI_USB_MATCH_SERIAL         = 1 << 9,
    VDI_USB_MATCH_ALL            = (1 << 10) - 1,
};

typedef struct VdiUsbRule {
    char id[VDI_USB_RULE_ID_MAX];   /* "" means: named by its index */
    VdiUsbAction action;
    bool hide;                  /* DENY only: hide the interface instead */
    uint32_t match;             /* VDI_USB_MATCH_* */
    uint8_t dev_class;
    uint8_t dev_subclass;
    uint8_t dev_protocol;
    uint8_t iface_class;
    uint8_t iface_subclass;
    uint8_t iface_protocol;
    uint16_t vid;
    uint16_t pid;
    uint16_t bcd_lo;            /* inclusive range on bcdDevice */
    uint16_t bcd_hi;
    char serial[VDI_USB_SERIAL_MAX];    /* exact, '*' matches any run */
} VdiUsbRule;

typedef struct VdiUsbPolicy VdiUsbPolicy;

typedef enum VdiUsbIfaceDecision {
    VDI_USB_IFACE_ALLOWED,
    VDI_USB_IFACE_HIDDEN,
    VDI_USB_IFACE_READ_ONLY,
} VdiUsbIfaceDecision;

typedef struct VdiUsbIfaceVerdict {
    uint8_t number;             /* bInterfaceNumber */
    VdiUsbIfaceDecision decision;
    int rule_index;             /* deciding rule, -1 for the default */
    uint8_t cls;                /* class triple of the deciding alt */
    uint8_t subclass;
    uint8_t protocol;
    /* READ_ONLY: bulk endpoints of the Bulk-Only alternate setting */
    uint8_t bot_ep_in;
    uint8_t bot_ep_out;
} VdiUsbIfaceVerdict;

typedef struct VdiUsbAltVerdict {
    uint8_t number;
    uint8_t alt;
    bool usable;                /* false: the guest must not select it */
} VdiUsbAltVerdict;

typedef struct VdiUsbVerdict {
    VdiUsbAction action;        /* ALLOW, DENY or READ_ONLY */
    int rule_index;             /* deciding rule, -1 for the default */
    char rule_id[VDI_USB_RULE_ID_MAX];  /* its id, "#N" or "default" */
    unsigned n_ifaces;          /* same order as first seen in the config */
    VdiUsbIfaceVerdict ifaces[VDI_USB_MAX_ALTS];
    unsigned n_alts;            /* parallel to VdiUsbConfig.alts */
    VdiUsbAltVerdict alts[VDI_USB_MAX_ALTS];
    char reason[VDI_USB_REASON_MAX];
} VdiUsbVerdict;

/* Rules */
void vdi_usb_rule_init(VdiUsbRule *rule, VdiUsbAction action);
bool vdi_usb_glob_match(const char *pattern, const char *str);

/* Policies */
VdiUsbPolicy *vdi_usb_policy_new(VdiUsbAction default_action);
void vdi_usb_policy_free(VdiUsbPolicy *policy);
bool vdi_usb_policy_add_rule(VdiUsbPolicy *policy, const VdiUsbRule *rule,
                             char **errmsg);

/* Evaluation; serial may be NULL (then serial rules never match) */
void vdi_usb_policy_evaluate(const VdiUsbPolicy *policy,
                             const VdiUsbDeviceDesc *dev,
                             const VdiUsbConfig *cfg, const char *serial,
                             VdiUsbVerdict *verdict);

#endif
