/*
 * VDI display encoder: video region detection
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Over the tile grid: a tile is video-like when it changed with many
 * colours several times in a short time; the bounding box of the
 * video-like tiles, when they fill most of it, nothing in it moved and it
 * keeps its place and size for a few frames, is a video region (see
 * vdi-enc-h264.h).
 */

#include "qemu/osdep.h"
#include "vdi-enc-h264.h"

/* frames a different box must persist to end the active region */
#define MOVED_FRAMES 2

void vdi_region_init(VdiRegionDet *d, int tw, int th)
{
    memset(d, 0, sizeof(*d));
    d->tw = tw;
    d->th = th;
    d->hits = g_new(int64_t, (size_t)tw * th * VDI_REGION_HITS);
    vdi_region_end(d);
}

void vdi_region_destroy(VdiRegionDet *d)
{
    g_free(d->hits);
    d->hits = NULL;
}

static bool rect_eq(const VdiRect *a, const VdiRect *b)
{
    return a->x == b->x && a->y == b->y && a->w == b->w && a->h == b->h;
}

/* The box of the video-like tiles, w = 0 if it is no candidate */
static VdiRect candidate(const VdiRegionDet *d, const bool *moved,
                         int64_t now_ns)
{
    VdiRect r = { 0, 0, 0, 0 };
    int x0 = d->tw, y0 = d->th, x1 = -1, y1 = -1, n = 0;

    for (int ty = 0; ty < d->th; ty++) {
        for (int tx = 0; tx < d->tw; tx++) {
            int t = ty * d->tw + tx;

            /* the oldest of its last hits is recent */
            if (now_ns - d->hits[(t + 1) * VDI_REGION_HITS - 1] <=
                VDI_REGION_WINDOW_NS) {
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
    for (int ty = y0; ty <= y1; ty++) {
        for (int tx = x0; tx <= x1; tx++) {
            if (moved[ty * d->tw + tx]) {
                return r;
            }
        }
    }
    r.x = x0;
    r.y = y0;
    r.w = x1 - x0 + 1;
    r.h = y1 - y0 + 1;
    return r;
}

bool vdi_region_update(VdiRegionDet *d, const bool *hit, const bool *changed,
                       const bool *moved, int64_t now_ns, VdiRect *region)
{
    VdiRect c;

    for (int t = 0; t < d->tw * d->th; t++) {
        if (hit[t]) {
            int64_t *h = d->hits + t * VDI_REGION_HITS;

            memmove(h + 1, h, (VDI_REGION_HITS - 1) * sizeof(*h));
            h[0] = now_ns;
        }
    }
    c = candidate(d, moved, now_ns);
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
    for (size_t i = 0; i < (size_t)d->tw * d->th * VDI_REGION_HITS; i++) {
        d->hits[i] = INT64_MIN / 2;
    }
    d->cand = d->active = (VdiRect) { 0, 0, 0, 0 };
    d->stable = 0;
}
