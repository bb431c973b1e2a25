/*
 * VDI host: USB device and configuration descriptor parser
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * No QEMU dependencies beyond qemu/osdep.h (GLib).  Errors are returned
 * as a g_strdup'ed message through a char **errmsg, which may be NULL if
 * the caller does not want it; vdi_usb_set_error() sets one, for the
 * other USB policy cores too.
 */

#ifndef HW_USB_VDI_USB_DESC_H
#define HW_USB_VDI_USB_DESC_H

/* Bounds on what a (remote, untrusted) device may describe */
#define VDI_USB_MAX_ALTS          64  /* interface descriptors per config */
#define VDI_USB_MAX_ENDPOINTS     30  /* endpoints per alternate setting */
#define VDI_USB_MAX_IADS          32  /* interface association descriptors */

#define VDI_USB_CLASS_MASS_STORAGE  0x08
#define VDI_USB_MSC_PROTO_BOT       0x50
#define VDI_USB_MSC_PROTO_UAS       0x62

#define VDI_USB_DT_DEVICE        0x01
#define VDI_USB_DT_CONFIG        0x02
#define VDI_USB_DT_INTERFACE     0x04
#define VDI_USB_DT_ENDPOINT      0x05
#define VDI_USB_DT_IAD           0x0b

/* Parsed standard device descriptor */
typedef struct VdiUsbDeviceDesc {
    uint16_t bcd_usb;
    uint8_t dev_class;
    uint8_t dev_subclass;
    uint8_t dev_protocol;
    uint8_t max_packet_size0;
    uint16_t vid;
    uint16_t pid;
    uint16_t bcd_device;
    uint8_t i_manufacturer;
    uint8_t i_product;
    uint8_t i_serial;
    uint8_t num_configurations;
} VdiUsbDeviceDesc;

typedef struct VdiUsbEndpoint {
    uint8_t address;            /* bit 7: IN */
    uint8_t attributes;         /* bits 0-1: transfer type */
    uint16_t max_packet_size;
    uint8_t interval;
} VdiUsbEndpoint;

/* One interface descriptor, i.e. one alternate setting of an interface */
typedef struct VdiUsbAltSetting {
    uint8_t number;
    uint8_t alt;
    uint8_t cls;
    uint8_t subclass;
    uint8_t protocol;
    uint8_t i_interface;
    uint8_t n_endpoints;
    VdiUsbEndpoint endpoints[VDI_USB_MAX_ENDPOINTS];
} VdiUsbAltSetting;

typedef struct VdiUsbIad {
    uint8_t first_interface;
    uint8_t interface_count;
    uint8_t cls;
    uint8_t subclass;
    uint8_t protocol;
} VdiUsbIad;

/* Parsed configuration descriptor blob */
typedef struct VdiUsbConfig {
    uint16_t total_length;
    uint8_t num_interfaces;     /* bNumInterfaces as declared */
    uint8_t config_value;
    uint8_t attributes;
    uint8_t max_power;
    unsigned n_interfaces;      /* distinct interface numbers found */
    unsigned n_alts;            /* in descriptor order */
    VdiUsbAltSetting alts[VDI_USB_MAX_ALTS];
    unsigned n_iads;
    VdiUsbIad iads[VDI_USB_MAX_IADS];
} VdiUsbConfig;

void vdi_usb_set_error(char **errmsg, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

/* Descriptor parsing; on failure *errmsg says what is wrong */
bool vdi_usb_parse_device_desc(const uint8_t *buf, size_t len,
                               VdiUsbDeviceDesc *dev, char **errmsg);
bool vdi_usb_parse_config_desc(const uint8_t *buf, size_t len,
                               VdiUsbConfig *cfg, char **errmsg);

#endif
