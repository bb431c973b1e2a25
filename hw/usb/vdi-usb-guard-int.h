/*
 * VDI host: what the two halves of the USB guard core share
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * vdi-usb-guard-fetch.c reads and checks a device, vdi-usb-guard-core.c
 * holds its state and answers the data path; nothing else includes this.
 */

#ifndef HW_USB_VDI_USB_GUARD_INT_H
#define HW_USB_VDI_USB_GUARD_INT_H

#include "vdi-usb-guard-core.h"

#define DT_STRING               3   /* string descriptor type */

/* Steps of the descriptor fetch, VdiUsbGuardCore.fetch_step */
enum {
    FETCH_NONE,
    FETCH_DEVICE,       /* device descriptor */
    FETCH_CONFIG_HEAD,  /* first 9 bytes of configuration 0 */
    FETCH_CONFIG,       /* all wTotalLength bytes of it */
    FETCH_PLAN,         /* then c->plan[step - FETCH_PLAN] */
};

/* Refuse the device (REJECTED), by the verdict */
VdiUsbGuardFetch vdi_usb_guard_core_refuse(VdiUsbGuardCore *c);
/* The device's descriptors are malformed or changed: refuse it, say why */
VdiUsbGuardFetch vdi_usb_guard_core_refuse_bad(VdiUsbGuardCore *c,
                                               const char *what,
                                               const char *err);
/* (Re)compute what the guest sees and the read-only filters */
void vdi_usb_guard_core_apply_verdict(VdiUsbGuardCore *c);
/* A descriptor the guard read, or NULL */
const VdiUsbGuardDesc *vdi_usb_guard_core_find_desc(const VdiUsbGuardCore *c,
                                                    uint8_t type,
                                                    uint16_t value,
                                                    uint16_t index);

#endif
