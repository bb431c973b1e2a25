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
 */

#ifndef VDI_WORKLOADS_H
#define VDI_WORKLOADS_H

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
    { "video", video_init, video_step },
    { "drag", drag_init, drag_step },
};

#endif
