/*
 * QTest for the VDI USB policy as a vdi-usb-policy QOM object
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The policy given with -object and object-add: read with qom-get, set
 * with qom-set like usb-policy-set, one per VM, not deleted while it
 * decides for a connected device (a fake usbredir peer,
 * usb-policy-util.h).
 */

#include "qemu/osdep.h"
#include "vdi-qmp-util.h"
#include "usb-policy-util.h"

/* The policy as a QOM object */

/* Does /objects have a child named id, of type vdi-usb-policy? */
static bool has_policy_object(QTestState *qts, const char *id)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'qom-list', 'arguments': "
                            "{ 'path': '/objects' } }");
    QListEntry *e;
    bool found = false;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(resp, "return"), e) {
        QDict *p = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(p, "name"), id)) {
            g_assert_cmpstr(qdict_get_str(p, "type"), ==,
                            "child<vdi-usb-policy>");
            found = true;
        }
    }
    qobject_unref(resp);
    return found;
}

static char *qmp_error(QTestState *qts, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

/* The error description of a command that must fail */
static char *qmp_error(QTestState *qts, const char *fmt, ...)
{
    va_list ap;
    QDict *resp;
    char *desc;

    va_start(ap, fmt);
    resp = qtest_vqmp(qts, fmt, ap);
    va_end(ap);
    g_assert(qdict_haskey(resp, "error"));
    desc = g_strdup(qdict_get_str(qdict_get_qdict(resp, "error"), "desc"));
    qobject_unref(resp);
    return desc;
}

static void test_object_cmdline(void)
{
    FakeDev *fake;
    QTestState *qts;
    QObject *o;
    QDict *resp, *ret;
    QList *l;
    char *err;
    int fd;

    fake = fake_new(FAKE_KEYBOARD, FAKE_BEHAVE, &fd);
    qts = qtest_initf("-machine pc -device qemu-xhci,id=xhci "
                      "-object '{\"qom-type\": \"vdi-usb-policy\", "
                      "\"id\": \"pol\", \"default\": \"deny\", "
                      "\"rules\": [ { \"id\": \"hid\", "
                      "\"action\": \"allow\", \"iface-class\": 3 } ]}' "
                      "-chardev socket,id=usbredir0,fd=%d "
                      "-device usb-redir,chardev=usbredir0,id=redir0 -S", fd);
    close(fd);
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");
    qobject_unref(wait_attached(qts, "allow", "hid"));

    /* listed and read like any object, and the queries agree */
    g_assert_true(has_policy_object(qts, "pol"));
    o = vdi_qom_get(qts, "/objects/pol", "default");
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, o)), ==, "deny");
    qobject_unref(o);
    o = vdi_qom_get(qts, "/objects/pol", "rules");
    l = qobject_to(QList, o);
    g_assert_cmpint(qlist_size(l), ==, 1);
    g_assert_cmpstr(qdict_get_str(qobject_to(QDict, qlist_peek(l)), "id"),
                    ==, "hid");
    qobject_unref(o);
    o = vdi_qom_get(qts, "/objects/pol", "devices");
    l = qobject_to(QList, o);
    g_assert_cmpint(qlist_size(l), ==, 1);
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, qlist_peek(l))), ==,
                    "redir0");
    qobject_unref(o);
    resp = qtest_qmp(qts, "{ 'execute': 'query-usb-policy', "
                     "  'arguments': { 'id': 'pol' } }");
    ret = qdict_get_qdict(resp, "return");
    g_assert_cmpstr(qdict_get_str(ret, "default"), ==, "deny");
    g_assert_cmpint(qlist_size(qdict_get_qlist(ret, "rules")), ==, 1);
    qobject_unref(resp);

    /* in use: not deleted, and the device keeps its verdict */
    err = qmp_error(qts, "{ 'execute': 'object-del', "
                    "  'arguments': { 'id': 'pol' } }");
    g_assert_nonnull(strstr(err, "in use"));
    g_free(err);
    g_assert_true(has_policy_object(qts, "pol"));
    err = peripheral_state(qts);
    g_assert_cmpstr(err, ==, "attached");
    g_free(err);

    /* one policy per VM; commands naming another one fail */
    err = qmp_error(qts, "{ 'execute': 'object-add', 'arguments': "
                    "{ 'qom-type': 'vdi-usb-policy', 'id': 'pol2', "
                    "  'default': 'allow' } }");
    g_assert_cmpstr(err, ==, "the VM already has a USB policy, 'pol'");
    g_free(err);
    g_assert_false(has_policy_object(qts, "pol2"));
    err = qmp_error(qts, "{ 'execute': 'usb-policy-set', 'arguments': "
                    "{ 'rules': [], 'default': 'deny', 'id': 'pol2' } }");
    g_assert_cmpstr(err, ==, "the VM's USB policy is 'pol', not 'pol2'");
    g_free(err);

    /* qom-set applies like usb-policy-set: the keyboard is now denied */
    qtest_qmp_assert_success(qts, "{ 'execute': 'qom-set', 'arguments': "
                             "{ 'path': '/objects/pol', "
                             "  'property': 'rules', 'value': [] } }");
    assert_rejected(qts, "default", "denied by the default policy");
    o = vdi_qom_get(qts, "/objects/pol", "devices");
    g_assert_cmpint(qlist_size(qobject_to(QList, o)), ==, 0);
    qobject_unref(o);

    /* nothing connected it decides for: deleted, everything allowed */
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-del', "
                             "  'arguments': { 'id': 'pol' } }");
    g_assert_false(has_policy_object(qts, "pol"));
    resp = qtest_qmp(qts, "{ 'execute': 'query-usb-policy' }");
    ret = qdict_get_qdict(resp, "return");
    g_assert_cmpstr(qdict_get_str(ret, "default"), ==, "allow");
    g_assert_cmpint(qlist_size(qdict_get_qlist(ret, "rules")), ==, 0);
    qobject_unref(resp);
    finish(qts, fake);
}

static void test_object_qmp(void)
{
    QTestState *qts = qtest_init("-machine none");
    QDict *resp, *ret;
    QObject *o;
    char *err;

    /* invalid rules: no object */
    err = qmp_error(qts, "{ 'execute': 'object-add', 'arguments': "
                    "{ 'qom-type': 'vdi-usb-policy', 'id': 'p1', "
                    "  'default': 'deny', 'rules': [ "
                    "  { 'id': 'a', 'action': 'allow', 'iface-class': 3 }, "
                    "  { 'id': 'a', 'action': 'allow', 'iface-class': 8 } ] } }");
    g_assert_nonnull(strstr(err, "rule 'a'"));
    g_free(err);
    g_assert_false(has_policy_object(qts, "p1"));

    /* usb-policy-set without an object creates "usb-policy" */
    set_policy_ok(qts, "[ { 'id': 'hid', 'action': 'allow', "
                  "    'iface-class': 3 } ]", "deny");
    g_assert_true(has_policy_object(qts, "usb-policy"));
    o = vdi_qom_get(qts, "/objects/usb-policy", "default");
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, o)), ==, "deny");
    qobject_unref(o);
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-del', "
                             "  'arguments': { 'id': 'usb-policy' } }");
    err = qmp_error(qts, "{ 'execute': 'query-usb-policy', "
                    "  'arguments': { 'id': 'usb-policy' } }");
    g_assert_cmpstr(err, ==, "the VM has no USB policy 'usb-policy'");
    g_free(err);

    /* object-add, then usb-policy-set naming it */
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-add', 'arguments': "
                             "{ 'qom-type': 'vdi-usb-policy', 'id': 'p1', "
                             "  'default': 'allow' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'usb-policy-set', "
                             "  'arguments': { 'rules': [], "
                             "  'default': 'read-only', 'id': 'p1' } }");
    o = vdi_qom_get(qts, "/objects/p1", "default");
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, o)), ==, "read-only");
    qobject_unref(o);
    g_assert_false(has_policy_object(qts, "usb-policy"));
    set_policy_ok(qts, "[ { 'id': 'hid', 'action': 'allow', "
                  "    'iface-class': 3 } ]", "read-only");
    qtest_qmp_assert_success(qts, "{ 'execute': 'qom-set', 'arguments': "
                             "{ 'path': '/objects/p1', "
                             "  'property': 'default', 'value': 'deny' } }");
    resp = qtest_qmp(qts, "{ 'execute': 'query-usb-policy' }");
    ret = qdict_get_qdict(resp, "return");
    g_assert_cmpstr(qdict_get_str(ret, "default"), ==, "deny");
    g_assert_cmpint(qlist_size(qdict_get_qlist(ret, "rules")), ==, 1);
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
    qtest_add_func("/usb-policy/object/cmdline", test_object_cmdline);
    qtest_add_func("/usb-policy/object/qmp", test_object_qmp);
    return g_test_run();
}
