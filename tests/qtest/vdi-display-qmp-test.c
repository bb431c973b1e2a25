/*
 * QTest for the QMP side of the VDI display encoder
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * display-set-profile and query-display-clients on a gvnc client, their
 * errors and DISPLAY_PROFILE_CHANGED, and the defaults for new clients as
 * a vdi-display-profile object.
 */

#include "qemu/osdep.h"
#include "vdi-qmp-util.h"
#include "vdi-display-test.h"

static void assert_error(QTestState *qts, const char *args, const char *msg)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'display-set-profile', "
                            "'arguments': %p }",
                            qobject_from_json(args, &error_abort));
    QDict *err = qdict_get_qdict(resp, "error");

    g_assert(err);
    g_assert_cmpstr(qdict_get_str(err, "class"), ==, "GenericError");
    if (!strstr(qdict_get_str(err, "desc"), msg)) {
        g_error("error '%s' lacks '%s'", qdict_get_str(err, "desc"), msg);
    }
    qobject_unref(resp);
}

static void test_qmp(void)
{
    Test t = { 0 };
    QDict *c, *ev, *data;
    int64_t id;
    g_autofree char *args = NULL;

    t.expect = g_new0(uint32_t, 1);
    t.phase = PHASE_DONE;       /* no image checks */
    t.qts = qtest_init("-machine none -vnc none");
    test_connect(&t);
    /* an update proves that QEMU has the client's encodings */
    while (!t.c.updates) {
        g_main_context_iteration(NULL, true);
    }

    /* default: stock encoders */
    c = query_client(t.qts);
    id = qdict_get_int(c, "id");
    g_assert_cmpint(id, >, 0);
    g_assert_cmpstr(qdict_get_str(c, "configured"), ==, "off");
    g_assert_cmpstr(qdict_get_str(c, "profile"), ==, "off");
    g_assert_false(qdict_get_bool(c, "auto"));
    g_assert_cmpint(qdict_get_int(c, "max-fps"), ==, 30);
    qobject_unref(c);

    assert_error(t.qts, "{ 'profile': 'lan', 'client': 9999 }",
                 "No VNC client with id 9999");
    assert_error(t.qts, "{ 'profile': 'lan', 'max-fps': 0 }", "max-fps");
    assert_error(t.qts, "{ 'profile': 'lan', 'jpeg-quality-min': 0 }",
                 "jpeg-quality-min");
    assert_error(t.qts, "{ 'profile': 'lan', 'jpeg-quality-max': 101 }",
                 "jpeg-quality-max");
    assert_error(t.qts, "{ 'profile': 'lan', 'jpeg-quality-min': 80, "
                 "'jpeg-quality-max': 50 }", "above");
    assert_error(t.qts, "{ 'profile': 'lan', 'jpeg-quality-min': 95 }",
                 "above");
    assert_error(t.qts, "{ 'profile': 'lan', 'max-bandwidth': 100 }",
                 "max-bandwidth");
    /* a failed command changes nothing */
    c = query_client(t.qts);
    g_assert_cmpstr(qdict_get_str(c, "configured"), ==, "off");
    g_assert_cmpint(qdict_get_int(c, "jpeg-quality-min"), ==, 20);
    qobject_unref(c);

    /* one client */
    args = g_strdup_printf("{ 'profile': 'wan', 'client': %" PRId64 ", "
                           "'max-fps': 12, 'max-bandwidth': 2000000, "
                           "'jpeg-quality-min': 30, "
                           "'jpeg-quality-max': 70 }", id);
    set_profile_ok(t.qts, args);
    ev = qtest_qmp_eventwait_ref(t.qts, "DISPLAY_PROFILE_CHANGED");
    data = qdict_get_qdict(ev, "data");
    g_assert_cmpint(qdict_get_int(data, "client"), ==, id);
    g_assert_cmpstr(qdict_get_str(data, "configured"), ==, "wan");
    g_assert_cmpstr(qdict_get_str(data, "profile"), ==, "wan");
    g_assert_cmpstr(qdict_get_str(data, "reason"), ==, "qmp");
    qobject_unref(ev);

    c = query_client(t.qts);
    g_assert_cmpstr(qdict_get_str(c, "profile"), ==, "wan");
    g_assert_cmpint(qdict_get_int(c, "max-fps"), ==, 12);
    g_assert_cmpint(qdict_get_int(c, "max-bandwidth"), ==, 2000000);
    g_assert_cmpint(qdict_get_int(c, "jpeg-quality-min"), ==, 30);
    g_assert_cmpint(qdict_get_int(c, "jpeg-quality-max"), ==, 70);
    g_assert_cmpint(qdict_get_int(c, "bandwidth"), <=, 2000000);
    qobject_unref(c);

    /* globally: applied to the client too, with auto */
    set_profile_ok(t.qts, "{ 'profile': 'auto' }");
    ev = qtest_qmp_eventwait_ref(t.qts, "DISPLAY_PROFILE_CHANGED");
    data = qdict_get_qdict(ev, "data");
    g_assert_cmpint(qdict_get_int(data, "client"), ==, id);
    g_assert_cmpstr(qdict_get_str(data, "configured"), ==, "auto");
    g_assert_cmpstr(qdict_get_str(data, "reason"), ==, "qmp");
    qobject_unref(ev);
    c = query_client(t.qts);
    g_assert_cmpstr(qdict_get_str(c, "configured"), ==, "auto");
    g_assert_true(qdict_get_bool(c, "auto"));
    /* limits not given are kept */
    g_assert_cmpint(qdict_get_int(c, "max-fps"), ==, 12);
    qobject_unref(c);

    /* the connection still works with the encoder: updates arrive */
    for (;;) {
        int64_t frames;

        t.c.updates = 0;
        vnc_connection_framebuffer_update_request(t.c.conn, false, 0, 0,
                                                  t.c.fbw, t.c.fbh);
        while (!t.c.updates) {
            g_main_context_iteration(NULL, true);
        }
        g_assert_false(vnc_connection_has_error(t.c.conn));
        c = query_client(t.qts);
        frames = qdict_get_int(c, "frames-sent");
        qobject_unref(c);
        if (frames > 0) {
            break;
        }
    }

    set_profile_ok(t.qts, "{ 'profile': 'off' }");
    test_cleanup(&t);
}

/*
 * The defaults for new clients are a vdi-display-profile object: made on
 * the command line, read and set with qom-get/qom-set (set, they apply
 * to the clients there are, as display-set-profile does), one per VM,
 * and made by display-set-profile when the VM has none.
 */
static void test_profile_object(void)
{
    Test t = { 0 };
    QDict *c, *resp;
    QObject *o;

    t.expect = g_new0(uint32_t, 1);
    t.phase = PHASE_DONE;       /* no image checks */
    t.qts = qtest_init("-machine none -vnc none -object vdi-display-profile,"
                       "id=dp,profile=wan,max-fps=12,jpeg-quality-max=70");
    o = vdi_qom_get(t.qts, "/objects/dp", "profile");
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, o)), ==, "wan");
    qobject_unref(o);
    g_assert_cmpint(vdi_qom_get_int(t.qts, "/objects/dp", "max-fps"), ==, 12);

    /* a new client starts with them */
    test_connect(&t);
    while (!t.c.updates) {
        g_main_context_iteration(NULL, true);
    }
    c = query_client(t.qts);
    g_assert_cmpstr(qdict_get_str(c, "configured"), ==, "wan");
    g_assert_cmpint(qdict_get_int(c, "max-fps"), ==, 12);
    g_assert_cmpint(qdict_get_int(c, "jpeg-quality-max"), ==, 70);
    qobject_unref(c);

    /* qom-set applies to it too; a bad value changes nothing */
    qtest_qmp_assert_success(t.qts, "{ 'execute': 'qom-set', 'arguments': {"
                             "  'path': '/objects/dp', 'property': 'max-fps',"
                             "  'value': 20 } }");
    c = query_client(t.qts);
    g_assert_cmpint(qdict_get_int(c, "max-fps"), ==, 20);
    qobject_unref(c);
    resp = qtest_qmp(t.qts, "{ 'execute': 'qom-set', 'arguments': {"
                     "  'path': '/objects/dp',"
                     "  'property': 'jpeg-quality-min', 'value': 80 } }");
    g_assert(strstr(qdict_get_str(qdict_get_qdict(resp, "error"), "desc"),
                    "above"));
    qobject_unref(resp);
    g_assert_cmpint(vdi_qom_get_int(t.qts, "/objects/dp", "jpeg-quality-min"),
                    ==, 20);

    /* one per VM */
    resp = qtest_qmp(t.qts, "{ 'execute': 'object-add', 'arguments': {"
                     "  'qom-type': 'vdi-display-profile', 'id': 'dp2' } }");
    g_assert(strstr(qdict_get_str(qdict_get_qdict(resp, "error"), "desc"),
                    "already has a display profile, 'dp'"));
    qobject_unref(resp);

    /* without it, display-set-profile makes one from the built-in values */
    qtest_qmp_assert_success(t.qts, "{ 'execute': 'object-del',"
                             "  'arguments': { 'id': 'dp' } }");
    set_profile_ok(t.qts, "{ 'profile': 'lan' }");
    o = vdi_qom_get(t.qts, "/objects/display-profile", "profile");
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, o)), ==, "lan");
    qobject_unref(o);
    g_assert_cmpint(vdi_qom_get_int(t.qts, "/objects/display-profile",
                                    "max-fps"), ==, 30);
    test_cleanup(&t);
}

int main(int argc, char **argv)
{
    if (getenv("GTK_VNC_DEBUG")) {
        vnc_util_set_debug(true);
    }
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/vdi-display/qmp", test_qmp);
    qtest_add_func("/vdi-display/profile-object", test_profile_object);
    return g_test_run();
}
