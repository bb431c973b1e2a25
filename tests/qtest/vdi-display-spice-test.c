/*
 * QTest for display profiles on the SPICE server
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * display-set-profile, set globally, sets the SPICE server's image
 * compression, JPEG and zlib WAN compression and video streaming;
 * query-display-spice reports them, off restores the -spice settings,
 * and DISPLAY_PROFILE_CHANGED (without a client) is emitted.  Runs with
 * SPICE only, and with VNC only (where there is no SPICE to report).
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qapi/error.h"

typedef struct Expect {
    const char *profile, *image, *jpeg, *zlib, *video;
} Expect;

static void check_settings(QDict *r, const Expect *e)
{
    g_assert_cmpstr(qdict_get_str(r, "profile"), ==, e->profile);
    g_assert_cmpstr(qdict_get_str(r, "image-compression"), ==, e->image);
    g_assert_cmpstr(qdict_get_str(r, "jpeg-wan-compression"), ==, e->jpeg);
    g_assert_cmpstr(qdict_get_str(r, "zlib-glz-wan-compression"), ==,
                    e->zlib);
    g_assert_cmpstr(qdict_get_str(r, "streaming-video"), ==, e->video);
}

/* What query-display-spice and the SPICE server's QOM object say */
static void check_spice(QTestState *qts, const Expect *e)
{
    QDict *r = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-display-spice' }");

    check_settings(r, e);
    qobject_unref(r);
    r = qtest_qmp_assert_success_ref(qts, "{ 'execute': 'qom-get', "
                                     "'arguments': { 'path': "
                                     "'/backend/spice-vdi', "
                                     "'property': 'settings' } }");
    check_settings(r, e);
    qobject_unref(r);
}

static void set_profile(QTestState *qts, const char *profile)
{
    qtest_qmp_assert_success(qts, "{ 'execute': 'display-set-profile', "
                             "'arguments': { 'profile': %s } }", profile);
}

/* The event of the SPICE server, emitted before the command returned */
static void check_event(QTestState *qts, const char *profile)
{
    QDict *ev = qtest_qmp_event_ref(qts, "DISPLAY_PROFILE_CHANGED");
    QDict *data;

    g_assert_nonnull(ev);
    data = qdict_get_qdict(ev, "data");
    g_assert_false(qdict_haskey(data, "client"));
    g_assert_cmpstr(qdict_get_str(data, "configured"), ==, profile);
    g_assert_cmpstr(qdict_get_str(data, "profile"), ==, profile);
    g_assert_cmpstr(qdict_get_str(data, "reason"), ==, "qmp");
    qobject_unref(ev);
    g_assert_null(qtest_qmp_event_ref(qts, "DISPLAY_PROFILE_CHANGED"));
}

static void assert_error(QTestState *qts, const char *cmd, const char *args,
                         const char *msg)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': %s, 'arguments': %p }", cmd,
                            qobject_from_json(args, &error_abort));
    QDict *err = qdict_get_qdict(resp, "error");

    g_assert_nonnull(err);
    g_assert_cmpstr(qdict_get_str(err, "class"), ==, "GenericError");
    if (!strstr(qdict_get_str(err, "desc"), msg)) {
        g_error("error '%s' lacks '%s'", qdict_get_str(err, "desc"), msg);
    }
    qobject_unref(resp);
}

static void test_spice_only(void)
{
    g_autofree char *dir = g_dir_make_tmp("vdi-display-spice-XXXXXX", NULL);
    g_autofree char *sock = g_strdup_printf("%s/spice.sock", dir);
    /* the -spice settings, which off restores */
    const Expect cmdline = { "off", "quic", "auto", "never", "all" };
    const Expect lan = { "lan", "auto-lz", "never", "never", "off" };
    const Expect wan = { "wan", "auto-glz", "always", "always", "filter" };
    const Expect autop = { "auto", "auto-glz", "auto", "auto", "filter" };
    QTestState *qts;

    qts = qtest_initf("-machine none -spice unix=on,addr=%s,"
                      "disable-ticketing=on,image-compression=quic,"
                      "zlib-glz-wan-compression=never,streaming-video=all",
                      sock);
    check_spice(qts, &cmdline);

    set_profile(qts, "lan");
    check_event(qts, "lan");
    check_spice(qts, &lan);
    set_profile(qts, "wan");
    check_event(qts, "wan");
    check_spice(qts, &wan);
    set_profile(qts, "auto");
    check_event(qts, "auto");
    check_spice(qts, &autop);

    /* errors change nothing and emit nothing */
    assert_error(qts, "display-set-profile",
                 "{ 'profile': 'lan', 'client': 42 }",
                 "No VNC client with id 42");
    assert_error(qts, "display-set-profile",
                 "{ 'profile': 'lan', 'max-fps': 0 }", "max-fps");
    assert_error(qts, "display-set-profile",
                 "{ 'profile': 'lan', 'max-bandwidth': 10 }",
                 "max-bandwidth");
    assert_error(qts, "display-set-profile",
                 "{ 'profile': 'fast' }", "fast");
    g_assert_null(qtest_qmp_event_ref(qts, "DISPLAY_PROFILE_CHANGED"));
    check_spice(qts, &autop);

    /* limits are for VNC: accepted, no SPICE control changes */
    qtest_qmp_assert_success(qts, "{ 'execute': 'display-set-profile', "
                             "'arguments': { 'profile': 'wan', "
                             "'max-fps': 10, 'max-bandwidth': 1000000 } }");
    check_event(qts, "wan");
    check_spice(qts, &wan);

    set_profile(qts, "off");
    check_event(qts, "off");
    check_spice(qts, &cmdline);

    qtest_quit(qts);
    unlink(sock);
    g_assert_cmpint(rmdir(dir), ==, 0);
}

static void test_vnc_only(void)
{
    QTestState *qts = qtest_init("-machine none -vnc none");
    QDict *resp;

    assert_error(qts, "query-display-spice", "{}", "SPICE is not in use");
    resp = qtest_qmp(qts, "{ 'execute': 'qom-get', 'arguments': { "
                     "'path': '/backend/spice-vdi', 'property': 'settings' } }");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(resp, "error"), "class"),
                    ==, "DeviceNotFound");
    qobject_unref(resp);
    /* the command works for VNC, without an event for SPICE */
    set_profile(qts, "wan");
    g_assert_null(qtest_qmp_event_ref(qts, "DISPLAY_PROFILE_CHANGED"));
    assert_error(qts, "display-set-profile",
                 "{ 'profile': 'lan', 'client': 7 }",
                 "No VNC client with id 7");
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/vdi-display/spice/spice-only", test_spice_only);
    qtest_add_func("/vdi-display/spice/vnc-only", test_vnc_only);
    return g_test_run();
}
