/*
 * VDI adaptive display encoder core (RFB CopyRect, Tight and Raw)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The encoder keeps, per client, a copy of the framebuffer the client has
 * ("shadow"), compares new frames with it tile by tile, detects scrolls and
 * window moves (emitted as CopyRect) and encodes what changed with the
 * standard RFB Tight encoding (fill, mono/palette + zlib, copy + zlib, JPEG)
 * or Raw.  Its output is the body of a FramebufferUpdate message (the
 * rectangles, without the 4-byte message header).
 *
 * Pixel format: input pixels are host-endian 32-bit xRGB (0x00RRGGBB, the
 * top byte is ignored).  The output is for a client whose pixel format is
 * 32 bpp, depth 24, true colour, little-endian, red-max = green-max =
 * blue-max = 255, red-shift 16, green-shift 8, blue-shift 0 (QEMU's
 * default).  Tight TPIXELs are then 3 bytes R, G, B and Raw pixels are the
 * 4 bytes B, G, R, 0.  For any other client pixel format the caller must
 * use QEMU's stock encoders instead.
 *
 * Encoders share no state: different instances may be used from different
 * threads at the same time, each by one thread at a time (one VdiEncoder
 * per client).
 */

#ifndef UI_VDI_ENC_H
#define UI_VDI_ENC_H

#include <zlib.h>

/* Tile size used for change detection and the largest encoded sub-rect */
#define VDI_ENC_TILE 64
/* Largest accepted frame width/height */
#define VDI_ENC_MAX_DIM 8192
/*
 * Smallest byte budget: no rectangle of one tile the encoder produces is
 * larger than this (larger ones only where they fit), so every call with
 * pending work makes progress.
 */
#define VDI_ENC_MIN_BUDGET 16384

/* RFB encoding numbers used in the output */
#define VDI_RFB_ENC_RAW 0
#define VDI_RFB_ENC_COPYRECT 1
#define VDI_RFB_ENC_TIGHT 7
#define VDI_RFB_ENC_H264 50         /* Open H.264 */

/* What the client accepts (from its SetEncodings) */
#define VDI_ENC_CAP_COPYRECT (1u << 0)
#define VDI_ENC_CAP_TIGHT (1u << 1)
/* Tight JPEG: the client sent a JPEG quality pseudo-encoding */
#define VDI_ENC_CAP_JPEG (1u << 2)
/* RFB Open H.264 for video regions, in the WAN profile (vdi-enc-h264.h) */
#define VDI_ENC_CAP_H264 (1u << 3)
#define VDI_ENC_CAP_ALL (VDI_ENC_CAP_COPYRECT | VDI_ENC_CAP_TIGHT | \
                         VDI_ENC_CAP_JPEG)

typedef enum VdiProfile {
    VDI_PROFILE_LAN,    /* lossless only, low CPU */
    VDI_PROFILE_WAN,    /* lossy JPEG for smooth content, refinement */
    VDI_PROFILE_AUTO,   /* resolved to LAN or WAN by VdiLink */
} VdiProfile;

typedef struct VdiRect {
    int x, y, w, h;
} VdiRect;

/* How a rectangle was sent (stats index) */
typedef enum VdiEncKind {
    VDI_ENC_KIND_RAW,
    VDI_ENC_KIND_COPYRECT,
    VDI_ENC_KIND_FILL,
    VDI_ENC_KIND_MONO,
    VDI_ENC_KIND_PALETTE,
    VDI_ENC_KIND_ZLIB,      /* Tight basic, copy filter */
    VDI_ENC_KIND_JPEG,
    VDI_ENC_KIND_H264,      /* a video region's frame */
    VDI_ENC_KIND__MAX,
} VdiEncKind;

/* Content class of an encoded rectangle (stats index) */
typedef enum VdiEncClass {
    VDI_ENC_CLASS_SOLID,    /* one colour */
    VDI_ENC_CLASS_MONO,     /* two colours */
    VDI_ENC_CLASS_PALETTE,  /* up to VDI_ENC_FEW_COLORS colours */
    VDI_ENC_CLASS_SMOOTH,   /* many colours */
    VDI_ENC_CLASS__MAX,
} VdiEncClass;

/* Tiles with at most this many colours are "few colours" (text, UI) */
#define VDI_ENC_FEW_COLORS 96

typedef struct VdiEncStats {
    uint64_t bytes[VDI_ENC_KIND__MAX];  /* incl. the 12-byte rect header */
    uint32_t rects[VDI_ENC_KIND__MAX];
    uint32_t classes[VDI_ENC_CLASS__MAX];
    uint32_t tiles_dirty;       /* tiles that differed from the client */
    uint32_t tiles_deferred;    /* dirty tiles left for later (budget) */
    uint32_t tiles_refined;     /* lossy tiles re-sent losslessly */
    uint64_t copy_pixels;       /* area moved with CopyRect */
    uint64_t lossy_pixels;      /* area sent as JPEG in this call */
    uint64_t lossy_pending;     /* area the client has only approximately */
    int64_t encode_ns;          /* wall-clock time spent in the call */
    bool budget_limited;        /* stopped because of the byte budget */
    uint32_t h264_failures;     /* video regions libx264 could not encode */
} VdiEncStats;

typedef struct VdiEncoder VdiEncoder;

/* New encoder; @profile is LAN or WAN, @caps a VDI_ENC_CAP_* mask */
VdiEncoder *vdi_enc_new(VdiProfile profile, uint32_t caps);
void vdi_enc_free(VdiEncoder *e);

/* Switch LAN/WAN (AUTO is rejected: resolve it with vdi_link_profile()) */
bool vdi_enc_set_profile(VdiEncoder *e, VdiProfile profile);
void vdi_enc_set_caps(VdiEncoder *e, uint32_t caps);
/* libjpeg quality 1..100 for smooth tiles in the WAN profile */
void vdi_enc_set_jpeg_quality(VdiEncoder *e, int quality);
/*
 * Byte budget for each following vdi_enc_frame() call; 0 = unlimited.
 * Budgets below VDI_ENC_MIN_BUDGET are raised to it.  Whatever does not
 * fit stays dirty and is merged with later changes.
 */
void vdi_enc_set_budget(VdiEncoder *e, size_t budget);
/*
 * Refinement in the WAN profile: a lossy tile is re-sent losslessly once
 * it has stayed unchanged for the refine delay.  The delay is @min_ms if
 * the link could refine all the lossy area within about 250 ms at half
 * its rate (see vdi_enc_set_link_rate()), grows with the time that would
 * take, and is at most @max_ms (also when the link rate is unknown).
 * Tiles that keep changing (video) must moreover stay unchanged for twice
 * their usual interval between changes, so they are not refined while
 * they change.  Refinement uses at most half of the link rate.
 * Defaults: VDI_ENC_REFINE_MIN_MS, VDI_ENC_REFINE_MAX_MS.
 */
#define VDI_ENC_REFINE_MIN_MS 150
#define VDI_ENC_REFINE_MAX_MS 2000
void vdi_enc_set_refine_delay(VdiEncoder *e, int min_ms, int max_ms);
/*
 * The time of the next vdi_enc_frame() call, in ns of any monotonic clock
 * (the encoder reads no clock for its decisions); without it, each call
 * counts as 33 ms after the previous one.
 */
void vdi_enc_set_time(VdiEncoder *e, int64_t now_ns);
/* The link's rate in bytes/s for refinement, 0: unknown */
void vdi_enc_set_link_rate(VdiEncoder *e, double bytes_per_s);

/*
 * The client's copy of @r (NULL = everything) is unknown (non-incremental
 * update request, or another encoder wrote to it): send it again in full.
 */
void vdi_enc_invalidate(VdiEncoder *e, const VdiRect *r);

/*
 * Encode the changes between what the client has and the frame @pixels
 * (@w x @h, @stride bytes per row, a multiple of 4, >= 4 * @w).
 * @damage/@ndamage: areas that may have changed since the previous call;
 * @damage == NULL means "unknown, compare everything".  Tiles left over
 * from previous calls are always considered.  A size change resets the
 * client state (the caller must have sent DesktopSize).
 * Appends the rectangles to @out and returns their number (0..65535), or
 * -EINVAL for invalid arguments (then nothing is appended).
 * @stats may be NULL.
 */
int vdi_enc_frame(VdiEncoder *e, const uint32_t *pixels, int w, int h,
                  int stride, const VdiRect *damage, int ndamage,
                  GByteArray *out, VdiEncStats *stats);

/*
 * The output of the last vdi_enc_frame() call does not reach the client:
 * everything is sent again, and the zlib streams stay decodable by the
 * client's inflaters (no reset).
 */
void vdi_enc_drop_output(VdiEncoder *e);

/*
 * The client has one zlib inflater per Tight stream id (0-3), whichever
 * server encoder writes to it, and some (noVNC's) cannot be reset
 * mid-session: a stream moves between encoders with its deflate state.
 * vdi_enc_stream_get() returns stream @id and its level, NULL if the
 * client has not seen it; vdi_enc_stream_set() makes the encoder continue
 * a copy of @zs, at @level.
 */
const z_stream *vdi_enc_stream_get(VdiEncoder *e, int id, int *level);
void vdi_enc_stream_set(VdiEncoder *e, int id, const z_stream *zs,
                        int level);

/* True if work is left (deferred tiles, lossy tiles to refine) */
bool vdi_enc_has_pending(const VdiEncoder *e);

#endif
