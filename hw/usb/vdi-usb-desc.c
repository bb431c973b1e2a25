/*
 * VDI host: USB device and configuration descriptor parser
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Descriptors come from a remote terminal and are untrusted: every length
 * is checked against wTotalLength before use, every count is bounded by
 * the VDI_USB_MAX_* limits, and the parser rejects what could make the
 * guest's view of the device differ from ours (endpoint addresses shared
 * between interfaces, interfaces without alternate setting 0, more
 * interfaces or endpoints than declared).
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "vdi-usb-desc.h"

void vdi_usb_set_error(char **errmsg, const char *fmt, ...)
{
    va_list ap;

    if (!errmsg) {
        return;
    }
    g_free(*errmsg);
    va_start(ap, fmt);
    *errmsg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

bool vdi_usb_parse_device_desc(const uint8_t *buf, size_t len,
                               VdiUsbDeviceDesc *dev, char **errmsg)
{
    memset(dev, 0, sizeof(*dev));
    if (!buf || len < 18) {
        vdi_usb_set_error(errmsg, "device descriptor truncated: %zu bytes, "
                          "need 18", buf ? len : 0);
        return false;
    }
    if (buf[0] != 18) {
        vdi_usb_set_error(errmsg, "bad device descriptor bLength %u (expected "
                          "18)", buf[0]);
        return false;
    }
    if (buf[1] != VDI_USB_DT_DEVICE) {
        vdi_usb_set_error(errmsg, "bad device descriptor bDescriptorType "
                          "0x%02x (expected 0x01)", buf[1]);
        return false;
    }
    switch (buf[7]) {
    case 8: case 9: case 16: case 32: case 64:
        break;
    default:
        vdi_usb_set_error(errmsg, "bad device descriptor bMaxPacketSize0 %u",
                          buf[7]);
        return false;
    }
    if (buf[17] == 0) {
        vdi_usb_set_error(errmsg, "device descriptor declares no "
                          "configurations");
        return false;
    }
    dev->bcd_usb = lduw_le_p(buf + 2);
    dev->dev_class = buf[4];
    dev->dev_subclass = buf[5];
    dev->dev_protocol = buf[6];
    dev->max_packet_size0 = buf[7];
    dev->vid = lduw_le_p(buf + 8);
    dev->pid = lduw_le_p(buf + 10);
    dev->bcd_device = lduw_le_p(buf + 12);
    dev->i_manufacturer = buf[14];
    dev->i_product = buf[15];
    dev->i_serial = buf[16];
    dev->num_configurations = buf[17];
    return true;
}

static bool check_alt_done(const VdiUsbAltSetting *a, unsigned declared,
                           char **errmsg)
{
    /* Fewer endpoint descriptors than declared is tolerated like Linux */
    if (a && a->n_endpoints > declared) {
        vdi_usb_set_error(errmsg, "interface %u alt %u has more endpoint "
                          "descriptors than its bNumEndpoints %u", a->number,
                          a->alt, declared);
        return false;
    }
    return true;
}

bool vdi_usb_parse_config_desc(const uint8_t *buf, size_t len,
                               VdiUsbConfig *cfg, char **errmsg)
{
    VdiUsbAltSetting *cur = NULL;
    unsigned declared_eps = 0;
    unsigned total, off, i, j, k;

    memset(cfg, 0, sizeof(*cfg));
    if (!buf || len < 9) {
        vdi_usb_set_error(errmsg, "configuration descriptor truncated: %zu "
                          "bytes, need at least 9", buf ? len : 0);
        return false;
    }
    if (buf[0] < 9) {
        vdi_usb_set_error(errmsg, "bad configuration descriptor bLength %u "
                          "(need at least 9)", buf[0]);
        return false;
    }
    if (buf[1] != VDI_USB_DT_CONFIG) {
        vdi_usb_set_error(errmsg, "bad configuration descriptor "
                          "bDescriptorType 0x%02x (expected 0x02)", buf[1]);
        return false;
    }
    total = lduw_le_p(buf + 2);
    if (total < buf[0]) {
        vdi_usb_set_error(errmsg, "wTotalLength %u is shorter than the "
                          "configuration descriptor itself (%u)", total,
                          buf[0]);
        return false;
    }
    if (total > len) {
        vdi_usb_set_error(errmsg, "wTotalLength %u exceeds the %zu bytes "
                          "supplied", total, len);
        return false;
    }
    cfg->total_length = total;
    cfg->num_interfaces = buf[4];
    cfg->config_value = buf[5];
    cfg->attributes = buf[7];
    cfg->max_power = buf[8];
    if (cfg->num_interfaces == 0) {
        vdi_usb_set_error(errmsg, "configuration declares no interfaces");
        return false;
    }

    for (off = buf[0]; off < total; off += buf[off]) {
        unsigned dlen, type;

        if (total - off < 2) {
            vdi_usb_set_error(errmsg, "descriptor at offset %u truncated by "
                              "wTotalLength %u", off, total);
            return false;
        }
        dlen = buf[off];
        type = buf[off + 1];
        if (dlen < 2) {
            vdi_usb_set_error(errmsg, "descriptor at offset %u has bad "
                              "bLength %u", off, dlen);
            return false;
        }
        if (dlen > total - off) {
            vdi_usb_set_error(errmsg, "descriptor at offset %u (type 0x%02x, "
                              "bLength %u) runs past wTotalLength %u", off,
                              type, dlen, total);
            return false;
        }

        switch (type) {
        case VDI_USB_DT_INTERFACE: {
            VdiUsbAltSetting *a;

            if (dlen < 9) {
                vdi_usb_set_error(errmsg, "interface descriptor at offset %u: "
                                  "bLength %u (need at least 9)", off, dlen);
                return false;
            }
            if (!check_alt_done(cur, declared_eps, errmsg)) {
                return false;
            }
            if (cfg->n_alts >= VDI_USB_MAX_ALTS) {
                vdi_usb_set_error(errmsg, "more than %d interface descriptors",
                                  VDI_USB_MAX_ALTS);
                return false;
            }
            a = &cfg->alts[cfg->n_alts];
            a->number = buf[off + 2];
            a->alt = buf[off + 3];
            declared_eps = buf[off + 4];
            a->cls = buf[off + 5];
            a->subclass = buf[off + 6];
            a->protocol = buf[off + 7];
            a->i_interface = buf[off + 8];
            for (i = 0; i < cfg->n_alts; i++) {
                if (cfg->alts[i].number == a->number &&
                    cfg->alts[i].alt == a->alt) {
                    vdi_usb_set_error(errmsg, "duplicate interface %u "
                                      "alternate setting %u", a->number,
                                      a->alt);
                    return false;
                }
            }
            if (declared_eps > VDI_USB_MAX_ENDPOINTS) {
                vdi_usb_set_error(errmsg, "interface %u alt %u declares %u "
                                  "endpoints (at most %d)", a->number, a->alt,
                                  declared_eps, VDI_USB_MAX_ENDPOINTS);
                return false;
            }
            cfg->n_alts++;
            cur = a;
            break;
        }
        case VDI_USB_DT_ENDPOINT: {
            VdiUsbEndpoint *ep;
            uint8_t addr;

            if (dlen < 7) {
                vdi_usb_set_error(errmsg, "endpoint descriptor at offset %u: "
                                  "bLength %u (need at least 7)", off, dlen);
                return false;
            }
            if (!cur) {
                vdi_usb_set_error(errmsg, "endpoint descriptor at offset %u "
                                  "is not inside an interface", off);
                return false;
            }
            if (cur->n_endpoints >= declared_eps) {
                vdi_usb_set_error(errmsg, "interface %u alt %u has more "
                                  "endpoint descriptors than its "
                                  "bNumEndpoints %u", cur->number, cur->alt,
                                  declared_eps);
                return false;
            }
            addr = buf[off + 2];
            if ((addr & 0x0f) == 0 || (addr & 0x70)) {
                vdi_usb_set_error(errmsg, "bad endpoint address 0x%02x in "
                                  "interface %u alt %u", addr, cur->number,
                                  cur->alt);
                return false;
            }
            for (i = 0; i < cur->n_endpoints; i++) {
                if (cur->endpoints[i].address == addr) {
                    vdi_usb_set_error(errmsg, "duplicate endpoint 0x%02x in "
                                      "interface %u alt %u", addr, cur->number,
                                      cur->alt);
                    return false;
                }
            }
            ep = &cur->endpoints[cur->n_endpoints++];
            ep->address = addr;
            ep->attributes = buf[off + 3];
            ep->max_packet_size = lduw_le_p(buf + off + 4);
            ep->interval = buf[off + 6];
            break;
        }
        case VDI_USB_DT_IAD: {
            VdiUsbIad *iad;

            if (dlen < 8) {
                vdi_usb_set_error(errmsg, "interface association descriptor "
                                  "at offset %u: bLength %u (need at least 8)",
                                  off, dlen);
                return false;
            }
            if (cfg->n_iads >= VDI_USB_MAX_IADS) {
                vdi_usb_set_error(errmsg, "more than %d interface association "
                                  "descriptors", VDI_USB_MAX_IADS);
                return false;
            }
            if (buf[off + 3] == 0 ||
                buf[off + 2] + buf[off + 3] > 256) {
                vdi_usb_set_error(errmsg, "interface association at offset "
                                  "%u: bad interface range %u+%u", off,
                                  buf[off + 2], buf[off + 3]);
                return false;
            }
            iad = &cfg->iads[cfg->n_iads++];
            iad->first_interface = buf[off + 2];
            iad->interface_count = buf[off + 3];
            iad->cls = buf[off + 4];
            iad->subclass = buf[off + 5];
            iad->protocol = buf[off + 6];
            break;
        }
        case VDI_USB_DT_DEVICE:
        case VDI_USB_DT_CONFIG:
            vdi_usb_set_error(errmsg, "unexpected %s descriptor at offset %u "
                              "inside the configuration",
                              type == VDI_USB_DT_DEVICE ?
                              "device" : "configuration", off);
            return false;
        default:
            /* class-specific, endpoint companion, OTG, ...: not needed */
            break;
        }
    }
    if (!check_alt_done(cur, declared_eps, errmsg)) {
        return false;
    }
    if (cfg->n_alts == 0) {
        vdi_usb_set_error(errmsg, "configuration has no interface descriptors");
        return false;
    }

    /* Distinct interfaces, each with an alternate setting 0 */
    for (i = 0; i < cfg->n_alts; i++) {
        bool first = true, has_alt0 = false;

        for (j = 0; j < cfg->n_alts; j++) {
            if (cfg->alts[j].number != cfg->alts[i].number) {
                continue;
            }
            if (j < i) {
                first = false;
                break;
            }
            has_alt0 |= cfg->alts[j].alt == 0;
        }
        if (!first) {
            continue;
        }
        if (!has_alt0) {
            vdi_usb_set_error(errmsg, "interface %u has no alternate setting 0",
                              cfg->alts[i].number);
            return false;
        }
        cfg->n_interfaces++;
    }
    if (cfg->n_interfaces > cfg->num_interfaces) {
        vdi_usb_set_error(errmsg, "bNumInterfaces is %u but %u interfaces are "
                          "described", cfg->num_interfaces, cfg->n_interfaces);
        return false;
    }

    /* An endpoint address belongs to one interface only */
    for (i = 0; i < cfg->n_alts; i++) {
        const VdiUsbAltSetting *a = &cfg->alts[i];

        for (j = i + 1; j < cfg->n_alts; j++) {
            const VdiUsbAltSetting *b = &cfg->alts[j];

            if (a->number == b->number) {
                continue;
            }
            for (k = 0; k < a->n_endpoints; k++) {
                unsigned m;

                for (m = 0; m < b->n_endpoints; m++) {
                    if (a->endpoints[k].address == b->endpoints[m].address) {
                        vdi_usb_set_error(errmsg, "endpoint 0x%02x is used by "
                                          "both interface %u and interface %u",
                                          a->endpoints[k].address, a->number,
                                          b->number);
                        return false;
                    }
                }
            }
        }
    }
    return true;
}
