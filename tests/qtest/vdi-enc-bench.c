/*
 * Benchmark of the VDI adaptive display encoder on synthetic desktops
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Replays deterministic workloads (typing, scrolling, a web page with
 * photos, video in a window, dragging a window) and prints, per method,
 * the bytes sent after the first full frame, the encode CPU time per
 * frame and the quality seen by a client (the RFB decoder shared with the
 * unit test in vdi-rfb-dec.h).  Baselines computed here: Raw of the
 * damaged rectangles, and one persistent zlib stream (level 6) over the
 * damaged rectangles' 32-bit pixels (like the RFB Zlib encoding).
 * "vdi wan 8M budget" limits each update to what 8 Mbit/s carries at 30
 * updates/s; its PSNR then also counts what is still stale.  PSNR is over
 * the whole frame, after each update.
 *
 * With -r DIR, the real workloads of vdi-workloads.h follow (the content
 * scripts/real-content prepared in DIR).
 *
 * Usage: vdi-enc-bench [-w WIDTH] [-h HEIGHT] [-n FRAMES] [-q QUALITY]
 *        [-r REAL_DIR]
 */

#include "qemu/osdep.h"
#include <math.h>
#include <zlib.h>
#include "ui/vdi-enc.h"
#include "vdi-rfb-dec.h"
#include "vdi-workloads.h"

/* ---- methods ---- */

enum { M_RAW, M_ZLIB, M_LAN, M_WAN, M_WAN8, M__MAX };
static const char *const method_name[M__MAX] = {
    "raw (damage)", "zlib (damage)", "vdi lan", "vdi wan",
    "vdi wan 8M budget",
};

typedef struct Result {
    uint64_t first_bytes, bytes;
    double cpu_ms;
    double psnr_sum, psnr_min;
    int frames;
    uint64_t copy, jpeg;
    bool exact;
} Result;

static double cpu_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void clip_all(Work *wk)
{
    int n = 0;

    for (int i = 0; i < wk->ndmg; i++) {
        VdiRect r = wk->dmg[i];
        int x1 = MIN(r.x + r.w, wk->w), y1 = MIN(r.y + r.h, wk->h);

        r.x = MAX(r.x, 0);
        r.y = MAX(r.y, 0);
        r.w = x1 - r.x;
        r.h = y1 - r.y;
        if (r.w > 0 && r.h > 0) {
            wk->dmg[n++] = r;
        }
    }
    wk->ndmg = n;
}

static uint64_t baseline(int m, z_stream *zs, Work *wk, bool full)
{
    VdiRect all = { 0, 0, wk->w, wk->h };
    const VdiRect *rs = full ? &all : wk->dmg;
    int n = full ? 1 : wk->ndmg;
    uint64_t bytes = 0;
    static uint8_t *zout;
    static size_t zout_size;

    for (int i = 0; i < n; i++) {
        const VdiRect *r = &rs[i];
        size_t raw = (size_t)r->w * r->h * 4;

        bytes += 12;
        if (m == M_RAW) {
            bytes += raw;
            continue;
        }
        if (zout_size < raw + 1024) {
            zout_size = raw + 1024;
            zout = g_realloc(zout, zout_size);
        }
        zs->next_out = zout;
        zs->avail_out = zout_size;
        for (int y = r->y; y < r->y + r->h; y++) {
            zs->next_in = (Bytef *)(wk->px + (size_t)y * wk->w + r->x);
            zs->avail_in = r->w * 4;
            while (zs->avail_in) {
                if (!zs->avail_out) {
                    bytes += zout_size;
                    zs->next_out = zout;
                    zs->avail_out = zout_size;
                }
                deflate(zs, Z_NO_FLUSH);
            }
        }
        do {
            if (!zs->avail_out) {
                bytes += zout_size;
                zs->next_out = zout;
                zs->avail_out = zout_size;
            }
            deflate(zs, Z_SYNC_FLUSH);
        } while (!zs->avail_out);
        bytes += 4 + zout_size - zs->avail_out;
    }
    return bytes;
}

static void run(const Workload *wl, int m, int w, int h, int nframes,
                int quality, Result *res)
{
    Work wk = { .w = w, .h = h };
    VdiEncoder *e = NULL;
    RfbDec *d = NULL;
    z_stream zs;
    g_autoptr(GByteArray) out = g_byte_array_new();

    memset(res, 0, sizeof(*res));
    res->psnr_min = 99;
    res->exact = true;
    memset(&zs, 0, sizeof(zs));
    wk.px = g_new0(uint32_t, (size_t)w * h);
    if (m == M_ZLIB) {
        deflateInit(&zs, 6);
    }
    if (m >= M_LAN) {
        e = vdi_enc_new(m == M_LAN ? VDI_PROFILE_LAN : VDI_PROFILE_WAN,
                        VDI_ENC_CAP_ALL);
        vdi_enc_set_jpeg_quality(e, quality);
        if (m == M_WAN8) {
            /* 8 Mbit/s at 30 updates/s; refinement paces itself by it */
            vdi_enc_set_budget(e, 8000000 / 8 / 30);
            vdi_enc_set_link_rate(e, 8000000 / 8);
        }
        d = rfb_dec_new(w, h);
    }
    wl->init(&wk);
    for (wk.frame = 0; wk.frame <= nframes; wk.frame++) {
        double t0;
        uint64_t b;

        if (wk.frame) {
            wl->step(&wk);
            clip_all(&wk);
        }
        t0 = cpu_now_ms();
        if (e) {
            VdiEncStats st;
            int n;

            g_byte_array_set_size(out, 0);
            n = vdi_enc_frame(e, wk.px, w, h, w * 4,
                              wk.frame ? wk.dmg : NULL,
                              wk.frame ? wk.ndmg : 0, out, &st);
            if (wk.frame) {
                res->cpu_ms += cpu_now_ms() - t0;
            }
            if (n < 0 || !rfb_dec_apply(d, out->data, out->len, n)) {
                fprintf(stderr, "%s: decode error frame %d n %d len %u "
                        "copy %u fill %u\n", wl->name, wk.frame, n,
                        out->len, st.rects[1], st.rects[2]);
                exit(1);
            }
            b = out->len;
            res->copy += st.rects[VDI_ENC_KIND_COPYRECT];
            res->jpeg += st.rects[VDI_ENC_KIND_JPEG];
            if (wk.frame) {
                double p = rfb_dec_psnr(d, wk.px, w, 0, 0, w, h);

                res->psnr_sum += p;
                res->psnr_min = MIN(res->psnr_min, p);
                if (rfb_dec_diff(d, wk.px, w)) {
                    res->exact = false;
                }
            }
        } else {
            b = baseline(m, &zs, &wk, wk.frame == 0);
            if (wk.frame) {
                res->cpu_ms += cpu_now_ms() - t0;
                res->psnr_sum += 99;
            }
        }
        if (wk.frame) {
            res->bytes += b;
            res->frames++;
        } else {
            res->first_bytes = b;
        }
    }
    if (m == M_ZLIB) {
        deflateEnd(&zs);
    }
    if (e) {
        vdi_enc_free(e);
        rfb_dec_free(d);
    }
    g_free(wk.page);
    g_free(wk.px);
}

static void run_all(const Workload *wls, int nwl, int w, int h, int nframes,
                    int quality)
{
    for (int i = 0; i < nwl; i++) {
        for (int m = 0; m < M__MAX; m++) {
            Result r;
            char q[64];

            run(&wls[i], m, w, h, nframes, quality, &r);
            if (m < M_LAN || r.exact) {
                snprintf(q, sizeof(q), "exact");
            } else {
                snprintf(q, sizeof(q), "%.1f / %.1f",
                         r.psnr_sum / r.frames, r.psnr_min);
            }
            printf("| %s | %s | %.1f | %.1f | %.2f | %.2f | %s | %" PRIu64
                   " | %" PRIu64 " |\n", wls[i].name, method_name[m],
                   r.first_bytes / 1024.0, r.bytes / 1024.0,
                   r.bytes / 1024.0 / r.frames, r.cpu_ms / r.frames, q,
                   r.copy, r.jpeg);
            fflush(stdout);
        }
    }
}

int main(int argc, char **argv)
{
    int w = 1280, h = 720, nframes = 60, quality = 70, opt;
    const char *real_dir = NULL;

    while ((opt = getopt(argc, argv, "w:h:n:q:r:")) != -1) {
        if (bench_option(opt, &nframes, &quality, &real_dir)) {
            continue;
        }
        switch (opt) {
        case 'w':
            w = atoi(optarg);
            break;
        case 'h':
            h = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: %s [-w W] [-h H] [-n FRAMES] "
                    "[-q QUALITY] [-r REAL_DIR]\n", argv[0]);
            return 2;
        }
    }
    if (w < 1024 || h < 600 || w > 4096 || h > 4096 || nframes < 1) {
        fprintf(stderr, "need 1024x600 .. 4096x4096 and >= 1 frame\n");
        return 2;
    }
    if (real_dir && (w < 1280 || h < 720 || !real_load(real_dir))) {
        fprintf(stderr, "the real workloads need 1280x720 and the content "
                "of scripts/real-content in %s\n", real_dir);
        return 2;
    }
    printf("%dx%d, %d frames after the first, wan JPEG quality %d\n\n",
           w, h, nframes, quality);
    printf("| workload | method | first frame KiB | update KiB | "
           "KiB/frame | CPU ms/frame | PSNR mean/min dB | CopyRect | "
           "JPEG |\n");
    printf("|---|---|---:|---:|---:|---:|---|---:|---:|\n");
    run_all(workloads, ARRAY_SIZE(workloads), w, h, nframes, quality);
    if (real_dir) {
        run_all(real_workloads, ARRAY_SIZE(real_workloads), w, h, nframes,
                quality);
    }
    return 0;
}
