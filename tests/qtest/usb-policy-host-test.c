/*
 * QTest for the VDI USB policy on usb-host devices
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * usb-host listed and passed over by the policy without a host device,
 * and the same guest traffic, driven through a UHCI controller, counted
 * alike for usb-redir (a fake usbredir peer, usb-policy-util.h) and for
 * usb-host on vdi-fake-libusb, a libusb stand-in preloaded into QEMU.
 */

#include "qemu/osdep.h"
#include "usb-policy-util.h"

typedef struct Counters {
    int64_t bytes_in, bytes_out, blocked;
} Counters;

/*
 * The same guest traffic to a stick attached read-only by rule 'sticks',
 * at @id, through a UHCI controller: the device descriptor (which the
 * guard serves), a HID report descriptor never read (refused: blocked),
 * GET_MAX_LUN (1 byte in) and an INQUIRY through the Bulk-Only filter
 * (31 bytes out, 36 + 13 in).  Returns the peripheral's counters.
 */
static Counters stick_traffic(QTestState *qts, const char *id)
{
    static const uint8_t inquiry[FAKE_BOT_CBW_LEN] = {
        'U', 'S', 'B', 'C', 0x44, 0x33, 0x22, 0x11, 36, 0, 0, 0, 0x80, 0, 6,
        0x12, 0, 0, 0, 36, 0,
    };
    uint8_t d[64];
    QDict *resp, *info;
    Counters c;
    Uhci u;

    qobject_unref(wait_attached_of(qts, id, "read-only", "sticks"));
    uhci_start(qts, &u);
    g_assert_cmpint(uhci_control_in(qts, &u, 0x80, 0x0100, 0, 18, d), ==,
                    18);
    g_assert_cmpint(d[8] | d[9] << 8, ==, 0x0781);
    g_assert_cmpint(uhci_control_in(qts, &u, 0x81, 0x2200, 0, 63, d), ==,
                    -1);
    g_assert_cmpint(uhci_control_in(qts, &u, 0xa1, 0, 0, 1, d), ==, 1);
    memcpy(d, inquiry, sizeof(inquiry));
    g_assert_cmpint(uhci_bulk(qts, false, 2, 0, d, sizeof(inquiry)), ==,
                    sizeof(inquiry));
    g_assert_cmpint(uhci_bulk(qts, true, 1, 0, d, 64), ==, 36);
    g_assert_cmpint(uhci_bulk(qts, true, 1, 1, d, FAKE_BOT_CSW_LEN), ==,
                    FAKE_BOT_CSW_LEN);
    g_assert_cmpmem(d, 8, "USBS\x44\x33\x22\x11", 8);
    g_assert_cmpint(d[12], ==, 0);
    uhci_stop(&u);

    info = find_peripheral(qts, id, &resp);
    g_assert(info);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "attached");
    c.bytes_in = qdict_get_int(info, "bytes-in");
    c.bytes_out = qdict_get_int(info, "bytes-out");
    c.blocked = qdict_get_int(info, "blocked");
    qobject_unref(resp);
    return c;
}

/*
 * The command that runs QEMU with vdi-fake-libusb preloaded, in the
 * environment variable FAKE_LIBUSB_QEMU for qtest_init_with_env(); set
 * in main(), before any thread runs.  Unset if the library is missing.
 */
#define FAKE_LIBUSB_QEMU "VDI_FAKE_LIBUSB_QEMU"

static void set_fake_libusb_qemu(void)
{
    g_autofree char *qemu = g_canonicalize_filename(
        g_getenv("QTEST_QEMU_BINARY"), NULL);
    g_autofree char *dir = g_path_get_dirname(qemu);
    g_autofree char *shim =
        g_build_filename(dir, "tests/qtest/libvdi-fake-libusb.so", NULL);
    g_autofree char *cmd = g_strdup_printf("env LD_PRELOAD=%s %s", shim,
                                           qemu);

    if (g_file_test(shim, G_FILE_TEST_EXISTS)) {
        g_setenv(FAKE_LIBUSB_QEMU, cmd, true);
    }
}

/*
 * usb-redir and usb-host go through the same enforcement point in the USB
 * core, so the same traffic counts the same.  usb-host gets the same
 * stick as the usbredir peer from vdi-fake-libusb, preloaded into QEMU
 * in place of libusb, since test machines have no USB device to pass.
 */
static void test_counters_redir_and_host(void)
{
    FakeDev *fake;
    QTestState *qts;
    Counters redir, host;

    /* built with usb-host: tests/qtest/libvdi-fake-libusb.so */
    g_assert_nonnull(g_getenv(FAKE_LIBUSB_QEMU));
    qts = start_sticks_only(FAKE_BEHAVE, &fake);
    redir = stick_traffic(qts, "redir0");
    finish(qts, fake);

    qts = qtest_init_with_env(FAKE_LIBUSB_QEMU, "-machine pc -device "
                              "piix3-usb-uhci,id=uhci,addr=05.0", true);
    set_policy_ok(qts, "[ { 'id': 'sticks', 'action': 'read-only', "
                  "    'iface-class': 8 } ]", "deny");
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments': "
                             "{ 'driver': 'usb-host', 'bus': 'uhci.0', "
                             "  'id': 'host0', 'hostbus': 1, "
                             "  'hostaddr': 2 } }");
    host = stick_traffic(qts, "host0");
    qtest_quit(qts);

    g_assert_cmpint(redir.bytes_in, ==, 1 + 36 + FAKE_BOT_CSW_LEN);
    g_assert_cmpint(redir.bytes_out, ==, FAKE_BOT_CBW_LEN);
    g_assert_cmpint(redir.blocked, ==, 1);
    g_assert_cmpint(host.bytes_in, ==, redir.bytes_in);
    g_assert_cmpint(host.bytes_out, ==, redir.bytes_out);
    g_assert_cmpint(host.blocked, ==, redir.blocked);
}

/* usb-host: no host USB device here, so only what needs none */
static void test_host_listed(void)
{
    QTestState *qts = qtest_init("-machine pc -device qemu-xhci,id=xhci "
                                 "-device usb-host,id=host0,"
                                 "vendorid=0x1234,productid=0x5678");
    QDict *resp, *info;

    /* no such device on the host: listed, waiting for it */
    info = find_peripheral(qts, "host0", &resp);
    g_assert(info);
    g_assert_cmpstr(qdict_get_str(info, "kind"), ==, "host");
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "disconnected");
    g_assert_false(qdict_haskey(info, "chardev"));
    g_assert_false(qdict_haskey(info, "vendor-id"));
    g_assert_false(qdict_haskey(info, "verdict"));
    qobject_unref(resp);

    /* a policy change goes over it */
    set_policy_ok(qts, "[ { 'id': 'no-storage', 'action': 'deny', "
                  "    'iface-class': 8 } ]", "allow");
    g_assert_cmpint(n_peripherals(qts), ==, 1);

    /* a usb-host that cannot be opened leaves nothing behind */
    resp = qtest_qmp(qts, "{ 'execute': 'device_add', 'arguments': "
                     "{ 'driver': 'usb-host', 'id': 'host1', "
                     "  'hostbus': 99, 'hostaddr': 99 } }");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"),
                            "failed to find host usb device 99:99"));
    qobject_unref(resp);
    g_assert_cmpint(n_peripherals(qts), ==, 1);

    /* unplugged: gone from the list */
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_del', "
                             "  'arguments': { 'id': 'host0' } }");
    g_assert_cmpint(n_peripherals(qts), ==, 0);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (!qtest_has_device("qemu-xhci") || !qtest_has_device("usb-redir")) {
        g_test_skip("qemu-xhci or usb-redir not available");
        return g_test_run();
    }
    if (qtest_has_device("usb-host")) {
        qtest_add_func("/usb-policy/host/listed", test_host_listed);
    }
    if (qtest_has_device("usb-host") && qtest_has_device("piix3-usb-uhci")) {
        set_fake_libusb_qemu();
        qtest_add_func("/usb-policy/counters/redir-and-host",
                       test_counters_redir_and_host);
    }
    return g_test_run();
}
