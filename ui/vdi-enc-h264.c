/*
 * VDI display encoder: video regions as RFB Open H.264 (libx264)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * See vdi-enc-h264.h.  The stream is made for a remote display: no
 * look-ahead or B-frames (each frame decodes as it arrives), one slice a
 * frame (noVNC hands each slice to WebCodecs as a frame), one thread (the
 * encoder already runs in the display's thread pool), BT.601 limited
 * range, signalled in the VUI.
 */

#include "qemu/osdep.h"
#include <x264.h>
#include "qemu/bswap.h"
#include "vdi-enc-int.h"

struct VdiH264 {
    x264_t *x;
    x264_picture_t pic;
    int w, h;
    int64_t pts;
    bool force_idr;
};

VdiH264 *vdi_h264_new(int w, int h, int crf)
{
    x264_param_t p;
    VdiH264 *s;

    if (w < 16 || h < 16 || (w | h) & 1 || w > VDI_ENC_MAX_DIM ||
        h > VDI_ENC_MAX_DIM ||
        x264_param_default_preset(&p, "veryfast", "zerolatency") < 0) {
        return NULL;
    }
    p.i_width = w;
    p.i_height = h;
    p.i_csp = X264_CSP_I420;
    p.i_threads = 1;
    p.b_sliced_threads = 0;
    p.i_bframe = 0;
    p.i_keyint_max = X264_KEYINT_MAX_INFINITE;
    p.b_repeat_headers = 1;
    p.b_annexb = 1;
    p.b_aud = 0;
    p.i_log_level = X264_LOG_NONE;
    p.rc.i_rc_method = X264_RC_CRF;
    p.rc.f_rf_constant = MAX(0, MIN(51, crf));
    p.i_fps_num = 30;
    p.i_fps_den = 1;
    p.vui.b_fullrange = 0;
    p.vui.i_colorprim = 1;      /* BT.709 primaries, as sRGB */
    p.vui.i_transfer = 13;      /* sRGB (IEC 61966-2-1) */
    p.vui.i_colmatrix = 6;      /* BT.601 (SMPTE 170M) */
    if (x264_param_apply_profile(&p, "high") < 0) {
        return NULL;
    }
    s = g_new0(VdiH264, 1);
    s->x = x264_encoder_open(&p);
    if (!s->x) {
        g_free(s);
        return NULL;
    }
    s->w = w;
    s->h = h;
    if (x264_picture_alloc(&s->pic, X264_CSP_I420, w, h) < 0) {
        x264_encoder_close(s->x);
        g_free(s);
        return NULL;
    }
    return s;
}

void vdi_h264_free(VdiH264 *s)
{
    if (s) {
        x264_picture_clean(&s->pic);
        x264_encoder_close(s->x);
        g_free(s);
    }
}

void vdi_h264_force_idr(VdiH264 *s)
{
    s->force_idr = true;
}

/* xRGB to I420, BT.601 limited range; chroma from each 2x2 block */
static void to_i420(VdiH264 *s, const uint32_t *px, size_t spx)
{
    x264_image_t *img = &s->pic.img;

    for (int y = 0; y < s->h; y += 2) {
        const uint32_t *r0 = px + (size_t)y * spx, *r1 = r0 + spx;
        uint8_t *y0 = img->plane[0] + (size_t)y * img->i_stride[0];
        uint8_t *y1 = y0 + img->i_stride[0];
        uint8_t *u = img->plane[1] + (size_t)(y / 2) * img->i_stride[1];
        uint8_t *v = img->plane[2] + (size_t)(y / 2) * img->i_stride[2];

        for (int x = 0; x < s->w; x += 2) {
            uint32_t q[4] = { r0[x], r0[x + 1], r1[x], r1[x + 1] };
            uint8_t *yo[4] = { y0 + x, y0 + x + 1, y1 + x, y1 + x + 1 };
            int rs = 0, gs = 0, bs = 0;

            for (int i = 0; i < 4; i++) {
                int r = (q[i] >> 16) & 0xff, g = (q[i] >> 8) & 0xff;
                int b = q[i] & 0xff;

                *yo[i] = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
                rs += r;
                gs += g;
                bs += b;
            }
            u[x / 2] = ((-38 * rs - 74 * gs + 112 * bs + 512) >> 10) + 128;
            v[x / 2] = ((112 * rs - 94 * gs - 18 * bs + 512) >> 10) + 128;
        }
    }
}

int vdi_h264_encode(VdiH264 *s, const uint32_t *px, size_t spx,
                    GByteArray *out)
{
    x264_picture_t pout;
    x264_nal_t *nal;
    int nnal, size;

    to_i420(s, px, spx);
    s->pic.i_pts = s->pts++;
    s->pic.i_type = s->force_idr ? X264_TYPE_IDR : X264_TYPE_AUTO;
    size = x264_encoder_encode(s->x, &nal, &nnal, &s->pic, &pout);
    if (size <= 0) {
        /* without look-ahead or B-frames every frame comes out at once */
        return -1;
    }
    s->force_idr = false;
    /* the NAL units are contiguous in one buffer */
    g_byte_array_append(out, nal[0].p_payload, size);
    return size;
}

/* ---- the encoder's hooks ---- */

/* smallest region, pixels each way */
#define VDI_H264_MIN_SIZE 32

static bool rect_intersect(VdiRect *a, const VdiRect *b)
{
    int x0 = MAX(a->x, b->x), y0 = MAX(a->y, b->y);
    int x1 = MIN(a->x + a->w, b->x + b->w), y1 = MIN(a->y + a->h, b->y + b->h);

    if (x1 <= x0 || y1 <= y0) {
        return false;
    }
    *a = (VdiRect) { x0, y0, x1 - x0, y1 - y0 };
    return true;
}

/* CRF for the JPEG quality the link allows (75: 23, x264's default) */
static int quality_crf(int quality)
{
    return MAX(12, MIN(40, 23 + (75 - quality) / 4));
}

struct VdiVideo {
    VdiRegionDet det;
    VdiRect tiles;              /* the region in tiles, w == 0: none */
    VdiRect px;                 /* ... in pixels */
    VdiH264 *stream;
    bool reset;                 /* next rect resets the client's context */
    bool *hit, *changed, *moved;
    uint64_t *sum;              /* per tile: its pixels at the last call */
};

static void video_stop(VdiEncoder *e)
{
    VdiVideo *v = e->video;

    if (!v->tiles.w) {
        return;
    }
    /* the client has the region lossy: send it again, in this frame */
    for (int ty = v->tiles.y; ty < v->tiles.y + v->tiles.h; ty++) {
        for (int tx = v->tiles.x; tx < v->tiles.x + v->tiles.w; tx++) {
            uint8_t *f = &e->tflags[ty * e->tw + tx];

            *f = (*f | TF_DIRTY) & ~(TF_VALID | TF_EXACT | TF_DONE);
        }
    }
    vdi_h264_free(v->stream);
    v->stream = NULL;
    v->tiles = v->px = (VdiRect) { 0, 0, 0, 0 };
}

/*
 * The region in pixels: where its tiles changed in this frame, to even
 * coordinates and sizes (4:2:0); false if that is too small.
 */
static bool region_pixels(const VdiEncoder *e, const EncCtx *c,
                          VdiRect tiles, VdiRect *px)
{
    int x0 = e->w, y0 = e->h, x1 = 0, y1 = 0;

    for (int ty = tiles.y; ty < tiles.y + tiles.h; ty++) {
        for (int tx = tiles.x; tx < tiles.x + tiles.w; tx++) {
            int t = ty * e->tw + tx;
            VdiRect r, bb;

            if (!(e->tflags[t] & TF_DIRTY)) {
                continue;
            }
            vdi_enc_tile_rect(e, t, &r);
            if (!(e->tflags[t] & TF_VALID) ||
                !vdi_enc_change_bbox(e, c->px, c->spx, &r, &bb)) {
                bb = r;
            }
            x0 = MIN(x0, bb.x);
            y0 = MIN(y0, bb.y);
            x1 = MAX(x1, bb.x + bb.w);
            y1 = MAX(y1, bb.y + bb.h);
        }
    }
    x0 &= ~1;
    y0 &= ~1;
    x1 = MIN(ROUND_UP(x1, 2), e->w & ~1);
    y1 = MIN(ROUND_UP(y1, 2), e->h & ~1);
    *px = (VdiRect) { x0, y0, x1 - x0, y1 - y0 };
    return px->w >= VDI_H264_MIN_SIZE && px->h >= VDI_H264_MIN_SIZE;
}

/* Whether a tile of @tiles changed in this frame */
static bool region_dirty(const VdiEncoder *e, VdiRect tiles)
{
    for (int ty = tiles.y; ty < tiles.y + tiles.h; ty++) {
        for (int tx = tiles.x; tx < tiles.x + tiles.w; tx++) {
            if (e->tflags[ty * e->tw + tx] & TF_DIRTY) {
                return true;
            }
        }
    }
    return false;
}

/* FNV-1a over a tile's pixels */
static uint64_t tile_sum(const uint32_t *px, size_t spx, int w, int h)
{
    uint64_t sum = 0xcbf29ce484222325ULL;

    for (int y = 0; y < h; y++) {
        const uint32_t *row = px + (size_t)y * spx;

        for (int x = 0; x < w; x++) {
            sum = (sum ^ row[x]) * 0x100000001b3ULL;
        }
    }
    return sum;
}

/* 1: started, 0: not a region after all, -1: libx264 failed */
static int video_start(VdiEncoder *e, const EncCtx *c, VdiRect tiles)
{
    VdiVideo *v = e->video;
    VdiRect px;

    if (!region_pixels(e, c, tiles, &px)) {
        return 0;
    }
    v->stream = vdi_h264_new(px.w, px.h, quality_crf(e->quality));
    if (!v->stream) {
        return -1;
    }
    v->tiles = tiles;
    v->px = px;
    v->reset = true;
    return 1;
}

static bool video_wanted(const VdiEncoder *e)
{
    return e->profile == VDI_PROFILE_WAN && (e->caps & VDI_ENC_CAP_H264);
}

/* Send the region's frame; false if libx264 failed */
static bool video_send(VdiEncoder *e, EncCtx *c)
{
    VdiVideo *v = e->video;
    const VdiRect *r = &v->px;
    size_t start = c->out->len;
    int n;

    vdi_enc_put_rect_header(c->out, r->x, r->y, r->w, r->h,
                            VDI_RFB_ENC_H264);
    g_byte_array_set_size(c->out, c->out->len + 8);
    n = vdi_h264_encode(v->stream, fb_row(c->px, c->spx, r->y) + r->x,
                        c->spx, c->out);
    if (n < 0) {
        g_byte_array_set_size(c->out, start);
        return false;
    }
    stl_be_p(c->out->data + start + 12, n);
    stl_be_p(c->out->data + start + 16, v->reset ? VDI_H264_FLAG_RESET : 0);
    v->reset = false;
    c->nrects++;
    c->st->rects[VDI_ENC_KIND_H264]++;
    c->st->bytes[VDI_ENC_KIND_H264] += c->out->len - start;
    c->st->lossy_pixels += (uint64_t)r->w * r->h;

    for (int ty = v->tiles.y; ty < v->tiles.y + v->tiles.h; ty++) {
        for (int tx = v->tiles.x; tx < v->tiles.x + v->tiles.w; tx++) {
            int t = ty * e->tw + tx;
            VdiRect tr, part;

            vdi_enc_tile_rect(e, t, &tr);
            part = tr;
            if (!rect_intersect(&part, r)) {
                continue;
            }
            vdi_enc_shadow_store(e, c->px, c->spx, &part);
            e->tflags[t] &= ~TF_EXACT;
            /*
             * A tile partly outside the region keeps its other changes
             * for the Tight encoder; one the client never had goes whole.
             */
            if ((part.w == tr.w && part.h == tr.h) ||
                ((e->tflags[t] & TF_VALID) &&
                 !vdi_enc_tile_differs(e, c->px, c->spx, &tr))) {
                e->tflags[t] = (e->tflags[t] | TF_VALID | TF_DONE) &
                    ~TF_PENDING;
            }
        }
    }
    return true;
}

void vdi_enc_video_frame(VdiEncoder *e, EncCtx *c)
{
    VdiVideo *v = e->video;
    int ntiles = e->tw * e->th;
    bool dirty = false;
    VdiRect region;

    if (!video_wanted(e)) {
        if (v) {
            video_stop(e);
        }
        return;
    }
    if (!v) {
        v = e->video = g_new0(VdiVideo, 1);
    }
    if (v->det.tw != e->tw || v->det.th != e->th) {
        /* a new frame size: the client's contexts are gone */
        vdi_h264_free(v->stream);
        v->stream = NULL;
        v->tiles = v->px = (VdiRect) { 0, 0, 0, 0 };
        vdi_region_destroy(&v->det);
        vdi_region_init(&v->det, e->tw, e->th);
        g_free(v->hit);
        g_free(v->changed);
        g_free(v->moved);
        g_free(v->sum);
        v->hit = g_new(bool, ntiles);
        v->changed = g_new(bool, ntiles);
        v->moved = g_new(bool, ntiles);
        v->sum = g_new0(uint64_t, ntiles);
    }
    for (int t = 0; t < ntiles; t++) {
        VdiRect r;
        uint64_t same;

        /* dirty, or moved here with CopyRect */
        v->changed[t] = e->tflags[t] & (TF_DIRTY | TF_DONE | TF_MOVED);
        v->moved[t] = e->tflags[t] & TF_MOVED;
        v->hit[t] = false;
        if ((e->tflags[t] & (TF_DIRTY | TF_DONE)) == TF_DIRTY) {
            const uint32_t *tp;
            uint64_t sum;

            vdi_enc_tile_rect(e, t, &r);
            tp = fb_row(c->px, c->spx, r.y) + r.x;
            /*
             * A tile still dirty from before (deferred by the budget, or
             * not yet sent again) is no new change: a large paint sent
             * over several calls is not video.
             */
            sum = tile_sum(tp, c->spx, r.w, r.h);
            v->hit[t] = sum != v->sum[t] &&
                vdi_enc_pal_build(&e->pal, tp, c->spx, r.w, r.h,
                                  VDI_ENC_FEW_COLORS, &same) >
                VDI_ENC_FEW_COLORS;
            v->sum[t] = sum;
        }
    }
    /* a region lasts until the detector ends it, whatever its pixels */
    if (!vdi_region_update(&v->det, v->hit, v->changed, v->moved, e->now,
                           &region)) {
        video_stop(e);
        return;
    }
    if (!v->tiles.w) {
        int ret;

        /* found on a call without change: start with the next frame */
        if (!region_dirty(e, region)) {
            return;
        }
        ret = video_start(e, c, region);
        if (ret <= 0) {
            c->st->h264_failures += ret < 0;
            vdi_region_end(&v->det);
            return;
        }
    }
    for (int ty = v->tiles.y; ty < v->tiles.y + v->tiles.h; ty++) {
        for (int tx = v->tiles.x; tx < v->tiles.x + v->tiles.w; tx++) {
            dirty |= v->changed[ty * e->tw + tx];
        }
    }
    if (dirty && !video_send(e, c)) {
        c->st->h264_failures++;
        video_stop(e);
        vdi_region_end(&v->det);
    }
}

bool vdi_enc_video_covers(const VdiEncoder *e, int t)
{
    const VdiVideo *v = e->video;
    int tx = t % e->tw, ty = t / e->tw;

    return v && v->tiles.w && tx >= v->tiles.x &&
        tx < v->tiles.x + v->tiles.w && ty >= v->tiles.y &&
        ty < v->tiles.y + v->tiles.h;
}

void vdi_enc_video_drop(VdiEncoder *e)
{
    VdiVideo *v = e->video;

    /* the client's decoder missed a frame: start over from an IDR */
    if (v && v->stream) {
        vdi_h264_force_idr(v->stream);
        v->reset = true;
    }
}

void vdi_enc_video_free(VdiEncoder *e)
{
    VdiVideo *v = e->video;

    if (v) {
        vdi_h264_free(v->stream);
        vdi_region_destroy(&v->det);
        g_free(v->hit);
        g_free(v->changed);
        g_free(v->moved);
        g_free(v->sum);
        g_free(v);
        e->video = NULL;
    }
}
