/*
 * Unit tests for the VDI USB descriptor parser
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Expected values are written out by hand from the USB specification,
 * never computed with the code under test.
 */

#include "qemu/osdep.h"
#include "vdi-usb-test.h"

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

    return g_test_run();
}
