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
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "qapi/error.h"
#include "vdi-qmp-util.h"
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

/* Std VGA mode @w x @h x 32 */
static void vga_mode(QTestState *qts, int w, int h)
{
    vbe_write(qts, 4, 0);           /* VBE_DISPI_INDEX_ENABLE: off */
    vbe_write(qts, 1, w);           /* XRES */
    vbe_write(qts, 2, h);           /* YRES */
    vbe_write(qts, 3, 32);          /* BPP */
    vbe_write(qts, 4, 0x41);        /* enabled, linear framebuffer */
}

/*
 * Rows [@y0, @y0 + @n) of a @w pixels wide framebuffer; in pieces, as
 * QEMU's qtest server takes time quadratic in the length of a command.
 */
static void vga_write_rows(QTestState *qts, int w, int y0, int n,
                           const uint32_t *rows)
{
    for (int y = 0; y < n; y += 16) {
        qtest_bufwrite(qts, LFB + ((uint64_t)y0 + y) * w * 4,
                       rows + (size_t)y * w, (size_t)MIN(16, n - y) * w * 4);
    }
}

/* Std VGA at @w x @h x 32 with its LFB at LFB, showing @img */
static void vga_setup_size(QTestState *qts, int w, int h, const uint32_t *img)
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

    vga_mode(qts, w, h);
    qtest_outb(qts, 0x3c0, 0x20);   /* attribute controller: video on */

    vga_write_rows(qts, w, 0, h, img);
}

static void vga_setup(QTestState *qts, const uint32_t *img)
{
    vga_setup_size(qts, W, H, img);
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
    while (!t.updates) {
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

/*
 * ---- Several clients at once ----
 *
 * Each client has its own profile; the guest framebuffer keeps changing
 * while they read it.  The encoder of each client runs in a worker thread
 * (trace event vnc_vdi_job_done has the thread id), so the tests
 * also check that no encoding happens in QEMU's main thread.
 */

#define MAX_CLIENTS 3

typedef struct Multi Multi;

typedef struct Client {
    Multi *m;
    VncConnection *conn;
    const char *profile;
    bool lossless;              /* check that updates are exact frames */
    int64_t id;
    uint8_t *fb;
    int fbw, fbh;
    bool initialized;
    bool disconnected;
    guint req_timer;
    int updates;
    /* client_exact() result, and the updates and frame it was for */
    bool exact;
    int exact_updates;
    int exact_frame;
} Client;

struct Multi {
    QTestState *qts;
    int w, h;                   /* the guest's mode */
    uint32_t *cur;              /* what the guest shows */
    int frame;                  /* changes of cur */
    /* each frame shown so far, if lan clients check their updates */
    GPtrArray *versions;
    char *log;                  /* QEMU's trace log */
};

/* A desktop-like frame: text on the left half, a photo on the right */
static uint32_t scene_pixel(int x, int y, int w, int seed)
{
    return x < w / 2 ? text_pixel(x + 8 * seed, y) :
        photo_pixel(x + 5 * seed, y + 3 * seed);
}

static void multi_init(Multi *m, int w, int h, const char *extra)
{
    int fd;

    fd = g_file_open_tmp("vdi-display-trace-XXXXXX", &m->log, NULL);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    m->w = w;
    m->h = h;
    m->cur = g_new(uint32_t, w * h);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            m->cur[y * w + x] = scene_pixel(x, y, w, 0);
        }
    }
    m->qts = qtest_initf("-machine pc -nodefaults -vga std -vnc none "
                         "-msg timestamp=on -D %s "
                         "-trace vnc_vdi_job_* %s", m->log, extra);
    vga_setup_size(m->qts, w, h, m->cur);
}

/* Rows [@y0, @y0 + @n) of the guest framebuffer become frame @seed */
static void multi_show_rows(Multi *m, int y0, int n, int seed)
{
    for (int y = y0; y < y0 + n; y++) {
        for (int x = 0; x < m->w; x++) {
            m->cur[y * m->w + x] = scene_pixel(x, y, m->w, seed);
        }
    }
    m->frame++;
    if (m->versions) {
        g_ptr_array_add(m->versions,
                        g_memdup2(m->cur, m->w * m->h * sizeof(uint32_t)));
    }
    vga_write_rows(m->qts, m->w, y0, n, m->cur + y0 * m->w);
}

/* Change the guest's mode and show frame @seed in it */
static void multi_resize(Multi *m, int w, int h, int seed)
{
    m->w = w;
    m->h = h;
    g_free(m->cur);
    m->cur = g_new(uint32_t, w * h);
    vga_mode(m->qts, w, h);
    multi_show_rows(m, 0, h, seed);
}

static inline uint32_t client_pixel(Client *c, int x, int y)
{
    return le32_to_cpu(((uint32_t *)c->fb)[y * c->fbw + x]) & 0xffffff;
}

static bool client_exact(Client *c)
{
    Multi *m = c->m;

    if (c->exact_updates == c->updates && c->exact_frame == m->frame) {
        return c->exact;
    }
    c->exact_updates = c->updates;
    c->exact_frame = m->frame;
    c->exact = false;
    if (c->fbw != m->w || c->fbh != m->h) {
        return false;
    }
    for (int i = 0; i < m->w * m->h; i++) {
        if (client_pixel(c, i % m->w, i / m->w) != m->cur[i]) {
            return false;
        }
    }
    c->exact = true;
    return true;
}

static void client_fb_set(Client *c, int w, int h)
{
    VncPixelFormat fmt = {
        .bits_per_pixel = 32, .depth = 24, .byte_order = G_LITTLE_ENDIAN,
        .true_color_flag = 1, .red_max = 255, .green_max = 255,
        .blue_max = 255, .red_shift = 16, .green_shift = 8, .blue_shift = 0,
    };
    VncBaseFramebuffer *fb;

    g_free(c->fb);
    c->fbw = w;
    c->fbh = h;
    c->fb = g_malloc0(w * h * 4);
    fb = vnc_base_framebuffer_new(c->fb, w, h, w * 4, &fmt, &fmt);
    vnc_connection_set_framebuffer(c->conn, VNC_FRAMEBUFFER(fb));
    g_object_unref(fb);
}

/*
 * A lossless client only ever shows frames the guest showed: each pixel
 * of an update equals that pixel in one of them.
 */
static void client_check_rect(Client *c, int x0, int y0, int w, int h)
{
    GPtrArray *v = c->m->versions;

    for (int y = y0; y < y0 + h; y++) {
        for (int x = x0; x < x0 + w; x++) {
            uint32_t p = client_pixel(c, x, y);
            int i;

            for (i = v->len - 1; i >= 0; i--) {
                if (((uint32_t *)v->pdata[i])[y * c->m->w + x] == p) {
                    break;
                }
            }
            if (i < 0) {
                g_error("client %" PRId64 " (%s): pixel %d,%d is %06x, in "
                        "no frame shown", c->id, c->profile, x, y, p);
            }
        }
    }
}

static void client_on_update(VncConnection *conn, guint16 x, guint16 y,
                             guint16 w, guint16 h, Client *c)
{
    g_assert_cmpint(x + w, <=, c->fbw);
    g_assert_cmpint(y + h, <=, c->fbh);
    if (c->m->versions && c->lossless &&
        c->fbw == c->m->w && c->fbh == c->m->h) {
        client_check_rect(c, x, y, w, h);
    }
    c->updates++;
}

static void client_on_resize(VncConnection *conn, guint16 w, guint16 h,
                             Client *c)
{
    client_fb_set(c, w, h);
    vnc_connection_framebuffer_update_request(c->conn, false, 0, 0, w, h);
}

static void client_on_disconnected(VncConnection *conn, Client *c)
{
    c->disconnected = true;
}

static gboolean client_request(gpointer opaque)
{
    Client *c = opaque;

    vnc_connection_framebuffer_update_request(c->conn, true, 0, 0,
                                              c->fbw, c->fbh);
    return G_SOURCE_CONTINUE;
}

static void client_on_initialized(VncConnection *conn, Client *c)
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
    client_fb_set(c, vnc_connection_get_width(conn),
                  vnc_connection_get_height(conn));
    vnc_connection_framebuffer_update_request(conn, false, 0, 0,
                                              c->fbw, c->fbh);
    c->req_timer = g_timeout_add(20, client_request, c);
    c->initialized = true;
}

static gboolean multi_timeout(gpointer opaque)
{
    g_error("%s", (const char *)opaque);
    return G_SOURCE_REMOVE;
}

/* Run the test's main loop until @cond(@opaque) holds */
static void multi_wait(bool (*cond)(void *opaque), void *opaque,
                       const char *what)
{
    guint to = g_timeout_add(TIMEOUT_MS, multi_timeout, (void *)what);

    while (!cond(opaque)) {
        g_main_context_iteration(NULL, true);
    }
    g_source_remove(to);
}

static gboolean pump_done(gpointer opaque)
{
    *(bool *)opaque = true;
    return G_SOURCE_REMOVE;
}

/* Serve the clients for @ms milliseconds */
static void multi_pump(int ms)
{
    bool done = false;

    g_timeout_add(ms, pump_done, &done);
    while (!done) {
        g_main_context_iteration(NULL, true);
    }
}

static bool client_initialized(void *opaque)
{
    return ((Client *)opaque)->initialized;
}

static bool client_gone(void *opaque)
{
    return ((Client *)opaque)->disconnected;
}

/* The ids of the connected clients */
static GArray *client_ids(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-display-clients' }");
    QList *list = qdict_get_qlist(resp, "return");
    GArray *ids = g_array_new(false, false, sizeof(int64_t));
    QListEntry *e;

    g_assert(list);
    QLIST_FOREACH_ENTRY(list, e) {
        int64_t id = qdict_get_int(qobject_to(QDict, qlist_entry_obj(e)),
                                   "id");

        g_array_append_val(ids, id);
    }
    qobject_unref(resp);
    return ids;
}

/* Connect @c with the display profile @profile */
static void client_connect(Multi *m, Client *c, const char *profile)
{
    g_autoptr(GArray) before = client_ids(m->qts);
    g_autoptr(GArray) after = NULL;
    g_autofree char *args = NULL;
    int pair[2];

    memset(c, 0, sizeof(*c));
    c->m = m;
    c->profile = profile;
    c->lossless = !strcmp(profile, "lan");
    g_assert_cmpint(qemu_socketpair(AF_UNIX, SOCK_STREAM, 0, pair), ==, 0);
    qtest_qmp_add_client(m->qts, "vnc", pair[1]);
    close(pair[1]);

    after = client_ids(m->qts);
    g_assert_cmpint(after->len, ==, before->len + 1);
    for (int i = 0; i < after->len; i++) {
        int64_t id = g_array_index(after, int64_t, i);
        bool old = false;

        for (int j = 0; j < before->len; j++) {
            old |= g_array_index(before, int64_t, j) == id;
        }
        if (!old) {
            c->id = id;
        }
    }
    g_assert_cmpint(c->id, >, 0);
    args = g_strdup_printf("{ 'profile': '%s', 'client': %" PRId64 " }",
                           profile, c->id);
    set_profile_ok(m->qts, args);

    c->conn = vnc_connection_new();
    g_signal_connect(c->conn, "vnc-error", G_CALLBACK(on_vnc_error), NULL);
    g_signal_connect(c->conn, "vnc-auth-failure",
                     G_CALLBACK(on_vnc_auth_failure), NULL);
    g_signal_connect(c->conn, "vnc-initialized",
                     G_CALLBACK(client_on_initialized), c);
    g_signal_connect(c->conn, "vnc-framebuffer-update",
                     G_CALLBACK(client_on_update), c);
    g_signal_connect(c->conn, "vnc-desktop-resize",
                     G_CALLBACK(client_on_resize), c);
    g_signal_connect(c->conn, "vnc-disconnected",
                     G_CALLBACK(client_on_disconnected), c);
    vnc_connection_set_auth_type(c->conn, VNC_CONNECTION_AUTH_NONE);
    /* the others stay connected */
    vnc_connection_set_shared(c->conn, true);
    vnc_connection_open_fd(c->conn, pair[0]);
    multi_wait(client_initialized, c, "client did not initialize");
}

static void client_close(Client *c)
{
    if (c->req_timer) {
        g_source_remove(c->req_timer);
        c->req_timer = 0;
    }
    vnc_connection_shutdown(c->conn);
    multi_wait(client_gone, c, "client did not disconnect");
    g_signal_handlers_disconnect_by_data(c->conn, c);
    g_object_unref(c->conn);
    c->conn = NULL;
    g_free(c->fb);
    c->fb = NULL;
}

typedef struct ClientSet {
    Client *c;
    int n;
} ClientSet;

static bool clients_exact(void *opaque)
{
    ClientSet *s = opaque;

    for (int i = 0; i < s->n; i++) {
        g_assert_false(vnc_connection_has_error(s->c[i].conn));
        if (!client_exact(&s->c[i])) {
            return false;
        }
    }
    return true;
}

/* Until each of the @n clients shows exactly what the guest shows */
static void clients_wait_exact(Client *c, int n)
{
    ClientSet s = { c, n };

    multi_wait(clients_exact, &s, "clients did not get the guest's frame");
}

/* The client's entry of query-display-clients */
static QDict *query_client_id(QTestState *qts, int64_t id)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-display-clients' }");
    QListEntry *e;
    QDict *found = NULL;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(resp, "return"), e) {
        QDict *c = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(c, "id") == id) {
            found = c;
            qobject_ref(found);
        }
    }
    qobject_unref(resp);
    g_assert(found);
    return found;
}

typedef struct JobTrace {
    int jobs;           /* vnc_vdi_job_done */
    int threads;        /* distinct threads that ran them */
    int main_thread;    /* ... of them QEMU's main thread */
    int overlaps;       /* pairs of jobs that ran at the same time */
    int drops;          /* vnc_vdi_job_drop */
    int abandoned;      /* vnc_vdi_job_abandon with the job running */
    double main_us;     /* main loop time per submitted job */
    double encode_us;   /* encode time per job */
} JobTrace;

/*
 * Read QEMU's trace log (log backend: "event args" lines, with -msg
 * timestamp=on prefixed with "tid@seconds.micros:").  vnc_vdi_job_done
 * has the thread that ran the job, when it started and how long it took.
 */
static void job_trace_read(Multi *m, pid_t pid, JobTrace *t)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GArray) tids = g_array_new(false, false, sizeof(int));
    g_autoptr(GArray) t0 = g_array_new(false, false, sizeof(int64_t));
    g_autoptr(GArray) t1 = g_array_new(false, false, sizeof(int64_t));
    g_autoptr(GArray) who = g_array_new(false, false, sizeof(int));
    double main_ns = 0;
    int submits = 0;

    memset(t, 0, sizeof(*t));
    g_assert_true(g_file_get_contents(m->log, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        const char *ev = strstr(lines[i], ":vnc_vdi_job_");
        int tid, nrects, known = 0;
        long long client, start, ns, lat;
        unsigned bytes;

        if (!ev) {
            continue;
        }
        ev++;
        if (sscanf(ev, "vnc_vdi_job_done client %lld: %d rects, %u bytes, "
                   "thread %d encoded from %lld us for %lld ns, done %lld",
                   &client, &nrects, &bytes, &tid, &start, &ns, &lat) == 7) {
            int64_t end = start + ns / 1000;

            t->jobs++;
            t->encode_us += ns / 1000.0;
            t->main_thread += tid == pid;
            for (int j = 0; j < tids->len; j++) {
                known |= g_array_index(tids, int, j) == tid;
            }
            if (!known) {
                g_array_append_val(tids, tid);
            }
            for (int j = 0; j < t0->len; j++) {
                if (g_array_index(who, int, j) != tid &&
                    start < g_array_index(t1, int64_t, j) &&
                    g_array_index(t0, int64_t, j) < end) {
                    t->overlaps++;
                }
            }
            g_array_append_val(t0, start);
            g_array_append_val(t1, end);
            g_array_append_val(who, tid);
        } else if (g_str_has_prefix(ev, "vnc_vdi_job_submit")) {
            const char *p = strstr(ev, "bytes, ");

            if (p && sscanf(p, "bytes, %lld ns", &ns) == 1) {
                main_ns += ns;
                submits++;
            }
        } else if (g_str_has_prefix(ev, "vnc_vdi_job_drop")) {
            t->drops++;
        } else if (g_str_has_prefix(ev, "vnc_vdi_job_abandon") &&
                   strstr(ev, "running 1")) {
            t->abandoned++;
        }
    }
    t->threads = tids->len;
    t->main_us = submits ? main_ns / 1000.0 / submits : 0;
    t->encode_us = t->jobs ? t->encode_us / t->jobs : 0;
}

static void job_trace_report(const char *name, const JobTrace *t)
{
    g_test_message("%s: %d encoder jobs on %d worker threads (%d in the "
                   "main thread), %d pairs ran at the same time; per job "
                   "%.0f us in the main loop, %.0f us encoding; %d dropped "
                   "for a stale surface, %d abandoned while running",
                   name, t->jobs, t->threads, t->main_thread, t->overlaps,
                   t->main_us, t->encode_us, t->drops, t->abandoned);
}

/*
 * CPU time of QEMU's main thread and of its other threads, in ms (Linux
 * /proc; 0 elsewhere)
 */
static void qemu_cpu_ms(pid_t pid, double *main_ms, double *other_ms)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/task", (int)pid);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *tid;

    *main_ms = *other_ms = 0;
    while (d && (tid = g_dir_read_name(d))) {
        g_autofree char *path = g_strdup_printf("%s/%s/stat", dir, tid);
        g_autofree char *stat = NULL;
        unsigned long ut, st;
        const char *p;

        if (!g_file_get_contents(path, &stat, NULL, NULL)) {
            continue;
        }
        /* fields 14 and 15, after the ")" that ends the name */
        p = strrchr(stat, ')');
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                         "%*u %lu %lu", &ut, &st) != 2) {
            continue;
        }
        *(atoi(tid) == pid ? main_ms : other_ms) +=
            (ut + st) * 1000.0 / sysconf(_SC_CLK_TCK);
    }
    if (d) {
        g_dir_close(d);
    }
}

/* Stop QEMU and check where the encoder ran */
static void multi_finish(Multi *m, const char *name, JobTrace *t)
{
    pid_t pid = qtest_pid(m->qts);
    double main_ms, other_ms;

    qemu_cpu_ms(pid, &main_ms, &other_ms);
    g_test_message("%s: QEMU CPU time: main thread %.0f ms, other threads "
                   "%.0f ms", name, main_ms, other_ms);
    qtest_quit(m->qts);
    job_trace_read(m, pid, t);
    job_trace_report(name, t);
    if (t->jobs) {
        g_assert_cmpint(t->main_thread, ==, 0);
    } else {
        g_test_message("no vnc_vdi_job_done in the log: tracing backend?");
    }
    unlink(m->log);
    g_free(m->log);
    g_free(m->cur);
    if (m->versions) {
        g_ptr_array_free(m->versions, true);
    }
}

/* Switch @c to @profile */
static void client_set_profile(Client *c, const char *profile)
{
    g_autofree char *args = NULL;

    args = g_strdup_printf("{ 'profile': '%s', 'client': %" PRId64 " }",
                           profile, c->id);
    c->profile = profile;
    set_profile_ok(c->m->qts, args);
}

/*
 * Three clients, lan, wan and lan, read a framebuffer that keeps
 * changing: every update of the lan clients holds only frames the guest
 * showed, and all three end with the last frame, bit-exact (wan after
 * refining its JPEG areas).  Half-way, with updates being encoded, the
 * second client switches to lan and the third to wan.
 */
static void test_multi_client(void)
{
    static const char *const profiles[] = { "lan", "wan", "lan" };
    Multi m = { 0 };
    Client c[ARRAY_SIZE(profiles)];
    JobTrace t;

    multi_init(&m, W, H, "");
    m.versions = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(m.versions, g_memdup2(m.cur, W * H * 4));
    for (int i = 0; i < ARRAY_SIZE(c); i++) {
        client_connect(&m, &c[i], profiles[i]);
    }
    clients_wait_exact(c, ARRAY_SIZE(c));

    for (int k = 1; k <= 16; k++) {
        /* a band changes, and every fourth time the whole photo */
        if (k % 4) {
            multi_show_rows(&m, (k * 72) % (H - 64), 64, k);
        } else {
            multi_show_rows(&m, 0, H, k);
        }
        multi_pump(25);
        if (k == 8) {
            /* it may still get lossy updates encoded before the switch */
            client_set_profile(&c[1], "lan");
            c[2].lossless = false;
            client_set_profile(&c[2], "wan");
        }
    }
    clients_wait_exact(c, ARRAY_SIZE(c));

    for (int i = 0; i < ARRAY_SIZE(c); i++) {
        QDict *q = query_client_id(m.qts, c[i].id);
        QDict *tiles = qdict_get_qdict(q, "tiles");

        g_assert_cmpstr(qdict_get_str(q, "profile"), ==, c[i].profile);
        g_assert_cmpint(qdict_get_int(q, "frames-sent"), >, 1);
        /* encode times are still measured, in the worker */
        g_assert_cmpfloat(qdict_get_double(q, "encode-time-mean"), >, 0);
        g_assert_cmpfloat(qdict_get_double(q, "encode-time-p95"), >, 0);
        if (i == 0) {
            g_assert_cmpint(qdict_get_int(tiles, "jpeg"), ==, 0);
        } else if (i == 1) {
            g_assert_cmpint(qdict_get_int(tiles, "jpeg"), >, 0);
        }
        g_test_message("client %" PRId64 " (%s): %" PRId64 " updates, %"
                       PRId64 " bytes, encode mean %.0f us, p95 %.0f us",
                       c[i].id, c[i].profile,
                       qdict_get_int(q, "frames-sent"),
                       qdict_get_int(q, "bytes-sent"),
                       qdict_get_double(q, "encode-time-mean"),
                       qdict_get_double(q, "encode-time-p95"));
        qobject_unref(q);
    }
    for (int i = 0; i < ARRAY_SIZE(c); i++) {
        client_close(&c[i]);
    }
    multi_finish(&m, "multi-client", &t);
    g_assert_cmpint(t.jobs, >=, 3 * 2);
}

/*
 * A wan client connects and goes away again, six times, in the middle of
 * frequent large updates (its jobs may still be running); QEMU carries
 * on, and so does a lan client that stays.
 */
static void test_disconnect(void)
{
    Multi m = { 0 };
    Client keep, churn;
    JobTrace t;
    g_autoptr(GArray) ids = NULL;
    int seed = 0;

    multi_init(&m, 1024, 768, "");
    client_connect(&m, &keep, "lan");
    for (int round = 0; round < 6; round++) {
        client_connect(&m, &churn, "wan");
        for (int k = 0; k < 6; k++) {
            multi_show_rows(&m, 0, m.h, ++seed);
            multi_pump(10 + 7 * round);
        }
        multi_show_rows(&m, 0, m.h, ++seed);
        multi_pump(5 * round);
        client_close(&churn);
        multi_show_rows(&m, 0, m.h, ++seed);
        multi_pump(20);
    }
    clients_wait_exact(&keep, 1);

    ids = client_ids(m.qts);
    g_assert_cmpint(ids->len, ==, 1);
    g_assert_cmpint(g_array_index(ids, int64_t, 0), ==, keep.id);
    client_close(&keep);
    multi_finish(&m, "disconnect", &t);
}

/*
 * The guest changes its video mode, down and up, right after large
 * updates that are still being encoded: the clients follow to the new
 * size (no rectangle for the old, larger surface reaches them) and end
 * bit-exact.
 */
static void test_resize(void)
{
    static const char *const profiles[] = { "lan", "wan" };
    Multi m = { 0 };
    Client c[ARRAY_SIZE(profiles)];
    JobTrace t;
    int seed = 0;

    multi_init(&m, 1024, 768, "");
    for (int i = 0; i < ARRAY_SIZE(c); i++) {
        client_connect(&m, &c[i], profiles[i]);
    }
    clients_wait_exact(c, ARRAY_SIZE(c));

    for (int round = 0; round < 4; round++) {
        for (int k = 0; k < 3; k++) {
            multi_show_rows(&m, 0, m.h, ++seed);
            multi_pump(10);
        }
        multi_show_rows(&m, 0, m.h, ++seed);
        multi_pump(3 * round);
        multi_resize(&m, W, H, ++seed);
        clients_wait_exact(c, ARRAY_SIZE(c));

        multi_show_rows(&m, 0, m.h, ++seed);
        multi_pump(3 * round);
        multi_resize(&m, 1024, 768, ++seed);
        clients_wait_exact(c, ARRAY_SIZE(c));
    }
    for (int i = 0; i < ARRAY_SIZE(c); i++) {
        client_close(&c[i]);
    }
    multi_finish(&m, "resize", &t);
}

/*
 * A text console scrolls with a blinking cursor (cells of 8x16, drawn
 * into the std VGA as the VGA's text mode would redraw them) while the
 * display profile switches as an administrator or `auto` would: wan on
 * a slow link (updates cut short), off (stock encoders), lan, off, wan,
 * auto, lan, three times.  Then only the cursor blinks, and the client
 * must end with exactly the guest's frame: an update lost at a switch
 * leaves a stale cell that nothing repairs.
 */
#define CONS_CW 8
#define CONS_CH 16

typedef struct Cons {
    Multi *m;
    int line;               /* first number on screen */
    int cy;                 /* cursor row */
    bool cursor;
} Cons;

static void cons_draw(Cons *k)
{
    Multi *m = k->m;

    for (int y = 0; y < m->h; y++) {
        int r = y / CONS_CH, gy = y % CONS_CH;
        /* a number per row, as "seq" prints */
        g_autofree char *s = g_strdup_printf("%d", k->line + r);
        int len = r < k->cy ? strlen(s) : 0;

        for (int x = 0; x < m->w; x++) {
            int col = x / CONS_CW, gx = x % CONS_CW;
            bool on = col < len && gx < 7 && gy >= 2 && gy < 14 &&
                (s[col] * 7 + gx * 3 + gy * 5) % 4 == 0;

            if (k->cursor && r == k->cy && col == 0 && gy >= 14) {
                on = true;
            }
            m->cur[y * m->w + x] = on ? 0xaaaaaa : 0;
        }
    }
    m->frame++;
    vga_write_rows(m->qts, m->w, 0, m->h, m->cur);
}

/* @n more lines of output; the cursor goes down, then the text scrolls */
static void cons_print(Cons *k, int n)
{
    int rows = k->m->h / CONS_CH;

    for (int i = 0; i < n; i++) {
        if (k->cy < rows - 1) {
            k->cy++;
        } else {
            k->line++;
        }
    }
    cons_draw(k);
}

static void test_profile_switches(void)
{
    static const char *const switches[] = {
        "{ 'profile': 'wan', 'max-bandwidth': 300000 }",
        "{ 'profile': 'off', 'max-bandwidth': 0 }",
        "{ 'profile': 'lan' }", "{ 'profile': 'off' }",
        "{ 'profile': 'wan' }", "{ 'profile': 'auto' }",
        "{ 'profile': 'lan' }",
    };
    Multi m = { 0 };
    Client c;
    Cons k = { .m = &m, .cursor = true };
    JobTrace t;

    multi_init(&m, W, H, "");
    client_connect(&m, &c, "lan");
    c.lossless = false;
    cons_draw(&k);
    clients_wait_exact(&c, 1);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < ARRAY_SIZE(switches); i++) {
            for (int j = 0; j < 8; j++) {
                k.cursor = !k.cursor;
                cons_print(&k, 1 + (i + j) % 3);
                multi_pump(15 + 10 * ((i + j + round) % 4));
            }
            set_profile_ok(m.qts, switches[i]);
        }
    }
    for (int j = 0; j < 6; j++) {
        k.cursor = !k.cursor;
        cons_draw(&k);
        multi_pump(100);
    }
    clients_wait_exact(&c, 1);
    client_close(&c);
    multi_finish(&m, "profile-switches", &t);
}

int main(int argc, char **argv)
{
    if (getenv("GTK_VNC_DEBUG")) {
        vnc_util_set_debug(true);
    }
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/vdi-display/qmp", test_qmp);
    qtest_add_func("/vdi-display/profile-object", test_profile_object);
    if (qtest_has_machine("pc") && qtest_has_device("VGA")) {
        qtest_add_func("/vdi-display/lan", test_lan);
        qtest_add_func("/vdi-display/wan", test_wan);
        qtest_add_func("/vdi-display/multi-client", test_multi_client);
        qtest_add_func("/vdi-display/disconnect", test_disconnect);
        qtest_add_func("/vdi-display/resize", test_resize);
        qtest_add_func("/vdi-display/profile-switches",
                       test_profile_switches);
    }
    return g_test_run();
}
