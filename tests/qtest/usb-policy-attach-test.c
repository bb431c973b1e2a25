/*
 * QTest for usb-peripheral-attach and usb-peripheral-detach
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A terminal, a fake usbredir peer (usb-policy-util.h) listening on TCP or
 * a Unix socket, attached over QMP: evaluated under the VM's policy or its
 * own, detached, the peer going away, and every argument QMP refuses
 * leaving nothing behind.
 */

#include "qemu/osdep.h"
#include "usb-policy-util.h"

/* usb-peripheral-attach and usb-peripheral-detach */

/* usb-peripheral-attach; returns the response (caller unrefs) */
static QDict *attach(QTestState *qts, const char *id, const char *addr,
                     const char *extra)
{
    g_autofree char *json =
        g_strdup_printf("{ 'id': '%s', 'addr': %s %s }", id, addr,
                        extra ? extra : "");
    QObject *args = qobject_from_json(json, &error_abort);

    return qtest_qmp(qts, "{ 'execute': 'usb-peripheral-attach', "
                     "  'arguments': %p }", args);
}

/* usb-peripheral-attach that must fail; returns the error description */
static char *attach_err(QTestState *qts, const char *id, const char *addr,
                        const char *extra)
{
    QDict *resp = attach(qts, id, addr, extra);
    QDict *e = qdict_get_qdict(resp, "error");
    char *err;

    g_assert(e);
    err = g_strdup(qdict_get_str(e, "desc"));
    qobject_unref(resp);
    return err;
}

static void detach_ok(QTestState *qts, const char *id)
{
    qtest_qmp_assert_success(qts, "{ 'execute': 'usb-peripheral-detach', "
                             "  'arguments': { 'id': %s } }", id);
}

static char *detach_err(QTestState *qts, const char *id)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'usb-peripheral-detach', "
                            "  'arguments': { 'id': %s } }", id);
    QDict *e = qdict_get_qdict(resp, "error");
    char *err;

    g_assert(e);
    err = g_strdup(qdict_get_str(e, "desc"));
    qobject_unref(resp);
    return err;
}


static char *peripheral_state_of(QTestState *qts, const char *id)
{
    QDict *resp, *info = find_peripheral(qts, id, &resp);
    char *state = info ? g_strdup(qdict_get_str(info, "state")) : NULL;

    qobject_unref(resp);
    return state;
}

static void wait_state_of(QTestState *qts, const char *id, const char *state)
{
    int i;

    for (i = 0; i < 500; i++) {
        g_autofree char *s = peripheral_state_of(qts, id);

        if (s && !strcmp(s, state)) {
            return;
        }
        g_usleep(10 * 1000);
    }
    g_assert_not_reached();
}

static bool has_chardev(QTestState *qts, const char *label)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-chardev' }");
    QListEntry *e;
    bool found = false;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(resp, "return"), e) {
        QDict *c = qobject_to(QDict, qlist_entry_obj(e));

        found |= !strcmp(qdict_get_str(c, "label"), label);
    }
    qobject_unref(resp);
    return found;
}

static bool has_device(QTestState *qts, const char *id)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'qom-list', "
                            "  'arguments': { 'path': %s } }", path);
    bool found = qdict_haskey(resp, "return");

    qobject_unref(resp);
    return found;
}

static void test_attach_tcp(void)
{
    QTestState *qts = qtest_init("-machine pc -device qemu-xhci,id=xhci");
    g_autofree char *addr = NULL;
    g_autofree char *terminal = NULL;
    FakeDev *fake = fake_new_listen(FAKE_KEYBOARD, false, &addr);
    QDict *resp, *ret, *info;

    resp = attach(qts, "kbd", addr, NULL);
    ret = qdict_get_qdict(resp, "return");
    g_assert(ret);
    g_assert_cmpstr(qdict_get_str(ret, "id"), ==, "kbd");
    g_assert_cmpstr(qdict_get_str(ret, "kind"), ==, "redir");
    g_assert_cmpstr(qdict_get_str(ret, "chardev"), ==, "usb-peripheral-kbd");
    terminal = g_strdup(qdict_get_str(ret, "terminal"));
    g_assert(g_str_has_prefix(terminal, "127.0.0.1:"));
    g_assert_false(qdict_haskey(ret, "policy"));
    qobject_unref(resp);
    g_assert(has_chardev(qts, "usb-peripheral-kbd"));
    g_assert(has_device(qts, "kbd"));

    /* evaluated like any usb-redir device */
    qobject_unref(wait_attached_of(qts, "kbd", "allow", "default"));
    info = find_peripheral(qts, "kbd", &resp);
    g_assert(info);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "attached");
    g_assert_cmpstr(qdict_get_str(info, "kind"), ==, "redir");
    g_assert_cmpstr(qdict_get_str(info, "terminal"), ==, terminal);
    g_assert_cmpint(qdict_get_int(info, "vendor-id"), ==, 0x046d);
    g_assert(qdict_haskey(info, "port"));
    qobject_unref(resp);

    /* and re-evaluated when the VM's policy changes */
    set_policy_ok(qts, "[ { 'id': 'no-hid', 'action': 'deny', "
                  "    'iface-class': 3 } ]", "allow");
    qobject_unref(wait_event_of(qts, "USB_PERIPHERAL_REJECTED", "kbd"));
    qobject_unref(wait_event_of(qts, "USB_PERIPHERAL_DETACHED", "kbd"));
    wait_state_of(qts, "kbd", "rejected");

    detach_ok(qts, "kbd");
    g_assert_cmpint(n_peripherals(qts), ==, 0);
    g_assert_false(has_chardev(qts, "usb-peripheral-kbd"));
    g_assert_false(has_device(qts, "kbd"));
    /* QEMU hung up on the terminal */
    while (!qatomic_read(&fake->eof)) {
        g_usleep(10 * 1000);
    }
    qtest_quit(qts);
    fake_free(fake);
}

static void test_attach_unix_own_policy(void)
{
    QTestState *qts = qtest_init("-machine pc -device qemu-xhci,id=xhci");
    g_autofree char *addr = NULL;
    FakeDev *fake = fake_new_listen(FAKE_STORAGE, true, &addr);
    QDict *resp, *ret, *info, *pol;

    /* the VM denies everything; this terminal's stick may be read */
    set_policy_ok(qts, "[]", "deny");
    resp = attach(qts, "stick", addr,
                  ", 'bus': 'xhci.0', 'reconnect-ms': 500, "
                  "'policy': { 'rules': [ { 'id': 'mine', "
                  "  'action': 'read-only', 'iface-class': 8 } ], "
                  "  'default': 'deny' }");
    ret = qdict_get_qdict(resp, "return");
    g_assert(ret);
    g_assert_cmpstr(qdict_get_str(ret, "terminal"), ==, fake->unix_path);
    pol = qdict_get_qdict(ret, "policy");
    g_assert(pol);
    g_assert_cmpstr(qdict_get_str(pol, "default"), ==, "deny");
    qobject_unref(resp);

    qobject_unref(wait_attached_of(qts, "stick", "read-only", "mine"));
    info = find_peripheral(qts, "stick", &resp);
    g_assert_cmpstr(qdict_get_str(iface_of(info, 0), "decision"), ==,
                    "read-only");
    g_assert(qdict_haskey(qdict_get_qdict(info, "policy"), "rules"));
    qobject_unref(resp);

    /* the VM's policy does not apply to it: the verdict stays */
    set_policy_ok(qts, "[]", "allow");
    info = find_peripheral(qts, "stick", &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "attached");
    g_assert_cmpstr(qdict_get_str(info, "verdict"), ==, "read-only");
    g_assert_cmpstr(qdict_get_str(info, "rule"), ==, "mine");
    qobject_unref(resp);

    /* detaching an attached device reports it */
    detach_ok(qts, "stick");
    qobject_unref(wait_event_of(qts, "USB_PERIPHERAL_DETACHED", "stick"));
    g_assert_cmpint(n_peripherals(qts), ==, 0);
    g_assert_false(has_chardev(qts, "usb-peripheral-stick"));
    g_assert_false(has_device(qts, "stick"));
    qtest_quit(qts);
    fake_free(fake);
}

static void test_attach_errors(void)
{
    QTestState *qts;
    g_autofree char *addr = NULL;
    g_autofree char *closed = NULL;
    FakeDev *fake = fake_new_listen(FAKE_KEYBOARD, false, &addr);
    struct sockaddr_in in = {
        .sin_family = AF_INET,
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    socklen_t len = sizeof(in);
    int fd, sv[2];
    char *err;

    /* a port that is bound but not listening refuses connections */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&in, sizeof(in)), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&in, &len), ==, 0);
    closed = g_strdup_printf("{ 'type': 'inet', 'host': '127.0.0.1', "
                             "  'port': '%d' }", ntohs(in.sin_port));

    /* a plain usb-redir device, not attached with usb-peripheral-attach */
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    qts = qtest_initf("-machine pc -device qemu-xhci,id=xhci "
                      "-chardev socket,id=plain0,fd=%d "
                      "-device usb-redir,chardev=plain0,id=plain", sv[1]);
    close(sv[1]);

    err = attach_err(qts, "9lives", addr, NULL);
    g_assert_nonnull(strstr(err, "'9lives' is not a valid device id"));
    g_free(err);
    err = attach_err(qts, "xhci", addr, NULL);
    g_assert_nonnull(strstr(err, "a device with id 'xhci' already exists"));
    g_free(err);
    err = attach_err(qts, "t1", closed, NULL);
    g_assert_nonnull(strstr(err, "cannot reach the terminal at 127.0.0.1:"));
    g_free(err);
    err = attach_err(qts, "t1", "{ 'type': 'inet', 'host': '127.0.0.1', "
                     "  'port': 'printer' }", NULL);
    g_assert_nonnull(strstr(err, "'printer' is not a TCP port number"));
    g_free(err);
    err = attach_err(qts, "t1", "{ 'type': 'inet', 'host': '127.0.0.1', "
                     "  'port': '0' }", NULL);
    g_assert_nonnull(strstr(err, "'0' is not a TCP port number"));
    g_free(err);
    err = attach_err(qts, "t1", "{ 'type': 'inet', 'host': '', "
                     "  'port': '4000' }", NULL);
    g_assert_nonnull(strstr(err, "has no host"));
    g_free(err);
    err = attach_err(qts, "t1", "{ 'type': 'unix', 'path': '' }", NULL);
    g_assert_nonnull(strstr(err, "socket path is empty"));
    g_free(err);
    err = attach_err(qts, "t1", "{ 'type': 'fd', 'str': '3' }", NULL);
    g_assert_nonnull(strstr(err, "must be of type 'inet' or 'unix'"));
    g_free(err);
    err = attach_err(qts, "t1", addr, ", 'bus': 'nowhere.0'");
    g_assert_nonnull(strstr(err, "the VM has no USB bus 'nowhere.0'"));
    g_free(err);
    err = attach_err(qts, "t1", addr, ", 'policy': { 'rules': [ "
                     "{ 'id': 'x', 'action': 'allow', 'hide': true } ], "
                     "'default': 'allow' }");
    g_assert_nonnull(strstr(err, "'hide' only applies to deny rules"));
    g_free(err);

    /* nothing was left behind by the failures */
    g_assert_cmpint(n_peripherals(qts), ==, 1);
    g_assert_false(has_chardev(qts, "usb-peripheral-t1"));
    g_assert_false(has_device(qts, "t1"));

    /* no attempt connected to the terminal: this one works */
    qobject_unref(attach(qts, "t1", addr, NULL));
    qobject_unref(wait_attached_of(qts, "t1", "allow", "default"));
    err = attach_err(qts, "t1", addr, NULL);
    g_assert_nonnull(strstr(err, "a device with id 't1' already exists"));
    g_free(err);
    g_assert_cmpint(n_peripherals(qts), ==, 2);

    err = detach_err(qts, "nosuch");
    g_assert_nonnull(strstr(err, "no USB peripheral 'nosuch'"));
    g_free(err);
    err = detach_err(qts, "plain");
    g_assert_nonnull(strstr(err, "was not attached with "
                            "usb-peripheral-attach"));
    g_free(err);
    g_assert(has_device(qts, "plain"));
    detach_ok(qts, "t1");
    err = detach_err(qts, "t1");
    g_assert_nonnull(strstr(err, "no USB peripheral 't1'"));
    g_free(err);
    qtest_quit(qts);

    /* a VM without a USB controller */
    qts = qtest_init("-machine pc");
    err = attach_err(qts, "t2", addr, NULL);
    g_assert_nonnull(strstr(err, "the VM has no USB bus"));
    g_free(err);
    g_assert_false(has_chardev(qts, "usb-peripheral-t2"));
    qtest_quit(qts);

    close(fd);
    close(sv[0]);
    fake_free(fake);
}

static void test_attach_peer_gone(void)
{
    QTestState *qts = qtest_init("-machine pc -device qemu-xhci,id=xhci");
    g_autofree char *addr = NULL;
    FakeDev *fake = fake_new_listen(FAKE_PRINTER, false, &addr);

    qobject_unref(attach(qts, "prn", addr, NULL));
    qobject_unref(wait_attached_of(qts, "prn", "allow", "default"));

    /* the terminal goes away: the device is detached, QEMU runs on */
    qatomic_set(&fake->hangup, 1);
    qobject_unref(wait_event_of(qts, "USB_PERIPHERAL_DETACHED", "prn"));
    wait_state_of(qts, "prn", "disconnected");
    qtest_qmp_assert_success(qts, "{ 'execute': 'query-status' }");

    detach_ok(qts, "prn");
    g_assert_cmpint(n_peripherals(qts), ==, 0);
    g_assert_false(has_chardev(qts, "usb-peripheral-prn"));
    g_assert_false(has_device(qts, "prn"));
    qtest_quit(qts);
    fake_free(fake);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (!qtest_has_device("qemu-xhci") || !qtest_has_device("usb-redir")) {
        g_test_skip("qemu-xhci or usb-redir not available");
        return g_test_run();
    }
    qtest_add_func("/usb-policy/attach/tcp", test_attach_tcp);
    qtest_add_func("/usb-policy/attach/unix-own-policy",
                   test_attach_unix_own_policy);
    qtest_add_func("/usb-policy/attach/errors", test_attach_errors);
    qtest_add_func("/usb-policy/attach/peer-gone", test_attach_peer_gone);
    return g_test_run();
}
