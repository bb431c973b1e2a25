/*
 * QTest for the VDI display encoder in the VNC server
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Puts known pixels into the framebuffer of a std VGA (bochs VBE, 32 bpp,
 * linear framebuffer programmed from qtest) and reads them back with a
 * gvnc client: bit-exact in the lan profile; in wan, text-like areas
 * exact, photo-like areas above 30 dB PSNR, then refined to lossless.
 * Also checks the QMP commands, their errors and DISPLAY_PROFILE_CHANGED.
 */

#include "qemu/osdep.h"
#include "qemu/sockets.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qjson.h"
#include "qapi/error.h"
#include "qemu/bswap.h"
#include <math.h>
#include <gio/gio.h>
#include <gvnc.h>

#define W 640
#define H 480
/* columns [0, SPLIT) are text-like, [SPLIT, W) photo-like */
#define SPLIT 320
#define LFB 0xe0000000ULL
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

static void on_vnc_error(VncConnection *self, const char *msg)
{
    g_error("vnc-error: %s", msg);
}

static void on_vnc_auth_failure(VncConnection *self, const char *msg)
{
    g_error("vnc-auth-failure: %s", msg);
}

/* Text-like: few colours, sharp glyph-ish strokes on a flat background */
static uint32_t text_pixel(int x, int y)
{
    int cx = x / 8, cy = y / 14;
    uint32_t h = (cx * 2654435761u) ^ (cy * 40503u);
    int gx = x % 8, gy = y % 14;

    if (cy % 3 == 2 || gy >= 12 || gx == 7) {
        return 0xffffff;
    }
    h = h * 2246822519u + gx * 3266489917u + (gy / 2) * 668265263u;
    if ((h >> 13) & 1) {
        return (cx / 10) % 2 ? 0x1030a0 : 0x101010;
    }
    return 0xffffff;
}

/* Photo-like: smooth colour fields with a little grain */
static uint32_t photo_pixel(int x, int y)
{
    double r = 128 + 90 * sin(x / 23.0) * cos(y / 31.0);
    double g = 120 + 80 * sin((x + y) / 41.0);
    double b = 110 + 70 * cos(x / 57.0 - y / 19.0);
    uint32_t n = (x * 73856093u) ^ (y * 19349663u);
    int d = (int)(n % 7) - 3;

    return ((uint32_t)(r + d) << 16) | ((uint32_t)(g + d) << 8) |
        (uint32_t)(b + d);
}

static uint32_t *make_image(void)
{
    uint32_t *img = g_new(uint32_t, W * H);

    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            img[y * W + x] = x < SPLIT ? text_pixel(x, y) : photo_pixel(x, y);
        }
    }
    return img;
}

static uint32_t pci_cfg_read(QTestState *qts, int dev, int reg)
{
    qtest_outl(qts, 0xcf8, 0x80000000u | dev << 11 | reg);
    return qtest_inl(qts, 0xcfc);
}

static void pci_cfg_write(QTestState *qts, int dev, int reg, uint32_t v)
{
    qtest_outl(qts, 0xcf8, 0x80000000u | dev << 11 | reg);
    qtest_outl(qts, 0xcfc, v);
}

static void vbe_write(QTestState *qts, uint16_t index, uint16_t val)
{
    qtest_outw(qts, 0x1ce, index);
    qtest_outw(qts, 0x1cf, val);
}

/* Std VGA at W x H x 32 with its LFB at LFB, showing @img */
static void vga_setup(QTestState *qts, const uint32_t *img)
{
    int dev;

    for (dev = 0; dev < 32; dev++) {
        if (pci_cfg_read(qts, dev, 0) == 0x11111234) {
            break;
        }
    }
    g_assert_cmpint(dev, <, 32);
    pci_cfg_write(qts, dev, 0x10, LFB);
    pci_cfg_write(qts, dev, 0x04, pci_cfg_read(qts, dev, 0x04) | 0x3);

    vbe_write(qts, 4, 0);           /* VBE_DISPI_INDEX_ENABLE: off */
    vbe_write(qts, 1, W);           /* XRES */
    vbe_write(qts, 2, H);           /* YRES */
    vbe_write(qts, 3, 32);          /* BPP */
    vbe_write(qts, 4, 0x41);        /* enabled, linear framebuffer */
    qtest_outb(qts, 0x3c0, 0x20);   /* attribute controller: video on */

    qtest_memwrite(qts, LFB, img, W * H * 4);
}

static void fb_set(Test *t, int w, int h)
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

static bool region_covered(Test *t, int x0, int x1)
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

static bool region_exact(Test *t, int x0, int x1)
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

static double region_psnr(Test *t, int x0, int x1)
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

static void check_progress(Test *t)
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

static void on_update(VncConnection *conn, guint16 x, guint16 y, guint16 w,
                      guint16 h, Test *t)
{
    g_assert_cmpint(x + w, <=, t->fbw);
    g_assert_cmpint(y + h, <=, t->fbh);
    for (int j = y; j < y + h; j++) {
        memset(t->covered + j * t->fbw + x, 1, w);
    }
    t->updates++;
    check_progress(t);
}

static void on_disconnected(VncConnection *conn, Test *t)
{
    t->disconnected = true;
}

static void on_resize(VncConnection *conn, guint16 w, guint16 h, Test *t)
{
    fb_set(t, w, h);
    vnc_connection_framebuffer_update_request(t->conn, false, 0, 0, w, h);
}

static gboolean request_updates(gpointer opaque)
{
    Test *t = opaque;

    vnc_connection_framebuffer_update_request(t->conn, true, 0, 0,
                                              t->fbw, t->fbh);
    return G_SOURCE_CONTINUE;
}

static gboolean on_timeout(gpointer opaque)
{
    Test *t = opaque;

    g_error("timeout in phase %d (framebuffer %dx%d)", t->phase,
            t->fbw, t->fbh);
    return G_SOURCE_REMOVE;
}

static void on_initialized(VncConnection *conn, Test *t)
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

static void test_connect(Test *t)
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

static void test_cleanup(Test *t)
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
static QDict *query_client(QTestState *qts)
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

static void set_profile_ok(QTestState *qts, const char *args)
{
    qobject_unref(qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'display-set-profile', 'arguments': %p }",
        qobject_from_json(args, &error_abort)));
}

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
    while (!t.updates) {
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

        t.updates = 0;
        vnc_connection_framebuffer_update_request(t.conn, false, 0, 0,
                                                  t.fbw, t.fbh);
        while (!t.updates) {
            g_main_context_iteration(NULL, true);
        }
        g_assert_false(vnc_connection_has_error(t.conn));
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

int main(int argc, char **argv)
{
    if (getenv("GTK_VNC_DEBUG")) {
        vnc_util_set_debug(true);
    }
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/vdi-display/qmp", test_qmp);
    if (qtest_has_machine("pc") && qtest_has_device("VGA")) {
        qtest_add_func("/vdi-display/lan", test_lan);
        qtest_add_func("/vdi-display/wan", test_wan);
    }
    return g_test_run();
}
