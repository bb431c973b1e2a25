/*
 * VDI host: what the USB policy tests share
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Policies built as usb-policy-set builds them (rule structs through
 * vdi_usb_policy_add_rule()), the descriptors of the canned devices the
 * unit tests, the fuzzers and the fake usbredir peers show, and USB string
 * descriptors.  Byte order: qemu/bswap.h.
 */

#ifndef TESTS_QTEST_VDI_USB_TEST_H
#define TESTS_QTEST_VDI_USB_TEST_H

#include "hw/usb/vdi-usb-policy.h"

/*
 * A rule: USB_RULE(DENY, "no-storage", VDI_USB_MATCH_IFACE_CLASS,
 * .iface_class = 0x08); an empty id names it by its index.
 */
#define USB_RULE(act, rule_id, flags, ...)                              \
    ((VdiUsbRule){ .action = VDI_USB_ACTION_##act, .id = rule_id,      \
                   .match = (flags), ##__VA_ARGS__ })

/* A policy of these rules, in order; aborts on a rule the policy refuses */
static inline VdiUsbPolicy *usb_test_policy(VdiUsbAction dflt,
                                            const VdiUsbRule *rules,
                                            size_t n)
{
    VdiUsbPolicy *p = vdi_usb_policy_new(dflt);
    size_t i;

    for (i = 0; i < n; i++) {
        g_autofree char *err = NULL;

        if (!vdi_usb_policy_add_rule(p, &rules[i], &err)) {
            g_error("rule %zu refused: %s", i, err);
        }
    }
    return p;
}

#define USB_POLICY(dflt, ...)                                           \
    usb_test_policy(VDI_USB_ACTION_##dflt,                              \
                    (const VdiUsbRule[]){ __VA_ARGS__ },                \
                    sizeof((const VdiUsbRule[]){ __VA_ARGS__ }) /       \
                    sizeof(VdiUsbRule))

/* A device descriptor of a USB 2.0 device with one configuration */
#define USB_TEST_DEV_DESC(vid, pid, mps0, iserial)                      \
    { 18, 1, 0x00, 0x02, 0, 0, 0, (mps0), (vid) & 0xff, (vid) >> 8,    \
      (pid) & 0xff, (pid) >> 8, 0x00, 0x01, 1, 2, (iserial), 1 }

/*
 * Bulk-Only storage interface 0 (alt 0) and UAS (alt 1), HID boot
 * keyboard interface 1
 */
static const uint8_t usb_test_composite_config[] = {
    9, 2, 71, 0, 2, 1, 0, 0x80, 100,
    9, 4, 0, 0, 2, 8, 6, 0x50, 0,
    7, 5, 0x81, 2, 0x00, 0x02, 0,
    7, 5, 0x02, 2, 0x00, 0x02, 0,
    9, 4, 0, 1, 2, 8, 6, 0x62, 0,
    7, 5, 0x83, 2, 0x00, 0x02, 0,
    7, 5, 0x04, 2, 0x00, 0x02, 0,
    9, 4, 1, 0, 1, 3, 1, 1, 0,
    7, 5, 0x85, 3, 8, 0, 10,
};

/* A HID boot keyboard, without its HID class descriptor */
static const uint8_t usb_test_keyboard_config[] = {
    9, 2, 25, 0, 1, 1, 0, 0xa0, 50,
    9, 4, 0, 0, 1, 3, 1, 1, 0,
    7, 5, 0x81, 3, 8, 0, 10,
};

/* A bidirectional printer */
static const uint8_t usb_test_printer_config[] = {
    9, 2, 32, 0, 1, 1, 0, 0xc0, 2,
    9, 4, 0, 0, 2, 7, 1, 2, 0,
    7, 5, 0x01, 2, 0x40, 0x00, 0,
    7, 5, 0x82, 2, 0x40, 0x00, 0,
};

/*
 * The string descriptor of an ASCII string into d, cut to fit max bytes
 * (at most 254); returns its length
 */
static inline size_t usb_test_string_desc(const char *s, uint8_t *d,
                                          size_t max)
{
    size_t i, n = MIN(strlen(s), (MIN(max, 254) - 2) / 2);

    d[0] = 2 + 2 * n;
    d[1] = 3;
    for (i = 0; i < n; i++) {
        d[2 + 2 * i] = s[i];
        d[3 + 2 * i] = 0;
    }
    return d[0];
}

/*
 * The policies the fuzzers evaluate every device against: each default
 * alone, and rules on every field, hide and read-only
 */
#define USB_TEST_N_POLICIES 8

static inline void usb_test_policies(VdiUsbPolicy *p[USB_TEST_N_POLICIES])
{
    p[0] = vdi_usb_policy_new(VDI_USB_ACTION_ALLOW);
    p[1] = vdi_usb_policy_new(VDI_USB_ACTION_DENY);
    p[2] = vdi_usb_policy_new(VDI_USB_ACTION_READ_ONLY);
    p[3] = USB_POLICY(DENY,
                      USB_RULE(ALLOW, "", VDI_USB_MATCH_IFACE_CLASS,
                               .iface_class = 0x03),
                      USB_RULE(ALLOW, "", VDI_USB_MATCH_IFACE_CLASS,
                               .iface_class = 0x07));
    p[4] = USB_POLICY(ALLOW,
                      USB_RULE(DENY, "", VDI_USB_MATCH_IFACE_CLASS,
                               .iface_class = 0x03, .hide = true),
                      USB_RULE(READ_ONLY, "", VDI_USB_MATCH_IFACE_CLASS,
                               .iface_class = 0x08));
    p[5] = USB_POLICY(ALLOW,
                      USB_RULE(DENY, "", VDI_USB_MATCH_IFACE_CLASS,
                               .iface_class = 0x08, .hide = true));
    p[6] = USB_POLICY(DENY,
                      USB_RULE(READ_ONLY, "",
                               VDI_USB_MATCH_IFACE_PROTOCOL |
                               VDI_USB_MATCH_SERIAL,
                               .iface_protocol = 0x50, .serial = "ST*"),
                      USB_RULE(ALLOW, "", VDI_USB_MATCH_IFACE_CLASS,
                               .iface_class = 0x03));
    p[7] = USB_POLICY(DENY,
                      USB_RULE(DENY, "", VDI_USB_MATCH_VID | VDI_USB_MATCH_BCD,
                               .vid = 0x0781, .bcd_lo = 0x0100,
                               .bcd_hi = 0x0200),
                      USB_RULE(READ_ONLY, "", VDI_USB_MATCH_SERIAL,
                               .serial = "A*"),
                      USB_RULE(ALLOW, "", VDI_USB_MATCH_DEV_CLASS,
                               .dev_class = 0xef),
                      USB_RULE(DENY, "", VDI_USB_MATCH_IFACE_CLASS,
                               .iface_class = 0xe0, .hide = true),
                      USB_RULE(ALLOW, "", 0));
}

#endif
