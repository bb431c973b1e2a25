/*
 * Unit tests for the VDI adaptive display encoder and link estimator
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The encoder output is checked with the independent RFB decoder of
 * vdi-rfb-dec.h against the frames the test itself generated; the link
 * estimator is fed synthetic timelines of a simulated bottleneck link
 * whose bandwidth and delay the test knows.
 */

#include "qemu/osdep.h"
#include <math.h>
#include <ft2build.h>
#include FT_FREETYPE_H
#include FT_LCD_FILTER_H
#include "ui/vdi-enc.h"
#include "ui/vdi-link.h"
#include "vdi-rfb-dec.h"
#include "vdi-synth.h"

typedef struct Frame {
    int w, h, sp;       /* sp: stride in pixels */
    uint32_t *px;
} Frame;

static Frame *frame_new(int w, int h, int sp)
{
    Frame *f = g_new0(Frame, 1);

    f->w = w;
    f->h = h;
    f->sp = sp ? sp : w;
    f->px = g_new0(uint32_t, (size_t)f->sp * h);
    /* garbage in the padding and the top byte must not matter */
    for (size_t i = 0; i < (size_t)f->sp * h; i++) {
        f->px[i] = 0xab000000u | (i % (size_t)f->sp >= (size_t)w ?
                                  0x00ff00ff : 0);
    }
    return f;
}

static void frame_free(Frame *f)
{
    g_free(f->px);
    g_free(f);
}

/* Encode, decode, return the bytes; fails the test on decode errors */
static size_t enc_dec(VdiEncoder *e, RfbDec *d, Frame *f,
                      const VdiRect *damage, int nd, VdiEncStats *st)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    VdiEncStats local;
    int n;

    n = vdi_enc_frame(e, f->px, f->w, f->h, f->sp * 4, damage, nd, out,
                      st ? st : &local);
    g_assert_cmpint(n, >=, 0);
    g_assert_cmpint(n, <=, 65535);
    g_assert_true(rfb_dec_apply(d, out->data, out->len, n));
    return out->len;
}

static void assert_exact(RfbDec *d, Frame *f)
{
    g_assert_cmpuint(rfb_dec_diff(d, f->px, f->sp), ==, 0);
}

/* ---- decoder self-check with hand-made bytes from the spec ---- */

static void test_decoder_selfcheck(void)
{
    RfbDec *d = rfb_dec_new(4, 2);
    /* Tight fill of (1,0) 2x2 with RGB 12 34 56 */
    static const uint8_t fill[] = {
        0, 1, 0, 0, 0, 2, 0, 2, 0, 0, 0, 7, 0x80, 0x12, 0x34, 0x56,
    };
    /* Tight mono 4x2 (explicit palette filter, 2 colours, 1 bit rows) */
    static const uint8_t mono[] = {
        0, 0, 0, 0, 0, 4, 0, 2, 0, 0, 0, 7, 0x40 | 0x10, 1, 1,
        0xff, 0, 0, 0, 0, 0xff, 0xa0, 0x50,
    };
    /* Raw 1x1 at (3,1): B G R x */
    static const uint8_t raw[] = {
        0, 3, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0x33, 0x22, 0x11, 0,
    };
    /* CopyRect (0,0) 1x1 from (3,1) */
    static const uint8_t copy[] = {
        0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 3, 0, 1,
    };
    static const uint8_t bad[] = {
        0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 7, 0xa0,
    };

    g_assert_true(rfb_dec_apply(d, fill, sizeof(fill), 1));
    g_assert_cmphex(d->fb[1], ==, 0x123456);
    g_assert_cmphex(d->fb[4 + 2], ==, 0x123456);
    g_assert_cmphex(d->fb[0], ==, 0);
    g_assert_true(rfb_dec_apply(d, mono, sizeof(mono), 1));
    /* 0xa0 = 1010: pixels 0, 2 are colour 1 (blue) */
    g_assert_cmphex(d->fb[0], ==, 0x0000ff);
    g_assert_cmphex(d->fb[1], ==, 0xff0000);
    g_assert_cmphex(d->fb[4 + 1], ==, 0x0000ff);
    g_assert_true(rfb_dec_apply(d, raw, sizeof(raw), 1));
    g_assert_cmphex(d->fb[4 + 3], ==, 0x112233);
    g_assert_true(rfb_dec_apply(d, copy, sizeof(copy), 1));
    g_assert_cmphex(d->fb[0], ==, 0x112233);
    g_assert_false(rfb_dec_apply(d, bad, sizeof(bad), 1));
    g_assert_false(rfb_dec_apply(d, fill, sizeof(fill) - 1, 1));
    rfb_dec_free(d);
}

/* ---- wire format checks of the encoder against the spec ---- */

static void test_wire_fill(void)
{
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    Frame *f = frame_new(64, 64, 0);
    g_autoptr(GByteArray) out = g_byte_array_new();
    static const uint8_t want[] = {
        0, 0, 0, 0, 0, 64, 0, 64, 0, 0, 0, 7, 0x80, 0x12, 0x34, 0x56,
    };

    syn_fill(f->px, f->sp, 0, 0, 64, 64, 0x123456);
    g_assert_cmpint(vdi_enc_frame(e, f->px, 64, 64, 256, NULL, 0, out,
                                  NULL), ==, 1);
    g_assert_cmpuint(out->len, ==, sizeof(want));
    g_assert_cmpmem(out->data, out->len, want, sizeof(want));
    /* unchanged frame: nothing to send */
    g_byte_array_set_size(out, 0);
    g_assert_cmpint(vdi_enc_frame(e, f->px, 64, 64, 256, NULL, 0, out,
                                  NULL), ==, 0);
    g_assert_cmpuint(out->len, ==, 0);
    frame_free(f);
    vdi_enc_free(e);
}

/*
 * A full-colour rect: compact length and zlib stream 0, with no reset bit
 * (the client's inflater is new; noVNC's cannot reset one mid-session)
 */
static void test_wire_zlib(void)
{
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    Frame *f = frame_new(64, 64, 0);
    g_autoptr(GByteArray) out = g_byte_array_new();
    size_t zlen;
    const uint8_t *p;

    for (int i = 0; i < 64 * 64; i++) {
        f->px[i] = syn_hash(i, 1, 2) & 0xffffff;
    }
    g_assert_cmpint(vdi_enc_frame(e, f->px, 64, 64, 256, NULL, 0, out,
                                  NULL), ==, 1);
    p = out->data;
    g_assert_cmpint(p[11], ==, 7);
    /* stream 0, copy filter (no explicit filter), no reset */
    g_assert_cmphex(p[12], ==, 0x00);
    /* random data does not compress: 2 byte compact length (< 2^14) */
    g_assert_true(p[13] & 0x80);
    g_assert_false(p[14] & 0x80);
    zlen = (p[13] & 0x7f) | (p[14] << 7);
    g_assert_cmpuint(zlen, >, 64 * 64 * 3);
    g_assert_cmpuint(out->len, ==, 15 + zlen);
    /* the data is one zlib stream (header 0x78) ending in a sync flush */
    g_assert_cmphex(p[15], ==, 0x78);
    g_assert_cmpmem(p + out->len - 4, 4, "\x00\x00\xff\xff", 4);
    frame_free(f);
    vdi_enc_free(e);
}

/* ---- lossless profile ---- */

static void test_lan_exact_sequence(void)
{
    const int w = 320, h = 240;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);
    VdiEncStats st;

    syn_wallpaper(f->px, f->sp, w, h);
    syn_window(f->px, f->sp, w, h, 10, 10, 300, 170, 1);
    syn_fill(f->px, f->sp, 0, 192, w, 48, 0x303030);   /* task bar */
    enc_dec(e, d, f, NULL, 0, &st);
    assert_exact(d, f);
    g_assert_cmpuint(st.rects[VDI_ENC_KIND_FILL], >, 0);
    g_assert_cmpuint(st.rects[VDI_ENC_KIND_PALETTE] +
                     st.rects[VDI_ENC_KIND_MONO], >, 0);
    g_assert_cmpuint(st.rects[VDI_ENC_KIND_ZLIB], >, 0);
    g_assert_cmpuint(st.rects[VDI_ENC_KIND_JPEG], ==, 0);

    for (int i = 0; i < 30; i++) {
        switch (i % 5) {
        case 0: /* typing */
            syn_text(f->px, f->sp, 18, 68, 134, 130, 0, 1, i * 3);
            break;
        case 1: /* video-like region */
            syn_photo(f->px, f->sp, 160, 80, 140, 100, i, 3);
            break;
        case 2: /* a button press */
            syn_fill(f->px, f->sp, 18, 40, 60, 20, 0x808080 + i);
            break;
        case 3: /* single pixels */
            f->px[(i * 37) % h * f->sp + (i * 91) % w] ^= 0x10101;
            break;
        default: /* a gradient */
            for (int y = 100; y < 164; y++) {
                for (int x = 0; x < 200; x++) {
                    f->px[y * f->sp + x] = (x + i) << 8 | y;
                }
            }
        }
        enc_dec(e, d, f, NULL, 0, &st);
        assert_exact(d, f);
        g_assert_cmpuint(st.lossy_pending, ==, 0);
    }
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

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

/* ---- lossy profile ---- */

static void test_wan_psnr(void)
{
    const int w = 320, h = 256;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);
    VdiEncStats st;
    uint64_t diff = 0;

    vdi_enc_set_jpeg_quality(e, 70);
    vdi_enc_set_refine_delay(e, 100000, 100000);
    for (int i = 0; i < 5; i++) {
        syn_text(f->px, f->sp, 0, 0, 128, h, 0, 3, -1);
        syn_photo(f->px, f->sp, 128, 0, 192, h, i, 9);
        enc_dec(e, d, f, NULL, 0, &st);
        g_assert_cmpuint(st.rects[VDI_ENC_KIND_JPEG], >, 0);
        g_assert_cmpuint(st.lossy_pixels, >=, 192 * (h - 64));
        g_assert_cmpfloat(rfb_dec_psnr(d, f->px, f->sp, 128, 0, 192, h),
                          >=, 30.0);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < 128; x++) {
                diff += (f->px[y * f->sp + x] & 0xffffff) !=
                    d->fb[y * w + x];
            }
        }
        g_assert_cmpuint(diff, ==, 0);
        g_assert_cmpuint(st.lossy_pending, >, 0);
    }
    /* lower quality, fewer bytes */
    {
        size_t hi, lo;

        vdi_enc_invalidate(e, NULL);
        enc_dec(e, d, f, NULL, 0, &st);
        hi = st.bytes[VDI_ENC_KIND_JPEG];
        vdi_enc_set_jpeg_quality(e, 25);
        vdi_enc_invalidate(e, NULL);
        enc_dec(e, d, f, NULL, 0, &st);
        lo = st.bytes[VDI_ENC_KIND_JPEG];
        g_assert_cmpuint(lo * 5, <, hi * 4);
        g_assert_cmpfloat(rfb_dec_psnr(d, f->px, f->sp, 128, 0, 192, h),
                          >=, 25.0);
    }
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

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

#define MSEC 1000000LL

/* Encode at time @ms (ms) */
static size_t enc_dec_at(VdiEncoder *e, RfbDec *d, Frame *f, int64_t ms,
                         const VdiRect *damage, int nd, VdiEncStats *st)
{
    vdi_enc_set_time(e, ms * MSEC);
    return enc_dec(e, d, f, damage, nd, st);
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

/*
 * A VGA text console (80x25 cells of 9x16) scrolling under "seq" with a
 * blinking cursor, encoded the way the glue drives the encoder while the
 * display profile switches: damage from the changed 16-pixel blocks of
 * each row, in bands of 64 rows; lan and wan in turn (auto, or QMP),
 * byte budgets, link rates, outputs dropped for a stale surface.  Once
 * the encoder says nothing is pending, the client must have the console
 * exactly: a cell it believes sent is never sent again.
 */
#define CON_COLS 80
#define CON_ROWS 25
#define CON_CW 9
#define CON_CH 16

typedef struct Console {
    uint8_t text[CON_ROWS][CON_COLS];
    int cx, cy;
    bool cursor;
} Console;

static void con_draw(const Console *con, Frame *f)
{
    for (int y = 0; y < f->h; y++) {
        for (int x = 0; x < f->w; x++) {
            int r = y / CON_CH, col = x / CON_CW;
            int gx = x % CON_CW, gy = y % CON_CH;
            uint8_t ch = con->text[r][col];
            bool on = ch && gx < 8 && gy >= 2 && gy < 14 &&
                !(syn_hash(ch, gx, gy) & 3);

            if (con->cursor && r == con->cy && col == con->cx && gy >= 14) {
                on = true;
            }
            f->px[(size_t)y * f->sp + x] = on ? 0xaaaaaa : 0;
        }
    }
}

static void con_newline(Console *con)
{
    con->cx = 0;
    if (con->cy < CON_ROWS - 1) {
        con->cy++;
        return;
    }
    memmove(con->text[0], con->text[1], (CON_ROWS - 1) * CON_COLS);
    memset(con->text[CON_ROWS - 1], 0, CON_COLS);
}

static void con_puts(Console *con, const char *s)
{
    for (; *s; s++) {
        if (*s == '\n') {
            con_newline(con);
        } else if (con->cx < CON_COLS) {
            con->text[con->cy][con->cx++] = *s;
        }
    }
}

/* What vnc-vdi.c's vdi_collect_damage() makes of the changed pixels */
static int con_damage(const Frame *old, const Frame *f, VdiRect *dmg)
{
    int n = 0;

    for (int ty = 0; ty < f->h; ty += 64) {
        bool col[CON_COLS * CON_CW / 16 + 1] = { false };
        int bh = MIN(64, f->h - ty), x = 0;

        for (int y = ty; y < ty + bh; y++) {
            for (int px = 0; px < f->w; px++) {
                size_t i = (size_t)y * f->sp + px;

                if ((old->px[i] ^ f->px[i]) & 0xffffff) {
                    col[px / 16] = true;
                }
            }
        }
        while (x < f->w / 16 + 1) {
            int x2 = x;

            if (!col[x]) {
                x++;
                continue;
            }
            while (x2 < f->w / 16 + 1 && col[x2]) {
                x2++;
            }
            dmg[n++] = (VdiRect) { x * 16, ty, (x2 - x) * 16, bh };
            x = x2;
        }
    }
    return n;
}

static void test_console_profile_switches(void)
{
    const int w = CON_COLS * CON_CW, h = CON_ROWS * CON_CH;

    for (int seed = 1; seed <= 16; seed++) {
        VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN,
                                    VDI_ENC_CAP_ALL | VDI_ENC_CAP_H264);
        RfbDec *d = rfb_dec_new(w, h);
        Frame *f = frame_new(w, h, 0), *old = frame_new(w, h, 0);
        GRand *rnd = g_rand_new_with_seed(seed);
        g_autoptr(GByteArray) out = g_byte_array_new();
        VdiRect dmg[64];
        Console con = { .cursor = true };
        VdiEncStats st;
        int64_t t = 0;
        int line = 0, nd, n, i;

        con_puts(&con, "$ ");
        con_draw(&con, f);
        enc_dec_at(e, d, f, t, NULL, 0, &st);
        for (i = 0; i < 300; i++) {
            memcpy(old->px, f->px, (size_t)w * h * 4);
            switch (g_rand_int_range(rnd, 0, 4)) {
            case 0:
            case 1:
                for (int k = g_rand_int_range(rnd, 1, 8); k > 0; k--) {
                    g_autofree char *s = g_strdup_printf("%d\n", line++);

                    con_puts(&con, s);
                }
                break;
            case 2:
                con.cursor = !con.cursor;
                break;
            default:
                con_puts(&con, g_rand_boolean(rnd) ? "$ " : "seq 1 400\n");
                break;
            }
            con_draw(&con, f);
            nd = con_damage(old, f, dmg);
            t += g_rand_int_range(rnd, 5, 80);
            vdi_enc_set_time(e, t * MSEC);
            vdi_enc_set_profile(e, g_rand_int_range(rnd, 0, 3) ?
                                VDI_PROFILE_WAN : VDI_PROFILE_LAN);
            vdi_enc_set_budget(e, g_rand_boolean(rnd) ? 0 :
                               g_rand_int_range(rnd, VDI_ENC_MIN_BUDGET,
                                                20000));
            vdi_enc_set_link_rate(e, g_rand_int_range(rnd, 0, 4) * 40000.0);
            vdi_enc_set_jpeg_quality(e, g_rand_int_range(rnd, 20, 90));
            g_byte_array_set_size(out, 0);
            n = vdi_enc_frame(e, f->px, w, h, w * 4, dmg, nd, out, &st);
            g_assert_cmpint(n, >=, 0);
            if (!g_rand_int_range(rnd, 0, 12)) {
                /* the surface changed while the job ran */
                vdi_enc_drop_output(e);
                continue;
            }
            g_assert_true(rfb_dec_apply(d, out->data, out->len, n));
            g_assert_cmpuint(rfb_dec_stale(d, f->px, f->sp), ==, 0);
        }
        /* lan from now on, as long as the encoder has something pending */
        vdi_enc_set_profile(e, VDI_PROFILE_LAN);
        vdi_enc_set_budget(e, 0);
        for (i = 0; i < 20 && vdi_enc_has_pending(e); i++) {
            t += 50;
            enc_dec_at(e, d, f, t, dmg, 0, &st);
        }
        if (rfb_dec_diff(d, f->px, f->sp)) {
            g_test_message("seed %d: %" PRIu64 " pixels differ after %d "
                           "updates with nothing pending", seed,
                           rfb_dec_diff(d, f->px, f->sp), i);
        }
        assert_exact(d, f);
        g_rand_free(rnd);
        frame_free(old);
        frame_free(f);
        rfb_dec_free(d);
        vdi_enc_free(e);
    }
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

/* ---- anti-aliased text from a real font ---- */

/* Debian's fonts-dejavu-core */
#define TEXT_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

static const char *const text_lines[] = {
    "The quick brown fox jumps over the lazy dog. Patient: Jane Doe,",
    "admitted 2026-03-14 with suspected pneumonia; chest X-ray shows",
    "bilateral infiltrates. Plan: amoxicillin 1 g t.i.d., review in 48 h.",
    "Allergies: none known. Vital signs: BP 128/82, HR 88, SpO2 94 %.",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do",
    "eiusmod tempor incididunt ut labore et dolore magna aliqua.",
};

/*
 * Render text_lines with FreeType's LCD (sub-pixel, @lcd: glyph edges
 * get coloured fringes, as on a desktop) or grey anti-aliasing (as
 * pdftoppm renders documents) at @px_size pixels onto a white frame,
 * each word in the next colour of @colors.
 */
static Frame *render_text(int w, int h, int px_size, const uint32_t *colors,
                          int ncolors, bool lcd)
{
    Frame *f = frame_new(w, h, 0);
    FT_Library lib;
    FT_Face face;
    int line_h = px_size * 3 / 2;

    for (int i = 0; i < w * h; i++) {
        f->px[i] = 0xffffff;
    }
    g_assert_cmpint(FT_Init_FreeType(&lib), ==, 0);
    if (FT_New_Face(lib, TEXT_FONT, 0, &face)) {
        g_error("cannot load %s (Debian package fonts-dejavu-core)",
                TEXT_FONT);
    }
    FT_Library_SetLcdFilter(lib, FT_LCD_FILTER_DEFAULT);
    g_assert_cmpint(FT_Set_Pixel_Sizes(face, 0, px_size), ==, 0);
    for (int l = 0; (l + 1) * line_h < h; l++) {
        const char *t = text_lines[l % ARRAY_SIZE(text_lines)];
        int pen = 4, base = (l + 1) * line_h, word = 0;

        for (; *t && pen < w; t++) {
            FT_GlyphSlot g = face->glyph;
            uint32_t fg = colors[word % ncolors];

            if (*t == ' ') {
                word++;
            }
            g_assert_cmpint(FT_Load_Char(face, (unsigned char)*t,
                                         FT_LOAD_RENDER |
                                         (lcd ? FT_LOAD_TARGET_LCD : 0)),
                            ==, 0);
            for (int y = 0; y < (int)g->bitmap.rows; y++) {
                int fy = base - g->bitmap_top + y;

                for (int x = 0; x < (int)g->bitmap.width / (lcd ? 3 : 1);
                     x++) {
                    const uint8_t *row = g->bitmap.buffer +
                        y * g->bitmap.pitch;
                    const uint8_t cov[3] = {
                        row[lcd ? x * 3 : x], row[lcd ? x * 3 + 1 : x],
                        row[lcd ? x * 3 + 2 : x],
                    };
                    int fx = pen + g->bitmap_left + x;
                    uint32_t bg, out = 0;

                    if (fx < 0 || fx >= w || fy < 0 || fy >= h) {
                        continue;
                    }
                    bg = f->px[fy * w + fx];
                    for (int ch = 0; ch < 3; ch++) {
                        int sh = 16 - 8 * ch;
                        int a = cov[ch];
                        int b = (bg >> sh) & 0xff, c = (fg >> sh) & 0xff;

                        out |= (uint32_t)((c * a + b * (255 - a) + 127) /
                                          255) << sh;
                    }
                    f->px[fy * w + fx] = out;
                }
            }
            pen += g->advance.x >> 6;
        }
    }
    FT_Done_Face(face);
    FT_Done_FreeType(lib);
    return f;
}

/* Most colours of a tile of @f, and whether that tile is mostly runs */
static int text_max_colors(Frame *f, bool *runny)
{
    int best = 0;

    for (int ty = 0; ty + 64 <= f->h; ty += 64) {
        for (int tx = 0; tx + 64 <= f->w; tx += 64) {
            g_autoptr(GHashTable) set = g_hash_table_new(NULL, NULL);
            int same = 0;

            for (int y = ty; y < ty + 64; y++) {
                for (int x = tx; x < tx + 64; x++) {
                    uint32_t p = f->px[y * f->sp + x] & 0xffffff;

                    g_hash_table_add(set, GUINT_TO_POINTER(p + 1));
                    same += x > tx && p == (f->px[y * f->sp + x - 1] &
                                            0xffffff);
                }
            }
            if ((int)g_hash_table_size(set) > best) {
                best = g_hash_table_size(set);
                *runny = same * 2 >= 64 * 63;
            }
        }
    }
    return best;
}

/*
 * Anti-aliased text is text, not a photo: wan sends it losslessly, also
 * in tiles of more than VDI_ENC_FEW_COLORS (dark text) and more than 256
 * colours (words in several colours).
 */
static void test_wan_text_lossless(void)
{
    static const uint32_t dark[] = { 0x202020 };
    static const uint32_t code[] = {
        0x202020, 0x1a4fb0, 0xa31515, 0x007a33, 0x7a1fa2,
    };
    const struct {
        const uint32_t *colors;
        int n, px, min_colors;
    } cases[] = {
        { dark, 1, 13, VDI_ENC_FEW_COLORS + 1 },
        { code, ARRAY_SIZE(code), 12, 257 },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        Frame *f = render_text(512, 192, cases[i].px, cases[i].colors,
                               cases[i].n, true);
        VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
        RfbDec *d = rfb_dec_new(f->w, f->h);
        VdiEncStats st;
        bool runny = false;

        /* what makes the case: many colours, yet mostly runs */
        g_assert_cmpint(text_max_colors(f, &runny), >=,
                        cases[i].min_colors);
        g_assert_true(runny);
        enc_dec(e, d, f, NULL, 0, &st);
        g_assert_cmpuint(st.rects[VDI_ENC_KIND_JPEG], ==, 0);
        g_assert_cmpuint(st.classes[VDI_ENC_CLASS_SMOOTH] +
                         st.classes[VDI_ENC_CLASS_PALETTE], >, 0);
        assert_exact(d, f);
        rfb_dec_free(d);
        vdi_enc_free(e);
        frame_free(f);
    }
}

/*
 * Bytes of stock QEMU's lossless Tight for rect @r of @f (what its VNC
 * server sends with the default compression level 9): rects of at most
 * 65536 pixels, whole rows; one colour a fill, two a bitmap, up to 256 a
 * palette, more full colour; each kind on its own zlib stream (@zs[3],
 * kept across calls) at level 9.
 */
static size_t ref_tight_bytes(Frame *f, const VdiRect *r, z_stream *zs)
{
    size_t total = 0;
    int rows = MAX(1, MIN(r->h, 65536 / r->w));

    for (int y0 = r->y; y0 < r->y + r->h; y0 += rows) {
        int h = MIN(rows, r->y + r->h - y0), n = r->w * h, k = 0, s;
        g_autoptr(GHashTable) pal = g_hash_table_new(NULL, NULL);
        g_autofree uint8_t *data = g_malloc(n * 3);
        g_autofree uint8_t *z = g_malloc(n * 3 + 1024);
        size_t len;

        for (int y = y0; y < y0 + h; y++) {
            for (int x = r->x; x < r->x + r->w; x++) {
                gpointer c = GUINT_TO_POINTER((f->px[y * f->sp + x] &
                                               0xffffff) + 1);

                if (!g_hash_table_contains(pal, c)) {
                    g_hash_table_insert(pal, c, GINT_TO_POINTER(
                                            g_hash_table_size(pal)));
                }
            }
        }
        total += 12 + 1;
        if (g_hash_table_size(pal) == 1) {
            total += 3;
            continue;
        }
        for (int y = y0; y < y0 + h; y++) {
            for (int x = r->x; x < r->x + r->w; x++) {
                uint32_t p = f->px[y * f->sp + x] & 0xffffff;
                int i = GPOINTER_TO_INT(g_hash_table_lookup(
                                            pal, GUINT_TO_POINTER(p + 1)));

                if (g_hash_table_size(pal) == 2) {
                    if (!((x - r->x) & 7)) {
                        data[k++] = 0;
                    }
                    data[k - 1] |= i << (7 - ((x - r->x) & 7));
                } else if (g_hash_table_size(pal) <= 256) {
                    data[k++] = i;
                } else {
                    data[k++] = p >> 16;
                    data[k++] = p >> 8;
                    data[k++] = p;
                }
            }
        }
        s = g_hash_table_size(pal) == 2 ? 1 :
            g_hash_table_size(pal) <= 256 ? 2 : 0;
        if (s) {
            total += 2 + g_hash_table_size(pal) * 3;   /* filter, palette */
        }
        zs[s].next_in = data;
        zs[s].avail_in = k;
        zs[s].next_out = z;
        zs[s].avail_out = n * 3 + 1024;
        g_assert_cmpint(deflate(&zs[s], Z_SYNC_FLUSH), ==, Z_OK);
        len = zs[s].next_out - z;
        total += len + (len > 127) + (len > 16383) + 1;
    }
    return total;
}

/*
 * Do @a's @r and @b's @r 32 rows higher differ above and below y = 64, in
 * many colours?
 */
static bool glyph_straddles(Frame *a, Frame *b, const VdiRect *r)
{
    g_autoptr(GHashTable) set = g_hash_table_new(NULL, NULL);
    bool above = false, below = false;

    for (int y = r->y; y < r->y + r->h; y++) {
        for (int x = r->x; x < r->x + r->w; x++) {
            uint32_t p = b->px[(y - 32) * b->sp + x];

            if (p != a->px[y * a->sp + x]) {
                above |= y < 64;
                below |= y >= 64;
            }
            g_hash_table_add(set, GUINT_TO_POINTER(p + 1));
        }
    }
    return above && below && g_hash_table_size(set) > 8;
}

static int rects_of(const VdiEncStats *st)
{
    int n = 0;

    for (int k = 0; k < VDI_ENC_KIND__MAX; k++) {
        n += st->rects[k];
    }
    return n;
}

/*
 * Anti-aliased text costs wan no more than stock Tight: a page turned
 * (every tile changed) and a character typed across a tile row each
 * take at most stock's bytes, the character in one rect.
 */
static void test_wan_text_not_above_stock(void)
{
    static const uint32_t dark[] = { 0x202020 };
    Frame *a = render_text(1280, 320, 13, dark, 1, false);
    Frame *b = render_text(1280, 320, 12, dark, 1, false);
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(a->w, a->h);
    VdiRect all = { 0, 0, a->w, a->h }, glyph = { 400, 56, 8, 16 };
    z_stream zs[3] = { 0 };
    size_t ours = 0, ref = 0;
    VdiEncStats st;

    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(deflateInit(&zs[i], 9), ==, Z_OK);
    }
    vdi_enc_set_link_rate(e, 100e6);
    enc_dec(e, d, a, NULL, 0, NULL);
    ref_tight_bytes(a, &all, zs);

    /* next page, twice over, as a reader pages back and forth */
    for (int i = 0; i < 2; i++) {
        Frame *f = i ? a : b;

        ours += enc_dec(e, d, f, &all, 1, &st);
        ref += ref_tight_bytes(f, &all, zs);
        assert_exact(d, f);
    }
    g_test_message("page: wan %zu bytes, stock Tight %zu", ours, ref);
    g_assert_cmpuint(ours, <=, ref);

    /* a character typed across the tile rows at y = 64 */
    while (!glyph_straddles(a, b, &glyph)) {
        glyph.x += glyph.w;
        g_assert_cmpint(glyph.x + glyph.w, <=, a->w);
    }
    for (int y = glyph.y; y < glyph.y + glyph.h; y++) {
        memcpy(a->px + y * a->sp + glyph.x,
               b->px + (y - 32) * b->sp + glyph.x, glyph.w * 4);
    }
    ours = enc_dec(e, d, a, &glyph, 1, &st);
    ref = ref_tight_bytes(a, &glyph, zs);
    g_test_message("character: wan %zu bytes, stock Tight %zu", ours, ref);
    g_assert_cmpint(rects_of(&st), ==, 1);
    g_assert_cmpuint(ours, <=, ref);
    assert_exact(d, a);

    for (int i = 0; i < 3; i++) {
        deflateEnd(&zs[i]);
    }
    rfb_dec_free(d);
    vdi_enc_free(e);
    frame_free(a);
    frame_free(b);
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

/* ---- sizes, strides, damage, caps ---- */

static void odd_size_case(int w, int h, int sp, VdiProfile prof, uint32_t caps)
{
    VdiEncoder *e = vdi_enc_new(prof, caps);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, sp);

    vdi_enc_set_refine_delay(e, 0, 0);
    for (int i = 0; i < 4; i++) {
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                f->px[y * f->sp + x] = i == 1 ? 0x445566 :
                    (syn_hash(x / (i + 1), y, i) % (i ? 3 : 300)) * 0x50503;
            }
        }
        enc_dec(e, d, f, NULL, 0, NULL);
        if (prof == VDI_PROFILE_LAN) {
            assert_exact(d, f);
        }
    }
    /* unchanged frame: WAN has refined everything */
    enc_dec(e, d, f, NULL, 0, NULL);
    assert_exact(d, f);
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

static void test_odd_sizes(void)
{
    static const int sz[][3] = {
        { 1, 1, 0 }, { 65, 3, 0 }, { 3, 65, 0 }, { 127, 129, 0 },
        { 64, 64, 0 }, { 2, 200, 5 }, { 100, 70, 133 }, { 1, 1, 7 },
    };

    for (int i = 0; i < ARRAY_SIZE(sz); i++) {
        odd_size_case(sz[i][0], sz[i][1], sz[i][2], VDI_PROFILE_LAN,
                      VDI_ENC_CAP_ALL);
        odd_size_case(sz[i][0], sz[i][1], sz[i][2], VDI_PROFILE_WAN,
                      VDI_ENC_CAP_ALL);
        odd_size_case(sz[i][0], sz[i][1], sz[i][2], VDI_PROFILE_LAN,
                      VDI_ENC_CAP_COPYRECT);
    }
}

static void test_raw_only(void)
{
    const int w = 200, h = 150;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_COPYRECT);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);

    syn_text(f->px, f->sp, 0, 0, w, h, 0, 1, -1);
    enc_dec(e, d, f, NULL, 0, NULL);
    assert_exact(d, f);
    syn_text(f->px, f->sp, 0, 0, w, h, 32, 1, -1);
    enc_dec(e, d, f, NULL, 0, NULL);
    assert_exact(d, f);
    g_assert_cmpuint(d->rects_by_enc[7], ==, 0);
    g_assert_cmpuint(d->rects_by_enc[1], >=, 1);
    g_assert_cmpuint(d->rects_by_enc[0], >, 0);
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

static void test_damage_and_resize(void)
{
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(200, 100);
    Frame *f = frame_new(200, 100, 0);
    VdiRect dmg[3] = {
        { 150, 50, 1000, 1000 }, { -20, -20, 30, 30 }, { 500, 500, 1, 1 },
    };
    VdiEncStats st;

    syn_text(f->px, f->sp, 0, 0, 200, 100, 0, 1, -1);
    enc_dec(e, d, f, dmg, 0, NULL);  /* first frame: everything */
    assert_exact(d, f);
    syn_fill(f->px, f->sp, 160, 70, 30, 20, 0xff0000);
    syn_fill(f->px, f->sp, 0, 0, 10, 10, 0x00ff00);
    enc_dec(e, d, f, dmg, 3, &st);
    assert_exact(d, f);
    g_assert_cmpuint(st.tiles_dirty, ==, 2);
    /* damage hints are trusted: an undeclared change is not seen ... */
    syn_fill(f->px, f->sp, 100, 0, 10, 10, 0x0000ff);
    enc_dec(e, d, f, dmg, 1, &st);
    g_assert_cmpuint(rfb_dec_diff(d, f->px, f->sp), ==, 100);
    /* ... until an update without hints, or an invalidation */
    vdi_enc_invalidate(e, &dmg[1]);
    enc_dec(e, d, f, dmg, 0, &st);
    g_assert_cmpuint(st.tiles_dirty, ==, 1);
    enc_dec(e, d, f, NULL, 0, &st);
    assert_exact(d, f);

    /* a new size resets the client state */
    rfb_dec_resize(d, 130, 70);
    frame_free(f);
    f = frame_new(130, 70, 0);
    syn_photo(f->px, f->sp, 0, 0, 130, 70, 0, 0);
    enc_dec(e, d, f, dmg, 0, &st);
    assert_exact(d, f);
    g_assert_cmpuint(st.tiles_dirty, ==, 6);
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

static void test_invalid(void)
{
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    g_autoptr(GByteArray) out = g_byte_array_new();
    uint32_t px[64] = { 0 };
    VdiRect neg = { 0, 0, -1, 5 };

    g_assert_null(vdi_enc_new(VDI_PROFILE_AUTO, 0));
    g_assert_false(vdi_enc_set_profile(e, VDI_PROFILE_AUTO));
    g_assert_false(vdi_enc_set_profile(e, 42));
    g_assert_cmpint(vdi_enc_frame(e, NULL, 8, 8, 32, NULL, 0, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 0, 8, 32, NULL, 0, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 8, -1, 32, NULL, 0, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 8, 8, 28, NULL, 0, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 4, 8, 18, NULL, 0, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 4, 4, -16, NULL, 0, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 8, 8, 32, NULL, 2, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 8, 8, 32, &neg, -1, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 8, 8, 32, &neg, 1, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 100000, 1, 400000, NULL, 0, out,
                                  NULL), ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 8, 8, 32, NULL, 0, NULL, NULL),
                    ==, -EINVAL);
    g_assert_cmpuint(out->len, ==, 0);
    /* still usable */
    g_assert_cmpint(vdi_enc_frame(e, px, 8, 8, 32, NULL, 0, out, NULL),
                    ==, 1);
    vdi_enc_invalidate(e, &neg);
    vdi_enc_free(e);
}

/* Random frames, damage, budgets, profiles: always decodable and exact */
static void test_random(void)
{
    GRand *rnd = g_rand_new_with_seed(1234);

    for (int round = 0; round < 12; round++) {
        int w = g_rand_int_range(rnd, 1, 300);
        int h = g_rand_int_range(rnd, 1, 200);
        int sp = w + g_rand_int_range(rnd, 0, 9);
        VdiProfile prof = round % 2 ? VDI_PROFILE_WAN : VDI_PROFILE_LAN;
        VdiEncoder *e = vdi_enc_new(prof, round % 3 ? VDI_ENC_CAP_ALL :
                                    VDI_ENC_CAP_COPYRECT);
        RfbDec *d = rfb_dec_new(w, h);
        Frame *f = frame_new(w, h, sp);
        VdiRect none;

        syn_text(f->px, f->sp, 0, 0, w, h, 0, round, -1);
        for (int i = 0; i < 25; i++) {
            VdiRect dmg[4];
            int nd = g_rand_int_range(rnd, 0, 4);
            int x = g_rand_int_range(rnd, -10, w);
            int y = g_rand_int_range(rnd, -10, h);
            int rw = g_rand_int_range(rnd, 0, w + 20);
            int rh = g_rand_int_range(rnd, 0, h + 20);
            int shift = g_rand_int_range(rnd, -20, 21);

            switch (g_rand_int_range(rnd, 0, 4)) {
            case 0:
                syn_text(f->px, f->sp, 0, 0, w, h, 100 + i * shift, round,
                         -1);
                break;
            case 1: {
                VdiRect r = { x, y, rw, rh };

                if (r.x < 0) {
                    r.x = 0;
                }
                if (r.y < 0) {
                    r.y = 0;
                }
                r.w = MIN(r.w, w - r.x);
                r.h = MIN(r.h, h - r.y);
                syn_photo(f->px, f->sp, r.x, r.y, r.w, r.h, i, round);
                break;
            }
            case 2:
                syn_window(f->px, f->sp, w, h, x, y, 120, 90, round);
                break;
            default:
                break;
            }
            vdi_enc_set_budget(e, g_rand_boolean(rnd) ? 0 :
                               g_rand_int_range(rnd, 1, 60000));
            vdi_enc_set_jpeg_quality(e, g_rand_int_range(rnd, 1, 101));
            for (int k = 0; k < nd; k++) {
                dmg[k].x = g_rand_int_range(rnd, -100, w + 100);
                dmg[k].y = g_rand_int_range(rnd, -100, h + 100);
                dmg[k].w = g_rand_int_range(rnd, 0, 2 * w);
                dmg[k].h = g_rand_int_range(rnd, 0, 2 * h);
            }
            /* damage hints that miss changes would be a caller bug */
            enc_dec(e, d, f, NULL, 0, NULL);
            enc_dec(e, d, f, dmg, nd, NULL);
        }
        vdi_enc_set_budget(e, 0);
        vdi_enc_set_profile(e, VDI_PROFILE_LAN);
        enc_dec(e, d, f, &none, 0, NULL);
        assert_exact(d, f);
        frame_free(f);
        rfb_dec_free(d);
        vdi_enc_free(e);
    }
    g_rand_free(rnd);
}

/* ---- encoders in parallel threads ---- */

#define PAR_ENCODERS 4
#define PAR_FRAMES 12

typedef struct ParRun {
    int idx;
    GByteArray *out;    /* every update, with its rect count first */
} ParRun;

/* A desktop sequence for encoder @r->idx (lan or wan), encoded */
static gpointer par_encode(gpointer opaque)
{
    ParRun *r = opaque;
    const int w = 256, h = 192;
    VdiEncoder *e = vdi_enc_new(r->idx % 2 ? VDI_PROFILE_WAN :
                                VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    Frame *f = frame_new(w, h, 0);

    vdi_enc_set_jpeg_quality(e, 60);
    syn_wallpaper(f->px, f->sp, w, h);
    for (int i = 0; i < PAR_FRAMES; i++) {
        uint8_t count[2];
        guint at = r->out->len;
        int n;

        syn_photo(f->px, f->sp, 16 * r->idx, 16, 128, 96, i, r->idx);
        syn_text(f->px, f->sp, 0, 128, 192, 56, 0, r->idx, i * 5);
        g_byte_array_append(r->out, count, 2);
        n = vdi_enc_frame(e, f->px, w, h, f->sp * 4, NULL, 0, r->out, NULL);
        g_assert_cmpint(n, >=, 0);
        r->out->data[at] = n >> 8;
        r->out->data[at + 1] = n;
    }
    frame_free(f);
    vdi_enc_free(e);
    return NULL;
}

/*
 * Encoders share no state: run at the same time in several threads, each
 * produces the same bytes as when run alone.
 */
static void test_threads(void)
{
    ParRun serial[PAR_ENCODERS], par[PAR_ENCODERS];
    GThread *t[PAR_ENCODERS];

    for (int i = 0; i < PAR_ENCODERS; i++) {
        serial[i] = (ParRun) { .idx = i, .out = g_byte_array_new() };
        par_encode(&serial[i]);
        par[i] = (ParRun) { .idx = i, .out = g_byte_array_new() };
    }
    for (int i = 0; i < PAR_ENCODERS; i++) {
        t[i] = g_thread_new("vdi-enc-test", par_encode, &par[i]);
    }
    for (int i = 0; i < PAR_ENCODERS; i++) {
        g_thread_join(t[i]);
    }
    for (int i = 0; i < PAR_ENCODERS; i++) {
        g_assert_cmpuint(par[i].out->len, >, 0);
        g_assert_cmpmem(par[i].out->data, par[i].out->len,
                        serial[i].out->data, serial[i].out->len);
        if (i) {
            /* the sequences differ, so equal output is no accident */
            g_assert_false(serial[i].out->len == serial[0].out->len &&
                           !memcmp(serial[i].out->data, serial[0].out->data,
                                   serial[0].out->len));
        }
        g_byte_array_free(par[i].out, true);
        g_byte_array_free(serial[i].out, true);
    }
}

/* ---- link estimator ---- */

/*
 * A bottleneck link of @bps bit/s and @rtt ns round trip (a byte is
 * acknowledged one RTT after the bottleneck has sent it), fed by an
 * application with endless data (video) that may send an update every
 * 33 ms.  Like the VNC glue, it reports the unacknowledged bytes
 * (SIOCOUTQ) every millisecond and at the exact time the queue drains,
 * and sends an RTT probe (Fence) when the queue has drained.
 */
typedef struct SimSend {
    int64_t start, finish, rtt;
    uint64_t bytes;
} SimSend;

typedef struct SimLink {
    double bps;
    int64_t rtt;
    int64_t link_free;          /* when the bottleneck is idle again */
    GArray *sends;              /* SimSend not yet fully acknowledged */
    uint64_t unacked_base;
    uint64_t sent_bytes;
    int64_t probe_reply;        /* when the pending probe's reply comes */
} SimLink;

static void sim_init(SimLink *s, double bps, int64_t rtt)
{
    memset(s, 0, sizeof(*s));
    s->bps = bps;
    s->rtt = rtt;
    s->sends = g_array_new(false, false, sizeof(SimSend));
    s->probe_reply = -1;
}

static void sim_send(SimLink *s, int64_t now, size_t bytes)
{
    SimSend ss;

    ss.start = MAX(now, s->link_free);
    ss.finish = ss.start + (int64_t)(bytes * 8 * 1e9 / s->bps);
    ss.bytes = bytes;
    ss.rtt = s->rtt;
    s->link_free = ss.finish;
    s->sent_bytes += bytes;
    g_array_append_val(s->sends, ss);
}

/* Unacknowledged bytes at @t */
static uint64_t sim_unacked(SimLink *s, int64_t t)
{
    double n = 0;

    while (s->sends->len) {
        SimSend *ss = &g_array_index(s->sends, SimSend, 0);

        if (ss->finish + ss->rtt > t) {
            break;
        }
        g_array_remove_index(s->sends, 0);
    }
    for (guint i = 0; i < s->sends->len; i++) {
        SimSend *ss = &g_array_index(s->sends, SimSend, i);
        double done = ss->finish > ss->start ?
            (double)(t - ss->rtt - ss->start) / (ss->finish - ss->start) : 0;

        n += ss->bytes * (1 - MAX(0.0, MIN(1.0, done)));
    }
    return (uint64_t)(n + 0.5);
}

/* Run the timeline from @t0 for @dur ns; returns the end time */
static int64_t sim_run(VdiLink *l, SimLink *s, int64_t t0, int64_t dur,
                       VdiProfile *prof, int *switches)
{
    const int64_t tick = 1000000, frame = 33 * tick;
    int64_t t = t0;

    while (t < t0 + dur) {
        int64_t nt = t + tick;
        int64_t drain = s->sends->len ?
            s->link_free + g_array_index(s->sends, SimSend,
                                         s->sends->len - 1).rtt : 0;
        VdiProfile p;

        if (s->sends->len && drain > t && drain <= nt) {
            /* exact drain time, and the RTT probe goes out */
            sim_unacked(s, drain);
            vdi_link_on_queue(l, drain, 0);
            s->probe_reply = drain + s->rtt;
        }
        if (s->probe_reply >= 0 && s->probe_reply <= nt) {
            vdi_link_on_rtt(l, s->probe_reply, s->rtt);
            s->probe_reply = -1;
        }
        t = nt;
        vdi_link_on_queue(l, t, sim_unacked(s, t));
        if ((t - t0) % frame == 0 && vdi_link_can_send(l, t)) {
            size_t b = vdi_link_budget(l, t);

            vdi_link_on_sent(l, t, b);
            sim_send(s, t, b);
        }
        p = vdi_link_profile(l, t);
        if (p != *prof) {
            (*switches)++;
            *prof = p;
        }
    }
    return t;
}

static void link_case(double bps, int64_t rtt, VdiProfile hint,
                      VdiProfile want)
{
    VdiLink *l = vdi_link_new(hint, 0);
    SimLink s;
    VdiProfile prof = hint;
    int switches = 0;
    int64_t t;

    sim_init(&s, bps, rtt);
    t = sim_run(l, &s, 0, 10 * 1000000000ll, &prof, &switches);
    g_assert_cmpfloat(fabs(vdi_link_bandwidth(l) - bps) / bps, <, 0.1);
    g_assert_cmpfloat(fabs((double)vdi_link_rtt_min(l) - rtt) / rtt, <,
                      0.1);
    g_assert_cmpint(prof, ==, want);
    g_assert_cmpint(switches, <=, 1);
    g_assert_cmpint(switches, ==, hint != want);
    /* the link is used: at least 70% of its capacity over the run */
    g_assert_cmpfloat(s.sent_bytes * 8.0 / (t / 1e9), >, 0.7 * bps);
    /* in flight: about one BDP (plus a frame interval) at most */
    g_assert_cmpuint(vdi_link_budget(l, t), <=,
                     2.5 * bps / 8 * MAX(rtt, 33000000) / 1e9 + 65536);
    g_array_free(s.sends, true);
    vdi_link_free(l);
}

static void test_link_wan(void)
{
    /* 2 Mbit/s, 80 ms, starting from either zone hint */
    link_case(2e6, 80 * 1000000, VDI_PROFILE_WAN, VDI_PROFILE_WAN);
    link_case(2e6, 80 * 1000000, VDI_PROFILE_LAN, VDI_PROFILE_WAN);
}

static void test_link_lan(void)
{
    /* 1 Gbit/s, 0.2 ms */
    link_case(1e9, 200 * 1000, VDI_PROFILE_LAN, VDI_PROFILE_LAN);
    link_case(1e9, 200 * 1000, VDI_PROFILE_WAN, VDI_PROFILE_LAN);
}

/*
 * An idle desktop on a fast LAN: small updates that drain at once, but
 * the caller only notices each drain at its next update, half a second
 * later.  Such app-limited samples must not make the link look slow.
 */
static void test_link_app_limited(void)
{
    VdiLink *l = vdi_link_new(VDI_PROFILE_LAN, 0);
    int64_t t;

    for (t = 0; t < 20 * 1000000000ll; t += 500 * 1000000) {
        vdi_link_on_sent(l, t, 2000);
        vdi_link_on_drained(l, t + 499 * 1000000);
        g_assert_cmpint(vdi_link_profile(l, t + 499 * 1000000), ==,
                        VDI_PROFILE_LAN);
    }
    g_assert_cmpfloat(vdi_link_bandwidth(l), >, 50e6);
    vdi_link_free(l);
}

/*
 * A fast LAN polled every 30 ms: each poll finds the update just sent
 * still queued (unacknowledged), although everything queued at the
 * previous poll was delivered long ago.  The queue was not busy in
 * between, so these intervals must not be taken as the link's rate.
 */
static void test_link_idle_between_polls(void)
{
    VdiLink *l = vdi_link_new(VDI_PROFILE_LAN, 0);
    int64_t t;

    for (t = 0; t < 10 * 1000000000ll; t += 30 * 1000000) {
        vdi_link_on_sent(l, t, 3000);
        /* 3000 bytes sent, 1000 of them still in flight */
        vdi_link_on_queue(l, t + 100 * 1000, 1000);
        g_assert_cmpint(vdi_link_profile(l, t + 100 * 1000), ==,
                        VDI_PROFILE_LAN);
    }
    g_assert_cmpfloat(vdi_link_bandwidth(l), >, 50e6);
    vdi_link_free(l);
}

/* Transport rate samples: app-limited ones only raise the estimate */
static void test_link_rate(void)
{
    VdiLink *l = vdi_link_new(VDI_PROFILE_WAN, 0);
    int64_t t = 0;

    vdi_link_on_rate(l, t, 1e6, true);
    g_assert_cmpfloat(vdi_link_bandwidth(l), ==, 5e6);      /* prior */
    vdi_link_on_rate(l, t, 300e6, true);
    g_assert_cmpfloat(vdi_link_bandwidth(l), ==, 300e6);
    for (t = 0; t < 6 * 1000000000ll; t += 100 * 1000000) {
        vdi_link_on_rtt(l, t, 1000000);
        vdi_link_on_rate(l, t, 300e6, true);
    }
    g_assert_cmpint(vdi_link_profile(l, t), ==, VDI_PROFILE_LAN);
    /*
     * not app-limited: a slower link replaces the estimate in time, and
     * the profile follows after the dwell time
     */
    for (int64_t end = t + 6 * 1000000000ll; t < end; t += 100 * 1000000) {
        vdi_link_on_rate(l, t, 2e6, false);
    }
    g_assert_cmpfloat(vdi_link_bandwidth(l), ==, 2e6);
    g_assert_cmpint(vdi_link_profile(l, t), ==, VDI_PROFILE_WAN);
    vdi_link_free(l);
}

static void test_link_degrade(void)
{
    VdiLink *l = vdi_link_new(VDI_PROFILE_LAN, 0);
    SimLink s;
    VdiProfile prof = VDI_PROFILE_LAN;
    int switches = 0;
    int64_t t;

    sim_init(&s, 1e9, 200 * 1000);
    t = sim_run(l, &s, 0, 5000000000ll, &prof, &switches);
    g_assert_cmpint(switches, ==, 0);
    /* the VPN kicks in: 5 Mbit/s, 40 ms */
    s.bps = 5e6;
    s.rtt = 40 * 1000000;
    t = sim_run(l, &s, t, 20000000000ll, &prof, &switches);
    g_assert_cmpint(prof, ==, VDI_PROFILE_WAN);
    g_assert_cmpint(switches, ==, 1);
    g_assert_cmpfloat(fabs(vdi_link_bandwidth(l) - 5e6) / 5e6, <, 0.1);
    /* back on the LAN */
    s.bps = 1e9;
    s.rtt = 200 * 1000;
    t = sim_run(l, &s, t, 20000000000ll, &prof, &switches);
    g_assert_cmpint(prof, ==, VDI_PROFILE_LAN);
    g_assert_cmpint(switches, ==, 2);
    g_assert_cmpfloat(fabs(vdi_link_bandwidth(l) - 1e9) / 1e9, <, 0.1);

    /* a link in between the thresholds keeps its profile: no flapping */
    s.bps = 35e6;
    s.rtt = 20 * 1000000;
    sim_run(l, &s, t, 20000000000ll, &prof, &switches);
    g_assert_cmpint(switches, ==, 2);
    g_array_free(s.sends, true);
    vdi_link_free(l);
}

static void test_link_quality_caps(void)
{
    VdiLink *l = vdi_link_new(VDI_PROFILE_WAN, 0);
    SimLink s;
    VdiProfile prof = VDI_PROFILE_WAN;
    int switches = 0, q_small, q_big, n = 0;
    int64_t t, last = -1;

    sim_init(&s, 2e6, 80 * 1000000);
    t = sim_run(l, &s, 0, 5000000000ll, &prof, &switches);
    /* more pixels per second for the same bandwidth: lower quality */
    q_small = vdi_link_jpeg_quality(l, 64 * 64);
    q_big = vdi_link_jpeg_quality(l, 1920 * 1080);
    g_assert_cmpint(q_small, <=, 90);
    g_assert_cmpint(q_big, >=, 20);
    g_assert_cmpint(q_small, >, q_big);
    g_assert_cmpint(vdi_link_jpeg_quality(l, 0), ==, 90);

    /* a bandwidth cap lowers the budget and the estimate used */
    vdi_link_set_caps(l, 10, 5e5);
    g_assert_cmpfloat(vdi_link_bandwidth(l), <=, 5e5);
    /* the fps cap: at most 10 updates per second */
    vdi_link_on_drained(l, t);
    for (int64_t tt = t; tt < t + 1000000000ll; tt += 1000000) {
        if (vdi_link_can_send(l, tt)) {
            vdi_link_on_sent(l, tt, 100);
            vdi_link_on_drained(l, tt + 1000);
            g_assert_true(last < 0 || tt - last >= 100000000);
            last = tt;
            n++;
        }
    }
    g_assert_cmpint(n, >=, 9);
    g_assert_cmpint(n, <=, 10);
    g_array_free(s.sends, true);
    vdi_link_free(l);
}

/*
 * The bandwidth cap holds as a rate over time: on a fast link, with an
 * update at every opportunity (each ms, fps cap 30) and each update at
 * least VDI_ENC_MIN_BUDGET long, as the encoder makes them, the bytes
 * sent stay within 5% of the cap.
 */
static void test_link_cap_rate(void)
{
    static const double caps[] = { 5e5, 2e6, 20e6 };
    const int64_t s = 1000000000ll;

    for (int i = 0; i < ARRAY_SIZE(caps); i++) {
        VdiLink *l = vdi_link_new(VDI_PROFILE_WAN, 0);
        uint64_t bytes = 0;
        double rate;

        vdi_link_set_caps(l, 30, caps[i]);
        for (int64_t t = 0; t < 21 * s; t += 1000000) {
            /* the queue drains within the millisecond */
            vdi_link_on_queue(l, t, 0);
            if (vdi_link_can_send(l, t)) {
                size_t b = MAX(vdi_link_budget(l, t), VDI_ENC_MIN_BUDGET);

                vdi_link_on_sent(l, t, b);
                if (t >= s) {
                    bytes += b;
                }
            }
        }
        rate = bytes * 8.0 / 20;
        if (fabs(rate - caps[i]) / caps[i] >= 0.05) {
            g_error("cap %.0f bit/s: sent %.0f bit/s", caps[i], rate);
        }
        vdi_link_free(l);
    }
}

/*
 * The JPEG quality controller fills a bandwidth cap whatever the update
 * rate: a video source of 640x360 smooth pixels at 7 or 30 frames/s on
 * a fast link capped at 1 Mbit/s, encoded with a JPEG size model that is
 * the controller's own bits-per-pixel model times @k (content cheaper or
 * dearer than assumed).  Updates go out as the VNC server sends them:
 * whenever there is something to send and the link allows, at most the
 * byte budget (the rest waits and merges with the next frame).  The rate
 * after 5 s is within 10% of the cap, and at 7 frames/s the quality is
 * not the lowest (the controller does not assume 30 updates/s).
 */
static void link_quality_case(double fps, double k)
{
    const double cap = 1e6;
    const uint64_t px = 640 * 360;
    const int64_t s = 1000000000ll, frame_ns = s / fps;
    VdiLink *l = vdi_link_new(VDI_PROFILE_WAN, 0);
    uint64_t smooth = 0, bytes = 0;
    double left = 0, qsum = 0, rate;
    int64_t next_frame = 0;
    int nq = 0;

    vdi_link_set_caps(l, 0, cap);
    for (int64_t t = 0; t < 25 * s; t += 1000000) {
        vdi_link_on_queue(l, t, 0);
        if (t >= next_frame) {
            left = -1;          /* a new frame, size unknown yet */
            next_frame += frame_ns;
        }
        if (left && vdi_link_can_send(l, t)) {
            size_t budget = MAX(vdi_link_budget(l, t), VDI_ENC_MIN_BUDGET);
            double sent;

            if (left < 0) {
                int q = vdi_link_jpeg_quality(l, smooth);
                double bpp = k * 0.15 * pow(2.0 / 0.15, (q - 20) / 70.0);

                left = px * bpp / 8;
                if (t >= 5 * s) {
                    qsum += q;
                    nq++;
                }
            }
            sent = MIN(left, budget);
            left -= sent;
            vdi_link_on_sent(l, t, sent);
            vdi_link_on_update(l, t, px * sent / (sent + left));
            smooth = (smooth * 3 + px * sent / (sent + left)) / 4;
            if (t >= 5 * s) {
                bytes += sent;
            }
        }
    }
    rate = bytes * 8.0 / 20;
    g_test_message("%.0f frames/s, k %.1f: %.0f bit/s, mean quality %.1f",
                   fps, k, rate, qsum / nq);
    if (fabs(rate - cap) / cap >= 0.10) {
        g_error("%.0f fps, k %.1f: sent %.0f bit/s, quality %.1f", fps, k,
                rate, qsum / nq);
    }
    if (fps < 10) {
        g_assert_cmpfloat(qsum / nq, >, 35);
    }
    vdi_link_free(l);
}

/*
 * The bandwidth cap holds with the encoder's own updates: video (a photo
 * that changes 30 times a second, 960x540, JPEG quality fixed at 70,
 * several times the cap) on a link capped at 1 Mbit/s, the encoder given
 * the link's byte budget at each update opportunity.  On a loaded host
 * the opportunities come every 100-250 ms (main loop, encoding time),
 * not every frame, so each update must carry what the cap allowed since
 * the last one.  The rate is within 10% of the cap and not above it
 * (plus one burst over the run).
 */
static void cap_encoder_case(int64_t interval_ms)
{
    const int w = 960, h = 540;
    const double cap = 1e6;
    const int64_t s = 1000000000ll, t_end = 11 * s;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
    VdiLink *l = vdi_link_new(VDI_PROFILE_WAN, 0);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);
    g_autoptr(GByteArray) out = g_byte_array_new();
    VdiEncStats st;
    uint64_t bytes = 0;
    int64_t shown = -1;
    double rate;

    vdi_link_set_caps(l, 0, cap);
    vdi_enc_set_jpeg_quality(e, 70);
    for (int64_t t = 0; t < t_end; t += interval_ms * MSEC) {
        int64_t frame = t / (33 * MSEC);
        int n;

        /* the last update drained at once: the link is far faster */
        vdi_link_on_queue(l, t, 0);
        if (frame != shown) {
            syn_photo(f->px, f->sp, 0, 0, w, h, frame, 7);
            shown = frame;
        }
        if (!vdi_link_can_send(l, t)) {
            continue;
        }
        vdi_enc_set_budget(e, vdi_link_budget(l, t));
        vdi_enc_set_time(e, t);
        vdi_enc_set_link_rate(e, vdi_link_bandwidth(l) / 8);
        g_byte_array_set_size(out, 0);
        n = vdi_enc_frame(e, f->px, w, h, f->sp * 4, NULL, 0, out, &st);
        g_assert_cmpint(n, >=, 0);
        g_assert_true(rfb_dec_apply(d, out->data, out->len, n));
        vdi_link_on_sent(l, t, out->len);
        vdi_link_on_update(l, t, st.lossy_pixels);
        if (t >= s) {
            bytes += out->len;
        }
    }
    rate = bytes * 8.0 / ((t_end - s) / 1e9);
    g_test_message("updates every %" PRId64 " ms: %.0f bit/s", interval_ms,
                   rate);
    if (rate < cap * 0.9 || rate > cap * 1.03) {
        g_error("updates every %" PRId64 " ms: sent %.0f bit/s, cap %.0f",
                interval_ms, rate, cap);
    }
    frame_free(f);
    rfb_dec_free(d);
    vdi_link_free(l);
    vdi_enc_free(e);
}

static void test_link_cap_encoder(void)
{
    cap_encoder_case(50);
    cap_encoder_case(150);
    cap_encoder_case(250);
}

static void test_link_quality_rate(void)
{
    link_quality_case(7, 1);
    link_quality_case(7, 0.5);
    link_quality_case(7, 2);
    link_quality_case(30, 1);
    link_quality_case(30, 0.5);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vdi-enc/decoder-selfcheck", test_decoder_selfcheck);
    g_test_add_func("/vdi-enc/wire/fill", test_wire_fill);
    g_test_add_func("/vdi-enc/wire/zlib", test_wire_zlib);
    g_test_add_func("/vdi-enc/lan/exact-sequence", test_lan_exact_sequence);
    g_test_add_func("/vdi-enc/lan/scroll", test_lan_scroll);
    g_test_add_func("/vdi-enc/lan/hscroll", test_lan_hscroll);
    g_test_add_func("/vdi-enc/lan/window-move", test_lan_window_move);
    g_test_add_func("/vdi-enc/wan/psnr", test_wan_psnr);
    g_test_add_func("/vdi-enc/wan/drag-refine", test_wan_drag_refine);
    g_test_add_func("/vdi-enc/wan/refine", test_wan_refine);
    g_test_add_func("/vdi-enc/wan/drag-no-stale", test_wan_drag_no_stale);
    g_test_add_func("/vdi-enc/console-profile-switches",
                    test_console_profile_switches);
    g_test_add_func("/vdi-enc/wan/drag-lossless-with-room",
                    test_wan_drag_lossless_with_room);
    g_test_add_func("/vdi-enc/wan/static-refined-once",
                    test_wan_static_refined_once);
    g_test_add_func("/vdi-enc/wan/refine-time", test_wan_refine_time);
    g_test_add_func("/vdi-enc/wan/video-not-refined",
                    test_wan_video_not_refined);
    g_test_add_func("/vdi-enc/wan/scroll-lossless", test_wan_scroll_lossless);
    g_test_add_func("/vdi-enc/wan/video-quality-with-room",
                    test_wan_video_quality_with_room);
    g_test_add_func("/vdi-enc/wan/text-lossless", test_wan_text_lossless);
    g_test_add_func("/vdi-enc/wan/text-not-above-stock",
                    test_wan_text_not_above_stock);
    g_test_add_func("/vdi-enc/budget", test_budget);
    g_test_add_func("/vdi-enc/odd-sizes", test_odd_sizes);
    g_test_add_func("/vdi-enc/raw-only", test_raw_only);
    g_test_add_func("/vdi-enc/damage-resize", test_damage_and_resize);
    g_test_add_func("/vdi-enc/invalid", test_invalid);
    g_test_add_func("/vdi-enc/random", test_random);
    g_test_add_func("/vdi-enc/threads", test_threads);
    g_test_add_func("/vdi-enc/link/wan", test_link_wan);
    g_test_add_func("/vdi-enc/link/lan", test_link_lan);
    g_test_add_func("/vdi-enc/link/degrade-recover", test_link_degrade);
    g_test_add_func("/vdi-enc/link/app-limited", test_link_app_limited);
    g_test_add_func("/vdi-enc/link/idle-between-polls",
                    test_link_idle_between_polls);
    g_test_add_func("/vdi-enc/link/rate", test_link_rate);
    g_test_add_func("/vdi-enc/link/quality-caps", test_link_quality_caps);
    g_test_add_func("/vdi-enc/link/cap-rate", test_link_cap_rate);
    g_test_add_func("/vdi-enc/link/quality-rate", test_link_quality_rate);
    g_test_add_func("/vdi-enc/link/cap-encoder", test_link_cap_encoder);
    return g_test_run();
}
