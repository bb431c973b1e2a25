/*
 * Video regions as RFB Open H.264: detector, libx264 stream, encoder
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What the encoder sends as H.264 is decoded by ffmpeg (Debian's, a
 * decoder independent of libx264) and compared with the frame by PSNR.
 */

#include "qemu/osdep.h"
#include <math.h>
#include "ui/vdi-enc.h"
#include "ui/vdi-enc-h264.h"
#include "vdi-rfb-dec.h"
#include "vdi-synth.h"
#include "vdi-h264-dec.h"

/*
 * libx264 failing (out of memory, say): this test links with
 * --wrap=x264_encoder_encode, so the encoder's calls come here.
 */
static bool x264_fail;

int __wrap_x264_encoder_encode(x264_t *x, x264_nal_t **nal, int *nnal,
                               x264_picture_t *in, x264_picture_t *out)
{
    return x264_fail ? -1 : __real_x264_encoder_encode(x, nal, nnal, in, out);
}

/* The last frame of @stream (see ffmpeg_decode()) */
static uint32_t *ffmpeg_last_frame(const GByteArray *stream, int w, int h,
                                   int *nframes)
{
    g_autofree uint32_t *all = ffmpeg_decode(stream, w, h, nframes);

    if (!all || !*nframes) {
        return NULL;
    }
    return g_memdup2(all + (size_t)(*nframes - 1) * w * h,
                     (size_t)w * h * 4);
}

static double psnr(const uint32_t *a, size_t sa, const uint32_t *b,
                   size_t sb, int w, int h)
{
    double se = 0;

    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint32_t p = a[y * sa + x], q = b[y * sb + x];

            for (int s = 0; s < 24; s += 8) {
                double e = (double)((p >> s) & 0xff) - ((q >> s) & 0xff);

                se += e * e;
            }
        }
    }
    return se == 0 ? 99.0 : 10 * log10(255.0 * 255.0 * 3.0 * w * h / se);
}

/* ---- the detector ---- */

typedef struct Grid {
    int tw, th;
    bool *hit, *changed;
} Grid;

static const bool no_motion[12 * 8];

static void grid_frame(Grid *g, int x, int y, int w, int h, bool rich)
{
    memset(g->hit, 0, g->tw * g->th);
    memset(g->changed, 0, g->tw * g->th);
    for (int ty = y; ty < y + h; ty++) {
        for (int tx = x; tx < x + w; tx++) {
            g->hit[ty * g->tw + tx] = rich;
            g->changed[ty * g->tw + tx] = true;
        }
    }
}

/* The next frame, 33 ms after the previous one */
static bool next_frame(VdiRegionDet *d, const bool *hit, const bool *changed,
                       int64_t *now, VdiRect *r)
{
    *now += 33000000;
    return vdi_region_update(d, hit, changed, no_motion, *now, r);
}

static void test_detector(void)
{
    bool hit[12 * 8], changed[12 * 8];
    Grid g = { 12, 8, hit, changed };
    VdiRegionDet d;
    VdiRect r;
    int64_t now = 0;
    int i;

    vdi_region_init(&d, 12, 8);
    /* text being typed: changes, few colours: never a region */
    for (i = 0; i < 30; i++) {
        grid_frame(&g, 1, 1, 6, 2, false);
        g_assert_false(next_frame(&d, hit, changed, &now, &r));
    }
    /* video: a region once its box has been stable a few frames */
    for (i = 0; i < 30; i++) {
        grid_frame(&g, 3, 2, 4, 3, true);
        if (next_frame(&d, hit, changed, &now, &r)) {
            break;
        }
    }
    g_assert_cmpint(i, ==, VDI_REGION_HITS + VDI_REGION_STABLE - 2);
    g_assert_cmpint(r.x, ==, 3);
    g_assert_cmpint(r.y, ==, 2);
    g_assert_cmpint(r.w, ==, 4);
    g_assert_cmpint(r.h, ==, 3);
    /* a frame without change, and one with a text change: it lasts */
    grid_frame(&g, 0, 0, 0, 0, false);
    g_assert_true(next_frame(&d, hit, changed, &now, &r));
    grid_frame(&g, 3, 2, 1, 1, false);
    g_assert_true(next_frame(&d, hit, changed, &now, &r));
    /* the video window moves: the region ends */
    for (i = 0; i < 30; i++) {
        grid_frame(&g, 5, 4, 4, 3, true);
        if (!next_frame(&d, hit, changed, &now, &r)) {
            break;
        }
    }
    g_assert_cmpint(i, <, 30);
    /* ... and starts again at its new place */
    for (i = 0; i < 30; i++) {
        grid_frame(&g, 5, 4, 4, 3, true);
        if (next_frame(&d, hit, changed, &now, &r)) {
            break;
        }
    }
    g_assert_cmpint(i, <, 30);
    g_assert_cmpint(r.x, ==, 5);
    g_assert_cmpint(r.y, ==, 4);
    /* paused: it ends after VDI_REGION_IDLE_NS */
    grid_frame(&g, 0, 0, 0, 0, false);
    g_assert_true(vdi_region_update(&d, hit, changed, no_motion,
                                    now + VDI_REGION_IDLE_NS, &r));
    g_assert_false(vdi_region_update(&d, hit, changed, no_motion,
                                     now + VDI_REGION_IDLE_NS + 1, &r));
    /* scattered changing tiles (two small animations): no region */
    for (i = 0; i < 30; i++) {
        memset(hit, 0, sizeof(hit));
        hit[0] = hit[11] = hit[8 * 12 - 1] = true;
        memcpy(changed, hit, sizeof(hit));
        g_assert_false(next_frame(&d, hit, changed, &now, &r));
    }
    vdi_region_destroy(&d);
}

/*
 * Video at 12 frames/s while the display updates at 60 Hz: it changes in
 * one call of five; a slide show (a picture every 200 ms) is no video.
 */
static bool paced(VdiRegionDet *d, Grid *g, int period, int ncalls)
{
    int64_t now = 0;
    VdiRect r;

    vdi_region_end(d);
    for (int i = 0; i < ncalls; i++) {
        grid_frame(g, 3, 2, 4, 3, true);
        if (i % period) {
            grid_frame(g, 0, 0, 0, 0, false);
        }
        now += 16666667;
        if (vdi_region_update(d, g->hit, g->changed, no_motion, now, &r)) {
            return true;
        }
    }
    return false;
}

static void test_detector_slow(void)
{
    bool hit[12 * 8], changed[12 * 8];
    Grid g = { 12, 8, hit, changed };
    VdiRegionDet d;

    vdi_region_init(&d, 12, 8);
    g_assert_true(paced(&d, &g, 5, 60));
    g_assert_false(paced(&d, &g, 12, 600));
    vdi_region_destroy(&d);
}

/* A window dragged: what it uncovers changes, its content moved */
static void test_detector_moved(void)
{
    bool hit[12 * 8], changed[12 * 8], moved[12 * 8];
    Grid g = { 12, 8, hit, changed };
    VdiRegionDet d;
    int64_t now = 0;
    VdiRect r;

    vdi_region_init(&d, 12, 8);
    for (int i = 0; i < 30; i++) {
        /* the uncovered L: the top row and the left column of a box */
        grid_frame(&g, 3, 2, 4, 1, true);
        for (int ty = 2; ty < 5; ty++) {
            hit[ty * 12 + 3] = changed[ty * 12 + 3] = true;
        }
        memset(moved, 0, sizeof(moved));
        for (int ty = 3; ty < 5; ty++) {
            for (int tx = 4; tx < 7; tx++) {
                moved[ty * 12 + tx] = changed[ty * 12 + tx] = true;
            }
        }
        now += 33000000;
        g_assert_false(vdi_region_update(&d, hit, changed, moved, now, &r));
    }
    vdi_region_destroy(&d);
}

/* ---- one stream ---- */

static void test_stream(void)
{
    const int w = 200, h = 120;
    g_autofree uint32_t *fb = g_new(uint32_t, w * h);
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_autofree uint32_t *dec = NULL;
    VdiH264 *x;
    int n = 0;

    g_assert_null(vdi_h264_new(201, 120, 23));
    g_assert_null(vdi_h264_new(8, 8, 23));
    x = vdi_h264_new(w, h, 23);
    g_assert_nonnull(x);
    for (int f = 0; f < 10; f++) {
        g_autofree uint32_t *last = NULL;
        size_t before = s->len;

        syn_photo(fb, w, 0, 0, w, h, f, 7);
        if (f == 6) {
            vdi_h264_force_idr(x);
        }
        g_assert_cmpint(vdi_h264_encode(x, fb, w, s), ==, s->len - before);
        /* Annex B, one slice: IDR (5) first, then P slices (1) */
        g_assert_cmpuint(s->data[before + 2] | s->data[before + 3], ==, 1);
        g_free(dec);
        dec = ffmpeg_last_frame(s, w, h, &n);
        g_assert_nonnull(dec);
        g_assert_cmpint(n, ==, f + 1);
        g_assert_cmpfloat(psnr(dec, w, fb, w, w, h), >, 34);
    }
    vdi_h264_free(x);
}

/* ---- the encoder ---- */

#define FW 384
#define FH 256
/* the video, not tile-aligned, inside a window */
#define VX 134
#define VY 86
#define VW 180
#define VH 118

typedef struct Client {
    RfbDec *d;
    GByteArray *stream;         /* the one context's Annex B so far */
    VdiRect ctx;
    int frames, resets;
    int fail_from;              /* libx264 fails from this frame, 0: never */
    int failures;               /* h264_failures, summed */
    int calls_per_frame;        /* encoder calls 30 ms apart a frame, 0: 1 */
    bool photo_desktop;         /* a photograph as wallpaper */
    size_t budget;              /* the encoder's byte budget, 0: none */
} Client;

static bool client_h264(RfbDec *d, int x, int y, int w, int h,
                        uint32_t flags, const uint8_t *data, size_t len)
{
    Client *cl = d->opaque;
    g_autofree uint32_t *px = NULL;
    int n;

    if (flags & ~VDI_H264_FLAG_RESET) {
        return false;
    }
    if (flags & VDI_H264_FLAG_RESET) {
        g_byte_array_set_size(cl->stream, 0);
        cl->ctx = (VdiRect) { x, y, w, h };
        cl->resets++;
    }
    /* one region at a time here: its context */
    if (cl->ctx.x != x || cl->ctx.y != y || cl->ctx.w != w || cl->ctx.h != h) {
        return false;
    }
    g_byte_array_append(cl->stream, data, len);
    px = ffmpeg_last_frame(cl->stream, w, h, &n);
    if (!px) {
        return false;
    }
    for (int j = 0; j < h; j++) {
        memcpy(d->fb + (size_t)(y + j) * d->w + x, px + (size_t)j * w, w * 4);
        memset(d->lossy + (size_t)(y + j) * d->w + x, 1, w);
    }
    cl->frames++;
    return true;
}

static void desktop(uint32_t *fb, int f, bool photo)
{
    if (photo) {
        syn_photo(fb, FW, 0, 0, FW, FH, 0, 7);
    } else {
        syn_wallpaper(fb, FW, FW, FH);
    }
    syn_window(fb, FW, FW, FH, 20, 20, 340, 220, 3);
    syn_fill(fb, FW, VX - 4, VY - 4, VW + 8, VH + 8, 0x202020);
    syn_photo(fb, FW, VX, VY, VW, VH, MIN(f, 39), 11);
}

/*
 * Play the video for 40 frames, then pause it; returns the H.264
 * rects.  With @caps lacking H.264 or in LAN, none may come.  With
 * cl->calls_per_frame, the encoder is called every 30 ms and the video
 * changes in one call of that many.
 */
static int play(VdiProfile profile, uint32_t caps, Client *cl)
{
    VdiEncoder *e = vdi_enc_new(profile, caps);
    g_autofree uint32_t *fb = g_new(uint32_t, FW * FH);
    g_autoptr(GByteArray) out = g_byte_array_new();
    VdiEncStats st;
    int k = MAX(cl->calls_per_frame, 1);
    int h264 = 0, f;

    cl->d = rfb_dec_new(FW, FH);
    cl->d->h264 = client_h264;
    cl->d->opaque = cl;
    cl->stream = g_byte_array_new();
    /* a fast link: refinement soon after the video pauses */
    vdi_enc_set_link_rate(e, 1e7);
    vdi_enc_set_budget(e, cl->budget);
    for (int call = 0; call < 100 * k; call++) {
        int n;

        f = call / k;
        if (k > 1) {
            vdi_enc_set_time(e, (int64_t)call * 30000000);
        }
        desktop(fb, f, cl->photo_desktop);
        g_byte_array_set_size(out, 0);
        x264_fail = cl->fail_from && f >= cl->fail_from;
        n = vdi_enc_frame(e, fb, FW, FH, FW * 4, NULL, 0, out, &st);
        x264_fail = false;
        g_assert_cmpint(n, >=, 0);
        g_assert_true(rfb_dec_apply(cl->d, out->data, out->len, n));
        cl->failures += st.h264_failures;
        if (st.h264_failures) {
            /* the frame libx264 failed went with Tight */
            g_assert_cmpuint(st.rects[VDI_ENC_KIND_H264], ==, 0);
            g_assert_cmpfloat(rfb_dec_psnr(cl->d, fb, FW, VX, VY, VW, VH),
                              >, 30);
        }
        h264 += st.rects[VDI_ENC_KIND_H264];
        /* whatever is not lossy on the client is right */
        g_assert_cmpuint(rfb_dec_stale(cl->d, fb, FW), ==, 0);
        if (f == 39 && call % k == 0 && h264) {
            /* the video plays as H.264, the rest is exact */
            g_assert_cmpfloat(rfb_dec_psnr(cl->d, fb, FW, VX, VY, VW, VH),
                              >, 32);
            g_assert_cmpfloat(rfb_dec_psnr(cl->d, fb, FW, 0, 0, FW,
                                           VY - 64), ==, 99);
            g_assert_cmpfloat(rfb_dec_psnr(cl->d, fb, FW, 0, VY + VH + 64,
                                           FW, FH - VY - VH - 64), ==, 99);
        }
    }
    /* paused: the region ended and the client has the frame exactly */
    g_assert_cmpuint(rfb_dec_diff(cl->d, fb, FW), ==, 0);
    g_assert_false(vdi_enc_has_pending(e));
    vdi_enc_free(e);
    rfb_dec_free(cl->d);
    g_byte_array_unref(cl->stream);
    return h264;
}

static void test_enc_video(void)
{
    Client cl = { 0 };
    int n = play(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL | VDI_ENC_CAP_H264, &cl);

    /* most frames of the video went as H.264, in one stream */
    g_assert_cmpint(cl.failures, ==, 0);
    g_assert_cmpint(n, >=, 25);
    g_assert_cmpint(cl.frames, ==, n);
    g_assert_cmpint(cl.resets, ==, 1);
    /* the region is the video, to even pixels */
    g_assert_cmpint(cl.ctx.x, ==, VX);
    g_assert_cmpint(cl.ctx.y, ==, VY);
    g_assert_cmpint(cl.ctx.w, ==, VW);
    g_assert_cmpint(cl.ctx.h, ==, VH);
}

/*
 * The display asks for updates more often than the video changes: a
 * frame every 90 ms, calls every 30 ms.  The detector may find the
 * region on a call without change; it starts with the next frame.
 * (It used to give the region up there, "too small", and start over:
 * no H.264 at all.)
 */
static void test_enc_video_paced(void)
{
    Client cl = { .calls_per_frame = 3 };
    int n = play(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL | VDI_ENC_CAP_H264, &cl);

    g_assert_cmpint(cl.failures, ==, 0);
    g_assert_cmpint(n, >=, 25);
    g_assert_cmpint(cl.frames, ==, n);
    g_assert_cmpint(cl.resets, ==, 1);
}

/*
 * The first paint of a photograph desktop takes several calls (a small
 * byte budget) while the video already plays: the region is the video.
 * (Tiles still dirty from the first paint used to count as changing with
 * each call, so the first region took them in, then the video's came
 * as a second region: three contexts in all.)
 */
static void test_enc_video_first_paint(void)
{
    Client cl = { .photo_desktop = true, .budget = VDI_ENC_MIN_BUDGET };
    int n = play(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL | VDI_ENC_CAP_H264, &cl);

    g_assert_cmpint(cl.failures, ==, 0);
    g_assert_cmpint(n, >=, 25);
    g_assert_cmpint(cl.resets, ==, 1);
    /*
     * The video's tiles, those the client never had whole: the parts of
     * them not yet sent are in the region too.
     */
    g_assert_cmpint(cl.ctx.x, <=, VX);
    g_assert_cmpint(cl.ctx.y, <=, VY);
    g_assert_cmpint(cl.ctx.x + cl.ctx.w, >=, VX + VW);
    g_assert_cmpint(cl.ctx.y + cl.ctx.h, >=, VY + VH);
    g_assert_cmpint(cl.ctx.x, >=, ROUND_DOWN(VX, VDI_ENC_TILE));
    g_assert_cmpint(cl.ctx.y, >=, ROUND_DOWN(VY, VDI_ENC_TILE));
    g_assert_cmpint(cl.ctx.x + cl.ctx.w, <=, ROUND_UP(VX + VW, VDI_ENC_TILE));
    g_assert_cmpint(cl.ctx.y + cl.ctx.h, <=, ROUND_UP(VY + VH, VDI_ENC_TILE));
}

/*
 * libx264 fails from frame 20: each failure is counted, the region goes
 * with Tight again (then detected again, and failing again), and the
 * client, which never gets a broken stream, has the paused video exactly
 * (play() checks).
 */
static void test_enc_x264_fails(void)
{
    Client cl = { .fail_from = 20 };
    int n = play(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL | VDI_ENC_CAP_H264, &cl);

    g_assert_cmpint(n, >, 0);
    g_assert_cmpint(n, <, 20);
    g_assert_cmpint(cl.frames, ==, n);
    g_assert_cmpint(cl.failures, >=, 2);
}

static void test_enc_no_h264(void)
{
    Client cl = { 0 };

    /* a client that did not announce encoding 50 */
    g_assert_cmpint(play(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL, &cl), ==, 0);
    /* LAN is lossless */
    g_assert_cmpint(play(VDI_PROFILE_LAN, VDI_ENC_CAP_ALL | VDI_ENC_CAP_H264,
                         &cl), ==, 0);
}

/* Dragging a window that shows a photograph over a photograph */
#define DW 640
#define DH 400
#define WW 300
#define WH 200

static void test_enc_drag_photo(void)
{
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN,
                                VDI_ENC_CAP_ALL | VDI_ENC_CAP_H264);
    RfbDec *d = rfb_dec_new(DW, DH);
    g_autofree uint32_t *wall = g_new(uint32_t, DW * DH);
    g_autofree uint32_t *win = g_new(uint32_t, WW * WH);
    g_autofree uint32_t *fb = g_new(uint32_t, DW * DH);
    g_autoptr(GByteArray) out = g_byte_array_new();
    /* what each step uncovers: an L of 9 columns and 5 rows */
    const uint64_t uncovered = 9 * WH + 5 * WW - 9 * 5;

    syn_photo(wall, DW, 0, 0, DW, DH, 0, 3);
    syn_photo(win, WW, 0, 0, WW, WH, 0, 5);
    for (int f = 0; f < 20; f++) {
        int x = 40 + 9 * f, y = 30 + 5 * f;
        VdiEncStats st;
        int n;

        memcpy(fb, wall, DW * DH * 4);
        for (int j = 0; j < WH; j++) {
            memcpy(fb + (size_t)(y + j) * DW + x, win + (size_t)j * WW,
                   WW * 4);
        }
        g_byte_array_set_size(out, 0);
        n = vdi_enc_frame(e, fb, DW, DH, DW * 4, NULL, 0, out, &st);
        g_assert_cmpint(n, >=, 0);
        /* a dragged window is no video */
        g_assert_cmpuint(st.rects[VDI_ENC_KIND_H264], ==, 0);
        g_assert_true(rfb_dec_apply(d, out->data, out->len, n));
        g_assert_cmpuint(rfb_dec_stale(d, fb, DW), ==, 0);
        g_assert_cmpfloat(rfb_dec_psnr(d, fb, DW, 0, 0, DW, DH), >, 30);
        if (!f) {
            continue;
        }
        /* the window moves with CopyRect */
        g_assert_cmpuint(st.rects[VDI_ENC_KIND_COPYRECT], ==, 1);
        g_assert_cmpuint(st.copy_pixels, >=, WW * WH);
        /* what it uncovered goes as JPEG, not the tiles around it */
        g_assert_cmpuint(st.lossy_pixels, >=, uncovered);
        g_assert_cmpuint(st.lossy_pixels, <=, 2 * uncovered);
    }
    vdi_enc_free(e);
    rfb_dec_free(d);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vdi-enc-h264/detector", test_detector);
    g_test_add_func("/vdi-enc-h264/detector/slow", test_detector_slow);
    g_test_add_func("/vdi-enc-h264/detector/moved", test_detector_moved);
    g_test_add_func("/vdi-enc-h264/stream", test_stream);
    g_test_add_func("/vdi-enc-h264/encoder/video", test_enc_video);
    g_test_add_func("/vdi-enc-h264/encoder/video-paced",
                    test_enc_video_paced);
    g_test_add_func("/vdi-enc-h264/encoder/video-first-paint",
                    test_enc_video_first_paint);
    g_test_add_func("/vdi-enc-h264/encoder/no-h264", test_enc_no_h264);
    g_test_add_func("/vdi-enc-h264/encoder/x264-fails", test_enc_x264_fails);
    g_test_add_func("/vdi-enc-h264/encoder/drag-photo", test_enc_drag_photo);
    return g_test_run();
}
