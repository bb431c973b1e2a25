/*
 * VDI host: what the guest may see and use of a device, by its verdict
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Questions the guard asks about a verdict of vdi-usb-policy.h and the
 * configuration it was computed on.  No QEMU dependencies beyond
 * qemu/osdep.h (GLib).
 */

#ifndef HW_USB_VDI_USB_VERDICT_H
#define HW_USB_VDI_USB_VERDICT_H

#include "vdi-usb-policy.h"

bool vdi_usb_verdict_alt_usable(const VdiUsbVerdict *verdict,
                                uint8_t number, uint8_t alt);
int vdi_usb_verdict_endpoint_iface(const VdiUsbVerdict *verdict,
                                   const VdiUsbConfig *cfg, uint8_t ep);
bool vdi_usb_filter_config_desc(const uint8_t *buf, size_t len,
                                const VdiUsbVerdict *verdict,
                                uint8_t **out, size_t *out_len,
                                char **errmsg);

#endif
