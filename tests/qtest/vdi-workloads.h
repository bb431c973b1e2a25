/*
 * Deterministic desktop workloads for the VDI display benchmarks
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Typing in an editor, scrolling a document, a web page with photos,
 * video playing in a window and dragging a window, drawn frame by frame
 * with the generators of vdi-synth.h into a WxH 0x00RRGGBB framebuffer.
 * Each step() draws the next frame and sets the damage rectangles (not
 * clipped to the frame).  Shared by vdi-enc-bench.c (the encoder core on
 * its own) and vdi-display-bench.c (QEMU's VNC server and a real client).
 * Needs the frame at least 1024x600.
 *
 * The real workloads (real_workloads[]) show content nobody in this
 * project made, prepared by scripts/real-content from Debian packages and
 * loaded with real_load(): typeset document pages, photographs and the
 * frames of a film clip, in windows on a photo wallpaper.  They need the
 * frame at least 1280x720.
 */

#ifndef VDI_WORKLOADS_H
#define VDI_WORKLOADS_H

#include "qemu/cutils.h"
#include "ui/vdi-enc.h"
#include "vdi-synth.h"

typedef struct Work {
    int w, h, frame;
    uint32_t *px;
    uint32_t *page;         /* tall virtual page for scrolling */
    int page_h;
    VdiRect dmg[4];
    int ndmg;
} Work;

typedef struct Workload {
    const char *name;
    void (*init)(Work *wk);
    void (*step)(Work *wk);   /* next frame, sets the damage */
    bool plays;               /* video: at its own rate, not the client's */
} Workload;

/* ---- workloads ---- */

#define EDIT_X 40
#define EDIT_Y 60

static int type_start;

static void typing_init(Work *wk)
{
    int cols = (wk->w - 80) / 8, line = 12;

    /* start typing on a line that is not an empty paragraph break */
    while (syn_hash(line, 11, 1) % 7 == 0) {
        line++;
    }
    type_start = line * cols + 10;
    syn_fill(wk->px, wk->w, 0, 0, wk->w, wk->h, 0xdcdcdc);
    syn_fill(wk->px, wk->w, 0, 0, wk->w, 30, 0x2b579a);
    syn_text(wk->px, wk->w, EDIT_X, EDIT_Y, wk->w - 80, wk->h - 100, 0, 11,
             type_start);
}

static void typing_step(Work *wk)
{
    int cols = (wk->w - 80) / 8;
    int n = type_start + wk->frame * 2 - 2;

    wk->ndmg = 0;
    for (int k = 0; k < 2; k++) {
        int line = (n + k) / cols, col = (n + k) % cols;
        VdiRect r = { EDIT_X + col * 8, EDIT_Y + line * 16, 8, 16 };

        if (r.y + 16 > wk->h - 40) {
            continue;
        }
        syn_text(wk->px, wk->w, EDIT_X, EDIT_Y + line * 16, wk->w - 80,
                 16, line * 16, 11, n + k + 1);
        wk->dmg[wk->ndmg++] = r;
    }
}

static void page_make(Work *wk, bool photos)
{
    wk->page_h = wk->h * 6;
    wk->page = g_new(uint32_t, (size_t)wk->w * wk->page_h);
    syn_fill(wk->page, wk->w, 0, 0, wk->w, wk->page_h, 0xffffff);
    syn_text(wk->page, wk->w, 80, 0, photos ? wk->w / 2 - 100 : wk->w - 160,
             wk->page_h, 0, 21, -1);
    if (photos) {
        for (int y = 40, i = 0; y + 300 < wk->page_h; y += 420, i++) {
            syn_photo(wk->page, wk->w, wk->w / 2, y, wk->w / 2 - 80, 300,
                      0, i);
        }
    }
}

static void page_show(Work *wk, int off)
{
    syn_fill(wk->px, wk->w, 0, 0, wk->w, 50, 0x404040);
    for (int y = 50; y < wk->h; y++) {
        memcpy(wk->px + (size_t)y * wk->w,
               wk->page + (size_t)(y - 50 + off) * wk->w, wk->w * 4);
    }
    wk->dmg[0] = (VdiRect) { 0, 50, wk->w, wk->h - 50 };
    wk->ndmg = 1;
}

static void scroll_init(Work *wk)
{
    page_make(wk, false);
    page_show(wk, 0);
}

static void scroll_step(Work *wk)
{
    page_show(wk, wk->frame * 24);
}

static void web_init(Work *wk)
{
    page_make(wk, true);
    page_show(wk, 0);
}

static void web_step(Work *wk)
{
    /* scroll in bursts, then read */
    static int off;

    if (wk->frame == 1) {
        off = 0;
    }
    if (wk->frame % 20 < 8) {
        off += 40;
        page_show(wk, off);
    } else {
        wk->ndmg = 0;
    }
}

static void video_init(Work *wk)
{
    syn_wallpaper(wk->px, wk->w, wk->w, wk->h);
    syn_window(wk->px, wk->w, wk->w, wk->h, 100, 60, wk->w - 200,
               wk->h - 140, 3);
    syn_photo(wk->px, wk->w, 300, 180, 640, 360, 0, 5);
}

static void video_step(Work *wk)
{
    syn_photo(wk->px, wk->w, 300, 180, 640, 360, wk->frame, 5);
    wk->dmg[0] = (VdiRect) { 300, 180, 640, 360 };
    wk->ndmg = 1;
}

static void drag_pos(Work *wk, int f, int *x, int *y)
{
    *x = 60 + f * 9;
    *y = 40 + f * 5;
}

static void drag_init(Work *wk)
{
    int x, y;

    syn_wallpaper(wk->px, wk->w, wk->w, wk->h);
    drag_pos(wk, 0, &x, &y);
    syn_window(wk->px, wk->w, wk->w, wk->h, x, y, 600, 400, 8);
}

static void drag_step(Work *wk)
{
    int x0, y0, x1, y1;

    drag_pos(wk, wk->frame - 1, &x0, &y0);
    drag_pos(wk, wk->frame, &x1, &y1);
    syn_wallpaper(wk->px, wk->w, wk->w, wk->h);
    syn_window(wk->px, wk->w, wk->w, wk->h, x1, y1, 600, 400, 8);
    wk->dmg[0] = (VdiRect) { x0, y0, x1 - x0 + 600, y1 - y0 + 400 };
    wk->ndmg = 1;
}

static const Workload workloads[] = {
    { "typing", typing_init, typing_step },
    { "scroll", scroll_init, scroll_step },
    { "web+photos", web_init, web_step },
    { "video", video_init, video_step, true },
    { "drag", drag_init, drag_step },
};

/* ---- real content ---- */

typedef struct RealImg {
    int w, h;
    uint32_t *px;
} RealImg;

#define REAL_MAX_DOCS 8
#define REAL_MAX_PHOTOS 8
#define REAL_MAX_FILM 128

static struct {
    RealImg doc[REAL_MAX_DOCS], photo[REAL_MAX_PHOTOS], film[REAL_MAX_FILM];
    int ndoc, nphoto, nfilm;
} real;

/* A binary PPM (P6, maxval 255) as 0x00RRGGBB; false if absent or bad */
static bool ppm_load(const char *path, RealImg *img)
{
    g_autofree char *buf = NULL;
    gsize len;
    const char *p, *end;
    long v[3];

    if (!g_file_get_contents(path, &buf, &len, NULL) || len < 2 ||
        memcmp(buf, "P6", 2)) {
        return false;
    }
    p = buf + 2;
    for (int i = 0; i < 3; i++) {
        while (p < buf + len && g_ascii_isspace(*p)) {
            p++;
        }
        if (qemu_strtol(p, &end, 10, &v[i]) || v[i] <= 0 || v[i] > 8192) {
            return false;
        }
        p = end;
    }
    p++;
    if (v[2] != 255 || p + v[0] * v[1] * 3 > buf + len) {
        return false;
    }
    img->w = v[0];
    img->h = v[1];
    img->px = g_new(uint32_t, (size_t)img->w * img->h);
    for (size_t i = 0; i < (size_t)img->w * img->h; i++) {
        const uint8_t *q = (const uint8_t *)p + i * 3;

        img->px[i] = (q[0] << 16) | (q[1] << 8) | q[2];
    }
    return true;
}

/*
 * Load what scripts/real-content prepared in @dir: doc-N.ppm,
 * photo-N.ppm, film-NNN.ppm (from 001).  False if anything is missing.
 */
static G_GNUC_UNUSED bool real_load(const char *dir)
{
    for (real.ndoc = 0; real.ndoc < REAL_MAX_DOCS; real.ndoc++) {
        g_autofree char *f = g_strdup_printf("%s/doc-%d.ppm", dir, real.ndoc);

        if (!ppm_load(f, &real.doc[real.ndoc])) {
            break;
        }
    }
    for (real.nphoto = 0; real.nphoto < REAL_MAX_PHOTOS; real.nphoto++) {
        g_autofree char *f = g_strdup_printf("%s/photo-%d.ppm", dir,
                                             real.nphoto);

        if (!ppm_load(f, &real.photo[real.nphoto])) {
            break;
        }
    }
    for (real.nfilm = 0; real.nfilm < REAL_MAX_FILM; real.nfilm++) {
        g_autofree char *f = g_strdup_printf("%s/film-%03d.ppm", dir,
                                             real.nfilm + 1);

        if (!ppm_load(f, &real.film[real.nfilm])) {
            break;
        }
    }
    return real.ndoc >= 2 && real.nphoto >= 3 && real.nfilm >= 2;
}

/*
 * The options the encoder benchmarks share: -n FRAMES, -q QUALITY and
 * -r REAL_DIR (for real_load()); false for another option.
 */
static G_GNUC_UNUSED bool bench_option(int opt, int *nframes, int *quality,
                                       const char **real_dir)
{
    switch (opt) {
    case 'n':
        *nframes = atoi(optarg);
        return true;
    case 'q':
        *quality = atoi(optarg);
        return true;
    case 'r':
        *real_dir = optarg;
        return true;
    }
    return false;
}

/* @img's pixels from (@ix, @iy) into the rect (@x, @y, @w, @h) of @wk */
static void real_blit(Work *wk, const RealImg *img, int ix, int iy, int x,
                      int y, int w, int h)
{
    for (int j = 0; j < h; j++) {
        int fy = y + j, sy = iy + j;

        if (fy < 0 || fy >= wk->h) {
            continue;
        }
        for (int i = 0; i < w; i++) {
            int fx = x + i, sx = ix + i;

            if (fx < 0 || fx >= wk->w) {
                continue;
            }
            wk->px[(size_t)fy * wk->w + fx] =
                sx >= 0 && sy >= 0 && sx < img->w && sy < img->h ?
                img->px[(size_t)sy * img->w + sx] : 0x303030;
        }
    }
}

/* The desktop: the largest photograph as wallpaper */
static void real_desktop(Work *wk)
{
    const RealImg *wp = &real.photo[0];

    for (int i = 1; i < real.nphoto; i++) {
        if (real.photo[i].w * real.photo[i].h > wp->w * wp->h) {
            wp = &real.photo[i];
        }
    }
    real_blit(wk, wp, (wp->w - wk->w) / 2, (wp->h - wk->h) / 2, 0, 0,
              wk->w, wk->h);
}

/* syn_fill() clipped to the frame: windows may leave it */
static void real_fill(Work *wk, int x, int y, int w, int h, uint32_t col)
{
    int x0 = MAX(x, 0), y0 = MAX(y, 0);
    int x1 = MIN(x + w, wk->w), y1 = MIN(y + h, wk->h);

    if (x1 > x0 && y1 > y0) {
        syn_fill(wk->px + (size_t)y0 * wk->w + x0, wk->w, 0, 0, x1 - x0,
                 y1 - y0, col);
    }
}

/* A window frame around a content area of @w x @h at (@x, @y) */
static void real_frame(Work *wk, int x, int y, int w, int h)
{
    real_fill(wk, x - 4, y - 28, w + 8, h + 32, 0xe8e8e8);
    real_fill(wk, x - 4, y - 28, w + 8, 24, 0x2050a0);
    real_fill(wk, x + w - 20, y - 24, 16, 16, 0xc03030);
}

/* Document pages one under the other, as a PDF viewer shows them */
static void real_doc_page(Work *wk)
{
    int y = 0;

    wk->page_h = 0;
    for (int i = 0; i < real.ndoc; i++) {
        wk->page_h += real.doc[i].h + 16;
    }
    wk->page_h = MAX(wk->page_h, wk->h * 2);
    wk->page = g_new(uint32_t, (size_t)wk->w * wk->page_h);
    syn_fill(wk->page, wk->w, 0, 0, wk->w, wk->page_h, 0x525659);
    for (int i = 0; i < real.ndoc; i++) {
        const RealImg *d = &real.doc[i];
        int x = (wk->w - d->w) / 2;

        for (int j = 0; j < d->h; j++) {
            memcpy(wk->page + (size_t)(y + 8 + j) * wk->w + MAX(x, 0),
                   d->px + (size_t)j * d->w + MAX(-x, 0),
                   MIN(d->w, wk->w) * 4);
        }
        y += d->h + 16;
    }
}

static void doc_scroll_init(Work *wk)
{
    real_doc_page(wk);
    page_show(wk, 0);
}

static void doc_scroll_step(Work *wk)
{
    int range = wk->page_h - (wk->h - 50);

    page_show(wk, wk->frame * 24 % range);
}

/* Reading: the next page every 4 frames (page down), still in between */
static void doc_pages_init(Work *wk)
{
    real_doc_page(wk);
    page_show(wk, 0);
}

static void doc_pages_step(Work *wk)
{
    if (wk->frame % 4) {
        wk->ndmg = 0;
        return;
    }
    page_show(wk, wk->frame / 4 % real.ndoc * (real.doc[0].h + 16));
}

#define PHOTO_X 200
#define PHOTO_Y 90
#define PHOTO_W 880
#define PHOTO_H 600

/* A photo viewer: the next photograph every 6 frames, still in between */
static void photos_show(Work *wk, int k)
{
    const RealImg *p = &real.photo[k % real.nphoto];

    real_blit(wk, p, (p->w - PHOTO_W) / 2, (p->h - PHOTO_H) / 2, PHOTO_X,
              PHOTO_Y, PHOTO_W, PHOTO_H);
    wk->dmg[0] = (VdiRect) { PHOTO_X, PHOTO_Y, PHOTO_W, PHOTO_H };
    wk->ndmg = 1;
}

static void photos_init(Work *wk)
{
    real_desktop(wk);
    real_frame(wk, PHOTO_X, PHOTO_Y, PHOTO_W, PHOTO_H);
    photos_show(wk, 1);
}

static void photos_step(Work *wk)
{
    if (wk->frame % 6) {
        wk->ndmg = 0;
        return;
    }
    photos_show(wk, 1 + wk->frame / 6);
}

#define FILM_X 240
#define FILM_Y 110

/* The film clip playing in a player window, one clip frame per frame */
static void film_init(Work *wk)
{
    const RealImg *f = &real.film[0];

    real_desktop(wk);
    real_frame(wk, FILM_X, FILM_Y, f->w, f->h);
    real_blit(wk, f, 0, 0, FILM_X, FILM_Y, f->w, f->h);
}

static void film_step(Work *wk)
{
    const RealImg *f = &real.film[wk->frame % real.nfilm];

    real_blit(wk, f, 0, 0, FILM_X, FILM_Y, f->w, f->h);
    wk->dmg[0] = (VdiRect) { FILM_X, FILM_Y, f->w, f->h };
    wk->ndmg = 1;
}

/* Dragging a window that shows a photograph across the desktop */
#define PDRAG_W 560
#define PDRAG_H 380

static void photo_drag_draw(Work *wk, int f)
{
    int x = 60 + f * 9, y = 60 + f * 5;
    const RealImg *p = &real.photo[1 % real.nphoto];

    real_desktop(wk);
    real_frame(wk, x, y, PDRAG_W, PDRAG_H);
    real_blit(wk, p, (p->w - PDRAG_W) / 2, (p->h - PDRAG_H) / 2, x, y,
              PDRAG_W, PDRAG_H);
}

static void photo_drag_init(Work *wk)
{
    photo_drag_draw(wk, 0);
}

static void photo_drag_step(Work *wk)
{
    int x0 = 60 + (wk->frame - 1) * 9, y0 = 60 + (wk->frame - 1) * 5;

    photo_drag_draw(wk, wk->frame);
    wk->dmg[0] = (VdiRect) { x0 - 4, y0 - 28, PDRAG_W + 8 + 9,
                             PDRAG_H + 32 + 5 };
    wk->ndmg = 1;
}

static G_GNUC_UNUSED const Workload real_workloads[] = {
    { "doc-scroll", doc_scroll_init, doc_scroll_step },
    { "doc-pages", doc_pages_init, doc_pages_step },
    { "photos", photos_init, photos_step },
    { "film", film_init, film_step, true },
    { "photo-drag", photo_drag_init, photo_drag_step },
};

#endif
