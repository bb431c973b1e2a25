/*
 * Unit tests for the USB policy guard core: the descriptor fetch that
 * usb-host carries out synchronously and the decisions of the data path
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A fake device answers GET_DESCRIPTOR requests from hand-written
 * descriptors, as libusb_control_transfer() would for usb-host.
 */

#include "qemu/osdep.h"
#include "hw/usb/vdi-usb-guard-core.h"
#include "vdi-usb-test.h"

typedef struct FakeDevice {
    const uint8_t *dev;         /* 18 bytes */
    const uint8_t *config;
    size_t config_len;
    const char *serial;         /* string index 3, or NULL */
    const uint8_t *report;      /* HID report descriptor, or NULL */
    size_t report_len;
    int fail_at;                /* fail the Nth request (1-based), or 0 */
    int requests;
    uint16_t last_langid;
} FakeDevice;

static const uint8_t storage_dev[18] = {
    18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x81, 0x07, 0x67, 0x55,
    0x00, 0x01, 1, 2, 3, 1,
};

static const uint8_t keyboard_dev[18] = {
    18, 1, 0x00, 0x02, 0, 0, 0, 8, 0x6d, 0x04, 0x1c, 0xc3,
    0x00, 0x01, 1, 2, 0, 1,
};

static int fake_xfer(void *opaque, const VdiUsbGuardRequest *req,
                     uint8_t *buf)
{
    FakeDevice *f = opaque;
    uint8_t type = req->value >> 8, index = req->value & 0xff;
    size_t len = 0;

    g_assert(vdi_usb_guard_owns_id(req->id));
    if (++f->requests == f->fail_at) {
        return -1;
    }
    if (req->type == 0x81 && type == 0x22 && f->report) {
        memcpy(buf, f->report, MIN(f->report_len, req->length));
        return MIN(f->report_len, req->length);
    }
    switch (type) {
    case 1:
        memcpy(buf, f->dev, MIN(18, req->length));
        return MIN(18, req->length);
    case 2:
        len = MIN(f->config_len, req->length);
        memcpy(buf, f->config, len);
        return len;
    case 3:
        if (index == 0) {
            const uint8_t langids[4] = { 4, 3, 0x09, 0x04 };

            memcpy(buf, langids, MIN(4, req->length));
            return MIN(4, req->length);
        }
        if (index != 3 || !f->serial) {
            return -1;
        }
        f->last_langid = req->index;
        g_assert_cmpint(2 + 2 * strlen(f->serial), <=, req->length);
        return usb_test_string_desc(f->serial, buf, req->length);
    }
    return -1;
}

static void test_allow_keyboard(void)
{
    FakeDevice f = { keyboard_dev, usb_test_keyboard_config,
                     sizeof(usb_test_keyboard_config) };
    VdiUsbPolicy *p = vdi_usb_policy_new(VDI_USB_ACTION_ALLOW);
    VdiUsbGuardCore c;
    size_t len;

    vdi_usb_guard_core_init(&c);
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DONE);
    /*
     * device, config head, config, language ids, manufacturer and
     * product strings, device qualifier
     */
    g_assert_cmpint(f.requests, ==, 7);
    g_assert_cmpint(vdi_usb_guard_core_state(&c), ==, VDI_USB_GUARD_CONNECTED);
    g_assert_cmpint(vdi_usb_guard_core_device(&c)->vid, ==, 0x046d);
    g_assert_cmpint(vdi_usb_guard_core_device(&c)->pid, ==, 0xc31c);
    g_assert_null(vdi_usb_guard_core_serial(&c));
    g_assert_cmpint(vdi_usb_guard_core_verdict(&c)->action, ==,
                    VDI_USB_ACTION_ALLOW);
    g_assert_cmpstr(vdi_usb_guard_core_verdict(&c)->rule_id, ==, "default");
    g_assert_true(vdi_usb_guard_core_enforcing(&c));
    g_assert_false(vdi_usb_guard_core_read_only(&c));
    g_assert_true(vdi_usb_guard_core_endpoint_allowed(&c, 0x81));
    /* not in the configuration */
    g_assert_false(vdi_usb_guard_core_endpoint_allowed(&c, 0x82));
    g_assert_null(vdi_usb_guard_core_bot_filter(&c, 0x81));
    g_assert_null(vdi_usb_guard_core_config_desc(&c, &len));

    vdi_usb_guard_core_attached(&c);
    g_assert_cmpint(vdi_usb_guard_core_state(&c), ==, VDI_USB_GUARD_ATTACHED);
    vdi_usb_guard_core_disconnected(&c);
    g_assert_cmpint(vdi_usb_guard_core_state(&c), ==,
                    VDI_USB_GUARD_DISCONNECTED);
    g_assert_null(vdi_usb_guard_core_verdict(&c));
    /* nothing enforced without a device */
    g_assert_true(vdi_usb_guard_core_endpoint_allowed(&c, 0x82));
    vdi_usb_guard_core_clear(&c);
    vdi_usb_policy_free(p);
}

static void test_read_only_composite(void)
{
    const VdiUsbRule rules[] = {
        USB_RULE(READ_ONLY, "ro",
                 VDI_USB_MATCH_IFACE_CLASS | VDI_USB_MATCH_SERIAL,
                 .iface_class = 0x08, .serial = "ST-*"),
    };
    FakeDevice f = { storage_dev, usb_test_composite_config,
                     sizeof(usb_test_composite_config), "ST-42" };
    VdiUsbPolicy *p = usb_test_policy(VDI_USB_ACTION_ALLOW, rules,
                                      ARRAY_SIZE(rules));
    VdiUsbGuardCore c;
    const uint8_t *cfg;
    size_t len;

    vdi_usb_guard_core_init(&c);
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DONE);
    /*
     * device, config head, config, language ids, manufacturer, product
     * and serial strings, device qualifier
     */
    g_assert_cmpint(f.requests, ==, 8);
    g_assert_cmpint(f.last_langid, ==, 0x0409);
    g_assert_cmpstr(vdi_usb_guard_core_serial(&c), ==, "ST-42");
    g_assert_cmpint(vdi_usb_guard_core_verdict(&c)->action, ==,
                    VDI_USB_ACTION_READ_ONLY);
    g_assert_cmpstr(vdi_usb_guard_core_verdict(&c)->rule_id, ==, "ro");
    g_assert_true(vdi_usb_guard_core_read_only(&c));

    /* the Bulk-Only endpoints are filtered, the keyboard's are not */
    g_assert_nonnull(vdi_usb_guard_core_bot_filter(&c, 0x81));
    g_assert_true(vdi_usb_guard_core_bot_filter(&c, 0x81) ==
                  vdi_usb_guard_core_bot_filter(&c, 0x02));
    g_assert_null(vdi_usb_guard_core_bot_filter(&c, 0x85));
    g_assert_true(vdi_usb_guard_core_endpoint_allowed(&c, 0x85));
    /* UAS (alternate setting 1) is refused, and so are its endpoints */
    g_assert_false(vdi_usb_guard_core_control_allowed(&c, 0x010b, 1, 0));
    g_assert_true(vdi_usb_guard_core_control_allowed(&c, 0x010b, 0, 0));
    g_assert_false(vdi_usb_guard_core_endpoint_allowed(&c, 0x83));
    g_assert_false(vdi_usb_guard_core_endpoint_allowed(&c, 0x04));
    /* the guest sees the configuration without the UAS alternate */
    cfg = vdi_usb_guard_core_config_desc(&c, &len);
    g_assert_nonnull(cfg);
    g_assert_cmpint(len, ==, sizeof(usb_test_composite_config) - 23);
    g_assert_cmpint(cfg[2] | cfg[3] << 8, ==, len);
    /* other configurations, and other-speed ones, are refused */
    g_assert_false(vdi_usb_guard_core_control_allowed(&c, 0x8006, 0x0201,
                                                      0));
    g_assert_false(vdi_usb_guard_core_control_allowed(&c, 0x8006, 0x0700,
                                                      0));
    g_assert_true(vdi_usb_guard_core_control_allowed(&c, 0x8006, 0x0200, 0));
    g_assert_false(vdi_usb_guard_core_control_allowed(&c, 0x0009, 2, 0));
    g_assert_true(vdi_usb_guard_core_control_allowed(&c, 0x0009, 1, 0));
    g_assert_true(vdi_usb_guard_resets_bot(0x21ff));
    g_assert_false(vdi_usb_guard_resets_bot(0xa1fe));

    /* a serial the rule does not match: the default allows all */
    vdi_usb_guard_core_clear(&c);
    f.serial = "OTHER";
    f.requests = 0;
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DONE);
    g_assert_cmpint(vdi_usb_guard_core_verdict(&c)->action, ==,
                    VDI_USB_ACTION_ALLOW);
    g_assert_null(vdi_usb_guard_core_bot_filter(&c, 0x81));
    g_assert_true(vdi_usb_guard_core_control_allowed(&c, 0x010b, 1, 0));
    vdi_usb_guard_core_clear(&c);
    vdi_usb_policy_free(p);
}

static void test_deny_and_hide(void)
{
    const VdiUsbRule hide[] = {
        USB_RULE(DENY, "nokbd", VDI_USB_MATCH_IFACE_CLASS, .iface_class = 0x03,
                 .hide = true),
    };
    const VdiUsbRule deny[] = {
        USB_RULE(DENY, "nokbd", VDI_USB_MATCH_IFACE_CLASS, .iface_class = 0x03),
    };
    FakeDevice f = { storage_dev, usb_test_composite_config,
                     sizeof(usb_test_composite_config), "X" };
    VdiUsbPolicy *p = usb_test_policy(VDI_USB_ACTION_ALLOW, hide,
                                      ARRAY_SIZE(hide));
    VdiUsbGuardCore c;
    const char *rule, *reason;

    vdi_usb_guard_core_init(&c);
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DONE);
    /* interface 1 is hidden: requests to it and its endpoint stall */
    g_assert_false(vdi_usb_guard_core_control_allowed(&c, 0x8106, 0x2200,
                                                      1));
    g_assert_true(vdi_usb_guard_core_control_allowed(&c, 0x8106, 0x2200, 0));
    g_assert_false(vdi_usb_guard_core_endpoint_allowed(&c, 0x85));
    g_assert_false(vdi_usb_guard_core_control_allowed(&c, 0x0201, 0, 0x85));
    vdi_usb_guard_core_attached(&c);

    /* the policy changes: without hide the whole device is denied */
    vdi_usb_policy_free(p);
    p = usb_test_policy(VDI_USB_ACTION_ALLOW, deny, ARRAY_SIZE(deny));
    g_assert_cmpint(vdi_usb_guard_core_reevaluate(&c, p), ==,
                    VDI_USB_GUARD_NOW_DENIED);
    g_assert_cmpint(vdi_usb_guard_core_state(&c), ==, VDI_USB_GUARD_REJECTED);
    vdi_usb_guard_core_refusal(&c, &rule, &reason);
    g_assert_cmpstr(rule, ==, "nokbd");
    g_assert_nonnull(strstr(reason, "interface 1 (class 03:01:01)"));
    /* nothing is enforced on a refused device, which the owner drops */
    g_assert_false(vdi_usb_guard_core_enforcing(&c));
    /* what it was is kept for the queries */
    vdi_usb_guard_core_disconnected(&c);
    g_assert_cmpint(vdi_usb_guard_core_state(&c), ==, VDI_USB_GUARD_REJECTED);
    g_assert_true(vdi_usb_guard_core_device(&c));
    vdi_usb_guard_core_clear(&c);
    vdi_usb_policy_free(p);
}

static void test_reevaluate(void)
{
    const VdiUsbRule ro[] = {
        USB_RULE(READ_ONLY, "ro", VDI_USB_MATCH_IFACE_CLASS,
                 .iface_class = 0x08),
    };
    const VdiUsbRule ro2[] = {
        USB_RULE(READ_ONLY, "ro2", VDI_USB_MATCH_VID, .vid = 0x0781),
    };
    FakeDevice f = { storage_dev, usb_test_composite_config,
                     sizeof(usb_test_composite_config), "X" };
    VdiUsbPolicy *p = vdi_usb_policy_new(VDI_USB_ACTION_ALLOW);
    VdiUsbGuardCore c;

    vdi_usb_guard_core_init(&c);
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DONE);
    /* not attached yet: the new verdict applies, nothing to replug */
    vdi_usb_policy_free(p);
    p = usb_test_policy(VDI_USB_ACTION_ALLOW, ro, ARRAY_SIZE(ro));
    g_assert_cmpint(vdi_usb_guard_core_reevaluate(&c, p), ==,
                    VDI_USB_GUARD_SAME);
    g_assert_true(vdi_usb_guard_core_read_only(&c));
    vdi_usb_guard_core_attached(&c);

    /* same effect from another rule: the filters keep their state */
    vdi_usb_policy_free(p);
    p = usb_test_policy(VDI_USB_ACTION_ALLOW, ro2, ARRAY_SIZE(ro2));
    g_assert_cmpint(vdi_usb_guard_core_reevaluate(&c, p), ==,
                    VDI_USB_GUARD_SAME);
    g_assert_cmpstr(vdi_usb_guard_core_verdict(&c)->rule_id, ==, "ro2");
    g_assert_cmpint(vdi_usb_guard_core_state(&c), ==, VDI_USB_GUARD_ATTACHED);

    /* read-only -> allow while attached: replug */
    vdi_usb_policy_free(p);
    p = vdi_usb_policy_new(VDI_USB_ACTION_ALLOW);
    g_assert_cmpint(vdi_usb_guard_core_reevaluate(&c, p), ==,
                    VDI_USB_GUARD_CHANGED);
    g_assert_cmpint(vdi_usb_guard_core_state(&c), ==, VDI_USB_GUARD_CONNECTED);
    g_assert_false(vdi_usb_guard_core_read_only(&c));
    vdi_usb_guard_core_clear(&c);
    vdi_usb_policy_free(p);
}

static void test_failures(void)
{
    static const uint8_t short_dev[18] = { 12, 1 };
    static const uint8_t bad_config[] = {
        9, 2, 200, 0, 1, 1, 0, 0x80, 100,
        9, 4, 0, 0, 0, 3, 0, 0, 0,
    };
    FakeDevice f = { keyboard_dev, usb_test_keyboard_config,
                     sizeof(usb_test_keyboard_config) };
    VdiUsbPolicy *p = vdi_usb_policy_new(VDI_USB_ACTION_ALLOW);
    VdiUsbGuardCore c;
    const char *rule, *reason;
    int n;

    vdi_usb_guard_core_init(&c);
    /* any of the three requests failing refuses the device */
    for (n = 1; n <= 3; n++) {
        f.fail_at = n;
        f.requests = 0;
        g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f),
                        ==, VDI_USB_GUARD_DENIED);
        g_assert_cmpint(f.requests, ==, n);
        g_assert_cmpint(vdi_usb_guard_core_state(&c), ==,
                        VDI_USB_GUARD_REJECTED);
        vdi_usb_guard_core_refusal(&c, &rule, &reason);
        g_assert_cmpstr(rule, ==, "");
        g_assert_nonnull(strstr(reason, "request failed"));
        g_assert_false(vdi_usb_guard_core_enforcing(&c));
    }

    /* malformed descriptors */
    f.fail_at = 0;
    f.dev = short_dev;
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DENIED);
    vdi_usb_guard_core_refusal(&c, &rule, &reason);
    g_assert_true(g_str_has_prefix(reason, "device descriptor: "));
    f.dev = keyboard_dev;
    f.config = bad_config;
    f.config_len = sizeof(bad_config);
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DENIED);
    vdi_usb_guard_core_refusal(&c, &rule, &reason);
    g_assert_nonnull(strstr(reason, "configuration descriptor: "
                            "wTotalLength 200"));

    /* a failed serial request only means serial rules cannot match */
    f.dev = storage_dev;
    f.config = usb_test_keyboard_config;
    f.config_len = sizeof(usb_test_keyboard_config);
    f.serial = NULL;
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DONE);
    g_assert_null(vdi_usb_guard_core_serial(&c));

    /* stale and foreign replies are ignored */
    g_assert_cmpint(vdi_usb_guard_core_reply(&c, p, VDI_USB_GUARD_ID_BASE | 1,
                                             true, keyboard_dev, 18, NULL),
                    ==, VDI_USB_GUARD_IGNORED);
    g_assert_false(vdi_usb_guard_owns_id(42));
    vdi_usb_guard_core_clear(&c);
    vdi_usb_policy_free(p);
}

/*
 * A guest control transfer whose id (a guest-chosen TRB address) equals
 * the id of the guard's request in flight travels with another id: the
 * peer's reply to it is not taken for the device descriptor the guard
 * asked for, and the guard's own reply still is.
 */
static void test_guest_id_collision(void)
{
    VdiUsbPolicy *p = vdi_usb_policy_new(VDI_USB_ACTION_ALLOW);
    VdiUsbGuardRequest first, next;
    VdiUsbGuardCore c;
    uint64_t wire;

    vdi_usb_guard_core_init(&c);
    vdi_usb_guard_core_connect(&c, &first);
    g_assert(vdi_usb_guard_owns_id(first.id));

    wire = vdi_usb_guard_wire_id(first.id);
    g_assert_cmphex(wire, !=, first.id);
    g_assert_false(vdi_usb_guard_owns_id(wire));
    /* the keyboard's device descriptor, in reply to the guest's transfer */
    g_assert_cmpint(vdi_usb_guard_core_reply(&c, p, wire, true, keyboard_dev,
                                             18, &next),
                    ==, VDI_USB_GUARD_IGNORED);
    g_assert_cmpint(vdi_usb_guard_core_reply(&c, p, first.id, true,
                                             storage_dev, 18, &next),
                    ==, VDI_USB_GUARD_MORE);

    /* every other id goes as it is, as in stock usb-redir */
    g_assert_cmphex(vdi_usb_guard_wire_id(0x12345670), ==, 0x12345670);
    g_assert_cmphex(vdi_usb_guard_wire_id(VDI_USB_GUARD_ID_ALIAS | 0x40), ==,
                    VDI_USB_GUARD_ID_ALIAS | 0x40);
    g_assert_false(vdi_usb_guard_owns_id(vdi_usb_guard_wire_id(~0ULL)));
    vdi_usb_guard_core_clear(&c);
    vdi_usb_policy_free(p);
}

/* A HID boot keyboard, with its HID and report descriptors */
static const uint8_t hid_keyboard_config[] = {
    9, 2, 34, 0, 1, 1, 0, 0xa0, 50,
    9, 4, 0, 0, 1, 3, 1, 1, 0,
    9, 0x21, 0x11, 0x01, 0, 1, 0x22, 4, 0,
    7, 5, 0x81, 3, 8, 0, 10,
};
static const uint8_t hid_report[4] = { 0x05, 0x01, 0x09, 0x06 };

static const uint8_t storage_config[] = {
    9, 2, 32, 0, 1, 1, 0, 0x80, 100,
    9, 4, 0, 0, 2, 8, 6, 0x50, 0,
    7, 5, 0x81, 2, 0x00, 0x02, 0,
    7, 5, 0x02, 2, 0x00, 0x02, 0,
};

/* GET_DESCRIPTOR as the guest sends it, answered by the guard */
static VdiUsbGuardAction guest_get(VdiUsbGuardCore *c, int type, int value,
                                   int index, uint8_t *buf, size_t *len)
{
    return vdi_usb_guard_core_control(c, type << 8 | 6, value, index, 255,
                                      buf, len);
}

static void test_served_descriptors(void)
{
    FakeDevice f = { storage_dev, usb_test_composite_config,
                     sizeof(usb_test_composite_config), "ST-42" };
    VdiUsbPolicy *p = vdi_usb_policy_new(VDI_USB_ACTION_ALLOW);
    VdiUsbGuardCore c;
    uint8_t buf[256];
    size_t len;
    int requests;

    vdi_usb_guard_core_init(&c);
    /* nothing evaluated yet: nothing served, and the device is not asked */
    g_assert_cmpint(guest_get(&c, 0x80, 0x0100, 0, buf, &len), ==,
                    VDI_USB_GUARD_STALL);
    g_assert_cmpint(vdi_usb_guard_core_counters(&c)->blocked, ==, 1);

    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DONE);
    requests = f.requests;

    /* from now on the device may say anything: the guest gets the copy */
    f.dev = keyboard_dev;
    f.config = hid_keyboard_config;
    f.config_len = sizeof(hid_keyboard_config);
    g_assert_cmpint(guest_get(&c, 0x80, 0x0100, 0, buf, &len), ==,
                    VDI_USB_GUARD_ANSWER);
    g_assert_cmpint(len, ==, 18);
    g_assert_cmpmem(buf, len, storage_dev, 18);
    g_assert_cmpint(vdi_usb_guard_core_control(&c, 0x8006, 0x0100, 0, 8, buf,
                                               &len), ==,
                    VDI_USB_GUARD_ANSWER);
    g_assert_cmpint(len, ==, 8);
    g_assert_cmpint(guest_get(&c, 0x80, 0x0200, 0, buf, &len), ==,
                    VDI_USB_GUARD_ANSWER);
    g_assert_cmpmem(buf, len, usb_test_composite_config,
                    sizeof(usb_test_composite_config));
    /* strings in any language, string 0 as it was */
    g_assert_cmpint(guest_get(&c, 0x80, 0x0303, 0x0407, buf, &len), ==,
                    VDI_USB_GUARD_ANSWER);
    g_assert_cmpint(len, ==, 2 + 2 * strlen("ST-42"));
    g_assert_cmpint(buf[2], ==, 'S');
    g_assert_cmpint(guest_get(&c, 0x80, 0x0300, 0, buf, &len), ==,
                    VDI_USB_GUARD_ANSWER);
    g_assert_cmpint(len, ==, 4);
    /*
     * what was not read (or failed) stalls: other configurations, the
     * qualifier the device refused, class descriptors
     */
    g_assert_cmpint(guest_get(&c, 0x80, 0x0201, 0, buf, &len), ==,
                    VDI_USB_GUARD_STALL);
    g_assert_cmpint(guest_get(&c, 0x80, 0x0600, 0, buf, &len), ==,
                    VDI_USB_GUARD_STALL);
    g_assert_cmpint(guest_get(&c, 0x80, 0x0301, 0x0409, buf, &len), ==,
                    VDI_USB_GUARD_STALL);
    g_assert_cmpint(guest_get(&c, 0xa0, 0x2900, 0, buf, &len), ==,
                    VDI_USB_GUARD_STALL);
    g_assert_cmpint(guest_get(&c, 0x81, 0x2200, 1, buf, &len), ==,
                    VDI_USB_GUARD_STALL);
    g_assert_cmpint(vdi_usb_guard_core_counters(&c)->blocked, ==, 6);
    /* vendor requests numbered 6 are not GET_DESCRIPTOR: they pass */
    g_assert_cmpint(guest_get(&c, 0xc0, 0x0100, 0, buf, &len), ==,
                    VDI_USB_GUARD_PASS);
    g_assert_cmpint(f.requests, ==, requests);
    vdi_usb_guard_core_clear(&c);

    /* a keyboard's report descriptor is read with the rest, and served */
    f.report = hid_report;
    f.report_len = sizeof(hid_report);
    f.serial = NULL;
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DONE);
    g_assert_cmpint(guest_get(&c, 0x81, 0x2200, 0, buf, &len), ==,
                    VDI_USB_GUARD_ANSWER);
    g_assert_cmpmem(buf, len, hid_report, sizeof(hid_report));
    vdi_usb_guard_core_clear(&c);
    vdi_usb_policy_free(p);
}

/* A fetch of the guard's own, fed through the asynchronous interface */
static VdiUsbGuardFetch run_check(VdiUsbGuardCore *c, VdiUsbPolicy *p,
                                  FakeDevice *f)
{
    VdiUsbGuardRequest req;
    VdiUsbGuardFetch r;

    vdi_usb_guard_core_check(c, &req);
    do {
        uint8_t buf[256];
        int n = fake_xfer(f, &req, buf);

        r = vdi_usb_guard_core_reply(c, p, req.id, n >= 0, buf, MAX(n, 0),
                                     &req);
    } while (r == VDI_USB_GUARD_MORE);
    return r;
}

static void test_changed_story(void)
{
    const VdiUsbRule ro[] = {
        USB_RULE(READ_ONLY, "sticks", VDI_USB_MATCH_IFACE_CLASS,
                 .iface_class = 0x08),
    };
    FakeDevice f = { storage_dev, storage_config, sizeof(storage_config) };
    VdiUsbPolicy *p = usb_test_policy(VDI_USB_ACTION_DENY, ro, ARRAY_SIZE(ro));
    VdiUsbGuardCore c;
    const char *rule, *reason;

    vdi_usb_guard_core_init(&c);
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DONE);
    vdi_usb_guard_core_attached(&c);
    /* read again, the same: nothing to do, still enforcing */
    g_assert_cmpint(run_check(&c, p, &f), ==, VDI_USB_GUARD_IGNORED);
    g_assert_true(vdi_usb_guard_core_read_only(&c));

    /* the same device descriptor, now a keyboard's configuration */
    f.config = hid_keyboard_config;
    f.config_len = sizeof(hid_keyboard_config);
    g_assert_cmpint(run_check(&c, p, &f), ==, VDI_USB_GUARD_DENIED);
    g_assert_cmpint(vdi_usb_guard_core_state(&c), ==, VDI_USB_GUARD_REJECTED);
    vdi_usb_guard_core_refusal(&c, &rule, &reason);
    g_assert_cmpstr(reason, ==, "configuration descriptor: changed since "
                    "it was evaluated");
    g_assert_false(vdi_usb_guard_core_enforcing(&c));

    /* or another device descriptor */
    f.config = storage_config;
    f.config_len = sizeof(storage_config);
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DONE);
    f.dev = keyboard_dev;
    g_assert_cmpint(run_check(&c, p, &f), ==, VDI_USB_GUARD_DENIED);
    vdi_usb_guard_core_refusal(&c, &rule, &reason);
    g_assert_cmpstr(reason, ==, "device descriptor: changed since it was "
                    "evaluated");
    vdi_usb_guard_core_clear(&c);
    vdi_usb_policy_free(p);
}

static void test_peer_view(void)
{
    const VdiUsbRule ro[] = {
        USB_RULE(READ_ONLY, "sticks", VDI_USB_MATCH_IFACE_CLASS,
                 .iface_class = 0x08),
    };
    FakeDevice f = { storage_dev, storage_config, sizeof(storage_config) };
    VdiUsbPolicy *p = usb_test_policy(VDI_USB_ACTION_DENY, ro, ARRAY_SIZE(ro));
    VdiUsbPeerView v = {
        .has_device = true, .vid = 0x0781, .pid = 0x5567,
        .n_ifaces = 1, .ifaces = { { 0, 8, 6, 0x50 } },
        .n_eps = 2, .eps = { { 0x81, 2, 0 }, { 0x02, 2, 0 } },
    };
    VdiUsbGuardCore c;
    const char *rule, *reason;

    vdi_usb_guard_core_init(&c);
    /* nothing to compare with before the verdict */
    v.ifaces[0].cls = 3;
    g_assert_true(vdi_usb_guard_core_check_peer(&c, &v));
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DONE);
    v.ifaces[0].cls = 8;
    g_assert_true(vdi_usb_guard_core_check_peer(&c, &v));

    /* the peer says the storage interface is a keyboard's */
    v.ifaces[0].cls = 3;
    v.ifaces[0].subclass = 1;
    v.ifaces[0].protocol = 1;
    g_assert_false(vdi_usb_guard_core_check_peer(&c, &v));
    g_assert_cmpint(vdi_usb_guard_core_state(&c), ==, VDI_USB_GUARD_REJECTED);
    vdi_usb_guard_core_refusal(&c, &rule, &reason);
    g_assert_cmpstr(reason, ==, "the device announces: interface 0 is class "
                    "03:01:01, which its descriptors do not list");

    /* or that the bulk IN endpoint is an interrupt one */
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DONE);
    v.ifaces[0].cls = 8;
    v.ifaces[0].subclass = 6;
    v.ifaces[0].protocol = 0x50;
    v.eps[0].type = 3;
    g_assert_false(vdi_usb_guard_core_check_peer(&c, &v));
    vdi_usb_guard_core_refusal(&c, &rule, &reason);
    g_assert_nonnull(strstr(reason, "endpoint 81 (type 3, interface 0)"));

    /* or another device */
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DONE);
    v.eps[0].type = 2;
    v.pid = 0x5568;
    g_assert_false(vdi_usb_guard_core_check_peer(&c, &v));
    vdi_usb_guard_core_clear(&c);
    vdi_usb_policy_free(p);
}

/*
 * The counters, as usb-redir and usb-host both feed them through the USB
 * core: what the device sends, what the guest sends, what is refused.
 */
static void test_counters(void)
{
    const VdiUsbRule ro[] = {
        USB_RULE(READ_ONLY, "sticks", VDI_USB_MATCH_IFACE_CLASS,
                 .iface_class = 0x08),
    };
    static const uint8_t cbw_write[31] = {
        'U', 'S', 'B', 'C', 1, 0, 0, 0, 0x00, 0x02, 0, 0, 0x00, 0, 10,
        0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0,
    };
    static const uint8_t cbw_read[31] = {
        'U', 'S', 'B', 'C', 2, 0, 0, 0, 0x00, 0x02, 0, 0, 0x80, 0, 10,
        0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0,
    };
    FakeDevice f = { storage_dev, storage_config, sizeof(storage_config) };
    VdiUsbPolicy *p = usb_test_policy(VDI_USB_ACTION_DENY, ro, ARRAY_SIZE(ro));
    VdiUsbGuardCore c;
    const uint8_t *fwd;
    uint8_t buf[512], sector[512] = { 0 };
    size_t len, fwd_len;
    char *err = NULL;

    vdi_usb_guard_core_init(&c);
    g_assert_cmpint(vdi_usb_guard_core_fetch_sync(&c, p, fake_xfer, &f), ==,
                    VDI_USB_GUARD_DONE);
    vdi_usb_guard_core_attached(&c);

    /* a control OUT with 1 byte; an IN the device answers with 1 byte */
    g_assert_cmpint(vdi_usb_guard_core_control(&c, 0x0003, 1, 0, 1, buf,
                                               &len), ==, VDI_USB_GUARD_PASS);
    g_assert_cmpint(vdi_usb_guard_core_control(&c, 0xa1fe, 0, 0, 1, buf,
                                               &len), ==, VDI_USB_GUARD_PASS);
    vdi_usb_guard_core_control_done(&c, 0xa1fe, true, 1);
    g_assert_cmpint(vdi_usb_guard_core_counters(&c)->bytes_out, ==, 1);
    g_assert_cmpint(vdi_usb_guard_core_counters(&c)->bytes_in, ==, 1);

    /* a READ(10) passes: 31 bytes out, 512 + 13 in */
    g_assert_cmpint(vdi_usb_guard_core_out(&c, 0x02, cbw_read, 31, &fwd,
                                           &fwd_len, &err), ==,
                    VDI_USB_GUARD_PASS);
    g_assert_nonnull(fwd);
    g_assert_cmpint(vdi_usb_guard_core_in(&c, 0x81, 512, buf, sizeof(buf),
                                          &len), ==, VDI_USB_GUARD_PASS);
    g_assert_true(vdi_usb_guard_core_in_done(&c, 0x81, true, false, sector,
                                             512, 512, &err));
    memcpy(buf, "USBS\x02\0\0\0\0\0\0\0\0", 13);
    g_assert_cmpint(vdi_usb_guard_core_in(&c, 0x81, 13, buf, sizeof(buf),
                                          &len), ==, VDI_USB_GUARD_PASS);
    g_assert_true(vdi_usb_guard_core_in_done(&c, 0x81, true, false, buf, 13,
                                             13, &err));
    g_assert_cmpint(vdi_usb_guard_core_counters(&c)->bytes_out, ==, 1 + 31);
    g_assert_cmpint(vdi_usb_guard_core_counters(&c)->bytes_in, ==,
                    1 + 512 + 13);

    /* a WRITE(10) never reaches the device: the guard answers it */
    g_assert_cmpint(vdi_usb_guard_core_out(&c, 0x02, cbw_write, 31, &fwd,
                                           &fwd_len, &err), ==,
                    VDI_USB_GUARD_ANSWER);
    g_assert_cmpint(vdi_usb_guard_core_out(&c, 0x02, sector, 512, &fwd,
                                           &fwd_len, &err), ==,
                    VDI_USB_GUARD_ANSWER);
    g_assert_cmpint(vdi_usb_guard_core_in(&c, 0x81, 13, buf, sizeof(buf),
                                          &len), ==, VDI_USB_GUARD_ANSWER);
    g_assert_cmpint(len, ==, 13);
    g_assert_cmpint(buf[12], ==, 1);    /* command failed: DATA PROTECT */
    g_assert_cmpint(vdi_usb_guard_core_counters(&c)->bytes_out, ==, 1 + 31);
    g_assert_cmpint(vdi_usb_guard_core_counters(&c)->bytes_in, ==,
                    1 + 512 + 13);

    /* an endpoint that does not exist, another configuration */
    g_assert_cmpint(vdi_usb_guard_core_counters(&c)->blocked, ==, 0);
    g_assert_cmpint(vdi_usb_guard_core_in(&c, 0x83, 8, buf, sizeof(buf),
                                          &len), ==, VDI_USB_GUARD_STALL);
    g_assert_cmpint(vdi_usb_guard_core_control(&c, 0x0009, 2, 0, 0, buf,
                                               &len), ==, VDI_USB_GUARD_STALL);
    g_assert_cmpint(vdi_usb_guard_core_counters(&c)->blocked, ==, 2);
    g_assert_null(err);
    vdi_usb_guard_core_clear(&c);
    vdi_usb_policy_free(p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vdi-usb-guard/allow-keyboard", test_allow_keyboard);
    g_test_add_func("/vdi-usb-guard/read-only-composite",
                    test_read_only_composite);
    g_test_add_func("/vdi-usb-guard/deny-and-hide", test_deny_and_hide);
    g_test_add_func("/vdi-usb-guard/reevaluate", test_reevaluate);
    g_test_add_func("/vdi-usb-guard/failures", test_failures);
    g_test_add_func("/vdi-usb-guard/served-descriptors",
                    test_served_descriptors);
    g_test_add_func("/vdi-usb-guard/changed-story", test_changed_story);
    g_test_add_func("/vdi-usb-guard/peer-view", test_peer_view);
    g_test_add_func("/vdi-usb-guard/counters", test_counters);
    g_test_add_func("/vdi-usb-guard/guest-id-collision",
                    test_guest_id_collision);
    return g_test_run();
}
