/*
 * VDI host: what the USB policy tests share
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Policies built as usb-policy-set builds them (rule structs through
 * vdi_usb_policy_add_rule()), the descriptors of the canned devices the
 * unit tests, the fuzzers and the fake usbredir peers show, USB string
 * descriptors, and configuration descriptors built piece by piece (Blob)
 * for the unit tests of the descriptor parser and the policy.  Byte
 * order: qemu/bswap.h.
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

/*
 * Configuration descriptors built piece by piece, for the unit tests of
 * the descriptor parser and of the policy
 */

typedef struct Blob {
    uint8_t b[4096];
    size_t n;
} Blob;

static inline void put(Blob *d, const uint8_t *p, size_t n)
{
    g_assert(d->n + n <= sizeof(d->b));
    memcpy(d->b + d->n, p, n);
    d->n += n;
}

static inline void cfg_begin(Blob *d)
{
    const uint8_t c[9] = { 9, 2, 0, 0, 0, 1, 0, 0x80, 50 };

    d->n = 0;
    put(d, c, 9);
}

/* Fix wTotalLength (from what was appended) and set bNumInterfaces */
static inline void cfg_end(Blob *d, uint8_t num_interfaces)
{
    d->b[2] = d->n & 0xff;
    d->b[3] = d->n >> 8;
    d->b[4] = num_interfaces;
}

static inline void add_iface(Blob *d, uint8_t num, uint8_t alt, uint8_t neps,
                             uint8_t cls, uint8_t sub, uint8_t proto)
{
    const uint8_t i[9] = { 9, 4, num, alt, neps, cls, sub, proto, 0 };

    put(d, i, 9);
}

static inline void add_ep(Blob *d, uint8_t addr, uint8_t attr, uint16_t mps)
{
    const uint8_t e[7] = { 7, 5, addr, attr, mps & 0xff, mps >> 8, 0 };

    put(d, e, 7);
}

static inline void add_iad(Blob *d, uint8_t first, uint8_t count, uint8_t cls)
{
    const uint8_t a[8] = { 8, 0x0b, first, count, cls, 0, 0, 0 };

    put(d, a, 8);
}

static inline void add_bot(Blob *d, uint8_t num, uint8_t alt, uint8_t in,
                           uint8_t out)
{
    add_iface(d, num, alt, 2, 0x08, 0x06, 0x50);
    add_ep(d, in, 2, 512);
    add_ep(d, out, 2, 512);
}

static inline void add_uas(Blob *d, uint8_t num, uint8_t alt, uint8_t base)
{
    /* 4 bulk endpoints, each followed by a pipe usage descriptor */
    const uint8_t pipe[4] = { 4, 0x24, 1, 0 };
    const uint8_t addrs[4] = { base, 0x80 | base, 0x80 | (base + 1),
                               base + 1 };
    int i;

    add_iface(d, num, alt, 4, 0x08, 0x06, 0x62);
    for (i = 0; i < 4; i++) {
        add_ep(d, addrs[i], 2, 512);
        put(d, pipe, 4);
    }
}

static const uint8_t dev_desc_sandisk[18] = {
    18, 1, 0x00, 0x02, 0x00, 0x00, 0x00, 64,
    0x81, 0x07, 0x67, 0x55, 0x00, 0x01, 1, 2, 3, 1
};

static inline VdiUsbDeviceDesc mkdev(uint8_t cls, uint16_t vid, uint16_t pid,
                                     uint16_t bcd)
{
    VdiUsbDeviceDesc d = {
        .bcd_usb = 0x0200, .dev_class = cls, .max_packet_size0 = 64,
        .vid = vid, .pid = pid, .bcd_device = bcd, .num_configurations = 1,
    };
    return d;
}

static inline void build_hid(Blob *d)
{
    const uint8_t hid[9] = { 9, 0x21, 0x11, 0x01, 0, 1, 0x22, 63, 0 };

    cfg_begin(d);
    add_iface(d, 0, 0, 1, 0x03, 0x01, 0x01);
    put(d, hid, 9);
    add_ep(d, 0x81, 3, 8);
    cfg_end(d, 1);
}

static inline void build_bot(Blob *d)
{
    cfg_begin(d);
    add_bot(d, 0, 0, 0x81, 0x02);
    cfg_end(d, 1);
}

static inline void build_uas_bot(Blob *d)
{
    cfg_begin(d);
    add_bot(d, 0, 0, 0x81, 0x02);
    add_uas(d, 0, 1, 0x03);
    cfg_end(d, 1);
}

static inline void build_printer_storage(Blob *d)
{
    cfg_begin(d);
    add_iad(d, 0, 1, 0x07);
    add_iface(d, 0, 0, 2, 0x07, 0x01, 0x02);
    add_ep(d, 0x01, 2, 512);
    add_ep(d, 0x82, 2, 512);
    add_bot(d, 1, 0, 0x83, 0x04);
    cfg_end(d, 2);
}

static inline void build_audio(Blob *d)
{
    const uint8_t ac_header[9] = { 9, 0x24, 1, 0x00, 0x01, 30, 0, 1, 1 };
    const uint8_t as_general[7] = { 7, 0x24, 1, 1, 1, 1, 0 };
    const uint8_t iso_ep[9] = { 9, 5, 0x01, 0x09, 0xc0, 0, 1, 0, 0 };
    const uint8_t cs_ep[7] = { 7, 0x25, 1, 0, 0, 0, 0 };

    cfg_begin(d);
    add_iad(d, 0, 2, 0x01);
    add_iface(d, 0, 0, 0, 0x01, 0x01, 0x00);
    put(d, ac_header, 9);
    add_iface(d, 1, 0, 0, 0x01, 0x02, 0x00);
    add_iface(d, 1, 1, 1, 0x01, 0x02, 0x00);
    put(d, as_general, 7);
    put(d, iso_ep, 9);
    put(d, cs_ep, 7);
    cfg_end(d, 2);
}

static inline void parse_ok(const Blob *d, VdiUsbConfig *cfg)
{
    g_autofree char *err = NULL;

    if (!vdi_usb_parse_config_desc(d->b, d->n, cfg, &err)) {
        g_error("unexpected parse error: %s", err);
    }
    g_assert_null(err);
}

#endif
