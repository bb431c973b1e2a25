/*
 * Unit tests for the VDI USB policy engine
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Rules matched field by field, the first match, the default, composite
 * devices, read-only storage and its alternate settings (UAS), and rules
 * the policy refuses.  Expected values are written out by hand from the
 * USB specification, never computed with the code under test.
 */

#include "qemu/osdep.h"
#include "hw/usb/vdi-usb-verdict.h"
#include "vdi-usb-test.h"

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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

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

    return g_test_run();
}
