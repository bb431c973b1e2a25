/*
 * VDI display encoder: video region detection
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Over the tile grid: a tile is video-like when it changed with many
 * colours in most recent frames; the bounding box of the video-like tiles,
 * when they fill most of it and it keeps its place and size for a few
 * frames, is a video region (see vdi-enc-h264.h).
 */

#include "qemu/osdep.h"
#include "qemu/host-utils.h"
#include "vdi-enc-h264.h"

#define WINDOW_MASK ((1u << VDI_REGION_WINDOW) - 1)
/* frames a different box must persist to end the active region */
#define MOVED_FRAMES 2

void vdi_region_init(VdiRegionDet *d, int tw, int th)
{
    memset(d, 0, sizeof(*d));
    d->tw = tw;
    d->th = th;
    d->hist = g_new0(uint8_t, (size_t)tw * th);
}

void vdi_region_destroy(VdiRegionDet *d)
{
    g_free(d->hist);
    d->hist = NULL;
}

static bool rect_eq(const VdiRect *a, const VdiRect *b)
{
    return a->x == b->x && a->y == b->y && a->w == b->w && a->h == b->h;
}

/* The box of the video-like tiles, w = 0 if it is no candidate */
static VdiRect candidate(const VdiRegionDet *d)
{
    VdiRect r = { 0, 0, 0, 0 };
    int x0 = d->tw, y0 = d->th, x1 = -1, y1 = -1, n = 0;

    for (int ty = 0; ty < d->th; ty++) {
        for (int tx = 0; tx < d->tw; tx++) {
            if (ctpop8(d->hist[ty * d->tw + tx]) >= VDI_REGION_HITS) {
                x0 = MIN(x0, tx);
                y0 = MIN(y0, ty);
                x1 = MAX(x1, tx);
                y1 = MAX(y1, ty);
                n++;
            }
        }
    }
    if (!n || x1 - x0 + 1 < VDI_REGION_MIN_TILES ||
        y1 - y0 + 1 < VDI_REGION_MIN_TILES ||
        n * 100 < VDI_REGION_DENSITY * (x1 - x0 + 1) * (y1 - y0 + 1)) {
        return r;
    }
    r.x = x0;
    r.y = y0;
    r.w = x1 - x0 + 1;
    r.h = y1 - y0 + 1;
    return r;
}

bool vdi_region_update(VdiRegionDet *d, const bool *hit, const bool *changed,
                       int64_t now_ns, VdiRect *region)
{
    VdiRect c;

    for (int t = 0; t < d->tw * d->th; t++) {
        d->hist[t] = ((d->hist[t] << 1) | hit[t]) & WINDOW_MASK;
    }
    c = candidate(d);
    if (c.w && rect_eq(&c, &d->cand)) {
        d->stable++;
    } else {
        d->cand = c;
        d->stable = c.w ? 1 : 0;
    }

    if (d->active.w) {
        const VdiRect *a = &d->active;

        for (int ty = a->y; ty < a->y + a->h; ty++) {
            for (int tx = a->x; tx < a->x + a->w; tx++) {
                if (changed[ty * d->tw + tx]) {
                    d->last_change = now_ns;
                }
            }
        }
        if (now_ns - d->last_change > VDI_REGION_IDLE_NS ||
            (d->cand.w && !rect_eq(&d->cand, a) &&
             d->stable >= MOVED_FRAMES)) {
            vdi_region_end(d);
        }
    }
    if (!d->active.w && d->cand.w && d->stable >= VDI_REGION_STABLE) {
        d->active = d->cand;
        d->last_change = now_ns;
    }
    *region = d->active;
    return d->active.w != 0;
}

void vdi_region_end(VdiRegionDet *d)
{
    /* detected again from new frames only */
    memset(d->hist, 0, (size_t)d->tw * d->th);
    d->cand = d->active = (VdiRect) { 0, 0, 0, 0 };
    d->stable = 0;
}
