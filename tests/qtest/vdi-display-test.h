/*
 * VDI host: what the QTests of the VNC display encoder share
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Known pixels put into the framebuffer of a std VGA (bochs VBE, 32 bpp,
 * linear framebuffer programmed from qtest), and a gvnc client that
 * reads them back and follows how exact its copy is (Test); the
 * query-display-clients and display-set-profile helpers.
 */

#ifndef TESTS_QTEST_VDI_DISPLAY_TEST_H
#define TESTS_QTEST_VDI_DISPLAY_TEST_H

#include "qemu/sockets.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qjson.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "qapi/error.h"
#include "qemu/bswap.h"
#include <math.h>
#include <gio/gio.h>
#include <gvnc.h>
#include "vdi-display-util.h"

#define TIMEOUT_MS 30000

typedef enum Phase {
    PHASE_WAIT,         /* until the client has everything once */
    PHASE_REFINE,       /* wan: until the lossy part is exact */
    PHASE_DONE,
} Phase;

typedef struct Test {
    QTestState *qts;
    VncConnection *conn;
    GMainLoop *loop;
    bool wan;
    uint32_t *expect;
    uint8_t *fb;
    int fbw, fbh;
    uint8_t *covered;   /* per pixel, of the current framebuffer */
    Phase phase;
    double psnr;
    bool photo_lossy;
    guint req_timer;
    guint timeout;
    int64_t t0, t_first, t_exact;
    int updates;
    bool disconnected;
} Test;

static inline void on_vnc_error(VncConnection *self, const char *msg)
{
    g_error("vnc-error: %s", msg);
}

static inline void on_vnc_auth_failure(VncConnection *self, const char *msg)
{
    g_error("vnc-auth-failure: %s", msg);
}

static inline void fb_set(Test *t, int w, int h)
{
    VncPixelFormat fmt = {
        .bits_per_pixel = 32, .depth = 24, .byte_order = G_LITTLE_ENDIAN,
        .true_color_flag = 1, .red_max = 255, .green_max = 255,
        .blue_max = 255, .red_shift = 16, .green_shift = 8, .blue_shift = 0,
    };
    VncBaseFramebuffer *fb;

    g_free(t->fb);
    g_free(t->covered);
    t->fbw = w;
    t->fbh = h;
    t->fb = g_malloc0(w * h * 4);
    t->covered = g_malloc0(w * h);
    fb = vnc_base_framebuffer_new(t->fb, w, h, w * 4, &fmt, &fmt);
    vnc_connection_set_framebuffer(t->conn, VNC_FRAMEBUFFER(fb));
    g_object_unref(fb);
}

static inline bool region_covered(Test *t, int x0, int x1)
{
    for (int y = 0; y < H; y++) {
        for (int x = x0; x < x1; x++) {
            if (!t->covered[y * W + x]) {
                return false;
            }
        }
    }
    return true;
}

static inline bool region_exact(Test *t, int x0, int x1)
{
    const uint32_t *px = (const uint32_t *)t->fb;

    for (int y = 0; y < H; y++) {
        for (int x = x0; x < x1; x++) {
            if ((le32_to_cpu(px[y * W + x]) & 0xffffff) !=
                t->expect[y * W + x]) {
                return false;
            }
        }
    }
    return true;
}

static inline double region_psnr(Test *t, int x0, int x1)
{
    const uint32_t *px = (const uint32_t *)t->fb;
    double se = 0;
    uint64_t n = 0;

    for (int y = 0; y < H; y++) {
        for (int x = x0; x < x1; x++) {
            uint32_t a = le32_to_cpu(px[y * W + x]), b = t->expect[y * W + x];

            for (int s = 0; s < 24; s += 8) {
                int d = (int)((a >> s) & 0xff) - (int)((b >> s) & 0xff);

                se += d * d;
                n++;
            }
        }
    }
    if (se == 0) {
        return INFINITY;
    }
    return 10 * log10(255.0 * 255.0 * n / se);
}

static inline void check_progress(Test *t)
{
    if (t->fbw != W || t->fbh != H || t->phase == PHASE_DONE) {
        return;
    }
    if (t->phase == PHASE_WAIT) {
        if (!region_covered(t, 0, W)) {
            return;
        }
        t->t_first = g_get_monotonic_time();
        /* text-like content is never sent lossily */
        g_assert_true(region_exact(t, 0, SPLIT));
        if (!t->wan) {
            g_assert_true(region_exact(t, SPLIT, W));
            t->psnr = INFINITY;
            t->t_exact = t->t_first;
            t->phase = PHASE_DONE;
            g_main_loop_quit(t->loop);
            return;
        }
        t->psnr = region_psnr(t, SPLIT, W);
        t->photo_lossy = !isinf(t->psnr);
        g_assert_cmpfloat(t->psnr, >, 30.0);
        t->phase = PHASE_REFINE;
    }
    if (t->phase == PHASE_REFINE && region_exact(t, 0, W)) {
        t->t_exact = g_get_monotonic_time();
        t->phase = PHASE_DONE;
        g_main_loop_quit(t->loop);
    }
}

static inline void on_update(VncConnection *conn, guint16 x, guint16 y,
                             guint16 w, guint16 h, Test *t)
{
    g_assert_cmpint(x + w, <=, t->fbw);
    g_assert_cmpint(y + h, <=, t->fbh);
    for (int j = y; j < y + h; j++) {
        memset(t->covered + j * t->fbw + x, 1, w);
    }
    t->updates++;
    check_progress(t);
}

static inline void on_disconnected(VncConnection *conn, Test *t)
{
    t->disconnected = true;
}

static inline void on_resize(VncConnection *conn, guint16 w, guint16 h, Test *t)
{
    fb_set(t, w, h);
    vnc_connection_framebuffer_update_request(t->conn, false, 0, 0, w, h);
}

static inline gboolean request_updates(gpointer opaque)
{
    Test *t = opaque;

    vnc_connection_framebuffer_update_request(t->conn, true, 0, 0,
                                              t->fbw, t->fbh);
    return G_SOURCE_CONTINUE;
}

static inline gboolean on_timeout(gpointer opaque)
{
    Test *t = opaque;

    g_error("timeout in phase %d (framebuffer %dx%d)", t->phase,
            t->fbw, t->fbh);
    return G_SOURCE_REMOVE;
}

static inline void on_initialized(VncConnection *conn, Test *t)
{
    VncPixelFormat fmt = {
        .bits_per_pixel = 32, .depth = 24, .byte_order = G_LITTLE_ENDIAN,
        .true_color_flag = 1, .red_max = 255, .green_max = 255,
        .blue_max = 255, .red_shift = 16, .green_shift = 8, .blue_shift = 0,
    };
    gint32 enc[] = {
        VNC_CONNECTION_ENCODING_TIGHT,
        VNC_CONNECTION_ENCODING_COPY_RECT,
        VNC_CONNECTION_ENCODING_TIGHT_JPEG9,
        VNC_CONNECTION_ENCODING_DESKTOP_RESIZE,
        VNC_CONNECTION_ENCODING_RAW,
    };

    vnc_connection_set_pixel_format(conn, &fmt);
    vnc_connection_set_encodings(conn, ARRAY_SIZE(enc), enc);
    fb_set(t, vnc_connection_get_width(conn), vnc_connection_get_height(conn));
    vnc_connection_framebuffer_update_request(conn, false, 0, 0,
                                              t->fbw, t->fbh);
    t->req_timer = g_timeout_add(20, request_updates, t);
    g_main_loop_quit(t->loop);
}

static inline void test_connect(Test *t)
{
    int pair[2];

    g_assert_cmpint(qemu_socketpair(AF_UNIX, SOCK_STREAM, 0, pair), ==, 0);
    qtest_qmp_add_client(t->qts, "vnc", pair[1]);
    close(pair[1]);

    t->conn = vnc_connection_new();
    g_signal_connect(t->conn, "vnc-error", G_CALLBACK(on_vnc_error), NULL);
    g_signal_connect(t->conn, "vnc-auth-failure",
                     G_CALLBACK(on_vnc_auth_failure), NULL);
    g_signal_connect(t->conn, "vnc-initialized", G_CALLBACK(on_initialized),
                     t);
    g_signal_connect(t->conn, "vnc-framebuffer-update",
                     G_CALLBACK(on_update), t);
    g_signal_connect(t->conn, "vnc-desktop-resize", G_CALLBACK(on_resize), t);
    g_signal_connect(t->conn, "vnc-disconnected",
                     G_CALLBACK(on_disconnected), t);
    vnc_connection_set_auth_type(t->conn, VNC_CONNECTION_AUTH_NONE);
    vnc_connection_open_fd(t->conn, pair[0]);

    t->loop = g_main_loop_new(NULL, FALSE);
    t->timeout = g_timeout_add(TIMEOUT_MS, on_timeout, t);
    g_main_loop_run(t->loop);       /* until initialized */
}

static inline void test_cleanup(Test *t)
{
    g_source_remove(t->timeout);
    if (t->req_timer) {
        g_source_remove(t->req_timer);
    }
    /* the connection must not use t->fb any more */
    vnc_connection_shutdown(t->conn);
    while (!t->disconnected) {
        g_main_context_iteration(NULL, true);
    }
    g_signal_handlers_disconnect_by_data(t->conn, t);
    qtest_quit(t->qts);
    g_object_unref(t->conn);
    g_main_loop_unref(t->loop);
    g_free(t->fb);
    g_free(t->covered);
    g_free(t->expect);
}

/* The only client's entry of query-display-clients */
static inline QDict *query_client(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-display-clients' }");
    QList *list = qdict_get_qlist(resp, "return");
    QDict *c;

    g_assert(list);
    g_assert_cmpint(qlist_size(list), ==, 1);
    c = qobject_to(QDict, qlist_peek(list));
    qobject_ref(c);
    qobject_unref(resp);
    return c;
}

static inline void set_profile_ok(QTestState *qts, const char *args)
{
    qobject_unref(qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'display-set-profile', 'arguments': %p }",
        qobject_from_json(args, &error_abort)));
}

#endif
