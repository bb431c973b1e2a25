/*
 * VDI host: what the guest may see and use of a device, by its verdict
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The device models' questions about a verdict of vdi-usb-policy.c: may
 * the guest select this alternate setting, to which interface does this
 * endpoint belong, and the configuration descriptor the guest is shown.
 */

#include "qemu/osdep.h"
#include "vdi-usb-verdict.h"

bool vdi_usb_verdict_alt_usable(const VdiUsbVerdict *v, uint8_t number,
                                uint8_t alt)
{
    unsigned i;

    if (v->action == VDI_USB_ACTION_DENY) {
        return false;
    }
    for (i = 0; i < v->n_alts && i < VDI_USB_MAX_ALTS; i++) {
        if (v->alts[i].number == number && v->alts[i].alt == alt) {
            return v->alts[i].usable;
        }
    }
    return false;
}

/*
 * Index into verdict->ifaces of the interface whose usable alternate
 * settings declare endpoint address ep, or -1 (refuse the transfer).
 */
int vdi_usb_verdict_endpoint_iface(const VdiUsbVerdict *v,
                                   const VdiUsbConfig *cfg, uint8_t ep)
{
    unsigned i, j, k;

    if (v->action == VDI_USB_ACTION_DENY || v->n_alts != cfg->n_alts) {
        return -1;
    }
    for (i = 0; i < cfg->n_alts && i < VDI_USB_MAX_ALTS; i++) {
        const VdiUsbAltSetting *a = &cfg->alts[i];

        if (!v->alts[i].usable || v->alts[i].number != a->number) {
            continue;
        }
        for (j = 0; j < a->n_endpoints; j++) {
            if (a->endpoints[j].address != ep) {
                continue;
            }
            for (k = 0; k < v->n_ifaces && k < VDI_USB_MAX_ALTS; k++) {
                if (v->ifaces[k].number == a->number) {
                    return v->ifaces[k].decision == VDI_USB_IFACE_HIDDEN ?
                        -1 : (int)k;
                }
            }
        }
    }
    return -1;
}

/*
 * Rewrite a configuration descriptor blob as the guest should see it:
 * hidden interfaces and refused alternate settings are dropped together
 * with the descriptors that follow them (endpoints, class-specific), as
 * are interface associations whose first interface is hidden;
 * wTotalLength and bNumInterfaces are updated.  Interface numbers are not
 * renumbered.  *out is g_malloc'ed.
 */
bool vdi_usb_filter_config_desc(const uint8_t *buf, size_t len,
                                const VdiUsbVerdict *v, uint8_t **out,
                                size_t *out_len, char **errmsg)
{
    g_autofree VdiUsbConfig *cfg = g_new0(VdiUsbConfig, 1);
    GByteArray *res;
    unsigned off, total, ai = 0, k, n_ifaces = 0;
    bool keep = true;

    *out = NULL;
    *out_len = 0;
    if (!vdi_usb_parse_config_desc(buf, len, cfg, errmsg)) {
        return false;
    }
    if (v->action == VDI_USB_ACTION_DENY) {
        vdi_usb_set_error(errmsg, "device is denied");
        return false;
    }
    if (v->n_alts != cfg->n_alts) {
        vdi_usb_set_error(errmsg, "verdict does not match this configuration");
        return false;
    }
    for (ai = 0; ai < cfg->n_alts; ai++) {
        if (v->alts[ai].number != cfg->alts[ai].number ||
            v->alts[ai].alt != cfg->alts[ai].alt) {
            vdi_usb_set_error(errmsg, "verdict does not match this "
                              "configuration");
            return false;
        }
    }
    for (k = 0; k < v->n_ifaces && k < VDI_USB_MAX_ALTS; k++) {
        n_ifaces += v->ifaces[k].decision != VDI_USB_IFACE_HIDDEN;
    }

    total = cfg->total_length;
    res = g_byte_array_sized_new(total);
    g_byte_array_append(res, buf, buf[0]);
    ai = 0;
    for (off = buf[0]; off < total; off += buf[off]) {
        uint8_t type = buf[off + 1];
        bool keep_this;

        if (type == VDI_USB_DT_INTERFACE) {
            keep = v->alts[ai++].usable;
            keep_this = keep;
        } else if (type == VDI_USB_DT_IAD) {
            keep_this = false;
            for (k = 0; k < v->n_ifaces && k < VDI_USB_MAX_ALTS; k++) {
                if (v->ifaces[k].number == buf[off + 2]) {
                    keep_this = v->ifaces[k].decision !=
                        VDI_USB_IFACE_HIDDEN;
                }
            }
        } else {
            keep_this = keep;
        }
        if (keep_this) {
            g_byte_array_append(res, buf + off, buf[off]);
        }
    }
    res->data[2] = res->len & 0xff;
    res->data[3] = res->len >> 8;
    res->data[4] = n_ifaces;
    *out_len = res->len;
    *out = g_byte_array_free(res, false);
    return true;
}
