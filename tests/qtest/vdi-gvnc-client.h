/*
 * A gtk-vnc (gvnc) client for the display qtests and the display bench
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One VncConnection with a 32 bpp framebuffer of its own that follows
 * the server's desktop size, asking for incremental updates on a timer;
 * hooks let a test see each update and the framebuffer's changes.  Also
 * what the tests do with it: wait on the GLib main context with a
 * deadline, and compare the framebuffer with the image expected.
 */

#ifndef TESTS_QTEST_VDI_GVNC_CLIENT_H
#define TESTS_QTEST_VDI_GVNC_CLIENT_H

#include <math.h>
#include <gvnc.h>
#include "qemu/sockets.h"
#include "qemu/bswap.h"
#include "libqtest.h"

/* Each pixel little-endian 0x00RRGGBB, as the tests' images */
static const VncPixelFormat gvnc_client_fmt = {
    .bits_per_pixel = 32, .depth = 24, .byte_order = G_LITTLE_ENDIAN,
    .true_color_flag = 1, .red_max = 255, .green_max = 255,
    .blue_max = 255, .red_shift = 16, .green_shift = 8, .blue_shift = 0,
};

/* What the display tests offer unless they say otherwise */
static const gint32 gvnc_client_default_enc[] = {
    VNC_CONNECTION_ENCODING_TIGHT,
    VNC_CONNECTION_ENCODING_COPY_RECT,
    VNC_CONNECTION_ENCODING_TIGHT_JPEG9,
    VNC_CONNECTION_ENCODING_DESKTOP_RESIZE,
    VNC_CONNECTION_ENCODING_RAW,
};

typedef struct GvncClient GvncClient;

struct GvncClient {
    VncConnection *conn;
    uint8_t *fb;                /* fbw x fbh, gvnc_client_fmt */
    int fbw, fbh;
    uint8_t *covered;           /* per pixel: updated since the last resize */
    int updates;
    bool initialized, disconnected;
    guint req_timer;

    /* set before gvnc_client_new(); zero is the default */
    const gint32 *enc;          /* encodings offered: default_enc */
    int n_enc;
    int req_ms;                 /* incremental update requests: 20 ms */
    void *opaque;               /* for the hooks */
    /* after each update, and after the framebuffer is (re)allocated */
    void (*on_update)(GvncClient *c, int x, int y, int w, int h);
    void (*on_fb)(GvncClient *c);
    /* once the server's init arrived and the first request went out */
    void (*on_initialized)(GvncClient *c);
};

static inline void gvnc_client_error(VncConnection *conn, const char *msg)
{
    g_error("vnc-error: %s", msg);
}

static inline void gvnc_client_auth_failure(VncConnection *conn,
                                            const char *msg)
{
    g_error("vnc-auth-failure: %s", msg);
}

/* A new framebuffer of @w x @h for the connection, all pixels uncovered */
static inline void gvnc_client_fb_set(GvncClient *c, int w, int h)
{
    VncBaseFramebuffer *fb;

    g_free(c->fb);
    g_free(c->covered);
    c->fbw = w;
    c->fbh = h;
    c->fb = g_malloc0((size_t)w * h * 4);
    c->covered = g_malloc0((size_t)w * h);
    fb = vnc_base_framebuffer_new(c->fb, w, h, w * 4, &gvnc_client_fmt,
                                  &gvnc_client_fmt);
    vnc_connection_set_framebuffer(c->conn, VNC_FRAMEBUFFER(fb));
    g_object_unref(fb);
    if (c->on_fb) {
        c->on_fb(c);
    }
}

static inline void gvnc_client_update(VncConnection *conn, guint16 x,
                                      guint16 y, guint16 w, guint16 h,
                                      GvncClient *c)
{
    g_assert_cmpint(x + w, <=, c->fbw);
    g_assert_cmpint(y + h, <=, c->fbh);
    for (int j = y; j < y + h; j++) {
        memset(c->covered + (size_t)j * c->fbw + x, 1, w);
    }
    c->updates++;
    if (c->on_update) {
        c->on_update(c, x, y, w, h);
    }
}

static inline void gvnc_client_resize(VncConnection *conn, guint16 w,
                                      guint16 h, GvncClient *c)
{
    gvnc_client_fb_set(c, w, h);
    vnc_connection_framebuffer_update_request(c->conn, false, 0, 0, w, h);
}

static inline void gvnc_client_disconnected(VncConnection *conn,
                                            GvncClient *c)
{
    c->disconnected = true;
}

static inline gboolean gvnc_client_request(gpointer opaque)
{
    GvncClient *c = opaque;

    vnc_connection_framebuffer_update_request(c->conn, true, 0, 0,
                                              c->fbw, c->fbh);
    return G_SOURCE_CONTINUE;
}

static inline void gvnc_client_initialized(VncConnection *conn,
                                           GvncClient *c)
{
    vnc_connection_set_pixel_format(conn, &gvnc_client_fmt);
    if (c->enc) {
        vnc_connection_set_encodings(conn, c->n_enc, (gint32 *)c->enc);
    } else {
        vnc_connection_set_encodings(conn,
                                     ARRAY_SIZE(gvnc_client_default_enc),
                                     (gint32 *)gvnc_client_default_enc);
    }
    gvnc_client_fb_set(c, vnc_connection_get_width(conn),
                       vnc_connection_get_height(conn));
    vnc_connection_framebuffer_update_request(conn, false, 0, 0,
                                              c->fbw, c->fbh);
    c->req_timer = g_timeout_add(c->req_ms ? c->req_ms : 20,
                                 gvnc_client_request, c);
    c->initialized = true;
    if (c->on_initialized) {
        c->on_initialized(c);
    }
}

/*
 * The connection with @c's handlers, not open yet: the caller may set
 * up authentication, then opens it (or gvnc_client_open_fd())
 */
static inline void gvnc_client_new(GvncClient *c)
{
    c->conn = vnc_connection_new();
    g_signal_connect(c->conn, "vnc-error", G_CALLBACK(gvnc_client_error),
                     NULL);
    g_signal_connect(c->conn, "vnc-auth-failure",
                     G_CALLBACK(gvnc_client_auth_failure), NULL);
    g_signal_connect(c->conn, "vnc-initialized",
                     G_CALLBACK(gvnc_client_initialized), c);
    g_signal_connect(c->conn, "vnc-framebuffer-update",
                     G_CALLBACK(gvnc_client_update), c);
    g_signal_connect(c->conn, "vnc-desktop-resize",
                     G_CALLBACK(gvnc_client_resize), c);
    g_signal_connect(c->conn, "vnc-disconnected",
                     G_CALLBACK(gvnc_client_disconnected), c);
}

/* Open @c on @fd, no authentication */
static inline void gvnc_client_open_fd(GvncClient *c, int fd)
{
    gvnc_client_new(c);
    vnc_connection_set_auth_type(c->conn, VNC_CONNECTION_AUTH_NONE);
    vnc_connection_open_fd(c->conn, fd);
}

/*
 * A socket pair, one end given to QEMU's VNC server (add_client), the
 * other end returned
 */
static inline int gvnc_client_socket(QTestState *qts)
{
    int pair[2];

    g_assert_cmpint(qemu_socketpair(AF_UNIX, SOCK_STREAM, 0, pair), ==, 0);
    qtest_qmp_add_client(qts, "vnc", pair[1]);
    close(pair[1]);
    return pair[0];
}

static inline gboolean gvnc_pump_done(gpointer opaque)
{
    *(bool *)opaque = true;
    return G_SOURCE_REMOVE;
}

/* Run the main context for @ms milliseconds */
static inline void gvnc_pump(int ms)
{
    bool done = false;

    g_timeout_add(ms, gvnc_pump_done, &done);
    while (!done) {
        g_main_context_iteration(NULL, true);
    }
}

static inline gboolean gvnc_wait_timeout(gpointer opaque)
{
    g_error("timeout: %s", (const char *)opaque);
    return G_SOURCE_REMOVE;
}

/* Run the main context until @cond(@opaque), failing after @timeout_ms */
static inline void gvnc_wait(bool (*cond)(void *opaque), void *opaque,
                             int timeout_ms, const char *what)
{
    guint to = g_timeout_add(timeout_ms, gvnc_wait_timeout, (void *)what);

    while (!cond(opaque)) {
        g_main_context_iteration(NULL, true);
    }
    g_source_remove(to);
}

static inline bool gvnc_client_ready(void *opaque)
{
    return ((GvncClient *)opaque)->initialized;
}

static inline bool gvnc_client_gone(void *opaque)
{
    return ((GvncClient *)opaque)->disconnected;
}

/* Shut the connection down, wait until it is, and free @c's resources */
static inline void gvnc_client_close(GvncClient *c)
{
    if (c->req_timer) {
        g_source_remove(c->req_timer);
        c->req_timer = 0;
    }
    /* the connection must not use c->fb any more */
    vnc_connection_shutdown(c->conn);
    gvnc_wait(gvnc_client_gone, c, 30000, "the client did not disconnect");
    g_signal_handlers_disconnect_by_data(c->conn, c);
    g_object_unref(c->conn);
    c->conn = NULL;
    g_free(c->fb);
    c->fb = NULL;
    g_free(c->covered);
    c->covered = NULL;
}

/* Pixel (@x, @y) of the framebuffer, 0xRRGGBB */
static inline uint32_t gvnc_client_pixel(const GvncClient *c, int x, int y)
{
    return ldl_le_p(c->fb + ((size_t)y * c->fbw + x) * 4) & 0xffffff;
}

/* Whether the framebuffer is @w x @h */
static inline bool gvnc_client_is(const GvncClient *c, int w, int h)
{
    return c->fbw == w && c->fbh == h;
}

/* Whether updates covered [@x0, @x1) x [@y0, @y1) */
static inline bool gvnc_client_covered(const GvncClient *c, int x0, int y0,
                                       int x1, int y1)
{
    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++) {
            if (!c->covered[y * c->fbw + x]) {
                return false;
            }
        }
    }
    return true;
}

/*
 * Whether [@x0, @x1) x [@y0, @y1) equals @expect, an image of the
 * framebuffer's size (0xRRGGBB)
 */
static inline bool gvnc_client_exact(const GvncClient *c,
                                     const uint32_t *expect, int x0, int y0,
                                     int x1, int y1)
{
    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++) {
            if (gvnc_client_pixel(c, x, y) != expect[y * c->fbw + x]) {
                return false;
            }
        }
    }
    return true;
}

/* PSNR over R, G and B of [@x0, @x1) x [@y0, @y1) against @expect */
static inline double gvnc_client_psnr(const GvncClient *c,
                                      const uint32_t *expect, int x0, int y0,
                                      int x1, int y1)
{
    double se = 0;
    uint64_t n = 0;

    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++) {
            uint32_t a = gvnc_client_pixel(c, x, y);
            uint32_t b = expect[y * c->fbw + x];

            for (int s = 0; s < 24; s += 8) {
                int d = (int)((a >> s) & 0xff) - (int)((b >> s) & 0xff);

                se += d * d;
                n++;
            }
        }
    }
    return se ? 10 * log10(255.0 * 255.0 * n / se) : INFINITY;
}

#endif
