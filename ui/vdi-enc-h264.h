/*
 * VDI display encoder: video regions as RFB Open H.264 (libx264)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A region of the screen that keeps changing like video (changed in most
 * recent frames, many colours, a stable bounding box) is sent as an H.264
 * stream in the RFB Open H.264 encoding (50) to clients that announced it;
 * text and UI around it stay with the Tight encoder.  Each rectangle is
 * U32 length, U32 flags (bit 0: reset this context, bit 1: reset all
 * contexts), then that many bytes of H.264 Annex B; the client keeps one
 * decoder context per rectangle (x, y, w, h).
 *
 * Three parts, none using QEMU internals:
 * - VdiRegionDet, the region detector (vdi-enc-region.c, no libx264);
 * - VdiH264, a low-latency libx264 stream of one region (vdi-enc-h264.c);
 * - the encoder's hooks (vdi-enc-h264.c), called by vdi-enc.c through
 *   vdi-enc-int.h.
 */

#ifndef UI_VDI_ENC_H264_H
#define UI_VDI_ENC_H264_H

#include "vdi-enc.h"

/* Open H.264 rect flags */
#define VDI_H264_FLAG_RESET 1u
#define VDI_H264_FLAG_RESET_ALL 2u

/* ---- the region detector, in tiles ---- */

/*
 * A tile is video-like if it changed with many colours this many times
 * within VDI_REGION_WINDOW_NS: time, not encoder calls, so that video
 * slower than the update rate (from about 9 frames/s) is found too, and
 * a slide show (a new picture every 200 ms or more) is not.
 */
#define VDI_REGION_HITS 3
#define VDI_REGION_WINDOW_NS (350 * 1000000LL)
/* frames the candidate bounding box must stay the same to start */
#define VDI_REGION_STABLE 2
/* share (percent) of the box's tiles that must be video-like */
#define VDI_REGION_DENSITY 50
/* smallest region, in tiles each way */
#define VDI_REGION_MIN_TILES 2
/* a region whose tiles did not change for this long (ns) ends */
#define VDI_REGION_IDLE_NS (250 * 1000000LL)

typedef struct VdiRegionDet {
    int tw, th;
    int64_t *hits;      /* per tile: its last VDI_REGION_HITS hits (ns) */
    VdiRect cand;       /* candidate box (tiles), w == 0: none */
    int stable;         /* frames the candidate stayed the same */
    VdiRect active;     /* the region (tiles), w == 0: none */
    int64_t last_change;
} VdiRegionDet;

void vdi_region_init(VdiRegionDet *d, int tw, int th);
void vdi_region_destroy(VdiRegionDet *d);
/*
 * One frame at @now_ns: @hit[t] is true for a tile that changed with
 * many colours, @changed[t] for a tile that changed at all, @moved[t] for
 * one whose content moved there (CopyRect: a dragged window, not video).
 * Returns true while a region is active and sets *@region (in tiles) to
 * it; a region starts only where nothing moved, and ends when its box
 * moves or changes size, or its tiles stay unchanged for
 * VDI_REGION_IDLE_NS.
 */
bool vdi_region_update(VdiRegionDet *d, const bool *hit, const bool *changed,
                       const bool *moved, int64_t now_ns, VdiRect *region);
/* End the active region; it may start again once detected again */
void vdi_region_end(VdiRegionDet *d);

#ifdef CONFIG_VNC_H264

/* ---- one H.264 stream ---- */

typedef struct VdiH264 VdiH264;

/*
 * A stream of @w x @h frames (both even, at least 16) at constant rate
 * factor @crf (0-51, lower is better): zerolatency, no B-frames, one
 * slice a frame, one thread.  NULL if libx264 refuses.
 */
VdiH264 *vdi_h264_new(int w, int h, int crf);
void vdi_h264_free(VdiH264 *s);
/* The next frame is an IDR frame with SPS and PPS */
void vdi_h264_force_idr(VdiH264 *s);
/*
 * Encode the frame at @px (@spx pixels per row, xRGB) and append its
 * Annex B bytes to @out; returns their number (> 0), or -1 on failure.
 */
int vdi_h264_encode(VdiH264 *s, const uint32_t *px, size_t spx,
                    GByteArray *out);

#endif

#endif
