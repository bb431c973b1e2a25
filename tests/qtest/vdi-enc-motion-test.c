/*
 * Unit tests of the VDI display encoder's scrolls and window moves
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Scrolls and window moves found and sent as CopyRect with the exposed
 * strip, in lan and in wan, and window drags under budgets and
 * refinement that never leave a stale pixel in an update.
 */

#include "qemu/osdep.h"
#include "vdi-enc-test.h"

/* The document seen through a w x (h - 60) view at (0, 40) */
static void render_doc(Frame *f, int off, int offx)
{
    const int vh = f->h - 60;
    g_autofree uint32_t *doc = g_new(uint32_t, 1024 * vh);

    syn_text(doc, 1024, 0, 0, 1024, vh, off, 7, -1);
    for (int y = 0; y < vh; y++) {
        memcpy(f->px + (y + 40) * f->sp, doc + y * 1024 + offx, f->w * 4);
    }
}

static void scroll_case(int dy, int dx, bool expect_copy)
{
    const int w = 384, h = 320;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);
    VdiEncStats st;
    size_t first, b;
    int off = 400, offx = 200;

    /* a toolbar, a document (scrollable), a status bar */
    syn_fill(f->px, f->sp, 0, 0, w, 40, 0x3060c0);
    syn_fill(f->px, f->sp, 0, h - 20, w, 20, 0xc0c0c0);
    render_doc(f, off, offx);
    first = enc_dec(e, d, f, NULL, 0, NULL);
    assert_exact(d, f);
    for (int i = 0; i < 4; i++) {
        VdiRect dmg = { 0, 40, w, h - 60 };

        off += dy;
        offx += dx;
        render_doc(f, off, offx);
        b = enc_dec(e, d, f, &dmg, 1, &st);
        assert_exact(d, f);
        if (expect_copy) {
            g_assert_cmpuint(st.rects[VDI_ENC_KIND_COPYRECT], >=, 1);
            g_assert_cmpuint(st.copy_pixels, >=,
                             (uint64_t)(w - 64 - abs(dx)) *
                             (h - 60 - abs(dy) - 128));
            /* about the newly exposed strip, plus a tile row of slack */
            g_assert_cmpuint(b * (h - 60), <,
                             first * (abs(dy) + abs(dx) + 80));
        }
    }
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

static void test_lan_scroll(void)
{
    static const int dys[] = { 16, -16, 1, -1, 7, 63, 64, -65, 120 };

    for (int i = 0; i < ARRAY_SIZE(dys); i++) {
        scroll_case(dys[i], 0, true);
    }
}

static void test_lan_hscroll(void)
{
    scroll_case(0, 24, true);
    scroll_case(0, -9, true);
}

static void test_lan_window_move(void)
{
    const int w = 480, h = 360;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);
    VdiEncStats st;
    int wx = 20, wy = 30;
    uint64_t copies = 0;

    syn_wallpaper(f->px, f->sp, w, h);
    syn_window(f->px, f->sp, w, h, wx, wy, 260, 200, 5);
    enc_dec(e, d, f, NULL, 0, NULL);
    for (int i = 0; i < 12; i++) {
        /* out of the frame at the end: clipped windows */
        wx += 13 + i;
        wy += (i % 3) * 5 - 2;
        syn_wallpaper(f->px, f->sp, w, h);
        syn_window(f->px, f->sp, w, h, wx, wy, 260, 200, 5);
        enc_dec(e, d, f, NULL, 0, &st);
        assert_exact(d, f);
        copies += st.rects[VDI_ENC_KIND_COPYRECT];
    }
    g_assert_cmpuint(copies, >=, 8);
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

/*
 * Scrolling a page with photos on a link with room: the moved part goes
 * as CopyRect and the uncovered lines, which change at every step, are
 * not taken for video: they are sent losslessly at once.
 */
static void test_wan_scroll_lossless(void)
{
    const int w = 256, h = 192, ph = 1200;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);
    uint32_t *page = g_new(uint32_t, (size_t)w * ph);
    VdiEncStats st;

    syn_text(page, w, 0, 0, w, ph, 0, 5, -1);
    for (int y = 40; y + 100 < ph; y += 250) {
        syn_photo(page, w, 64, y, 160, 100, 0, y);
    }
    vdi_enc_set_link_rate(e, 100e6);
    for (int i = 0; i < 30; i++) {
        memcpy(f->px, page + (size_t)i * 24 * w, (size_t)w * h * 4);
        enc_dec_at(e, d, f, 1000 + i * 100, NULL, 0, &st);
        g_assert_cmpuint(st.rects[VDI_ENC_KIND_JPEG], ==, 0);
        if (i) {
            g_assert_cmpuint(st.rects[VDI_ENC_KIND_COPYRECT], >, 0);
        }
        assert_exact(d, f);
    }
    g_free(page);
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

/*
 * Window drags in wan, as the glue drives the encoder: byte budgets, a
 * clock, a link rate, refinement and deferred tiles.  Every rectangle of
 * every update must leave the pixels it covers as in the frame (or from a
 * JPEG): a stale strip of the old window edge that an update covered is
 * an error even if a later update repairs it.
 */
static void test_wan_drag_no_stale(void)
{
    const int w = 800, h = 600;

    for (int seed = 1; seed <= 12; seed++) {
        VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
        RfbDec *d = rfb_dec_new(w, h);
        Frame *f = frame_new(w, h, 0);
        GRand *rnd = g_rand_new_with_seed(seed);
        VdiEncStats st;
        int64_t t = 0;
        uint64_t stale;
        int wx = 40, wy = 30, px = wx, py = wy;

        vdi_enc_set_refine_delay(e, g_rand_int_range(rnd, 0, 200), 400);
        for (int i = 0; i < 60; i++) {
            VdiRect dmg;

            if (i % 20 < 14) {
                wx += g_rand_int_range(rnd, -6, 13);
                wy += g_rand_int_range(rnd, -4, 9);
                wx = MAX(0, MIN(w - 420, wx));
                wy = MAX(0, MIN(h - 320, wy));
            }
            syn_wallpaper(f->px, f->sp, w, h);
            syn_window(f->px, f->sp, w, h, wx, wy, 420, 320, seed);
            syn_photo(f->px, f->sp, wx + 20, wy + 40, 200, 150, 0, seed);
            dmg.x = MIN(px, wx);
            dmg.y = MIN(py, wy);
            dmg.w = MAX(px, wx) + 420 - dmg.x;
            dmg.h = MAX(py, wy) + 320 - dmg.y;
            px = wx;
            py = wy;
            t += g_rand_int_range(rnd, 5, 60);
            vdi_enc_set_budget(e, g_rand_boolean(rnd) ? 0 :
                               g_rand_int_range(rnd, VDI_ENC_MIN_BUDGET,
                                                200000));
            vdi_enc_set_link_rate(e, g_rand_int_range(rnd, 0, 4) * 500000.0);
            vdi_enc_set_jpeg_quality(e, g_rand_int_range(rnd, 20, 90));
            enc_dec_at(e, d, f, t, i ? &dmg : NULL, i ? 1 : 0, &st);
            stale = rfb_dec_stale(d, f->px, f->sp);
            if (stale) {
                g_test_message("seed %d, update %d: %" PRIu64 " stale pixels",
                               seed, i, stale);
            }
            g_assert_cmpuint(stale, ==, 0);
        }
        g_rand_free(rnd);
        frame_free(f);
        rfb_dec_free(d);
        vdi_enc_free(e);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vdi-enc/lan/scroll", test_lan_scroll);
    g_test_add_func("/vdi-enc/lan/hscroll", test_lan_hscroll);
    g_test_add_func("/vdi-enc/lan/window-move", test_lan_window_move);
    g_test_add_func("/vdi-enc/wan/drag-no-stale", test_wan_drag_no_stale);
    g_test_add_func("/vdi-enc/wan/scroll-lossless", test_wan_scroll_lossless);
    return g_test_run();
}
