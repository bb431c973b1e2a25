/*
 * Unit tests for the VDI USB policy engine and the BOT read-only filter
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Expected values are written out by hand from the USB, BOT and SCSI
 * specifications, never computed with the code under test.
 */

#include "qemu/osdep.h"
#include "hw/usb/vdi-usb-verdict.h"
#include "vdi-usb-test.h"
#include "hw/usb/vdi-bot-filter.h"

/* Descriptor building */

typedef struct Blob {
    uint8_t b[4096];
    size_t n;
} Blob;

static void put(Blob *d, const uint8_t *p, size_t n)
{
    g_assert(d->n + n <= sizeof(d->b));
    memcpy(d->b + d->n, p, n);
    d->n += n;
}

static void cfg_begin(Blob *d)
{
    const uint8_t c[9] = { 9, 2, 0, 0, 0, 1, 0, 0x80, 50 };

    d->n = 0;
    put(d, c, 9);
}

/* Fix wTotalLength (from what was appended) and set bNumInterfaces */
static void cfg_end(Blob *d, uint8_t num_interfaces)
{
    d->b[2] = d->n & 0xff;
    d->b[3] = d->n >> 8;
    d->b[4] = num_interfaces;
}

static void add_iface(Blob *d, uint8_t num, uint8_t alt, uint8_t neps,
                      uint8_t cls, uint8_t sub, uint8_t proto)
{
    const uint8_t i[9] = { 9, 4, num, alt, neps, cls, sub, proto, 0 };

    put(d, i, 9);
}

static void add_ep(Blob *d, uint8_t addr, uint8_t attr, uint16_t mps)
{
    const uint8_t e[7] = { 7, 5, addr, attr, mps & 0xff, mps >> 8, 0 };

    put(d, e, 7);
}

static void add_iad(Blob *d, uint8_t first, uint8_t count, uint8_t cls)
{
    const uint8_t a[8] = { 8, 0x0b, first, count, cls, 0, 0, 0 };

    put(d, a, 8);
}

static void add_bot(Blob *d, uint8_t num, uint8_t alt, uint8_t in,
                    uint8_t out)
{
    add_iface(d, num, alt, 2, 0x08, 0x06, 0x50);
    add_ep(d, in, 2, 512);
    add_ep(d, out, 2, 512);
}

static void add_uas(Blob *d, uint8_t num, uint8_t alt, uint8_t base)
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

static VdiUsbDeviceDesc mkdev(uint8_t cls, uint16_t vid, uint16_t pid,
                              uint16_t bcd)
{
    VdiUsbDeviceDesc d = {
        .bcd_usb = 0x0200, .dev_class = cls, .max_packet_size0 = 64,
        .vid = vid, .pid = pid, .bcd_device = bcd, .num_configurations = 1,
    };
    return d;
}

static void build_hid(Blob *d)
{
    const uint8_t hid[9] = { 9, 0x21, 0x11, 0x01, 0, 1, 0x22, 63, 0 };

    cfg_begin(d);
    add_iface(d, 0, 0, 1, 0x03, 0x01, 0x01);
    put(d, hid, 9);
    add_ep(d, 0x81, 3, 8);
    cfg_end(d, 1);
}

static void build_bot(Blob *d)
{
    cfg_begin(d);
    add_bot(d, 0, 0, 0x81, 0x02);
    cfg_end(d, 1);
}

static void build_uas_bot(Blob *d)
{
    cfg_begin(d);
    add_bot(d, 0, 0, 0x81, 0x02);
    add_uas(d, 0, 1, 0x03);
    cfg_end(d, 1);
}

static void build_printer_storage(Blob *d)
{
    cfg_begin(d);
    add_iad(d, 0, 1, 0x07);
    add_iface(d, 0, 0, 2, 0x07, 0x01, 0x02);
    add_ep(d, 0x01, 2, 512);
    add_ep(d, 0x82, 2, 512);
    add_bot(d, 1, 0, 0x83, 0x04);
    cfg_end(d, 2);
}

static void build_audio(Blob *d)
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

static void parse_ok(const Blob *d, VdiUsbConfig *cfg)
{
    g_autofree char *err = NULL;

    if (!vdi_usb_parse_config_desc(d->b, d->n, cfg, &err)) {
        g_error("unexpected parse error: %s", err);
    }
    g_assert_null(err);
}

/* Descriptor tests */

static void test_desc_device(void)
{
    VdiUsbDeviceDesc dev;
    g_autofree char *err = NULL;

    g_assert_true(vdi_usb_parse_device_desc(dev_desc_sandisk, 18, &dev,
                                            &err));
    g_assert_null(err);
    g_assert_cmphex(dev.bcd_usb, ==, 0x0200);
    g_assert_cmphex(dev.vid, ==, 0x0781);
    g_assert_cmphex(dev.pid, ==, 0x5567);
    g_assert_cmphex(dev.bcd_device, ==, 0x0100);
    g_assert_cmpint(dev.max_packet_size0, ==, 64);
    g_assert_cmpint(dev.i_serial, ==, 3);
    g_assert_cmpint(dev.num_configurations, ==, 1);
}

static void check_dev_err(const uint8_t *b, size_t n, const char *expect)
{
    VdiUsbDeviceDesc dev;
    g_autofree char *err = NULL;

    g_assert_false(vdi_usb_parse_device_desc(b, n, &dev, &err));
    g_assert_nonnull(err);
    if (!strstr(err, expect)) {
        g_error("error '%s' does not contain '%s'", err, expect);
    }
}

static void test_desc_device_errors(void)
{
    uint8_t b[18];

    check_dev_err(dev_desc_sandisk, 17, "truncated");
    check_dev_err(NULL, 0, "truncated");
    memcpy(b, dev_desc_sandisk, 18);
    b[0] = 9;
    check_dev_err(b, 18, "bLength 9");
    memcpy(b, dev_desc_sandisk, 18);
    b[1] = 2;
    check_dev_err(b, 18, "bDescriptorType 0x02");
    memcpy(b, dev_desc_sandisk, 18);
    b[7] = 12;
    check_dev_err(b, 18, "bMaxPacketSize0 12");
    memcpy(b, dev_desc_sandisk, 18);
    b[17] = 0;
    check_dev_err(b, 18, "no configurations");
}

static void test_desc_hid(void)
{
    Blob d;
    VdiUsbConfig cfg;

    build_hid(&d);
    parse_ok(&d, &cfg);
    g_assert_cmpint(cfg.total_length, ==, 9 + 9 + 9 + 7);
    g_assert_cmpint(cfg.n_alts, ==, 1);
    g_assert_cmpint(cfg.n_interfaces, ==, 1);
    g_assert_cmphex(cfg.alts[0].cls, ==, 0x03);
    g_assert_cmphex(cfg.alts[0].subclass, ==, 0x01);
    g_assert_cmphex(cfg.alts[0].protocol, ==, 0x01);
    g_assert_cmpint(cfg.alts[0].n_endpoints, ==, 1);
    g_assert_cmphex(cfg.alts[0].endpoints[0].address, ==, 0x81);
    g_assert_cmpint(cfg.alts[0].endpoints[0].attributes, ==, 3);
    g_assert_cmpint(cfg.alts[0].endpoints[0].max_packet_size, ==, 8);
    g_assert_cmpint(cfg.config_value, ==, 1);
    g_assert_cmpint(cfg.max_power, ==, 50);
}

static void test_desc_bot(void)
{
    Blob d;
    VdiUsbConfig cfg;

    build_bot(&d);
    parse_ok(&d, &cfg);
    g_assert_cmpint(cfg.n_alts, ==, 1);
    g_assert_cmphex(cfg.alts[0].cls, ==, 0x08);
    g_assert_cmphex(cfg.alts[0].protocol, ==, 0x50);
    g_assert_cmpint(cfg.alts[0].n_endpoints, ==, 2);
    g_assert_cmphex(cfg.alts[0].endpoints[0].address, ==, 0x81);
    g_assert_cmphex(cfg.alts[0].endpoints[1].address, ==, 0x02);
    g_assert_cmpint(cfg.alts[0].endpoints[1].max_packet_size, ==, 512);
}

static void test_desc_uas_bot(void)
{
    Blob d;
    VdiUsbConfig cfg;

    build_uas_bot(&d);
    parse_ok(&d, &cfg);
    g_assert_cmpint(cfg.n_alts, ==, 2);
    g_assert_cmpint(cfg.n_interfaces, ==, 1);
    g_assert_cmpint(cfg.alts[1].number, ==, 0);
    g_assert_cmpint(cfg.alts[1].alt, ==, 1);
    g_assert_cmphex(cfg.alts[1].protocol, ==, 0x62);
    g_assert_cmpint(cfg.alts[1].n_endpoints, ==, 4);
    g_assert_cmphex(cfg.alts[1].endpoints[2].address, ==, 0x84);
}

static void test_desc_composite(void)
{
    Blob d;
    VdiUsbConfig cfg;

    build_printer_storage(&d);
    parse_ok(&d, &cfg);
    g_assert_cmpint(cfg.n_alts, ==, 2);
    g_assert_cmpint(cfg.n_interfaces, ==, 2);
    g_assert_cmpint(cfg.num_interfaces, ==, 2);
    g_assert_cmphex(cfg.alts[0].cls, ==, 0x07);
    g_assert_cmphex(cfg.alts[1].cls, ==, 0x08);
    g_assert_cmpint(cfg.n_iads, ==, 1);
    g_assert_cmpint(cfg.iads[0].first_interface, ==, 0);
    g_assert_cmpint(cfg.iads[0].interface_count, ==, 1);
    g_assert_cmphex(cfg.iads[0].cls, ==, 0x07);
}

static void test_desc_audio(void)
{
    Blob d;
    VdiUsbConfig cfg;

    build_audio(&d);
    parse_ok(&d, &cfg);
    g_assert_cmpint(cfg.n_alts, ==, 3);
    g_assert_cmpint(cfg.n_interfaces, ==, 2);
    g_assert_cmpint(cfg.alts[0].n_endpoints, ==, 0);
    g_assert_cmpint(cfg.alts[1].n_endpoints, ==, 0);
    g_assert_cmpint(cfg.alts[2].n_endpoints, ==, 1);
    g_assert_cmphex(cfg.alts[2].endpoints[0].address, ==, 0x01);
    g_assert_cmphex(cfg.alts[2].endpoints[0].attributes, ==, 0x09);
    g_assert_cmpint(cfg.alts[2].endpoints[0].max_packet_size, ==, 192);
    g_assert_cmpint(cfg.n_iads, ==, 1);
    g_assert_cmpint(cfg.iads[0].interface_count, ==, 2);
}

static void check_cfg_err(const Blob *d, size_t len, const char *expect)
{
    VdiUsbConfig cfg;
    g_autofree char *err = NULL;

    g_assert_false(vdi_usb_parse_config_desc(d->b, len, &cfg, &err));
    g_assert_nonnull(err);
    if (!strstr(err, expect)) {
        g_error("error '%s' does not contain '%s'", err, expect);
    }
}

static void test_desc_config_errors(void)
{
    Blob d, tmp;
    VdiUsbConfig cfg;
    int i;

    /* header */
    build_bot(&d);
    check_cfg_err(&d, 8, "truncated");
    tmp = d;
    tmp.b[0] = 8;
    check_cfg_err(&tmp, tmp.n, "bLength 8");
    tmp = d;
    tmp.b[1] = 4;
    check_cfg_err(&tmp, tmp.n, "bDescriptorType 0x04");
    tmp = d;
    tmp.b[2] = 5;
    tmp.b[3] = 0;
    check_cfg_err(&tmp, tmp.n, "shorter than the configuration");
    check_cfg_err(&d, d.n - 1, "wTotalLength 32 exceeds the 31 bytes");
    tmp = d;
    tmp.b[4] = 0;
    check_cfg_err(&tmp, tmp.n, "declares no interfaces");

    /* descriptor walk */
    cfg_begin(&tmp);
    add_iface(&tmp, 0, 0, 0, 3, 0, 0);
    put(&tmp, (const uint8_t[]){ 0, 0x21, 0, 0 }, 4);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "offset 18 has bad bLength 0");
    tmp.b[18] = 1;
    check_cfg_err(&tmp, tmp.n, "offset 18 has bad bLength 1");
    tmp.b[18] = 5;
    check_cfg_err(&tmp, tmp.n, "runs past wTotalLength 22");
    cfg_begin(&tmp);
    add_iface(&tmp, 0, 0, 0, 3, 0, 0);
    put(&tmp, (const uint8_t[]){ 2 }, 1);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "offset 18 truncated");

    /* interfaces */
    cfg_begin(&tmp);
    put(&tmp, (const uint8_t[]){ 8, 4, 0, 0, 0, 3, 0, 0 }, 8);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "interface descriptor at offset 9: bLength 8");
    cfg_begin(&tmp);
    for (i = 0; i < VDI_USB_MAX_ALTS + 1; i++) {
        add_iface(&tmp, i, 0, 0, 3, 0, 0);
    }
    cfg_end(&tmp, 255);
    check_cfg_err(&tmp, tmp.n, "more than 64 interface descriptors");
    cfg_begin(&tmp);
    add_iface(&tmp, 0, 0, 0, 3, 0, 0);
    add_iface(&tmp, 0, 0, 0, 3, 0, 0);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "duplicate interface 0 alternate setting 0");
    cfg_begin(&tmp);
    add_iface(&tmp, 0, 0, 31, 3, 0, 0);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "declares 31 endpoints");
    cfg_begin(&tmp);
    add_iface(&tmp, 0, 1, 0, 3, 0, 0);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "interface 0 has no alternate setting 0");
    cfg_begin(&tmp);
    add_iface(&tmp, 0, 0, 0, 3, 0, 0);
    add_iface(&tmp, 1, 0, 0, 3, 0, 0);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "bNumInterfaces is 1 but 2 interfaces");
    cfg_begin(&tmp);
    put(&tmp, (const uint8_t[]){ 4, 0x24, 0, 0 }, 4);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "no interface descriptors");

    /* endpoints */
    cfg_begin(&tmp);
    add_iface(&tmp, 0, 0, 1, 3, 0, 0);
    put(&tmp, (const uint8_t[]){ 6, 5, 0x81, 3, 8, 0 }, 6);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "endpoint descriptor at offset 18: bLength 6");
    cfg_begin(&tmp);
    add_ep(&tmp, 0x81, 3, 8);
    add_iface(&tmp, 0, 0, 1, 3, 0, 0);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "not inside an interface");
    cfg_begin(&tmp);
    add_iface(&tmp, 0, 0, 1, 3, 0, 0);
    add_ep(&tmp, 0x81, 3, 8);
    add_ep(&tmp, 0x82, 3, 8);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "more endpoint descriptors than its "
                  "bNumEndpoints 1");
    cfg_begin(&tmp);
    add_iface(&tmp, 0, 0, 1, 3, 0, 0);
    add_ep(&tmp, 0x80, 3, 8);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "bad endpoint address 0x80");
    tmp.b[20] = 0x00;
    check_cfg_err(&tmp, tmp.n, "bad endpoint address 0x00");
    tmp.b[20] = 0x91;
    check_cfg_err(&tmp, tmp.n, "bad endpoint address 0x91");
    cfg_begin(&tmp);
    add_iface(&tmp, 0, 0, 2, 3, 0, 0);
    add_ep(&tmp, 0x81, 3, 8);
    add_ep(&tmp, 0x81, 3, 8);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "duplicate endpoint 0x81");
    cfg_begin(&tmp);
    add_iface(&tmp, 0, 0, 1, 3, 0, 0);
    add_ep(&tmp, 0x81, 3, 8);
    add_iface(&tmp, 1, 0, 1, 8, 6, 0x50);
    add_ep(&tmp, 0x81, 2, 512);
    cfg_end(&tmp, 2);
    check_cfg_err(&tmp, tmp.n, "endpoint 0x81 is used by both interface 0 "
                  "and interface 1");

    /* interface associations */
    cfg_begin(&tmp);
    put(&tmp, (const uint8_t[]){ 7, 0x0b, 0, 1, 3, 0, 0 }, 7);
    add_iface(&tmp, 0, 0, 0, 3, 0, 0);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "association descriptor at offset 9: "
                  "bLength 7");
    cfg_begin(&tmp);
    add_iad(&tmp, 0, 0, 3);
    add_iface(&tmp, 0, 0, 0, 3, 0, 0);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "bad interface range 0+0");
    cfg_begin(&tmp);
    add_iad(&tmp, 250, 7, 3);
    add_iface(&tmp, 0, 0, 0, 3, 0, 0);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "bad interface range 250+7");
    cfg_begin(&tmp);
    for (i = 0; i < VDI_USB_MAX_IADS + 1; i++) {
        add_iad(&tmp, 0, 1, 3);
    }
    add_iface(&tmp, 0, 0, 0, 3, 0, 0);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "more than 32 interface association");

    /* nested device / configuration descriptors */
    cfg_begin(&tmp);
    add_iface(&tmp, 0, 0, 0, 3, 0, 0);
    put(&tmp, dev_desc_sandisk, 18);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "unexpected device descriptor at offset 18");
    cfg_begin(&tmp);
    add_iface(&tmp, 0, 0, 0, 3, 0, 0);
    put(&tmp, (const uint8_t[]){ 9, 2, 9, 0, 1, 1, 0, 0x80, 50 }, 9);
    cfg_end(&tmp, 1);
    check_cfg_err(&tmp, tmp.n, "unexpected configuration descriptor");

    /* tolerated: trailing bytes, fewer endpoints than declared */
    tmp = d;
    put(&tmp, (const uint8_t[]){ 0xff, 0xff, 0xff }, 3);
    g_assert_true(vdi_usb_parse_config_desc(tmp.b, tmp.n, &cfg, NULL));
    g_assert_cmpint(cfg.total_length, ==, 32);
    cfg_begin(&tmp);
    add_iface(&tmp, 0, 0, 3, 3, 0, 0);
    add_ep(&tmp, 0x81, 3, 8);
    cfg_end(&tmp, 1);
    g_assert_true(vdi_usb_parse_config_desc(tmp.b, tmp.n, &cfg, NULL));
    g_assert_cmpint(cfg.alts[0].n_endpoints, ==, 1);
}

/* Rules and policy evaluation */

/* Does a one-rule policy (default deny) allow the device? */
static bool one_rule_allows(const VdiUsbRule *rule,
                            const VdiUsbDeviceDesc *dev, const Blob *d,
                            const char *serial)
{
    VdiUsbPolicy *p = usb_test_policy(VDI_USB_ACTION_DENY, rule, 1);
    VdiUsbConfig cfg;
    VdiUsbVerdict v;

    parse_ok(d, &cfg);
    vdi_usb_policy_evaluate(p, dev, &cfg, serial, &v);
    vdi_usb_policy_free(p);
    g_assert_true(v.action == VDI_USB_ACTION_ALLOW ||
                  v.action == VDI_USB_ACTION_DENY);
    g_assert_cmpint(v.rule_index, ==,
                    v.action == VDI_USB_ACTION_ALLOW ? 0 : -1);
    return v.action == VDI_USB_ACTION_ALLOW;
}

/* A rule that allows what matches one field (or a combination) */
#define ALLOW_IF(field, ...) \
    USB_RULE(ALLOW, "", VDI_USB_MATCH_##field, __VA_ARGS__)

static void test_rule_fields(void)
{
    Blob hid;
    VdiUsbDeviceDesc dev = mkdev(0x00, 0x046d, 0xc31c, 0x6400);
    VdiUsbDeviceDesc misc = mkdev(0xef, 0x046d, 0xc31c, 0x6400);
    VdiUsbRule r;

    misc.dev_subclass = 0x02;
    misc.dev_protocol = 0x01;
    build_hid(&hid);

    r = ALLOW_IF(DEV_CLASS, .dev_class = 0xef);
    g_assert_true(one_rule_allows(&r, &misc, &hid, NULL));
    g_assert_false(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(DEV_SUBCLASS, .dev_subclass = 0x02);
    g_assert_true(one_rule_allows(&r, &misc, &hid, NULL));
    g_assert_false(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(DEV_PROTOCOL, .dev_protocol = 0x01);
    g_assert_true(one_rule_allows(&r, &misc, &hid, NULL));
    g_assert_false(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(IFACE_CLASS, .iface_class = 0x03);
    g_assert_true(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(IFACE_CLASS, .iface_class = 0x08);
    g_assert_false(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(DEV_CLASS, .dev_class = 0x03);
    g_assert_false(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(IFACE_SUBCLASS, .iface_subclass = 0x01);
    g_assert_true(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(IFACE_SUBCLASS, .iface_subclass = 0x00);
    g_assert_false(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(IFACE_PROTOCOL, .iface_protocol = 0x01);
    g_assert_true(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(IFACE_PROTOCOL, .iface_protocol = 0x02);
    g_assert_false(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(VID, .vid = 0x046d);
    g_assert_true(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(VID, .vid = 0x046e);
    g_assert_false(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(PID, .pid = 0xc31c);
    g_assert_true(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(PID, .pid = 0xc31d);
    g_assert_false(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(VID | VDI_USB_MATCH_PID, .vid = 0x046d, .pid = 0xc31c);
    g_assert_true(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(VID | VDI_USB_MATCH_PID, .vid = 0x046d, .pid = 0x0001);
    g_assert_false(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(BCD, .bcd_lo = 0x6400, .bcd_hi = 0x6400);
    g_assert_true(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(BCD, .bcd_lo = 0x6400, .bcd_hi = 0x6500);
    g_assert_true(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(BCD, .bcd_lo = 0x6300, .bcd_hi = 0x6400);
    g_assert_true(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(BCD, .bcd_lo = 0x6401, .bcd_hi = 0x6500);
    g_assert_false(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(BCD, .bcd_lo = 0x0100, .bcd_hi = 0x63ff);
    g_assert_false(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(SERIAL, .serial = "ABC123");
    g_assert_true(one_rule_allows(&r, &dev, &hid, "ABC123"));
    g_assert_false(one_rule_allows(&r, &dev, &hid, "ABC1234"));
    g_assert_false(one_rule_allows(&r, &dev, &hid, "abc123"));
    r = ALLOW_IF(SERIAL, .serial = "ABC*");
    g_assert_true(one_rule_allows(&r, &dev, &hid, "ABC999"));
    g_assert_false(one_rule_allows(&r, &dev, &hid, "XABC999"));
    r = ALLOW_IF(SERIAL, .serial = "*");
    g_assert_false(one_rule_allows(&r, &dev, &hid, NULL));
    r = ALLOW_IF(SERIAL, .serial = "A B");
    g_assert_true(one_rule_allows(&r, &dev, &hid, "A B"));
    /* all fields of a rule must match */
    r = ALLOW_IF(IFACE_CLASS | VDI_USB_MATCH_VID, .iface_class = 0x03,
                 .vid = 0x1234);
    g_assert_false(one_rule_allows(&r, &dev, &hid, NULL));
}

static void test_rule_glob(void)
{
    g_assert_true(vdi_usb_glob_match("", ""));
    g_assert_false(vdi_usb_glob_match("", "a"));
    g_assert_true(vdi_usb_glob_match("*", ""));
    g_assert_true(vdi_usb_glob_match("*", "anything"));
    g_assert_true(vdi_usb_glob_match("a*c", "abbbc"));
    g_assert_true(vdi_usb_glob_match("a*c", "ac"));
    g_assert_false(vdi_usb_glob_match("a*c", "acb"));
    g_assert_true(vdi_usb_glob_match("*b*b*", "abab"));
    g_assert_false(vdi_usb_glob_match("*b*b*", "ab"));
    g_assert_true(vdi_usb_glob_match("**x", "yx"));
    g_assert_true(vdi_usb_glob_match("a*a*a*a*b", "aaaaaaaaaaab"));
    g_assert_false(vdi_usb_glob_match("a*a*a*a*b", "aaaaaaaaaaaa"));
    g_assert_false(vdi_usb_glob_match("?", "x"));
}

static void test_policy_first_match(void)
{
    Blob d;
    VdiUsbConfig cfg;
    VdiUsbVerdict v;
    VdiUsbDeviceDesc dev = mkdev(0, 0x0781, 0x5567, 0x0100);
    VdiUsbPolicy *p;

    build_bot(&d);
    parse_ok(&d, &cfg);

    p = USB_POLICY(ALLOW,
                   USB_RULE(DENY, "first", VDI_USB_MATCH_VID, .vid = 0x0781),
                   USB_RULE(ALLOW, "second", VDI_USB_MATCH_IFACE_CLASS,
                            .iface_class = 0x08));
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_DENY);
    g_assert_cmpint(v.rule_index, ==, 0);
    g_assert_cmpstr(v.rule_id, ==, "first");
    vdi_usb_policy_free(p);

    p = USB_POLICY(DENY,
                   USB_RULE(ALLOW, "first", VDI_USB_MATCH_IFACE_CLASS,
                            .iface_class = 0x08),
                   USB_RULE(DENY, "second", VDI_USB_MATCH_VID, .vid = 0x0781));
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_ALLOW);
    g_assert_cmpint(v.rule_index, ==, 0);
    g_assert_cmpstr(v.rule_id, ==, "first");
    vdi_usb_policy_free(p);

    /* a non-matching first rule is skipped; unnamed rules are #N */
    p = USB_POLICY(ALLOW,
                   USB_RULE(ALLOW, "", VDI_USB_MATCH_VID, .vid = 0x1234),
                   USB_RULE(READ_ONLY, "", VDI_USB_MATCH_IFACE_CLASS,
                            .iface_class = 0x08),
                   USB_RULE(DENY, "", 0));
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_READ_ONLY);
    g_assert_cmpint(v.rule_index, ==, 1);
    g_assert_cmpstr(v.rule_id, ==, "#1");
    g_assert_cmpstr(v.reason, ==,
                    "interface 0 (class 08:06:50) read-only by rule '#1'");
    vdi_usb_policy_free(p);
}

static void test_policy_default(void)
{
    Blob d;
    VdiUsbConfig cfg;
    VdiUsbVerdict v;
    VdiUsbDeviceDesc dev = mkdev(0, 0x0781, 0x5567, 0x0100);
    VdiUsbPolicy *p = vdi_usb_policy_new(VDI_USB_ACTION_ALLOW);

    build_bot(&d);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_ALLOW);
    g_assert_cmpint(v.rule_index, ==, -1);
    g_assert_cmpstr(v.rule_id, ==, "default");
    g_assert_cmpstr(v.reason, ==,
                    "interface 0 (class 08:06:50) allowed by the default "
                    "policy");
    g_assert_cmpint(v.ifaces[0].decision, ==, VDI_USB_IFACE_ALLOWED);

    vdi_usb_policy_free(p);
    p = vdi_usb_policy_new(VDI_USB_ACTION_DENY);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_DENY);
    g_assert_cmpint(v.rule_index, ==, -1);
    g_assert_cmpstr(v.reason, ==,
                    "interface 0 (class 08:06:50) denied by the default "
                    "policy");

    vdi_usb_policy_free(p);
    p = vdi_usb_policy_new(VDI_USB_ACTION_READ_ONLY);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_READ_ONLY);
    g_assert_cmpint(v.ifaces[0].decision, ==, VDI_USB_IFACE_READ_ONLY);
    g_assert_cmphex(v.ifaces[0].bot_ep_in, ==, 0x81);
    g_assert_cmphex(v.ifaces[0].bot_ep_out, ==, 0x02);
    vdi_usb_policy_free(p);
}

static void test_policy_composite_deny(void)
{
    Blob d;
    VdiUsbConfig cfg;
    VdiUsbVerdict v;
    VdiUsbDeviceDesc dev = mkdev(0xef, 0x04b8, 0x0001, 0x0100);
    VdiUsbPolicy *p = USB_POLICY(ALLOW,
                                 USB_RULE(DENY, "no-storage",
                                          VDI_USB_MATCH_IFACE_CLASS,
                                          .iface_class = 0x08));

    build_printer_storage(&d);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_DENY);
    g_assert_cmpint(v.rule_index, ==, 0);
    g_assert_cmpstr(v.rule_id, ==, "no-storage");
    g_assert_cmpstr(v.reason, ==,
                    "interface 1 (class 08:06:50) denied by rule "
                    "'no-storage'");
    g_assert_false(vdi_usb_verdict_alt_usable(&v, 0, 0));
    g_assert_cmpint(vdi_usb_verdict_endpoint_iface(&v, &cfg, 0x01), ==, -1);
    vdi_usb_policy_free(p);
}

static void test_policy_composite_hide(void)
{
    Blob d;
    VdiUsbConfig cfg, fcfg;
    VdiUsbVerdict v;
    VdiUsbDeviceDesc dev = mkdev(0xef, 0x04b8, 0x0001, 0x0100);
    VdiUsbPolicy *p = USB_POLICY(ALLOW,
                                 USB_RULE(DENY, "no-storage",
                                          VDI_USB_MATCH_IFACE_CLASS,
                                          .iface_class = 0x08, .hide = true));
    g_autofree uint8_t *out = NULL;
    size_t out_len;

    build_printer_storage(&d);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_ALLOW);
    g_assert_cmpint(v.rule_index, ==, -1);
    g_assert_cmpint(v.n_ifaces, ==, 2);
    g_assert_cmpint(v.ifaces[0].number, ==, 0);
    g_assert_cmpint(v.ifaces[0].decision, ==, VDI_USB_IFACE_ALLOWED);
    g_assert_cmpint(v.ifaces[1].number, ==, 1);
    g_assert_cmpint(v.ifaces[1].decision, ==, VDI_USB_IFACE_HIDDEN);
    g_assert_cmpint(v.ifaces[1].rule_index, ==, 0);
    g_assert_cmpstr(v.reason, ==,
                    "interface 0 (class 07:01:02) allowed by the default "
                    "policy; interface 1 (class 08:06:50) hidden by rule "
                    "'no-storage'");
    g_assert_true(vdi_usb_verdict_alt_usable(&v, 0, 0));
    g_assert_false(vdi_usb_verdict_alt_usable(&v, 1, 0));
    g_assert_false(vdi_usb_verdict_alt_usable(&v, 7, 0));
    g_assert_cmpint(vdi_usb_verdict_endpoint_iface(&v, &cfg, 0x01), ==, 0);
    g_assert_cmpint(vdi_usb_verdict_endpoint_iface(&v, &cfg, 0x82), ==, 0);
    g_assert_cmpint(vdi_usb_verdict_endpoint_iface(&v, &cfg, 0x83), ==, -1);
    g_assert_cmpint(vdi_usb_verdict_endpoint_iface(&v, &cfg, 0x04), ==, -1);
    g_assert_cmpint(vdi_usb_verdict_endpoint_iface(&v, &cfg, 0x05), ==, -1);

    /* the guest's view: config + IAD + printer iface + 2 endpoints */
    g_assert_true(vdi_usb_filter_config_desc(d.b, d.n, &v, &out, &out_len,
                                             NULL));
    g_assert_cmpint(out_len, ==, 9 + 8 + 9 + 7 + 7);
    g_assert_cmpint(out[2] | (out[3] << 8), ==, 40);
    g_assert_cmpint(out[4], ==, 1);
    g_assert_true(vdi_usb_parse_config_desc(out, out_len, &fcfg, NULL));
    g_assert_cmpint(fcfg.n_alts, ==, 1);
    g_assert_cmphex(fcfg.alts[0].cls, ==, 0x07);
    vdi_usb_policy_free(p);
}

static void test_policy_read_only(void)
{
    Blob d;
    VdiUsbConfig cfg;
    VdiUsbVerdict v;
    VdiUsbDeviceDesc dev = mkdev(0, 0x0781, 0x5567, 0x0100);
    VdiUsbPolicy *p = USB_POLICY(DENY,
                                 USB_RULE(READ_ONLY, "ro",
                                          VDI_USB_MATCH_VID | VDI_USB_MATCH_PID,
                                          .vid = 0x0781, .pid = 0x5567));
    char *err = NULL;
    uint8_t *out;
    size_t out_len;

    build_bot(&d);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_READ_ONLY);
    g_assert_cmpstr(v.rule_id, ==, "ro");
    g_assert_cmpint(v.ifaces[0].decision, ==, VDI_USB_IFACE_READ_ONLY);
    g_assert_cmphex(v.ifaces[0].bot_ep_in, ==, 0x81);
    g_assert_cmphex(v.ifaces[0].bot_ep_out, ==, 0x02);
    g_assert_cmpint(vdi_usb_verdict_endpoint_iface(&v, &cfg, 0x81), ==, 0);
    g_assert_cmpint(vdi_usb_verdict_endpoint_iface(&v, &cfg, 0x02), ==, 0);

    /* composite: printer passes, storage read-only */
    build_printer_storage(&d);
    parse_ok(&d, &cfg);
    dev.dev_class = 0xef;
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_READ_ONLY);
    g_assert_cmpint(v.ifaces[0].decision, ==, VDI_USB_IFACE_ALLOWED);
    g_assert_cmpint(v.ifaces[1].decision, ==, VDI_USB_IFACE_READ_ONLY);
    g_assert_cmphex(v.ifaces[1].bot_ep_in, ==, 0x83);
    g_assert_cmphex(v.ifaces[1].bot_ep_out, ==, 0x04);
    g_assert_cmpstr(v.reason, ==,
                    "interface 1 (class 08:06:50) read-only by rule 'ro'");

    /* the descriptor is not changed: nothing hidden */
    g_assert_true(vdi_usb_filter_config_desc(d.b, d.n, &v, &out, &out_len,
                                             &err));
    g_assert_cmpmem(out, out_len, d.b, d.n);
    g_free(out);

    /* a denied device has no guest view */
    g_assert_false(vdi_usb_filter_config_desc(d.b, d.n, &(VdiUsbVerdict){
                                              .action = VDI_USB_ACTION_DENY },
                                              &out, &out_len, &err));
    g_assert_cmpstr(err, ==, "device is denied");
    g_assert_null(out);
    g_free(err);
    vdi_usb_policy_free(p);
}

static void test_policy_read_only_other_class(void)
{
    Blob d;
    VdiUsbConfig cfg;
    VdiUsbVerdict v;
    VdiUsbDeviceDesc dev = mkdev(0, 0x046d, 0xc31c, 0x6400);
    VdiUsbPolicy *p = USB_POLICY(DENY,
                                 USB_RULE(READ_ONLY, "", 0));

    build_hid(&d);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_ALLOW);
    g_assert_cmpint(v.rule_index, ==, 0);
    g_assert_cmpint(v.ifaces[0].decision, ==, VDI_USB_IFACE_ALLOWED);

    build_audio(&d);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_ALLOW);
    g_assert_true(vdi_usb_verdict_alt_usable(&v, 1, 1));
    g_assert_cmpint(vdi_usb_verdict_endpoint_iface(&v, &cfg, 0x01), ==, 1);
    vdi_usb_policy_free(p);
}

static void test_policy_uas_alt(void)
{
    Blob d;
    VdiUsbConfig cfg, fcfg;
    VdiUsbVerdict v;
    VdiUsbDeviceDesc dev = mkdev(0, 0x174c, 0x55aa, 0x0100);
    VdiUsbPolicy *p = vdi_usb_policy_new(VDI_USB_ACTION_READ_ONLY);
    g_autofree uint8_t *out = NULL;
    size_t out_len;

    build_uas_bot(&d);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_READ_ONLY);
    g_assert_cmpint(v.ifaces[0].decision, ==, VDI_USB_IFACE_READ_ONLY);
    g_assert_true(vdi_usb_verdict_alt_usable(&v, 0, 0));
    g_assert_false(vdi_usb_verdict_alt_usable(&v, 0, 1));
    g_assert_cmpstr(v.reason, ==,
                    "interface 0 (class 08:06:50) read-only by the default "
                    "policy; interface 0 (class 08:06:62) alternate setting "
                    "1 refused (not Bulk-Only)");
    /* UAS-only endpoints are refused, BOT ones go to the filter */
    g_assert_cmpint(vdi_usb_verdict_endpoint_iface(&v, &cfg, 0x81), ==, 0);
    g_assert_cmpint(vdi_usb_verdict_endpoint_iface(&v, &cfg, 0x03), ==, -1);
    g_assert_cmpint(vdi_usb_verdict_endpoint_iface(&v, &cfg, 0x84), ==, -1);

    g_assert_true(vdi_usb_filter_config_desc(d.b, d.n, &v, &out, &out_len,
                                             NULL));
    g_assert_cmpint(out_len, ==, 9 + 9 + 7 + 7);
    g_assert_cmpmem(out + 9, out_len - 9, d.b + 9, 23);
    g_assert_true(vdi_usb_parse_config_desc(out, out_len, &fcfg, NULL));
    g_assert_cmpint(fcfg.n_alts, ==, 1);

    /* plain allow keeps UAS */
    vdi_usb_policy_free(p);
    p = vdi_usb_policy_new(VDI_USB_ACTION_ALLOW);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_ALLOW);
    g_assert_true(vdi_usb_verdict_alt_usable(&v, 0, 1));
    vdi_usb_policy_free(p);
}

static void test_policy_uas_only(void)
{
    Blob d;
    VdiUsbConfig cfg;
    VdiUsbVerdict v;
    VdiUsbDeviceDesc dev = mkdev(0, 0x174c, 0x55aa, 0x0100);
    VdiUsbPolicy *p = USB_POLICY(DENY,
                                 USB_RULE(READ_ONLY, "ro", 0));

    cfg_begin(&d);
    add_uas(&d, 0, 0, 0x01);
    cfg_end(&d, 1);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_DENY);
    g_assert_cmpint(v.rule_index, ==, 0);
    g_assert_cmpstr(v.reason, ==,
                    "interface 0 (class 08:06:62) denied: alternate setting "
                    "0 is not Bulk-Only, so it cannot be made read-only as "
                    "required by rule 'ro'");

    /* UAS at alt 0 with BOT at alt 1 is refused as well */
    cfg_begin(&d);
    add_uas(&d, 0, 0, 0x03);
    add_bot(&d, 0, 1, 0x81, 0x02);
    cfg_end(&d, 1);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_DENY);

    /* so is CBI (protocol 00) and BOT with a vendor subclass */
    cfg_begin(&d);
    add_iface(&d, 0, 0, 3, 0x08, 0x04, 0x00);
    add_ep(&d, 0x81, 2, 64);
    add_ep(&d, 0x02, 2, 64);
    add_ep(&d, 0x83, 3, 2);
    cfg_end(&d, 1);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_DENY);
    cfg_begin(&d);
    add_iface(&d, 0, 0, 2, 0x08, 0xff, 0x50);
    add_ep(&d, 0x81, 2, 64);
    add_ep(&d, 0x02, 2, 64);
    cfg_end(&d, 1);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_DENY);
    /* and a "BOT" interface with an extra interrupt endpoint */
    cfg_begin(&d);
    add_iface(&d, 0, 0, 3, 0x08, 0x06, 0x50);
    add_ep(&d, 0x81, 2, 64);
    add_ep(&d, 0x02, 2, 64);
    add_ep(&d, 0x83, 3, 2);
    cfg_end(&d, 1);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_DENY);
    vdi_usb_policy_free(p);
}

static void test_policy_uas_iface(void)
{
    Blob d;
    VdiUsbConfig cfg;
    VdiUsbVerdict v;
    VdiUsbDeviceDesc dev = mkdev(0, 0x174c, 0x55aa, 0x0100);
    /* read-only only names BOT; the UAS interface is pulled along */
    VdiUsbPolicy *p = USB_POLICY(ALLOW,
                                 USB_RULE(READ_ONLY, "ro",
                                          VDI_USB_MATCH_IFACE_PROTOCOL,
                                          .iface_protocol = 0x50));

    cfg_begin(&d);
    add_bot(&d, 0, 0, 0x81, 0x02);
    add_uas(&d, 1, 0, 0x03);
    cfg_end(&d, 2);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_READ_ONLY);
    g_assert_cmpint(v.ifaces[0].decision, ==, VDI_USB_IFACE_READ_ONLY);
    g_assert_cmpint(v.ifaces[1].decision, ==, VDI_USB_IFACE_HIDDEN);
    g_assert_cmpint(v.ifaces[1].rule_index, ==, 0);
    g_assert_false(vdi_usb_verdict_alt_usable(&v, 1, 0));
    g_assert_cmpint(vdi_usb_verdict_endpoint_iface(&v, &cfg, 0x03), ==, -1);
    vdi_usb_policy_free(p);
}

static void test_policy_alt_smuggle(void)
{
    Blob d;
    VdiUsbConfig cfg;
    VdiUsbVerdict v;
    VdiUsbDeviceDesc dev = mkdev(0, 0x1234, 0x5678, 0x0100);
    VdiUsbPolicy *p = USB_POLICY(DENY,
                                 USB_RULE(ALLOW, "hid",
                                          VDI_USB_MATCH_IFACE_CLASS,
                                          .iface_class = 0x03));

    /* alt 0 looks like a keyboard, alt 1 is mass storage */
    cfg_begin(&d);
    add_iface(&d, 0, 0, 1, 0x03, 0x01, 0x01);
    add_ep(&d, 0x81, 3, 8);
    add_bot(&d, 0, 1, 0x82, 0x03);
    cfg_end(&d, 1);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_DENY);
    g_assert_cmpint(v.rule_index, ==, -1);
    g_assert_cmpstr(v.reason, ==,
                    "interface 0 (class 08:06:50) denied by the default "
                    "policy");
    vdi_usb_policy_free(p);
}

static void test_policy_all_hidden(void)
{
    Blob d;
    VdiUsbConfig cfg;
    VdiUsbVerdict v;
    VdiUsbDeviceDesc dev = mkdev(0, 0x0781, 0x5567, 0x0100);
    VdiUsbPolicy *p = USB_POLICY(ALLOW,
                                 USB_RULE(DENY, "h", VDI_USB_MATCH_IFACE_CLASS,
                                          .iface_class = 0x08, .hide = true));

    build_bot(&d);
    parse_ok(&d, &cfg);
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &v);
    g_assert_cmpint(v.action, ==, VDI_USB_ACTION_DENY);
    g_assert_cmpint(v.rule_index, ==, 0);
    g_assert_cmpstr(v.reason, ==,
                    "no interface left: interface 0 (class 08:06:50) hidden "
                    "by rule 'h'");
    vdi_usb_policy_free(p);
}

static void test_policy_add_rule(void)
{
    VdiUsbPolicy *p = vdi_usb_policy_new(VDI_USB_ACTION_DENY);
    VdiUsbRule r;
    char *err = NULL;

    vdi_usb_rule_init(&r, VDI_USB_ACTION_ALLOW);
    r.match = VDI_USB_MATCH_VID | VDI_USB_MATCH_BCD;
    r.vid = 0x0781;
    r.bcd_lo = 0x0200;
    r.bcd_hi = 0x0100;
    g_assert_false(vdi_usb_policy_add_rule(p, &r, &err));
    g_assert_cmpstr(err, ==, "reversed bcd range 0200-0100");
    r.bcd_hi = 0x0300;
    r.hide = true;
    g_assert_false(vdi_usb_policy_add_rule(p, &r, &err));
    g_assert_cmpstr(err, ==, "'hide' only applies to deny rules");
    r.hide = false;
    r.match |= 1u << 20;
    g_assert_false(vdi_usb_policy_add_rule(p, &r, &err));
    g_assert_cmpstr(err, ==, "unknown match flags 0x100000");
    r.match = VDI_USB_MATCH_SERIAL;
    g_assert_false(vdi_usb_policy_add_rule(p, &r, &err));
    g_assert_cmpstr(err, ==, "empty serial");
    r.match = VDI_USB_MATCH_VID;
    r.action = 7;
    g_assert_false(vdi_usb_policy_add_rule(p, &r, &err));
    g_assert_cmpstr(err, ==, "invalid action 7");
    r.action = VDI_USB_ACTION_ALLOW;
    strcpy(r.id, "a b");
    g_assert_false(vdi_usb_policy_add_rule(p, &r, &err));
    g_assert_nonnull(strstr(err, "bad character in rule id"));
    strcpy(r.id, "x");
    g_assert_true(vdi_usb_policy_add_rule(p, &r, &err));
    g_assert_false(vdi_usb_policy_add_rule(p, &r, &err));
    g_assert_cmpstr(err, ==, "duplicate rule id 'x'");
    strcpy(r.id, "y");
    r.match = VDI_USB_MATCH_SERIAL;
    memset(r.serial, 'x', sizeof(r.serial));
    g_assert_false(vdi_usb_policy_add_rule(p, &r, &err));
    g_assert_cmpstr(err, ==, "serial longer than 383 characters");
    memset(r.id, 'i', sizeof(r.id));
    g_assert_false(vdi_usb_policy_add_rule(p, &r, &err));
    g_assert_cmpstr(err, ==, "rule id longer than 63 characters");
    g_free(err);
    vdi_usb_policy_free(p);
}

/* BOT filter */

static const uint8_t bot_allowlist[] = {
    0x00, 0x03, 0x08, 0x12, 0x1a, 0x1b, 0x1e, 0x23, 0x25, 0x28, 0x2f, 0x35,
    0x43, 0x46, 0x4a, 0x52, 0x5a, 0x88, 0x8f, 0x91, 0xa0, 0xa8, 0xad, 0xaf,
    0xb9, 0xbd, 0xbe,
};

static const struct {
    uint8_t op;
    uint8_t sa;
    const char *name;
} write_ops[] = {
    { 0x0a, 0, "WRITE(6)" }, { 0x2a, 0, "WRITE(10)" },
    { 0xaa, 0, "WRITE(12)" }, { 0x8a, 0, "WRITE(16)" },
    { 0x2e, 0, "WRITE AND VERIFY(10)" }, { 0xae, 0, "WRITE AND VERIFY(12)" },
    { 0x8e, 0, "WRITE AND VERIFY(16)" }, { 0x41, 0, "WRITE SAME(10)" },
    { 0x93, 0, "WRITE SAME(16)" }, { 0x42, 0, "UNMAP" },
    { 0x04, 0, "FORMAT UNIT" }, { 0x15, 0, "MODE SELECT(6)" },
    { 0x55, 0, "MODE SELECT(10)" }, { 0x3b, 0, "WRITE BUFFER" },
    { 0x3f, 0, "WRITE LONG(10)" }, { 0x9f, 0x11, "WRITE LONG(16)" },
    { 0x89, 0, "COMPARE AND WRITE" }, { 0x50, 0, "XDWRITE(10)" },
    { 0x51, 0, "XPWRITE(10)" }, { 0x53, 0, "XDWRITEREAD(10)" },
    { 0x80, 0, "XDWRITE EXTENDED(16)" }, { 0xa1, 0, "ATA PASS-THROUGH(12)" },
    { 0x85, 0, "ATA PASS-THROUGH(16)" }, { 0xb5, 0, "SECURITY PROTOCOL OUT" },
    { 0x5f, 0, "PERSISTENT RESERVE OUT" }, { 0x9e, 0x12, "GET LBA STATUS" },
    { 0xc0, 0, "vendor" }, { 0xd5, 0, "vendor" }, { 0xff, 0, "vendor" },
};

static void mk_cbw(uint8_t *c, uint32_t tag, uint32_t len, bool in,
                   uint8_t lun, const uint8_t *cdb, uint8_t cblen)
{
    memset(c, 0, 31);
    c[0] = 'U';
    c[1] = 'S';
    c[2] = 'B';
    c[3] = 'C';
    c[4] = tag;
    c[5] = tag >> 8;
    c[6] = tag >> 16;
    c[7] = tag >> 24;
    c[8] = len;
    c[9] = len >> 8;
    c[10] = len >> 16;
    c[11] = len >> 24;
    c[12] = in ? 0x80 : 0x00;
    c[13] = lun;
    c[14] = cblen;
    memcpy(c + 15, cdb, cblen);
}

static void mk_csw(uint8_t *c, uint32_t tag, uint32_t residue,
                   uint8_t status)
{
    const uint8_t csw[13] = {
        'U', 'S', 'B', 'S', tag, tag >> 8, tag >> 16, tag >> 24,
        residue, residue >> 8, residue >> 16, residue >> 24, status
    };
    memcpy(c, csw, 13);
}

/* Send one whole OUT packet; returns the action */
static VdiBotAction out1(VdiBotFilter *f, const uint8_t *p, size_t n,
                         const uint8_t **fwd, size_t *fwd_len)
{
    const uint8_t *dummy;
    size_t dummy_len;

    return vdi_bot_filter_host_out(f, p, n, fwd ? fwd : &dummy,
                                   fwd_len ? fwd_len : &dummy_len, NULL);
}

/* Expect a synthetic CSW on the next IN */
static void expect_syn_csw(VdiBotFilter *f, uint32_t tag, uint32_t residue,
                           uint8_t status)
{
    uint8_t buf[64], want[13];
    size_t n;

    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, sizeof(buf), &n), ==,
                    VDI_BOT_IN_SYNTH);
    mk_csw(want, tag, residue, status);
    g_assert_cmpmem(buf, n, want, 13);
    /* and then the filter is idle: IN is not the device's turn */
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, sizeof(buf), &n), ==,
                    VDI_BOT_IN_WAIT);
}

/* REQUEST SENSE on lun must be answered by the filter: DATA PROTECT */
static void expect_write_protect_sense(VdiBotFilter *f, uint8_t lun,
                                       uint32_t tag)
{
    static const uint8_t want[18] = {
        0x70, 0, 0x07, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x27, 0x00, 0, 0, 0, 0
    };
    const uint8_t cdb[6] = { 0x03, 0, 0, 0, 18, 0 };
    uint8_t cbw[31], buf[512];
    size_t n;

    mk_cbw(cbw, tag, 18, true, lun, cdb, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 512, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpmem(buf, n, want, 18);
    expect_syn_csw(f, tag, 0, 0);
}

static void test_bot_read_passthrough(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 0x10, 0, 0, 8, 0 };
    const uint8_t tur[6] = { 0 };
    uint8_t cbw[31], data[512], ref[512], csw[13];
    const uint8_t *fwd;
    size_t fwd_len, n;
    VdiBotStats st;
    int i;

    mk_cbw(cbw, 0x1234, 4096, true, 0, cdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, &fwd, &fwd_len), ==, VDI_BOT_PASS);
    g_assert_cmpmem(fwd, fwd_len, cbw, 31);
    for (i = 0; i < 8; i++) {
        g_assert_cmpint(vdi_bot_filter_pending_in(f, data, 512, &n), ==,
                        VDI_BOT_IN_DEVICE);
        memset(data, 0xa5 ^ i, 512);
        memcpy(ref, data, 512);
        g_assert_cmpint(vdi_bot_filter_device_in(f, data, 512, 512, NULL),
                        ==, VDI_BOT_PASS);
        g_assert_cmpmem(data, 512, ref, 512);
    }
    /* an OUT packet now is a protocol error */
    g_assert_cmpint(vdi_bot_filter_pending_in(f, data, 512, &n), ==,
                    VDI_BOT_IN_DEVICE);
    mk_csw(csw, 0x1234, 0, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, NULL), ==,
                    VDI_BOT_PASS);
    /* idle again: the next CBW is accepted */
    g_assert_cmpint(vdi_bot_filter_pending_in(f, data, 512, &n), ==,
                    VDI_BOT_IN_WAIT);
    mk_cbw(cbw, 0x1235, 0, false, 0, tur, 6);
    g_assert_cmpint(out1(f, cbw, 31, &fwd, &fwd_len), ==, VDI_BOT_PASS);
    mk_csw(csw, 0x1235, 0, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, NULL), ==,
                    VDI_BOT_PASS);

    vdi_bot_filter_get_stats(f, &st);
    g_assert_cmpint(st.commands, ==, 2);
    g_assert_cmpint(st.passed, ==, 2);
    g_assert_cmpint(st.blocked, ==, 0);
    g_assert_cmpint(st.bytes_swallowed, ==, 0);
    g_assert_cmpint(st.protocol_errors, ==, 0);
    vdi_bot_filter_free(f);
}

static void test_bot_write_blocked(void)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(write_ops); i++) {
        VdiBotFilter *f = vdi_bot_filter_new();
        uint8_t cdb[16] = { write_ops[i].op, write_ops[i].sa };
        const uint8_t rs[6] = { 0x03, 0, 0, 0, 18, 0 };
        uint8_t cbw[31], data[512], buf[64];
        size_t n, k;
        uint32_t tag = 0xdead0000 + i;
        VdiBotStats st;

        g_test_message("%s (%02x)", write_ops[i].name, write_ops[i].op);
        g_assert_false(vdi_bot_cdb_allowed(cdb, 16));
        mk_cbw(cbw, tag, 1536, false, 0, cdb, 16);
        g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
        for (k = 0; k < 3; k++) {
            /* the guest does not get the CSW before the data went out */
            g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 64, &n), ==,
                            VDI_BOT_IN_WAIT);
            memset(data, 0x5a, sizeof(data));
            g_assert_cmpint(out1(f, data, 512, NULL, NULL), ==,
                            VDI_BOT_SWALLOW);
        }
        expect_syn_csw(f, tag, 1536, 1);
        expect_write_protect_sense(f, 0, tag + 1);
        /* the sense was consumed: the next REQUEST SENSE goes out */
        mk_cbw(cbw, tag + 2, 18, true, 0, rs, 6);
        g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);

        vdi_bot_filter_get_stats(f, &st);
        g_assert_cmpint(st.commands, ==, 3);
        g_assert_cmpint(st.blocked, ==, 1);
        g_assert_cmpint(st.passed, ==, 1);
        g_assert_cmpint(st.sense_answered, ==, 1);
        g_assert_cmpint(st.bytes_swallowed, ==, 1536);
        vdi_bot_filter_free(f);
    }
}

static void test_bot_blocked_no_data(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t fmt[6] = { 0x04, 0, 0, 0, 0, 0 };
    const uint8_t sync[10] = { 0x35, 0 };
    uint8_t cbw[31];

    mk_cbw(cbw, 7, 0, false, 0, fmt, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 7, 0, 1);
    expect_write_protect_sense(f, 0, 8);
    /* SYNCHRONIZE CACHE is harmless and passes */
    mk_cbw(cbw, 9, 0, false, 0, sync, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    vdi_bot_filter_free(f);
}

static void test_bot_blocked_in(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    /* ATA PASS-THROUGH(16) IDENTIFY DEVICE, data-in */
    const uint8_t ata[16] = { 0x85, 0x08, 0x0e, 0, 0, 0, 1, 0, 0, 0, 0,
                              0, 0, 0, 0xec, 0 };
    const uint8_t vendor[10] = { 0xc5, 1, 2, 3 };
    uint8_t cbw[31], buf[512];
    size_t n;

    mk_cbw(cbw, 1, 512, true, 0, ata, 16);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    /* data-in ends at once with a zero-length packet */
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 512, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 0);
    expect_syn_csw(f, 1, 512, 1);
    expect_write_protect_sense(f, 0, 2);

    mk_cbw(cbw, 3, 64, true, 0, vendor, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 64, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 0);
    expect_syn_csw(f, 3, 64, 1);
    vdi_bot_filter_free(f);
}

static void test_bot_allowlist(void)
{
    unsigned op;
    uint8_t cdb[16] = { 0 };

    for (op = 0; op < 256; op++) {
        bool expect = memchr(bot_allowlist, op, sizeof(bot_allowlist));

        cdb[0] = op;
        cdb[1] = 0;
        if (op == 0x9e) {
            expect = false;     /* needs service action 10h */
        }
        if (op >= 0xc0) {
            g_assert_false(expect);
        }
        if (vdi_bot_cdb_allowed(cdb, 16) != expect) {
            g_error("opcode %02x: allowed should be %d", op, expect);
        }
    }
    cdb[0] = 0x9e;
    cdb[1] = 0x10;
    g_assert_true(vdi_bot_cdb_allowed(cdb, 16));
    g_assert_false(vdi_bot_cdb_allowed(cdb, 1));
    cdb[1] = 0x12;
    g_assert_false(vdi_bot_cdb_allowed(cdb, 16));
    g_assert_false(vdi_bot_cdb_allowed(cdb, 0));
}

static void test_bot_vendor_unknown(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    uint8_t cdb[12] = { 0 };
    uint8_t cbw[31];
    unsigned op;
    uint32_t tag = 100;
    VdiBotStats st;

    /* every opcode off the allowlist is blocked in the stream, too */
    for (op = 0; op < 256; op++) {
        if (memchr(bot_allowlist, op, sizeof(bot_allowlist))) {
            continue;
        }
        cdb[0] = op;
        mk_cbw(cbw, tag, 0, false, 0, cdb, 12);
        g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
        expect_syn_csw(f, tag, 0, 1);
        tag++;
    }
    vdi_bot_filter_get_stats(f, &st);
    g_assert_cmpint(st.blocked, ==, 256 - sizeof(bot_allowlist));
    vdi_bot_filter_free(f);
}

static void mode_sense_case(uint8_t op, size_t wp_byte, size_t split)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    uint8_t cdb[10] = { op, 0, 0x3f, 0, 192 };
    uint8_t cbw[31], data[24], csw[13];
    size_t n;
    VdiBotStats st;

    mk_cbw(cbw, 5, 192, true, 0, cdb, op == 0x1a ? 6 : 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    memset(data, 0x11, sizeof(data));
    data[wp_byte] = 0x10;
    g_assert_cmpint(vdi_bot_filter_pending_in(f, data, 512, &n), ==,
                    VDI_BOT_IN_DEVICE);
    /* first part full, second part short: end of data phase */
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, split, split, NULL),
                    ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data + split,
                                             sizeof(data) - split, 512,
                                             NULL), ==, VDI_BOT_PASS);
    g_assert_cmphex(data[wp_byte], ==, 0x90);
    for (n = 0; n < sizeof(data); n++) {
        if (n != wp_byte) {
            g_assert_cmphex(data[n], ==, 0x11);
        }
    }
    mk_csw(csw, 5, 192 - 24, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, NULL), ==,
                    VDI_BOT_PASS);
    vdi_bot_filter_get_stats(f, &st);
    g_assert_cmpint(st.mode_sense_wp, ==, 1);
    vdi_bot_filter_free(f);
}

static void test_bot_mode_sense(void)
{
    mode_sense_case(0x1a, 2, 8);    /* in the first packet */
    mode_sense_case(0x1a, 2, 2);    /* first byte of the second */
    mode_sense_case(0x5a, 3, 3);
    mode_sense_case(0x5a, 3, 1);
    mode_sense_case(0x5a, 3, 16);
}

static void test_bot_split_cbw(void)
{
    const uint8_t cdb[10] = { 0x28 };
    const uint8_t wcdb[10] = { 0x2a };
    uint8_t cbw[31];
    size_t chunk;

    for (chunk = 1; chunk <= 31; chunk++) {
        VdiBotFilter *f = vdi_bot_filter_new();
        const uint8_t *fwd = NULL;
        size_t off, fwd_len = 0;

        mk_cbw(cbw, chunk, 0, true, 0, cdb, 10);
        for (off = 0; off < 31; off += chunk) {
            size_t n = MIN(chunk, 31 - off);
            VdiBotAction a = out1(f, cbw + off, n, &fwd, &fwd_len);

            g_assert_cmpint(a, ==, off + n < 31 ? VDI_BOT_SWALLOW :
                            VDI_BOT_PASS);
        }
        g_assert_cmpmem(fwd, fwd_len, cbw, 31);

        /* a split write CBW is still blocked */
        vdi_bot_filter_reset(f);
        mk_cbw(cbw, chunk, 0, false, 0, wcdb, 10);
        for (off = 0; off < 31; off += chunk) {
            size_t n = MIN(chunk, 31 - off);

            g_assert_cmpint(out1(f, cbw + off, n, &fwd, &fwd_len), ==,
                            VDI_BOT_SWALLOW);
            g_assert_null(fwd);
        }
        expect_syn_csw(f, chunk, 0, 1);
        vdi_bot_filter_free(f);
    }
}

static void test_bot_split_csw(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t wcdb[10] = { 0x2a };
    const uint8_t tur[6] = { 0 };
    uint8_t cbw[31], buf[16], want[13], csw[13];
    size_t n;

    /* synthetic CSW read in 8-byte packets */
    mk_cbw(cbw, 77, 0, false, 0, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    mk_csw(want, 77, 0, 1);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 8, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpmem(buf, n, want, 8);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 8, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpmem(buf, n, want + 8, 5);

    /* device CSW in 8 + 5 */
    mk_cbw(cbw, 78, 0, false, 0, tur, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    mk_csw(csw, 78, 0, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 8, 8, NULL), ==,
                    VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw + 8, 5, 8, NULL), ==,
                    VDI_BOT_PASS);
    g_assert_false(vdi_bot_filter_in_error(f));
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 8, &n), ==,
                    VDI_BOT_IN_WAIT);

    /* a CSW cut short by a short packet is an error */
    mk_cbw(cbw, 79, 0, false, 0, tur, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 8, 13, NULL), ==,
                    VDI_BOT_ERROR);
    vdi_bot_filter_free(f);
}

static void expect_cbw_error(const uint8_t *p, size_t n, const char *msg)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t *fwd;
    size_t fwd_len;
    g_autofree char *err = NULL;
    uint8_t buf[16];
    VdiBotStats st;

    g_assert_cmpint(vdi_bot_filter_host_out(f, p, n, &fwd, &fwd_len, &err),
                    ==, VDI_BOT_ERROR);
    g_assert_null(fwd);
    if (!err || !strstr(err, msg)) {
        g_error("error '%s' does not contain '%s'", err, msg);
    }
    g_assert_true(vdi_bot_filter_in_error(f));
    /* stays refused until reset */
    g_assert_cmpint(out1(f, p, n, NULL, NULL), ==, VDI_BOT_ERROR);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 16, &n), ==,
                    VDI_BOT_IN_STALL);
    g_assert_cmpint(vdi_bot_filter_device_in(f, buf, 0, 16, NULL), ==,
                    VDI_BOT_ERROR);
    vdi_bot_filter_get_stats(f, &st);
    g_assert_cmpint(st.protocol_errors, ==, 1);
    g_assert_cmpint(st.passed, ==, 0);
    vdi_bot_filter_reset(f);
    g_assert_false(vdi_bot_filter_in_error(f));
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 16, &n), ==,
                    VDI_BOT_IN_WAIT);
    vdi_bot_filter_free(f);
}

static void test_bot_invalid_cbw(void)
{
    const uint8_t cdb[10] = { 0x28 };
    uint8_t cbw[40], bad[40];

    mk_cbw(cbw, 1, 512, true, 0, cdb, 10);
    memcpy(bad, cbw, 31);
    bad[3] = 'D';
    expect_cbw_error(bad, 31, "bad CBW signature 0x44425355");
    memcpy(bad, cbw, 31);
    bad[14] = 0;
    expect_cbw_error(bad, 31, "bad CBW command block length 0");
    bad[14] = 17;
    expect_cbw_error(bad, 31, "bad CBW command block length 17");
    bad[14] = 0x2a;
    expect_cbw_error(bad, 31, "bad CBW command block length 42");
    memcpy(bad, cbw, 31);
    bad[12] = 0x81;
    expect_cbw_error(bad, 31, "reserved bits set in CBW flags 0x81");
    memcpy(bad, cbw, 31);
    bad[13] = 0x10;
    expect_cbw_error(bad, 31, "reserved bits set in CBW LUN 0x10");
    memcpy(bad, cbw, 31);
    bad[31] = 0;
    expect_cbw_error(bad, 32, "CBW longer than 31 bytes");
    expect_cbw_error(bad, 0, "zero-length packet");

    /* 30 bytes then 2: the second packet overruns the CBW */
    {
        VdiBotFilter *f = vdi_bot_filter_new();

        g_assert_cmpint(out1(f, cbw, 30, NULL, NULL), ==, VDI_BOT_SWALLOW);
        g_assert_cmpint(out1(f, cbw, 2, NULL, NULL), ==, VDI_BOT_ERROR);
        vdi_bot_filter_free(f);
    }
}

static void test_bot_lun(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t wcdb[10] = { 0x2a };
    const uint8_t rs[6] = { 0x03, 0, 0, 0, 18, 0 };
    const uint8_t tur[6] = { 0 };
    uint8_t cbw[31], csw[13], sense[18] = { 0x70, 0, 0x06 };

    /* write on LUN 1 */
    mk_cbw(cbw, 1, 0, false, 1, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 1, 0, 1);

    /* REQUEST SENSE on LUN 0 is the device's business */
    mk_cbw(cbw, 2, 18, true, 0, rs, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, sense, 18, 18, NULL), ==,
                    VDI_BOT_PASS);
    g_assert_cmphex(sense[2], ==, 0x06);
    mk_csw(csw, 2, 0, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, NULL), ==,
                    VDI_BOT_PASS);

    /* LUN 1 gets DATA PROTECT */
    expect_write_protect_sense(f, 1, 3);

    /* another command on LUN 2 in between discards that LUN's sense */
    mk_cbw(cbw, 4, 0, false, 2, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 4, 0, 1);
    mk_cbw(cbw, 5, 0, false, 2, tur, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    mk_csw(csw, 5, 0, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, NULL), ==,
                    VDI_BOT_PASS);
    mk_cbw(cbw, 6, 18, true, 2, rs, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);

    /* LUN 15 is valid */
    vdi_bot_filter_reset(f);
    mk_cbw(cbw, 7, 0, false, 15, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 7, 0, 1);
    expect_write_protect_sense(f, 15, 8);
    vdi_bot_filter_free(f);
}

static void test_bot_data_not_cbw(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t wcdb[10] = { 0x2a };
    const uint8_t rcdb[10] = { 0x28 };
    uint8_t cbw[31], data[93];
    const uint8_t *fwd;
    size_t fwd_len, off;
    VdiBotStats st;

    /* data-out made of valid READ CBWs, sent in odd-sized pieces */
    mk_cbw(cbw, 1, sizeof(data), false, 0, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    for (off = 0; off < sizeof(data); off += 31) {
        mk_cbw(data + off, 50 + off, 0, true, 0, rcdb, 10);
    }
    for (off = 0; off < sizeof(data); off += 7) {
        size_t n = MIN(7, sizeof(data) - off);

        g_assert_cmpint(out1(f, data + off, n, &fwd, &fwd_len), ==,
                        VDI_BOT_SWALLOW);
        g_assert_null(fwd);
    }
    expect_syn_csw(f, 1, sizeof(data), 1);
    vdi_bot_filter_get_stats(f, &st);
    g_assert_cmpint(st.commands, ==, 1);
    g_assert_cmpint(st.passed, ==, 0);
    g_assert_cmpint(st.bytes_swallowed, ==, 93);

    /* a data-out packet running past dCBWDataTransferLength */
    mk_cbw(cbw, 2, 100, false, 0, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(out1(f, data, 70, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(out1(f, data, 31, NULL, NULL), ==, VDI_BOT_ERROR);
    vdi_bot_filter_free(f);
}

static void test_bot_out_direction(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t rcdb[10] = { 0x28 };
    const uint8_t vcdb[10] = { 0x2f, 0x02 };    /* VERIFY, BYTCHK=1 */
    uint8_t cbw[31], data[512];

    /* an allowed opcode with host-to-device data is blocked */
    mk_cbw(cbw, 1, 512, false, 0, rcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(out1(f, data, 512, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 1, 512, 1);
    mk_cbw(cbw, 2, 512, false, 0, vcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(out1(f, data, 512, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 2, 512, 1);
    expect_write_protect_sense(f, 0, 3);
    vdi_bot_filter_free(f);
}

static void test_bot_device_errors(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t rcdb[10] = { 0x28 };
    uint8_t cbw[31], data[64], csw[13];
    g_autofree char *err = NULL;

    /* IN data while idle */
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 13, 13, &err), ==,
                    VDI_BOT_ERROR);
    g_assert_cmpstr(err, ==, "unexpected bulk IN data from the device "
                    "during the command phase");
    vdi_bot_filter_reset(f);

    /* more data than the command asked for */
    mk_cbw(cbw, 1, 32, true, 0, rcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 64, 64, NULL), ==,
                    VDI_BOT_ERROR);
    vdi_bot_filter_reset(f);

    /* more than requested */
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 16, 8, NULL), ==,
                    VDI_BOT_ERROR);
    vdi_bot_filter_reset(f);

    /* OUT during data-in */
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_host_out(f, cbw, 31,
                                            &(const uint8_t *){ NULL },
                                            &(size_t){ 0 }, &err), ==,
                    VDI_BOT_ERROR);
    g_assert_cmpstr(err, ==, "bulk OUT packet during the data-in phase");
    vdi_bot_filter_reset(f);

    /* bad CSWs */
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 32, 32, NULL), ==,
                    VDI_BOT_PASS);
    mk_csw(csw, 2, 0, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, &err), ==,
                    VDI_BOT_ERROR);
    g_assert_cmpstr(err, ==, "device CSW tag 0x00000002 does not match CBW "
                    "tag 0x00000001");
    vdi_bot_filter_reset(f);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    vdi_bot_filter_device_in_stalled(f);    /* data phase stalled */
    mk_csw(csw, 1, 32, 3);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, &err), ==,
                    VDI_BOT_ERROR);
    g_assert_cmpstr(err, ==, "bad CSW status 3 from the device");
    vdi_bot_filter_reset(f);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    vdi_bot_filter_device_in_stalled(f);
    mk_csw(csw, 1, 32, 1);
    csw[0] = 'X';
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, &err), ==,
                    VDI_BOT_ERROR);
    g_assert_cmpstr(err, ==, "bad CSW signature 0x53425358 from the device");
    vdi_bot_filter_reset(f);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    vdi_bot_filter_device_in_stalled(f);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 20, 64, NULL), ==,
                    VDI_BOT_ERROR);
    vdi_bot_filter_free(f);
}

static void test_bot_short_data(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t inq[6] = { 0x12, 0, 0, 0, 0xff, 0 };
    uint8_t cbw[31], data[512], csw[13];
    size_t n;

    /* INQUIRY for 255 bytes, device answers 36: short packet */
    mk_cbw(cbw, 1, 255, true, 0, inq, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 36, 255, NULL), ==,
                    VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, data, 512, &n), ==,
                    VDI_BOT_IN_DEVICE);
    mk_csw(csw, 1, 255 - 36, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 512, NULL), ==,
                    VDI_BOT_PASS);

    /* device stalls the data phase, host clears it and reads the CSW */
    mk_cbw(cbw, 2, 255, true, 0, inq, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    vdi_bot_filter_device_in_stalled(f);
    /* a zero-length CSW read is retried by hosts */
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 0, 13, NULL), ==,
                    VDI_BOT_PASS);
    mk_csw(csw, 2, 255, 1);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, NULL), ==,
                    VDI_BOT_PASS);
    g_assert_false(vdi_bot_filter_in_error(f));

    /* zero-length packet ends a data phase */
    mk_cbw(cbw, 3, 4096, true, 0, inq, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 512, 512, NULL), ==,
                    VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 0, 512, NULL), ==,
                    VDI_BOT_PASS);
    mk_csw(csw, 3, 4096 - 512, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, NULL), ==,
                    VDI_BOT_PASS);
    g_assert_false(vdi_bot_filter_in_error(f));
    vdi_bot_filter_free(f);
}

static void test_bot_sense_alloc(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t wcdb[10] = { 0x2a };
    uint8_t rs[6] = { 0x03, 0, 0, 0, 8, 0 };
    uint8_t cbw[31], buf[64];
    size_t n;

    /* allocation length 8 truncates the sense data */
    mk_cbw(cbw, 1, 0, false, 0, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 1, 0, 1);
    mk_cbw(cbw, 2, 18, true, 0, rs, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 64, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 8);
    g_assert_cmphex(buf[0], ==, 0x70);
    g_assert_cmphex(buf[2], ==, 0x07);
    expect_syn_csw(f, 2, 10, 0);

    /* transfer of 252 read in 18-byte packets: a ZLP ends the data */
    mk_cbw(cbw, 3, 0, false, 0, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 3, 0, 1);
    rs[4] = 252;
    mk_cbw(cbw, 4, 252, true, 0, rs, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 18, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 18);
    g_assert_cmphex(buf[12], ==, 0x27);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 18, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 0);
    expect_syn_csw(f, 4, 234, 0);

    /* read in 8-byte packets */
    mk_cbw(cbw, 5, 0, false, 0, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 5, 0, 1);
    rs[4] = 18;
    mk_cbw(cbw, 6, 18, true, 0, rs, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 8, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 8);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 8, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 8);
    g_assert_cmphex(buf[4], ==, 0x27);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 8, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 2);
    expect_syn_csw(f, 6, 0, 0);
    vdi_bot_filter_free(f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/vdi-usb/desc/device", test_desc_device);
    g_test_add_func("/vdi-usb/desc/device-errors", test_desc_device_errors);
    g_test_add_func("/vdi-usb/desc/hid", test_desc_hid);
    g_test_add_func("/vdi-usb/desc/bot", test_desc_bot);
    g_test_add_func("/vdi-usb/desc/uas-bot", test_desc_uas_bot);
    g_test_add_func("/vdi-usb/desc/composite", test_desc_composite);
    g_test_add_func("/vdi-usb/desc/audio", test_desc_audio);
    g_test_add_func("/vdi-usb/desc/config-errors", test_desc_config_errors);
    g_test_add_func("/vdi-usb/rule/fields", test_rule_fields);
    g_test_add_func("/vdi-usb/rule/glob", test_rule_glob);
    g_test_add_func("/vdi-usb/policy/first-match", test_policy_first_match);
    g_test_add_func("/vdi-usb/policy/default", test_policy_default);
    g_test_add_func("/vdi-usb/policy/composite-deny",
                    test_policy_composite_deny);
    g_test_add_func("/vdi-usb/policy/composite-hide",
                    test_policy_composite_hide);
    g_test_add_func("/vdi-usb/policy/read-only", test_policy_read_only);
    g_test_add_func("/vdi-usb/policy/read-only-other-class",
                    test_policy_read_only_other_class);
    g_test_add_func("/vdi-usb/policy/uas-alt", test_policy_uas_alt);
    g_test_add_func("/vdi-usb/policy/uas-only", test_policy_uas_only);
    g_test_add_func("/vdi-usb/policy/uas-iface", test_policy_uas_iface);
    g_test_add_func("/vdi-usb/policy/alt-smuggle", test_policy_alt_smuggle);
    g_test_add_func("/vdi-usb/policy/all-hidden", test_policy_all_hidden);
    g_test_add_func("/vdi-usb/policy/add-rule", test_policy_add_rule);
    g_test_add_func("/vdi-usb/bot/read-passthrough",
                    test_bot_read_passthrough);
    g_test_add_func("/vdi-usb/bot/write-blocked", test_bot_write_blocked);
    g_test_add_func("/vdi-usb/bot/blocked-no-data", test_bot_blocked_no_data);
    g_test_add_func("/vdi-usb/bot/blocked-in", test_bot_blocked_in);
    g_test_add_func("/vdi-usb/bot/allowlist", test_bot_allowlist);
    g_test_add_func("/vdi-usb/bot/vendor-unknown", test_bot_vendor_unknown);
    g_test_add_func("/vdi-usb/bot/mode-sense", test_bot_mode_sense);
    g_test_add_func("/vdi-usb/bot/split-cbw", test_bot_split_cbw);
    g_test_add_func("/vdi-usb/bot/split-csw", test_bot_split_csw);
    g_test_add_func("/vdi-usb/bot/invalid-cbw", test_bot_invalid_cbw);
    g_test_add_func("/vdi-usb/bot/lun", test_bot_lun);
    g_test_add_func("/vdi-usb/bot/data-not-cbw", test_bot_data_not_cbw);
    g_test_add_func("/vdi-usb/bot/out-direction", test_bot_out_direction);
    g_test_add_func("/vdi-usb/bot/device-errors", test_bot_device_errors);
    g_test_add_func("/vdi-usb/bot/short-data", test_bot_short_data);
    g_test_add_func("/vdi-usb/bot/sense-alloc", test_bot_sense_alloc);

    return g_test_run();
}
