/*
 * QTest for the VDI USB policy's verdicts on usb-redir devices
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A fake usbredir peer (usb-policy-util.h) shows QEMU a keyboard, a stick,
 * a printer or a composite device: allowed by default, denied, read-only,
 * interfaces hidden, re-evaluated when usb-policy-set changes the policy,
 * and the errors usb-policy-set refuses.
 */

#include "qemu/osdep.h"
#include "usb-policy-util.h"

static void test_default_allows(void)
{
    FakeDev *fake;
    QTestState *qts = start(FAKE_KEYBOARD, FAKE_BEHAVE, &fake);
    QDict *resp, *info, *ev, *i0;

    ev = wait_attached(qts, "allow", "default");
    g_assert_cmpint(qdict_get_int(ev, "vendor-id"), ==, 0x046d);
    g_assert_cmpint(qdict_get_int(ev, "product-id"), ==, 0xc31c);
    qobject_unref(ev);

    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "attached");
    g_assert_cmpstr(qdict_get_str(info, "kind"), ==, "redir");
    g_assert_false(qdict_haskey(info, "terminal"));
    g_assert_false(qdict_haskey(info, "policy"));
    g_assert_cmpint(qdict_get_int(info, "vendor-id"), ==, 0x046d);
    g_assert_cmpint(qdict_get_int(info, "product-id"), ==, 0xc31c);
    g_assert_cmpstr(qdict_get_str(info, "speed"), ==, "full");
    g_assert_cmpint(qdict_get_int(info, "dev-class"), ==, 0);
    g_assert_cmpstr(qdict_get_str(info, "verdict"), ==, "allow");
    g_assert_cmpstr(qdict_get_str(info, "rule"), ==, "default");
    g_assert_nonnull(strstr(qdict_get_str(info, "reason"),
                            "allowed by the default policy"));
    g_assert(qdict_haskey(info, "port"));
    g_assert(qdict_haskey(info, "bytes-in"));
    g_assert(qdict_haskey(info, "bytes-out"));
    i0 = iface_of(info, 0);
    g_assert_cmpint(qdict_get_int(i0, "iface-class"), ==, 3);
    g_assert_cmpint(qdict_get_int(i0, "iface-subclass"), ==, 1);
    g_assert_cmpint(qdict_get_int(i0, "iface-protocol"), ==, 1);
    g_assert_cmpstr(qdict_get_str(i0, "decision"), ==, "allowed");
    g_assert_false(qdict_haskey(i0, "bot-filter"));
    qobject_unref(resp);

    resp = qtest_qmp(qts, "{ 'execute': 'query-usb-policy' }");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(resp, "return"),
                                  "default"), ==, "allow");
    qobject_unref(resp);
    finish(qts, fake);
}

static void test_deny(void)
{
    FakeDev *fake;
    QTestState *qts;
    QDict *resp, *info;
    int fd;

    /* The policy must be there before the device: start without it */
    fake = fake_new(FAKE_STORAGE, FAKE_BEHAVE, &fd);
    qts = qtest_initf("-machine pc -device qemu-xhci,id=xhci "
                      "-chardev socket,id=usbredir0,fd=%d -S", fd);
    close(fd);
    set_policy_ok(qts, "[ { 'id': 'hid', 'action': 'allow', "
                  "     'iface-class': 3 }, "
                  "  { 'id': 'no-storage', 'action': 'deny', "
                  "    'iface-class': 8 } ]", "allow");
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments': "
                             "{ 'driver': 'usb-redir', "
                             "  'chardev': 'usbredir0', 'id': 'redir0' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");

    assert_rejected(qts, "no-storage", "denied by rule 'no-storage'");
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "rejected");
    g_assert_cmpstr(qdict_get_str(info, "verdict"), ==, "deny");
    g_assert_cmpstr(qdict_get_str(info, "rule"), ==, "no-storage");
    g_assert_cmpint(qdict_get_int(info, "vendor-id"), ==, 0x0781);
    g_assert_false(qdict_haskey(info, "port"));
    qobject_unref(resp);
    /* the remote end was told */
    while (!qatomic_read(&fake->rejected)) {
        g_usleep(10 * 1000);
    }
    finish(qts, fake);
}

static void test_read_only(void)
{
    FakeDev *fake;
    QTestState *qts;
    QDict *resp, *info, *i0, *bot;
    int fd;

    fake = fake_new(FAKE_STORAGE, FAKE_BEHAVE, &fd);
    qts = qtest_initf("-machine pc -device qemu-xhci,id=xhci "
                      "-chardev socket,id=usbredir0,fd=%d -S", fd);
    close(fd);
    set_policy_ok(qts, "[ { 'id': 'sticks', 'action': 'read-only', "
                  "    'iface-class': 8, 'serial': 'STORAGE-*' } ]", "deny");
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments': "
                             "{ 'driver': 'usb-redir', "
                             "  'chardev': 'usbredir0', 'id': 'redir0' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");

    qobject_unref(wait_attached(qts, "read-only", "sticks"));
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "verdict"), ==, "read-only");
    g_assert_cmpstr(qdict_get_str(info, "speed"), ==, "high");
    i0 = iface_of(info, 0);
    g_assert_cmpstr(qdict_get_str(i0, "decision"), ==, "read-only");
    g_assert_cmpint(qdict_get_int(i0, "iface-protocol"), ==, 0x50);
    bot = qdict_get_qdict(i0, "bot-filter");
    g_assert(bot);
    g_assert_cmpint(qdict_get_int(bot, "commands"), ==, 0);
    g_assert_cmpint(qdict_get_int(bot, "blocked"), ==, 0);
    qobject_unref(resp);
    finish(qts, fake);
}

static void test_printer_by_vendor(void)
{
    FakeDev *fake;
    QTestState *qts;
    int fd;

    fake = fake_new(FAKE_PRINTER, FAKE_BEHAVE, &fd);
    qts = qtest_initf("-machine pc -device qemu-xhci,id=xhci "
                      "-chardev socket,id=usbredir0,fd=%d -S", fd);
    close(fd);
    set_policy_ok(qts, "[ { 'id': 'old-epson', 'action': 'deny', "
                  "    'vendor-id': 1208, 'product-id': 5, "
                  "    'bcd-min': 0, 'bcd-max': 512 }, "
                  "  { 'id': 'printers', 'action': 'allow', "
                  "    'iface-class': 7 } ]", "deny");
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments': "
                             "{ 'driver': 'usb-redir', "
                             "  'chardev': 'usbredir0', 'id': 'redir0' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");
    assert_rejected(qts, "old-epson", "class 07:01:02");
    finish(qts, fake);
}

static void test_composite_hide(void)
{
    FakeDev *fake;
    QTestState *qts;
    QDict *resp, *info;
    int fd;

    fake = fake_new(FAKE_COMPOSITE, FAKE_BEHAVE, &fd);
    qts = qtest_initf("-machine pc -device qemu-xhci,id=xhci "
                      "-chardev socket,id=usbredir0,fd=%d -S", fd);
    close(fd);
    set_policy_ok(qts, "[ { 'id': 'no-keyboards', 'action': 'deny', "
                  "    'hide': true, 'iface-class': 3 } ]", "allow");
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments': "
                             "{ 'driver': 'usb-redir', "
                             "  'chardev': 'usbredir0', 'id': 'redir0' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");

    /* the storage function goes through, the keyboard is hidden */
    qobject_unref(wait_attached(qts, "allow", "default"));
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(iface_of(info, 0), "decision"), ==,
                    "allowed");
    g_assert_cmpstr(qdict_get_str(iface_of(info, 1), "decision"), ==,
                    "hidden");
    g_assert_nonnull(strstr(qdict_get_str(info, "reason"),
                            "hidden by rule 'no-keyboards'"));
    qobject_unref(resp);

    /* without hide, the keyboard function denies the whole device */
    set_policy_ok(qts, "[ { 'id': 'no-keyboards', 'action': 'deny', "
                  "    'iface-class': 3 } ]", "allow");
    assert_rejected(qts, "no-keyboards", "interface 1 (class 03:01:01)");
    qobject_unref(wait_event(qts, "USB_PERIPHERAL_DETACHED"));
    wait_state(qts, "rejected");
    finish(qts, fake);
}

static void test_reevaluate(void)
{
    FakeDev *fake;
    QTestState *qts = start(FAKE_STORAGE, FAKE_BEHAVE, &fake);
    QDict *resp, *info;

    qobject_unref(wait_attached(qts, "allow", "default"));

    /* allow -> read-only: the guest sees the device plugged again */
    set_policy_ok(qts, "[ { 'id': 'ro', 'action': 'read-only', "
                  "    'iface-class': 8 } ]", "allow");
    qobject_unref(wait_event(qts, "USB_PERIPHERAL_DETACHED"));
    qtest_clock_step(qts, 1000 * 1000 * 1000);
    qobject_unref(wait_attached(qts, "read-only", "ro"));
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "attached");
    g_assert_cmpstr(qdict_get_str(iface_of(info, 0), "decision"), ==,
                    "read-only");
    qobject_unref(resp);

    /* same verdict, another rule: nothing happens but the rule name */
    set_policy_ok(qts, "[ { 'id': 'ro2', 'action': 'read-only', "
                  "    'vendor-id': 1921 } ]", "allow");
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "attached");
    g_assert_cmpstr(qdict_get_str(info, "rule"), ==, "ro2");
    qobject_unref(resp);

    /* now denied: rejected and detached */
    set_policy_ok(qts, "[]", "deny");
    assert_rejected(qts, "default", "denied by the default policy");
    qobject_unref(wait_event(qts, "USB_PERIPHERAL_DETACHED"));
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "rejected");
    g_assert_cmpstr(qdict_get_str(info, "verdict"), ==, "deny");
    g_assert_false(qdict_haskey(info, "port"));
    qobject_unref(resp);
    while (!qatomic_read(&fake->rejected)) {
        g_usleep(10 * 1000);
    }
    finish(qts, fake);
}

static void test_set_errors(void)
{
    QTestState *qts = qtest_init("-machine none");
    QDict *resp, *ret;
    QList *rules;
    char *err;

    set_policy_ok(qts, "[ { 'id': 'keep', 'action': 'allow', "
                  "    'iface-class': 3, 'bcd-min': 256, 'bcd-max': 512 } ]",
                  "deny");

    err = set_policy(qts, "[ { 'id': 'r', 'action': 'deny', "
                     "    'bcd-min': 512, 'bcd-max': 256 } ]", "allow");
    g_assert_nonnull(strstr(err, "reversed bcd range"));
    g_free(err);
    err = set_policy(qts, "[ { 'id': 'h', 'action': 'allow', "
                     "    'hide': true } ]", "allow");
    g_assert_nonnull(strstr(err, "'hide' only applies to deny rules"));
    g_free(err);
    err = set_policy(qts, "[ { 'id': 'a', 'action': 'allow' }, "
                     "  { 'id': 'a', 'action': 'deny' } ]", "allow");
    g_assert_nonnull(strstr(err, "duplicate rule id 'a'"));
    g_free(err);
    err = set_policy(qts, "[ { 'id': '', 'action': 'allow' } ]", "allow");
    g_assert_nonnull(strstr(err, "must not be empty"));
    g_free(err);
    err = set_policy(qts, "[ { 'id': 'bad id!', 'action': 'allow' } ]",
                     "allow");
    g_assert_nonnull(strstr(err, "bad character in rule id"));
    g_free(err);
    err = set_policy(qts, "[ { 'id': 's', 'action': 'allow', "
                     "    'serial': '' } ]", "allow");
    g_assert_nonnull(strstr(err, "empty serial"));
    g_free(err);

    /* out of range values are refused by the QAPI types */
    resp = qtest_qmp(qts, "{ 'execute': 'usb-policy-set', 'arguments': "
                     "{ 'rules': [ { 'id': 'c', 'action': 'allow', "
                     "  'iface-class': 256 } ], 'default': 'allow' } }");
    g_assert(qdict_haskey(resp, "error"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{ 'execute': 'usb-policy-set', 'arguments': "
                     "{ 'rules': [], 'default': 'maybe' } }");
    g_assert(qdict_haskey(resp, "error"));
    qobject_unref(resp);

    /* errors leave the policy as it was */
    resp = qtest_qmp(qts, "{ 'execute': 'query-usb-policy' }");
    ret = qdict_get_qdict(resp, "return");
    g_assert_cmpstr(qdict_get_str(ret, "default"), ==, "deny");
    rules = qdict_get_qlist(ret, "rules");
    g_assert_cmpint(qlist_size(rules), ==, 1);
    g_assert_cmpstr(qdict_get_str(qobject_to(QDict, qlist_peek(rules)),
                                  "id"), ==, "keep");
    g_assert_cmpint(qdict_get_int(qobject_to(QDict, qlist_peek(rules)),
                                  "bcd-max"), ==, 512);
    qobject_unref(resp);

    /* no usb-redir device: an empty list */
    resp = qtest_qmp(qts, "{ 'execute': 'query-usb-peripherals' }");
    g_assert_cmpint(qlist_size(qdict_get_qlist(resp, "return")), ==, 0);
    qobject_unref(resp);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (!qtest_has_device("qemu-xhci") || !qtest_has_device("usb-redir")) {
        g_test_skip("qemu-xhci or usb-redir not available");
        return g_test_run();
    }
    qtest_add_func("/usb-policy/default-allows", test_default_allows);
    qtest_add_func("/usb-policy/deny", test_deny);
    qtest_add_func("/usb-policy/read-only", test_read_only);
    qtest_add_func("/usb-policy/printer-by-vendor", test_printer_by_vendor);
    qtest_add_func("/usb-policy/composite-hide", test_composite_hide);
    qtest_add_func("/usb-policy/reevaluate", test_reevaluate);
    qtest_add_func("/usb-policy/set-errors", test_set_errors);
    return g_test_run();
}
