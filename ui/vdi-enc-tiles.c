/*
 * VDI adaptive display encoder: tile tracking
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The client's copy of the screen (the shadow) in VDI_ENC_TILE tiles:
 * which tiles changed, by how much, and what the client has of each.
 */

#include "qemu/osdep.h"
#include "vdi-enc-int.h"

/* ---- tile bookkeeping ---- */

void vdi_enc_tile_rect(const VdiEncoder *e, int t, VdiRect *r)
{
    int tx = t % e->tw, ty = t / e->tw;

    r->x = tx * TILE;
    r->y = ty * TILE;
    r->w = MIN(TILE, e->w - r->x);
    r->h = MIN(TILE, e->h - r->y);
}

bool vdi_enc_rect_clip(VdiRect *r, int w, int h)
{
    int64_t x0 = MAX(r->x, 0), y0 = MAX(r->y, 0);
    int64_t x1 = MIN((int64_t)r->x + r->w, w);
    int64_t y1 = MIN((int64_t)r->y + r->h, h);

    if (x1 <= x0 || y1 <= y0) {
        return false;
    }
    r->x = x0;
    r->y = y0;
    r->w = x1 - x0;
    r->h = y1 - y0;
    return true;
}

void vdi_enc_free_state(VdiEncoder *e)
{
    g_free(e->shadow);
    g_free(e->tflags);
    g_free(e->tflags_snap);
    g_free(e->tchg);
    g_free(e->tival);
    e->shadow = NULL;
    e->tflags = NULL;
    e->tflags_snap = NULL;
    e->tchg = NULL;
    e->tival = NULL;
    e->w = e->h = e->tw = e->th = 0;
}

void vdi_enc_resize_state(VdiEncoder *e, int w, int h)
{
    vdi_enc_free_state(e);
    e->w = w;
    e->h = h;
    e->tw = DIV_ROUND_UP(w, TILE);
    e->th = DIV_ROUND_UP(h, TILE);
    e->shadow = g_new0(uint32_t, (size_t)w * h);
    e->tflags = g_new0(uint8_t, (size_t)e->tw * e->th);
    e->tflags_snap = g_new0(uint8_t, (size_t)e->tw * e->th);
    e->tchg = g_new(int64_t, (size_t)e->tw * e->th);
    for (int t = 0; t < e->tw * e->th; t++) {
        e->tchg[t] = TCHG_NEVER;
    }
    e->tival = g_new0(uint32_t, (size_t)e->tw * e->th);
    e->rr_start = 0;
}

/* ---- change detection ---- */

bool vdi_enc_tile_differs(const VdiEncoder *e, const uint32_t *px, size_t spx,
                          const VdiRect *r)
{
    for (int j = 0; j < r->h; j++) {
        if (memcmp(fb_row(px, spx, r->y + j) + r->x,
                   e->shadow + (size_t)(r->y + j) * e->w + r->x,
                   r->w * 4)) {
            return true;
        }
    }
    return false;
}

/* Bounding box of the pixels of @r that differ from the shadow */
bool vdi_enc_change_bbox(const VdiEncoder *e, const uint32_t *px, size_t spx,
                         const VdiRect *r, VdiRect *bb)
{
    int ymin = -1, ymax = -1, xmin = r->w, xmax = -1;

    for (int j = 0; j < r->h; j++) {
        const uint32_t *a = fb_row(px, spx, r->y + j) + r->x;
        const uint32_t *b = e->shadow + (size_t)(r->y + j) * e->w + r->x;
        int i;

        if (!memcmp(a, b, r->w * 4)) {
            continue;
        }
        if (ymin < 0) {
            ymin = j;
        }
        ymax = j;
        for (i = 0; i < xmin; i++) {
            if (a[i] != b[i]) {
                xmin = i;
                break;
            }
        }
        for (i = r->w - 1; i > xmax; i--) {
            if (a[i] != b[i]) {
                xmax = i;
                break;
            }
        }
    }
    if (ymin < 0) {
        return false;
    }
    bb->x = r->x + xmin;
    bb->y = r->y + ymin;
    bb->w = xmax - xmin + 1;
    bb->h = ymax - ymin + 1;
    return true;
}

void vdi_enc_shadow_store(VdiEncoder *e, const uint32_t *px, size_t spx,
                          const VdiRect *r)
{
    for (int j = 0; j < r->h; j++) {
        memcpy(e->shadow + (size_t)(r->y + j) * e->w + r->x,
               fb_row(px, spx, r->y + j) + r->x, r->w * 4);
    }
}

bool vdi_enc_has_pending(const VdiEncoder *e)
{
    for (int t = 0; t < e->tw * e->th; t++) {
        if ((e->tflags[t] & TF_PENDING) ||
            (e->tflags[t] & (TF_VALID | TF_EXACT)) != (TF_VALID | TF_EXACT)) {
            return true;
        }
    }
    return false;
}

void vdi_enc_invalidate(VdiEncoder *e, const VdiRect *rect)
{
    VdiRect r = { 0, 0, e->w, e->h };

    if (rect) {
        r = *rect;
    }
    if (!e->w || r.w < 0 || r.h < 0 || !vdi_enc_rect_clip(&r, e->w, e->h)) {
        return;
    }
    for (int ty = r.y / TILE; ty <= (r.y + r.h - 1) / TILE; ty++) {
        for (int tx = r.x / TILE; tx <= (r.x + r.w - 1) / TILE; tx++) {
            e->tflags[ty * e->tw + tx] &= ~(TF_VALID | TF_EXACT);
        }
    }
}
