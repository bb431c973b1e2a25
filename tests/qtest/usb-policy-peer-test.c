/*
 * QTest for the VDI USB policy against misbehaving usbredir peers
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A fake usbredir peer (usb-policy-util.h) that sends a bad configuration
 * descriptor, garbage, hangs up mid-transfer, announces interfaces its
 * descriptors do not have, or is a BadUSB device that shows QEMU a stick
 * and the guest a keyboard, checked through a UHCI controller driven as a
 * guest: refused or disconnected, and QEMU runs on.
 */

#include "qemu/osdep.h"
#include "usb-policy-util.h"

static void test_bad_descriptor(void)
{
    FakeDev *fake;
    QTestState *qts = start(FAKE_BAD_CONFIG, FAKE_BEHAVE, &fake);
    QDict *resp, *info;

    assert_rejected(qts, "", "configuration descriptor: wTotalLength 200");
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "rejected");
    g_assert_cmpstr(qdict_get_str(info, "verdict"), ==, "deny");
    qobject_unref(resp);
    finish(qts, fake);
}

static void test_garbage(void)
{
    FakeDev *fake;
    QTestState *qts = start(FAKE_KEYBOARD, FAKE_BEHAVE, &fake);
    QDict *resp, *info;

    qobject_unref(wait_attached(qts, "allow", "default"));
    qatomic_set(&fake->send_garbage, 1);
    qobject_unref(wait_event(qts, "USB_PERIPHERAL_DETACHED"));
    wait_state(qts, "disconnected");
    info = query_peripheral(qts, &resp);
    g_assert_false(qdict_haskey(info, "vendor-id"));
    g_assert_false(qdict_haskey(info, "port"));
    qobject_unref(resp);
    /* QEMU hung up on the peer and goes on running */
    while (!qatomic_read(&fake->eof)) {
        g_usleep(10 * 1000);
    }
    qtest_qmp_assert_success(qts, "{ 'execute': 'query-status' }");
    finish(qts, fake);
}

static void test_hangup_mid_transfer(void)
{
    FakeDev *fake;
    QTestState *qts = start(FAKE_STORAGE, FAKE_HANGUP_ON_CONFIG, &fake);

    /* the peer goes away while QEMU waits for the configuration */
    while (!qatomic_read(&fake->eof)) {
        g_usleep(10 * 1000);
    }
    wait_state(qts, "disconnected");
    qtest_qmp_assert_success(qts, "{ 'execute': 'query-status' }");
    finish(qts, fake);
}

/*
 * The BadUSB attack: the peer shows QEMU a storage stick and the guest a
 * HID boot keyboard on the same endpoint.  Under a storage-only policy
 * the device is attached read-only, and the guest sees only the stick the
 * policy evaluated: the guard answers every GET_DESCRIPTOR itself.
 */
static void test_badusb_descriptors(void)
{
    FakeDev *fake;
    QTestState *qts = start_sticks_only(FAKE_BADUSB, &fake);
    QDict *resp, *info;
    uint8_t d[256];
    Uhci u;

    qobject_unref(wait_attached(qts, "read-only", "sticks"));
    uhci_start(qts, &u);

    g_assert_cmpint(uhci_control_in(qts, &u, 0x80, 0x0100, 0, 18, d), ==,
                    18);
    g_assert_cmpint(d[8] | d[9] << 8, ==, 0x0781);
    g_assert_cmpint(d[10] | d[11] << 8, ==, 0x5567);
    g_assert_cmpint(uhci_control_in(qts, &u, 0x80, 0x0200, 0, 255, d), ==,
                    sizeof(fake_stick_config));
    g_assert_cmpmem(d, sizeof(fake_stick_config), fake_stick_config,
                    sizeof(fake_stick_config));
    g_assert_cmpint(d[9 + 5], ==, 8);   /* mass storage, not HID */
    /* a HID report descriptor was never evaluated: not served */
    g_assert_cmpint(uhci_control_in(qts, &u, 0x81, 0x2200, 0, 63, d), ==,
                    -1);
    /* the serial number, as evaluated */
    g_assert_cmpint(uhci_control_in(qts, &u, 0x80, 0x0303, 0x0409, 255, d),
                    ==, 2 + 2 * strlen(FAKE_STICK_SERIAL));
    /* none of them went to the device */
    g_assert_cmpint(qatomic_read(&fake->guest_get_descs), ==, 0);

    /* other requests do reach it, and are counted */
    g_assert_cmpint(uhci_control_in(qts, &u, 0xa1, 0, 0, 1, d), ==, 1);
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "attached");
    g_assert_cmpint(qdict_get_int(info, "blocked"), ==, 1);
    g_assert_cmpint(qdict_get_int(info, "bytes-in"), ==, 1);
    qobject_unref(resp);
    uhci_stop(&u);
    finish(qts, fake);
}

/* The peer announces interfaces its descriptors do not have: refused */
static void test_lies_iface(void)
{
    FakeDev *fake;
    QTestState *qts = start_sticks_only(FAKE_LIES_IFACE, &fake);
    QDict *resp, *info;

    assert_rejected(qts, "", "the device announces: interface 0 is class "
                    "03:01:01, which its descriptors do not list");
    while (!qatomic_read(&fake->rejected)) {
        g_usleep(10 * 1000);
    }
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "rejected");
    g_assert_false(qdict_haskey(info, "port"));
    qobject_unref(resp);
    finish(qts, fake);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (!qtest_has_device("qemu-xhci") || !qtest_has_device("usb-redir")) {
        g_test_skip("qemu-xhci or usb-redir not available");
        return g_test_run();
    }
    qtest_add_func("/usb-policy/bad-descriptor", test_bad_descriptor);
    qtest_add_func("/usb-policy/garbage", test_garbage);
    qtest_add_func("/usb-policy/hangup-mid-transfer",
                   test_hangup_mid_transfer);
    qtest_add_func("/usb-policy/lies-iface", test_lies_iface);
    if (qtest_has_device("piix3-usb-uhci")) {
        qtest_add_func("/usb-policy/badusb-descriptors",
                       test_badusb_descriptors);
    }
    return g_test_run();
}
