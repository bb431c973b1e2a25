/*
 * Benchmark: video regions as H.264 against wan alone and x264 alone
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * On the real workloads (scripts/real-content), through the encoder core:
 * "wan" (Tight and JPEG), "wan+h264" (video regions as Open H.264) and
 * "x264 alone" (the whole screen as one libx264 stream, the same settings
 * as a region's, at several rate factors, interpolated to wan+h264's
 * PSNR).  H.264 is decoded by ffmpeg; PSNR is over the whole frame, the
 * mean over the frames after the first.
 *
 *   vdi-enc-h264-bench -r REAL_DIR [-n FRAMES] [-q QUALITY] [-w WORKLOAD] [-v]
 *
 * -v prints each frame's rects and bytes.
 */

#include "qemu/osdep.h"
#include <math.h>
#include "ui/vdi-enc.h"
#include "ui/vdi-enc-h264.h"
#include "vdi-rfb-dec.h"
#include "vdi-workloads.h"
#include "vdi-h264-dec.h"

#define W 1280
#define H 720

/* ---- the client's H.264 contexts ---- */

typedef struct Ctx {
    VdiRect r;
    GByteArray *s;
    uint32_t *frames;           /* decoded (second pass) */
    int nframes, next;
} Ctx;

typedef struct Client {
    GPtrArray *ctxs;            /* Ctx, in the order they were reset */
    int cur;                    /* the context in use, -1: none yet */
    bool second;
} Client;

/*
 * The encoder has one region at a time, and resets its context first: in
 * the first pass collect each context's stream, in the second show its
 * decoded frames.
 */
static bool on_h264(RfbDec *d, int x, int y, int w, int h, uint32_t flags,
                    const uint8_t *data, size_t len)
{
    Client *cl = d->opaque;
    Ctx *c;

    if (flags & VDI_H264_FLAG_RESET) {
        cl->cur++;
        if (!cl->second) {
            c = g_new0(Ctx, 1);
            c->r = (VdiRect) { x, y, w, h };
            c->s = g_byte_array_new();
            g_ptr_array_add(cl->ctxs, c);
        }
    }
    if (cl->cur < 0 || cl->cur >= (int)cl->ctxs->len) {
        return false;
    }
    c = g_ptr_array_index(cl->ctxs, cl->cur);
    if (c->r.x != x || c->r.y != y || c->r.w != w || c->r.h != h) {
        return false;
    }
    if (!cl->second) {
        g_byte_array_append(c->s, data, len);
    } else {
        const uint32_t *f;

        if (c->next >= c->nframes) {
            return false;
        }
        f = c->frames + (size_t)c->next++ * w * h;
        for (int j = 0; j < h; j++) {
            memcpy(d->fb + (size_t)(y + j) * d->w + x, f + (size_t)j * w,
                   w * 4);
            memset(d->lossy + (size_t)(y + j) * d->w + x, 1, w);
        }
    }
    return true;
}

static bool verbose;
static const char *const kind_names[VDI_ENC_KIND__MAX] = {
    "raw", "copy", "fill", "mono", "pal", "zlib", "jpeg", "h264",
};

typedef struct Result {
    uint64_t bytes, h264_bytes;
    double psnr;                /* summed as MSE, then converted */
    int frames;
} Result;

static double mse_of(double psnr)
{
    return 255.0 * 255.0 * pow(10, -psnr / 10);
}

static double psnr_of(double mse)
{
    return mse > 0 ? MIN(99, 10 * log10(255.0 * 255.0 / mse)) : 99;
}

/* One pass of the encoder over the workload */
static void enc_pass(const Workload *wl, int nframes, int quality,
                     uint32_t caps, Client *cl, Result *res)
{
    Work wk = { .w = W, .h = H };
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, caps);
    RfbDec *d = rfb_dec_new(W, H);
    g_autoptr(GByteArray) out = g_byte_array_new();

    memset(res, 0, sizeof(*res));
    vdi_enc_set_jpeg_quality(e, quality);
    d->h264 = on_h264;
    d->opaque = cl;
    wk.px = g_new0(uint32_t, W * H);
    wl->init(&wk);
    for (wk.frame = 0; wk.frame <= nframes; wk.frame++) {
        VdiEncStats st;
        int n;

        if (wk.frame) {
            wl->step(&wk);
        }
        g_byte_array_set_size(out, 0);
        n = vdi_enc_frame(e, wk.px, W, H, W * 4, wk.frame ? wk.dmg : NULL,
                          wk.frame ? wk.ndmg : 0, out, &st);
        if (n < 0 || !rfb_dec_apply(d, out->data, out->len, n)) {
            fprintf(stderr, "%s: decode error in frame %d\n", wl->name,
                    wk.frame);
            exit(1);
        }
        if (wk.frame && verbose && !cl->second) {
            printf("  %s %d: %u B, %u copy (%" PRIu64 " px)",
                   caps & VDI_ENC_CAP_H264 ? "+h264" : "wan", wk.frame,
                   out->len, st.rects[VDI_ENC_KIND_COPYRECT], st.copy_pixels);
            for (int k = VDI_ENC_KIND_FILL; k < VDI_ENC_KIND__MAX; k++) {
                printf(" %s %u/%" PRIu64, kind_names[k], st.rects[k],
                       st.bytes[k]);
            }
            printf(" refined %u\n", st.tiles_refined);
        }
        if (wk.frame) {
            res->bytes += out->len;
            res->h264_bytes += st.bytes[VDI_ENC_KIND_H264];
            res->psnr += mse_of(rfb_dec_psnr(d, wk.px, W, 0, 0, W, H));
            res->frames++;
        }
    }
    res->psnr = psnr_of(res->psnr / res->frames);
    vdi_enc_free(e);
    rfb_dec_free(d);
    g_free(wk.page);
    g_free(wk.px);
}

static void run_vdi(const Workload *wl, int nframes, int quality,
                    uint32_t caps, Result *res)
{
    Client cl = { .ctxs = g_ptr_array_new(), .cur = -1 };

    enc_pass(wl, nframes, quality, caps, &cl, res);
    if (cl.ctxs->len) {
        for (guint i = 0; i < cl.ctxs->len; i++) {
            Ctx *c = g_ptr_array_index(cl.ctxs, i);

            c->frames = ffmpeg_decode(c->s, c->r.w, c->r.h, &c->nframes);
            if (!c->frames) {
                fprintf(stderr, "%s: ffmpeg failed\n", wl->name);
                exit(1);
            }
        }
        cl.second = true;
        cl.cur = -1;
        enc_pass(wl, nframes, quality, caps, &cl, res);
    }
    for (guint i = 0; i < cl.ctxs->len; i++) {
        Ctx *c = g_ptr_array_index(cl.ctxs, i);

        g_byte_array_unref(c->s);
        g_free(c->frames);
        g_free(c);
    }
    g_ptr_array_free(cl.ctxs, true);
}

/* The whole screen as one stream at @crf: bytes and PSNR */
static void run_x264(const Workload *wl, int nframes, int crf, Result *res)
{
    Work wk = { .w = W, .h = H };
    VdiH264 *x = vdi_h264_new(W, H, crf);
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_autofree uint32_t *dec = NULL;
    size_t first = 0;
    int n = 0;

    memset(res, 0, sizeof(*res));
    wk.px = g_new0(uint32_t, W * H);
    wl->init(&wk);
    for (wk.frame = 0; wk.frame <= nframes; wk.frame++) {
        if (wk.frame) {
            wl->step(&wk);
        }
        g_assert(vdi_h264_encode(x, wk.px, W, s) > 0);
        if (!wk.frame) {
            first = s->len;
        }
    }
    res->bytes = s->len - first;
    dec = ffmpeg_decode(s, W, H, &n);
    g_assert(dec && n == nframes + 1);
    g_free(wk.page);
    wk.page = NULL;
    wl->init(&wk);
    for (wk.frame = 1; wk.frame <= nframes; wk.frame++) {
        RfbDec d = { .w = W, .h = H };

        wl->step(&wk);
        d.fb = dec + (size_t)wk.frame * W * H;
        res->psnr += mse_of(rfb_dec_psnr(&d, wk.px, W, 0, 0, W, H));
    }
    res->frames = nframes;
    res->psnr = psnr_of(res->psnr / nframes);
    vdi_h264_free(x);
    g_free(wk.page);
    g_free(wk.px);
}

/*
 * x264 alone's bytes at @psnr, log-linear between the two nearest CRFs;
 * *@best: its PSNR at the best CRF tried if that is below @psnr, else 0
 */
static double x264_at(const Workload *wl, int nframes, double psnr,
                      double *best)
{
    static const int crfs[] = { 10, 16, 22, 28, 34, 40 };
    Result prev = { 0 }, r;

    *best = 0;
    for (int i = 0; i < ARRAY_SIZE(crfs); i++) {
        run_x264(wl, nframes, crfs[i], &r);
        if (r.psnr <= psnr) {
            if (!i) {
                *best = r.psnr;
                return r.bytes;
            }
            return exp(log(r.bytes) + (log(prev.bytes) - log(r.bytes)) *
                       (psnr - r.psnr) / (prev.psnr - r.psnr));
        }
        prev = r;
    }
    return prev.bytes;
}

int main(int argc, char **argv)
{
    int nframes = 60, quality = 70, opt;
    const char *real_dir = NULL, *only = NULL;
    Result mix[2] = { 0 };
    double mix_x264 = 0;

    while ((opt = getopt(argc, argv, "n:q:r:vw:")) != -1) {
        if (opt == 'v') {
            verbose = true;
        } else if (opt == 'w') {
            only = optarg;
        } else if (!bench_option(opt, &nframes, &quality, &real_dir)) {
            real_dir = NULL;
            nframes = 0;
        }
    }
    if (!real_dir || nframes < 1 || !real_load(real_dir)) {
        fprintf(stderr, "usage: %s -r REAL_DIR [-n FRAMES] [-q QUALITY] "
                "[-w WORKLOAD] [-v]\n(REAL_DIR: what scripts/real-content "
                "prepared)\n", argv[0]);
        return 2;
    }
    printf("%dx%d, %d frames after the first, JPEG quality %d; PSNR over "
           "the whole frame\n\n", W, H, nframes, quality);
    printf("| workload | wan KiB | wan dB | wan+h264 KiB (of it H.264) | "
           "wan+h264 dB | x264 alone KiB at that dB | wan+h264 / x264 |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < ARRAY_SIZE(real_workloads); i++) {
        const Workload *wl = &real_workloads[i];
        Result r[2];
        char note[32] = "";
        double x, best;

        if (only && strcmp(only, wl->name)) {
            continue;
        }
        run_vdi(wl, nframes, quality, VDI_ENC_CAP_ALL, &r[0]);
        run_vdi(wl, nframes, quality, VDI_ENC_CAP_ALL | VDI_ENC_CAP_H264,
                &r[1]);
        x = x264_at(wl, nframes, r[1].psnr, &best);
        if (best) {
            snprintf(note, sizeof(note), " (CRF 10: %.1f dB)", best);
        }
        printf("| %s | %.1f | %.1f | %.1f (%.1f) | %.1f | %.1f%s | %.3f |\n",
               wl->name, r[0].bytes / 1024.0, r[0].psnr,
               r[1].bytes / 1024.0, r[1].h264_bytes / 1024.0, r[1].psnr,
               x / 1024.0, note, r[1].bytes / x);
        fflush(stdout);
        for (int k = 0; k < 2; k++) {
            mix[k].bytes += r[k].bytes;
            mix[k].psnr += mse_of(r[k].psnr);
            mix[k].frames++;
        }
        mix_x264 += x;
    }
    if (mix[0].frames > 1) {
        printf("| mix | %.1f | %.1f | %.1f | %.1f | %.1f | %.3f |\n",
               mix[0].bytes / 1024.0, psnr_of(mix[0].psnr / mix[0].frames),
               mix[1].bytes / 1024.0, psnr_of(mix[1].psnr / mix[1].frames),
               mix_x264 / 1024.0, mix[1].bytes / mix_x264);
        printf("\nTarget: wan+h264 below x264 alone's bytes on the real mix, "
               "each workload at wan+h264's PSNR (x264 at most at CRF 10): "
               "%.3f: %s\n", mix[1].bytes / mix_x264,
               mix[1].bytes < mix_x264 ? "yes" : "NO");
    }
    return 0;
}
