/*
 * QTest for the VDI display encoder in the VNC server
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Puts known pixels into the framebuffer of a std VGA and reads them back
 * with a gvnc client: bit-exact in the lan profile; in wan, text-like
 * areas exact, photo-like areas above 30 dB PSNR, then refined to
 * lossless.
 */

#include "qemu/osdep.h"
#include "vdi-display-test.h"

static void run_image(bool wan)
{
    Test t = { .wan = wan };
    QDict *c;
    QDict *tiles;

    t.expect = make_image();
    t.t0 = g_get_monotonic_time();
    t.qts = qtest_init("-machine pc -nodefaults -vga std -vnc none");
    /*
     * The display is refreshed only while a client is connected: its
     * first update already has the mode and the pixels set here.
     */
    vga_setup(t.qts, t.expect);
    set_profile_ok(t.qts, wan ? "{ 'profile': 'wan' }" :
                   "{ 'profile': 'lan' }");
    test_connect(&t);
    g_main_loop_run(t.loop);
    g_assert_cmpint(t.phase, ==, PHASE_DONE);

    c = query_client(t.qts);
    g_assert_cmpstr(qdict_get_str(c, "profile"), ==, wan ? "wan" : "lan");
    g_assert_cmpint(qdict_get_int(c, "frames-sent"), >, 0);
    g_assert_cmpint(qdict_get_int(c, "bytes-sent"), >, 0);
    tiles = qdict_get_qdict(c, "tiles");
    if (wan) {
        g_assert_true(t.photo_lossy);
        g_assert_cmpint(qdict_get_int(tiles, "jpeg"), >, 0);
    } else {
        g_assert_cmpint(qdict_get_int(tiles, "jpeg"), ==, 0);
    }
    g_test_message("%s: first full frame %.1f ms after connect, photo PSNR "
                   "%.1f dB, exact after %.1f ms; %" PRId64 " bytes, %"
                   PRId64 " updates, encode mean %.0f us, p95 %.0f us",
                   wan ? "wan" : "lan", (t.t_first - t.t0) / 1000.0,
                   t.psnr, (t.t_exact - t.t0) / 1000.0,
                   qdict_get_int(c, "bytes-sent"),
                   qdict_get_int(c, "frames-sent"),
                   qdict_get_double(c, "encode-time-mean"),
                   qdict_get_double(c, "encode-time-p95"));
    qobject_unref(c);

    if (wan) {
        /*
         * Back to the stock encoders on the same connection: they must
         * reset the client's Tight zlib streams and resend everything.
         */
        uint32_t row[W];

        set_profile_ok(t.qts, "{ 'profile': 'off' }");
        for (int x = 0; x < W; x++) {
            row[x] = t.expect[100 * W + x] = 0x00ff00 ^ (x & 0xff);
        }
        qtest_memwrite(t.qts, LFB + 100 * W * 4, row, sizeof(row));
        /* updates sent before the change may still be on their way */
        t.phase = PHASE_REFINE;
        g_main_loop_run(t.loop);
        c = query_client(t.qts);
        g_assert_cmpstr(qdict_get_str(c, "profile"), ==, "off");
        qobject_unref(c);
    }
    test_cleanup(&t);
}

static void test_lan(void)
{
    run_image(false);
}

static void test_wan(void)
{
    run_image(true);
}

int main(int argc, char **argv)
{
    if (getenv("GTK_VNC_DEBUG")) {
        vnc_util_set_debug(true);
    }
    g_test_init(&argc, &argv, NULL);

    if (qtest_has_machine("pc") && qtest_has_device("VGA")) {
        qtest_add_func("/vdi-display/lan", test_lan);
        qtest_add_func("/vdi-display/wan", test_wan);
    }
    return g_test_run();
}
