/*
 * Unit tests of the VDI display encoder's refinement and byte budget
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Lossy tiles refined to exact once unchanged for the refine delay, which
 * follows the link rate; video and dragged windows not refined while they
 * move; lossless at once where the link has room; byte budgets that
 * always progress.
 */

#include "qemu/osdep.h"
#include "vdi-enc-test.h"

static void test_wan_refine(void)
{
    const int w = 256, h = 192;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);
    VdiEncStats st;
    VdiRect none;
    int i;

    vdi_enc_set_refine_delay(e, 60, 60);
    vdi_enc_set_budget(e, 20000);
    syn_photo(f->px, f->sp, 0, 0, w, h, 0, 4);
    syn_text(f->px, f->sp, 0, 0, 64, 64, 0, 2, -1);
    /* budget-limited: several calls for the first frame */
    for (i = 0; i < 20; i++) {
        enc_dec(e, d, f, &none, 0, &st);
        if (!vdi_enc_has_pending(e)) {
            break;
        }
    }
    g_assert_cmpint(i, <, 20);
    g_assert_cmpint(i, >, 2);
    assert_exact(d, f);
    g_assert_cmpuint(st.lossy_pending, ==, 0);
    g_assert_cmpuint(st.tiles_refined, >, 0);

    /* a lossy change, then a switch to LAN refines it at once */
    syn_photo(f->px, f->sp, 0, 64, w, 128, 1, 4);
    vdi_enc_set_budget(e, 0);
    enc_dec(e, d, f, NULL, 0, &st);
    g_assert_cmpuint(st.lossy_pending, >, 0);
    g_assert_cmpuint(rfb_dec_diff(d, f->px, f->sp), >, 0);
    g_assert_true(vdi_enc_set_profile(e, VDI_PROFILE_LAN));
    enc_dec(e, d, f, &none, 0, &st);
    assert_exact(d, f);
    g_assert_false(vdi_enc_has_pending(e));
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

/*
 * Refinement is time-based: however often the encoder is called, a lossy
 * tile is refined once it has been unchanged for the refine delay, not
 * before.
 */
static void test_wan_refine_time(void)
{
    const int w = 256, h = 128;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);
    VdiEncStats st;
    VdiRect none;

    vdi_enc_set_refine_delay(e, 200, 200);
    syn_photo(f->px, f->sp, 0, 0, w, h, 0, 3);
    enc_dec_at(e, d, f, 1000, NULL, 0, &st);
    g_assert_cmpuint(st.rects[VDI_ENC_KIND_JPEG], >, 0);
    g_assert_cmpuint(st.lossy_pending, ==, w * h);
    /* 199 calls within the delay: nothing refined */
    for (int i = 1; i < 200; i++) {
        enc_dec_at(e, d, f, 1000 + i, &none, 0, &st);
        g_assert_cmpuint(st.tiles_refined, ==, 0);
        g_assert_cmpuint(st.lossy_pending, ==, w * h);
    }
    /* one call once the delay is over refines everything */
    enc_dec_at(e, d, f, 1200, &none, 0, &st);
    g_assert_cmpuint(st.tiles_refined, ==, (w / 64) * (h / 64));
    g_assert_cmpuint(st.lossy_pending, ==, 0);
    assert_exact(d, f);
    g_assert_false(vdi_enc_has_pending(e));

    /*
     * The delay follows the link: with room to refine the area quickly,
     * the shortest delay; on a slow link the longest, and refinement then
     * stays within its share of the link rate.
     */
    vdi_enc_set_refine_delay(e, 100, 1500);
    vdi_enc_set_link_rate(e, 500000);
    syn_photo(f->px, f->sp, 0, 0, w, h, 1, 3);
    /* (changes more than 2 s apart: not moving content) */
    enc_dec_at(e, d, f, 4000, NULL, 0, &st);
    g_assert_cmpuint(st.lossy_pending, ==, w * h);
    enc_dec_at(e, d, f, 4099, &none, 0, &st);
    g_assert_cmpuint(st.tiles_refined, ==, 0);
    enc_dec_at(e, d, f, 4100, &none, 0, &st);
    g_assert_cmpuint(st.tiles_refined, >, 0);
    /* at most half the link rate: done within another 0.5 s */
    for (int64_t t = 4130; t <= 4600; t += 30) {
        enc_dec_at(e, d, f, t, &none, 0, &st);
    }
    g_assert_cmpuint(st.lossy_pending, ==, 0);
    assert_exact(d, f);

    /*
     * A link with room for all of it within 100 ms at half its rate: a
     * static photo is sent losslessly at once, no JPEG to refine later.
     */
    vdi_enc_set_link_rate(e, 2e6);
    syn_photo(f->px, f->sp, 0, 0, w, h, 4, 3);
    enc_dec_at(e, d, f, 6500, NULL, 0, &st);
    g_assert_cmpuint(st.rects[VDI_ENC_KIND_JPEG], ==, 0);
    g_assert_cmpuint(st.lossy_pending, ==, 0);
    assert_exact(d, f);

    vdi_enc_set_link_rate(e, 4000);
    syn_photo(f->px, f->sp, 0, 0, w, h, 2, 3);
    enc_dec_at(e, d, f, 7000, NULL, 0, &st);
    {
        size_t refined = 0, b;
        int64_t t;

        for (t = 7030; t < 8500; t += 30) {
            enc_dec_at(e, d, f, t, &none, 0, &st);
            g_assert_cmpuint(st.tiles_refined, ==, 0);
        }
        /* 10 s at 2 kB/s: the share of the link, plus the burst */
        for (; t < 18500; t += 30) {
            b = enc_dec_at(e, d, f, t, &none, 0, &st);
            if (st.tiles_refined) {
                refined += b;
            }
        }
        g_assert_cmpuint(refined, >, 0);
        g_assert_cmpuint(refined, <=, 2000 * 10 + VDI_ENC_MIN_BUDGET +
                         64 * 64 * 4 + 100);
    }
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

/*
 * A tile that changes at every frame (video at 5 frames/s, the encoder
 * called each 30 ms as the VNC server does while lossy tiles are
 * pending) is never refined while it changes, even with a refine delay
 * shorter than its frame interval; it is once it stops.  Static photos
 * next to it are refined, and were sent at a better JPEG quality.
 */
static void test_wan_video_not_refined(void)
{
    const int w = 384, h = 128;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);
    VdiEncStats st;
    VdiRect none, vid = { 0, 0, 192, h };
    VdiRect all = { 0, 0, w, h };
    double psnr_static, psnr_video;
    int64_t t;

    vdi_enc_set_refine_delay(e, 100, 100);
    /* refinement within 1 s, but no room for lossless at once */
    vdi_enc_set_link_rate(e, 500000);
    vdi_enc_set_jpeg_quality(e, 60);
    syn_photo(f->px, f->sp, 0, 0, w, h, 0, 7);
    enc_dec_at(e, d, f, 0, NULL, 0, &st);
    g_assert_cmpuint(st.lossy_pending, ==, w * h);
    for (t = 30; t < 3000; t += 30) {
        bool change = t % 210 == 0;

        if (change) {
            syn_photo(f->px, f->sp, 0, 0, 192, h, t, 7);
        }
        if (t == 2940) {
            /* the same content in the static half, changed for once */
            syn_photo(f->px, f->sp, 192, 0, 192, h, t, 7);
        }
        enc_dec_at(e, d, f, t, t == 2940 ? &all : change ? &vid : &none,
                   change, &st);
        if (t > 420) {
            /* known to be moving after two changes: never refined */
            g_assert_cmpuint(st.tiles_refined, ==, 0);
            g_assert_cmpfloat(rfb_dec_psnr(d, f->px, f->sp, 0, 0, 192, h),
                              <, 99.0);
        }
        if (change && t > 420 && t < 2940) {
            g_assert_cmpuint(st.lossy_pixels, ==, 192 * h);
        }
        if (t == 2940) {
            /* the static half got the better JPEG quality */
            g_assert_cmpuint(st.lossy_pixels, ==, w * h);
            psnr_video = rfb_dec_psnr(d, f->px, f->sp, 0, 0, 192, h);
            psnr_static = rfb_dec_psnr(d, f->px, f->sp, 192, 0, 192, h);
            g_assert_cmpfloat(psnr_static, >, psnr_video + 0.5);
        }
        if (t == 600) {
            /* the static half was refined meanwhile */
            g_assert_cmpuint(rfb_dec_diff(d, f->px, f->sp), >, 0);
            g_assert_cmpfloat(rfb_dec_psnr(d, f->px, f->sp, 192, 0, 192, h),
                              >=, 99.0);
        }
    }
    /* the video stopped (last change at 2940 ms): refined 2 intervals on */
    for (; t < 3300; t += 30) {
        enc_dec_at(e, d, f, t, &none, 0, &st);
    }
    g_assert_cmpuint(rfb_dec_diff(d, f->px, f->sp), >, 0);
    enc_dec_at(e, d, f, 3400, &none, 0, &st);
    g_assert_cmpuint(st.tiles_refined, >, 0);
    for (t = 3430; t < 4000; t += 30) {
        enc_dec_at(e, d, f, t, &none, 0, &st);
    }
    assert_exact(d, f);
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

/*
 * Video on a link with room for it lossless gets a better JPEG quality
 * than the rate controller's (whose scale ends at 90, where real film
 * was below stock Tight+JPEG's PSNR), and is still sent as JPEG.
 */
static void test_wan_video_quality_with_room(void)
{
    const int w = 192, h = 128;
    const double rate[2] = { 200000, 100e6 };   /* no room, room */
    double psnr[2];

    for (int i = 0; i < 2; i++) {
        VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
        RfbDec *d = rfb_dec_new(w, h);
        Frame *f = frame_new(w, h, 0);
        VdiRect all = { 0, 0, w, h };
        VdiEncStats st;

        vdi_enc_set_link_rate(e, rate[i]);
        vdi_enc_set_jpeg_quality(e, 90);
        for (int t = 0; t <= 330; t += 33) {
            syn_photo(f->px, f->sp, 0, 0, w, h, t, 7);
            enc_dec_at(e, d, f, t, t ? &all : NULL, !!t, &st);
        }
        g_assert_cmpuint(st.lossy_pixels, ==, w * h);
        psnr[i] = rfb_dec_psnr(d, f->px, f->sp, 0, 0, w, h);
        g_test_message("link %.0f bytes/s: PSNR %.2f dB", rate[i], psnr[i]);
        frame_free(f);
        rfb_dec_free(d);
        vdi_enc_free(e);
    }
    g_assert_cmpfloat(psnr[1], >, psnr[0] + 1);
}

/*
 * A window whose picture the client has lossy, dragged with CopyRect: its
 * refinement waits until it stops moving (sent once, not at each step).
 */
static void test_wan_drag_refine(void)
{
    const int w = 640, h = 480;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);
    VdiEncStats st;
    VdiRect none;
    int wx = 20, wy = 20, t = 0;
    uint64_t copies = 0;

    vdi_enc_set_refine_delay(e, 100, 100);
    syn_fill(f->px, f->sp, 0, 0, w, h, 0x336699);
    syn_window(f->px, f->sp, w, h, wx, wy, 300, 220, 5);
    enc_dec_at(e, d, f, t, NULL, 0, &st);
    g_assert_cmpuint(st.rects[VDI_ENC_KIND_JPEG], >, 0);
    /* the drag starts long after: refinement is due by then */
    for (int i = 0; i < 30; i++) {
        t = 1000 + i * 16;
        wx += 5;
        wy += 3;
        syn_fill(f->px, f->sp, 0, 0, w, h, 0x336699);
        syn_window(f->px, f->sp, w, h, wx, wy, 300, 220, 5);
        enc_dec_at(e, d, f, t, NULL, 0, &st);
        copies += st.rects[VDI_ENC_KIND_COPYRECT];
        g_assert_cmpuint(st.tiles_refined, ==, 0);
    }
    g_assert_cmpuint(copies, >=, 25);
    /* it stops: refined once the delay is over */
    enc_dec_at(e, d, f, t + 99, &none, 0, &st);
    g_assert_cmpuint(st.tiles_refined, ==, 0);
    enc_dec_at(e, d, f, t + 100, &none, 0, &st);
    g_assert_cmpuint(st.tiles_refined, >, 0);
    assert_exact(d, f);
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

/*
 * A photo that stays: each of its tiles is refined at most once, and
 * once the client has it exactly nothing more is sent while nothing
 * changes, whatever the link rate, also when the guest redraws the same
 * pixels (damage without a change).
 */
static void test_wan_static_refined_once(void)
{
    const int w = 640, h = 480;
    const VdiRect all = { 0, 0, w, h };

    for (int rate = 0; rate <= 4; rate++) {
        VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
        RfbDec *d = rfb_dec_new(w, h);
        Frame *f = frame_new(w, h, 0);
        VdiEncStats st;
        VdiRect none;
        uint32_t refined = 0, jpeg_tiles;
        size_t late = 0;

        syn_wallpaper(f->px, f->sp, w, h);
        syn_photo(f->px, f->sp, 64, 64, 448, 320, 0, 3);
        vdi_enc_set_link_rate(e, rate * 250000.0);
        enc_dec_at(e, d, f, 0, NULL, 0, &st);
        jpeg_tiles = st.lossy_pixels / (64 * 64);
        for (int i = 1; i <= 150; i++) {
            /* the guest may redraw the same pixels: damage, no change */
            size_t n = enc_dec_at(e, d, f, i * 33, i % 2 ? &all : &none,
                                  i % 2, &st);

            refined += st.tiles_refined;
            if (i > 120) {
                late += n;
            }
        }
        g_assert_cmpuint(refined, <=, jpeg_tiles);
        g_assert_cmpuint(late, ==, 0);
        assert_exact(d, f);
        frame_free(f);
        rfb_dec_free(d);
        vdi_enc_free(e);
    }
}

/*
 * A window dragged over a photo wallpaper on an 8 Mbit/s link: what each
 * step uncovers is a few thousand pixels, which the link carries
 * losslessly at once.  Sending them as JPEG (a whole tile for a strip)
 * and refining them later costs more than lossless alone.
 */
static void test_wan_drag_lossless_with_room(void)
{
    const int w = 800, h = 600;
    uint64_t bytes[2] = { 0, 0 };

    for (int p = 0; p < 2; p++) {
        VdiEncoder *e = vdi_enc_new(p ? VDI_PROFILE_WAN : VDI_PROFILE_LAN,
                                    VDI_ENC_CAP_ALL);
        RfbDec *d = rfb_dec_new(w, h);
        Frame *f = frame_new(w, h, 0);
        VdiEncStats st;
        VdiRect none;
        uint64_t jpeg = 0;

        vdi_enc_set_link_rate(e, 1000000);
        syn_photo(f->px, f->sp, 0, 0, w, h, 0, 7);
        syn_window(f->px, f->sp, w, h, 40, 40, 300, 200, 2);
        enc_dec_at(e, d, f, 0, NULL, 0, &st);
        /* the first frame settles */
        for (int i = 1; i <= 100; i++) {
            enc_dec_at(e, d, f, i * 33, &none, 0, &st);
        }
        assert_exact(d, f);
        for (int i = 1; i <= 30; i++) {
            syn_photo(f->px, f->sp, 0, 0, w, h, 0, 7);
            syn_window(f->px, f->sp, w, h, 40 + i * 9, 40 + i * 5, 300, 200,
                       2);
            bytes[p] += enc_dec_at(e, d, f, 3300 + i * 33, NULL, 0, &st);
            jpeg += st.rects[VDI_ENC_KIND_JPEG];
        }
        for (int i = 1; i <= 100; i++) {
            bytes[p] += enc_dec_at(e, d, f, 4300 + i * 33, &none, 0, &st);
        }
        assert_exact(d, f);
        g_assert_cmpuint(jpeg, ==, 0);
        frame_free(f);
        rfb_dec_free(d);
        vdi_enc_free(e);
    }
    /* wan costs what lan does (palettes and streams differ a little) */
    g_assert_cmpuint(bytes[1], <=, bytes[0] * 11 / 10);
}

/* ---- byte budget ---- */

static void test_budget(void)
{
    const int w = 400, h = 300;
    const size_t budget = 20000;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);
    VdiEncStats st;
    size_t b;
    int calls = 0;

    vdi_enc_set_budget(e, budget);
    for (int i = 0; i < w * h; i++) {
        f->px[i] = syn_hash(i, 5, 5) & 0xffffff;
    }
    syn_text(f->px, f->sp, 0, 0, 200, 150, 0, 1, -1);
    do {
        b = enc_dec(e, d, f, NULL, 0, &st);
        g_assert_cmpuint(b, <=, budget);
        calls++;
        /* change things meanwhile: deferred tiles merge with them */
        if (calls == 3) {
            syn_photo(f->px, f->sp, 100, 100, 200, 150, 0, 1);
        }
        g_assert_cmpint(calls, <, 100);
    } while (st.budget_limited);
    g_assert_cmpint(calls, >=, (w * h * 3 / 2) / budget);
    g_assert_cmpuint(st.tiles_deferred, ==, 0);
    assert_exact(d, f);
    g_assert_false(vdi_enc_has_pending(e));

    /* tiny budgets are raised to the minimum, which always progresses */
    vdi_enc_set_budget(e, 1);
    for (int i = 0; i < w * h; i++) {
        f->px[i] = syn_hash(i, 6, 5) & 0xffffff;
    }
    calls = 0;
    do {
        b = enc_dec(e, d, f, NULL, 0, &st);
        g_assert_cmpuint(b, <=, VDI_ENC_MIN_BUDGET);
        g_assert_cmpuint(b, >, 0);
        calls++;
    } while (st.budget_limited && calls < 200);
    assert_exact(d, f);
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vdi-enc/wan/drag-refine", test_wan_drag_refine);
    g_test_add_func("/vdi-enc/wan/refine", test_wan_refine);
    g_test_add_func("/vdi-enc/wan/drag-lossless-with-room",
                    test_wan_drag_lossless_with_room);
    g_test_add_func("/vdi-enc/wan/static-refined-once",
                    test_wan_static_refined_once);
    g_test_add_func("/vdi-enc/wan/refine-time", test_wan_refine_time);
    g_test_add_func("/vdi-enc/wan/video-not-refined",
                    test_wan_video_not_refined);
    g_test_add_func("/vdi-enc/wan/video-quality-with-room",
                    test_wan_video_quality_with_room);
    g_test_add_func("/vdi-enc/budget", test_budget);
    return g_test_run();
}
