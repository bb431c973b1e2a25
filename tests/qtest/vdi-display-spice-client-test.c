/*
 * QTest for display profiles with a SPICE client
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Puts known pixels (text and a photo) into a std VGA framebuffer and
 * reads them back with spice-client-glib over the SPICE server's Unix
 * socket, after display-set-profile.  QEMU starts with the SPICE
 * option image-compression=off: the profile off keeps it (raw images),
 * lan gives the exact pixels in less than half the bytes, wan fewer
 * bytes too and pixels above a PSNR bound (spice-server 0.15 applies
 * its JPEG setting only to display workers created after the change,
 * so the running one stays lossless).
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qemu/bswap.h"
#include <spice-client.h>
#include "vdi-display-util.h"

#define TIMEOUT_US (120 * G_USEC_PER_SEC)

typedef struct Test {
    SpiceSession *session;
    SpiceChannel *display;
    const uint32_t *expect;
    uint8_t *covered;
    bool ready;
} Test;

static void on_invalidate(SpiceChannel *channel, gint x, gint y, gint w,
                          gint h, Test *t)
{
    for (int j = MAX(y, 0); j < MIN(y + h, H); j++) {
        for (int i = MAX(x, 0); i < MIN(x + w, W); i++) {
            t->covered[j * W + i] = 1;
        }
    }
}

static void on_channel_new(SpiceSession *s, SpiceChannel *channel, Test *t)
{
    if (SPICE_IS_DISPLAY_CHANNEL(channel)) {
        t->display = channel;
        g_signal_connect(channel, "display-invalidate",
                         G_CALLBACK(on_invalidate), t);
        spice_channel_connect(channel);
    }
}

/* The primary surface, if it is W x H x 32 bpp */
static bool primary(Test *t, SpiceDisplayPrimary *p)
{
    return t->display &&
        spice_display_channel_get_primary(t->display, 0, p) &&
        p->width == W && p->height == H &&
        p->format == SPICE_SURFACE_FMT_32_xRGB;
}

static bool all_covered(Test *t)
{
    for (int i = 0; i < W * H; i++) {
        if (!t->covered[i]) {
            return false;
        }
    }
    return true;
}

/* PSNR over the colour channels of the columns [x0, x1) */
static double region_psnr(const SpiceDisplayPrimary *p, const uint32_t *expect,
                          int x0, int x1)
{
    double se = 0;
    uint64_t n = 0;

    for (int y = 0; y < H; y++) {
        const uint32_t *row = (const uint32_t *)(p->data + y * p->stride);

        for (int x = x0; x < x1; x++) {
            uint32_t a = le32_to_cpu(row[x]), b = expect[y * W + x];

            for (int s = 0; s < 24; s += 8) {
                int d = (int)((a >> s) & 0xff) - (int)((b >> s) & 0xff);

                se += d * d;
                n++;
            }
        }
    }
    return se ? 10 * log10(255.0 * 255.0 * n / se) : INFINITY;
}

static void run_client(const char *profile, double *text_psnr,
                       double *photo_psnr, uint64_t *bytes)
{
    g_autofree char *dir = g_dir_make_tmp("vdi-spice-client-XXXXXX", NULL);
    g_autofree char *sock = g_strdup_printf("%s/spice.sock", dir);
    g_autofree uint32_t *img = make_image();
    Test t = { .expect = img };
    SpiceDisplayPrimary p;
    QTestState *qts;
    int64_t end;

    t.covered = g_malloc0(W * H);
    qts = qtest_initf("-machine pc -nodefaults -vga std "
                      "-spice unix=on,addr=%s,disable-ticketing=on,"
                      "image-compression=off", sock);
    vga_setup(qts, img);
    /* JPEG and zlib settings apply to display channels connecting later */
    qtest_qmp_assert_success(qts, "{ 'execute': 'display-set-profile', "
                             "'arguments': { 'profile': %s } }", profile);

    t.session = spice_session_new();
    g_object_set(t.session, "unix-path", sock, NULL);
    g_signal_connect(t.session, "channel-new", G_CALLBACK(on_channel_new),
                     &t);
    g_assert_true(spice_session_connect(t.session));

    end = g_get_monotonic_time() + TIMEOUT_US;
    while (!primary(&t, &p) || !all_covered(&t)) {
        if (g_get_monotonic_time() > end) {
            g_error("%s: no full frame from the SPICE server", profile);
        }
        g_main_context_iteration(NULL, false);
        g_usleep(1000);
    }
    /* a moment for updates still on their way */
    for (int i = 0; i < 200; i++) {
        g_main_context_iteration(NULL, false);
        g_usleep(1000);
    }
    g_assert_true(primary(&t, &p));
    *text_psnr = region_psnr(&p, img, 0, SPLIT);
    *photo_psnr = region_psnr(&p, img, SPLIT, W);
    g_object_get(t.display, "total-read-bytes", bytes, NULL);

    spice_session_disconnect(t.session);
    g_object_unref(t.session);
    qtest_quit(qts);
    unlink(sock);
    rmdir(dir);
    g_free(t.covered);
}

static void test_profiles(void)
{
    double off_text, off_photo, lan_text, lan_photo, wan_text, wan_photo;
    uint64_t off_bytes, lan_bytes, wan_bytes;

    /* -spice image-compression=off: what the profile off keeps */
    run_client("off", &off_text, &off_photo, &off_bytes);
    run_client("lan", &lan_text, &lan_photo, &lan_bytes);
    run_client("wan", &wan_text, &wan_photo, &wan_bytes);
    g_test_message("off: %" PRIu64 " bytes; lan: %" PRIu64 " bytes, text "
                   "%.1f dB, photo %.1f dB; wan: %" PRIu64 " bytes, text "
                   "%.1f dB, photo %.1f dB", off_bytes, lan_bytes, lan_text,
                   lan_photo, wan_bytes, wan_text, wan_photo);
    g_assert_true(isinf(off_text) && isinf(off_photo));
    /* lan: lossless, and compressed although -spice said off */
    g_assert_true(isinf(lan_text) && isinf(lan_photo));
    g_assert_cmpuint(lan_bytes, <, off_bytes / 2);
    /* wan: compressed, lossy at most where photo-like */
    g_assert_cmpfloat(wan_photo, >, 25.0);
    g_assert_cmpfloat(wan_text, >, 25.0);
    g_assert_cmpuint(wan_bytes, <, off_bytes / 2);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (qtest_has_machine("pc") && qtest_has_device("VGA")) {
        qtest_add_func("/vdi-display/spice-client/profiles", test_profiles);
    }
    return g_test_run();
}
