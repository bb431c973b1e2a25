/*
 * VDI adaptive display encoder: what its parts share (private)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The encoder's state and the functions its files call in each other.
 * Dependencies go one way: vdi-enc.c (the frame, setup) calls
 * vdi-enc-motion.c, vdi-enc-rate.c, vdi-enc-tight.c and vdi-enc-tiles.c;
 * vdi-enc-motion.c calls vdi-enc-tight.c (rect header) and
 * vdi-enc-tiles.c; vdi-enc-tight.c and vdi-enc-tiles.c call nothing of
 * the others.  Callers outside the encoder use vdi-enc.h only.
 */

#ifndef VDI_ENC_INT_H
#define VDI_ENC_INT_H

#include <zlib.h>
#include <jpeglib.h>
#include <setjmp.h>
#include "vdi-enc.h"

#define TILE VDI_ENC_TILE

/* Tile flags */
#define TF_VALID 0x01    /* the client has this tile (maybe lossy) */
#define TF_EXACT 0x02    /* ... and has it bit-exact */
#define TF_PENDING 0x04  /* dirty, deferred by the budget */
#define TF_DIRTY 0x08    /* differs from the client (this call) */
#define TF_CAND 0x10     /* to be compared (this call) */
#define TF_DONE 0x20     /* handled (this call) */
#define TF_MOVED 0x40    /* content moved here with CopyRect (this call) */

/* the RGB of a pixel (x8r8g8b8: the top byte is not a colour) */
#define RGB_MASK 0xffffff

/* Tight: zlib stream ids 0-3, palettes of at most 256 colours */
#define TIGHT_STREAMS 4
#define TIGHT_MAX_COLORS 256

/* the largest rect the writer takes, as stock Tight's (16 tiles) */
#define RECT_MAX_AREA (16 * TILE * TILE)

/* JPEG only for rects at least this large and not "runny" */
#define JPEG_MIN_AREA 1024

#define PAL_HASH_BITS 10
#define PAL_HASH_SIZE (1 << PAL_HASH_BITS)

/* motion votes kept per frame (vdi-enc-motion.c) */
#define MV_VOTES 4096

/* Refinement (see vdi_enc_set_refine_delay()) */
#define MS_NS 1000000LL
/* refinement may use this share of the link rate (a token bucket) */
#define REFINE_RATE_SHARE 0.5
/* lossless cost of smooth content, bytes per pixel (estimate) */
#define REFINE_BYTES_PER_PX 2
/* tchg of a tile never seen changing */
#define TCHG_NEVER INT64_MIN

typedef struct VdiPalette {
    uint32_t key[PAL_HASH_SIZE];
    uint32_t gen[PAL_HASH_SIZE];
    uint8_t idx[PAL_HASH_SIZE];
    uint32_t curgen;
    uint32_t colors[TIGHT_MAX_COLORS];
    int n;
} VdiPalette;

typedef struct VdiJpegErr {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
} VdiJpegErr;

typedef struct VdiVideo VdiVideo;

typedef struct VdiVote {
    int dx, dy;
    uint32_t count;
} VdiVote;

struct VdiEncoder {
    VdiProfile profile;
    uint32_t caps;
    int quality;
    int cur_quality;            /* of the JPEG being written */
    size_t budget;
    int64_t refine_min_ns;      /* refine delay on a link with room */
    int64_t refine_max_ns;      /* ... and at most */
    /* clock: set by vdi_enc_set_time(), else NOMINAL_CALL_NS per call */
    int64_t now;
    bool now_set;
    double link_rate;           /* bytes/s, 0: unknown */
    double refine_tokens;       /* bytes refinement may still use */
    int64_t refine_tokens_t;
    uint64_t lossy_pending;     /* after the last call, pixels */
    bool room;                  /* this call: static content lossless */

    int w, h, tw, th;
    uint32_t *shadow;           /* w * h, row stride w */
    uint8_t *tflags;
    uint8_t *tflags_snap;
    int64_t *tchg;              /* when the tile last changed */
    uint32_t *tival;            /* mean ms between its changes, 0: static */
    int rr_start;

    /*
     * The client's inflaters keep their state for the whole session (no
     * reset bit: noVNC cannot reset one mid-session), so a stream's
     * output that does not reach the client is forgotten with a full
     * flush (see stream_forget()).
     */
    z_stream zs[TIGHT_STREAMS];
    int zlevel[TIGHT_STREAMS];              /* -1: not initialised */
    int zstrategy[TIGHT_STREAMS];
    unsigned zlive;             /* streams whose start the client has */
    unsigned ztouched;          /* streams used by the current rect */
    unsigned zframe_live;       /* zlive when the current frame began */
    unsigned zframe_touched;    /* streams used by the current frame */

    uint8_t *buf;               /* filtered tile data */
    uint8_t *zbuf;
    size_t zbuf_size;
    VdiPalette pal;

    struct jpeg_compress_struct cinfo;
    VdiJpegErr jerr;

    /* motion detection scratch */
    uint64_t *key_hash;
    int *key_x, *key_y;
    int *key_hits;
    int *key_table;
    int key_table_size;
    uint64_t *key_bloom;
    VdiVote votes[MV_VOTES];

    VdiVideo *video;            /* video regions (vdi-enc-h264.c) */
};

typedef struct EncCtx {
    const uint32_t *px;         /* new frame */
    size_t spx;                 /* its stride in pixels */
    GByteArray *out;
    size_t limit;               /* out->len may not exceed this */
    VdiEncStats *st;
    int nrects;
    bool stopped;
} EncCtx;

static inline const uint32_t *fb_row(const uint32_t *p, size_t spx, int y)
{
    return p + (size_t)y * spx;
}

/* Tiles that keep changing (video, animations) */
static inline bool tile_moving(const VdiEncoder *e, int t)
{
    return e->tival[t] != 0;
}

/* vdi-enc-tiles.c: tile tracking and change detection */
void vdi_enc_tile_rect(const VdiEncoder *e, int t, VdiRect *r);
bool vdi_enc_rect_clip(VdiRect *r, int w, int h);
void vdi_enc_free_state(VdiEncoder *e);
void vdi_enc_resize_state(VdiEncoder *e, int w, int h);
bool vdi_enc_tile_differs(const VdiEncoder *e, const uint32_t *px,
                          size_t spx, const VdiRect *r);
bool vdi_enc_change_bbox(const VdiEncoder *e, const uint32_t *px,
                         size_t spx, const VdiRect *r, VdiRect *bb);
void vdi_enc_shadow_store(VdiEncoder *e, const uint32_t *px, size_t spx,
                          const VdiRect *r);

/* vdi-enc-tight.c: the rect writer (Tight, Raw, CopyRect header) */
void vdi_enc_put_rect_header(GByteArray *o, int x, int y, int w, int h,
                             int32_t enc);
void vdi_enc_stream_forget(VdiEncoder *e, int stream, bool live);
int vdi_enc_pal_build(VdiPalette *p, const uint32_t *px, size_t spx,
                      int w, int h, int maxn, uint64_t *same);
void vdi_enc_jpeg_error_exit(j_common_ptr cinfo);
void vdi_enc_jpeg_output_message(j_common_ptr cinfo);
void vdi_enc_write_fill(EncCtx *c, int x, int y, int w, int h, uint32_t col);
bool vdi_enc_write_jpeg(VdiEncoder *e, EncCtx *c, int x, int y, int w,
                        int h);
bool vdi_enc_encode_rect(VdiEncoder *e, EncCtx *c, int x, int y, int w,
                         int h, bool allow_lossy, bool *lossy);

/* vdi-enc-motion.c: scroll and window moves as CopyRect */
void vdi_enc_detect_motion(VdiEncoder *e, EncCtx *c);

/* vdi-enc-rate.c: change history, JPEG quality, refinement */
int vdi_enc_tile_quality(const VdiEncoder *e, int t);
int64_t vdi_enc_refine_delay(const VdiEncoder *e);
bool vdi_enc_refine_due(const VdiEncoder *e, int t, int64_t delay);
size_t vdi_enc_refine_allowance(VdiEncoder *e);
void vdi_enc_tile_changed(VdiEncoder *e, int t, bool was_pending);

/*
 * vdi-enc-h264.c: video regions as H.264, after motion detection: sends
 * the region's frame and marks its tiles done; without libx264, nothing.
 */
#ifdef CONFIG_VNC_H264
#include "vdi-enc-h264.h"
void vdi_enc_video_frame(VdiEncoder *e, EncCtx *c);
bool vdi_enc_video_covers(const VdiEncoder *e, int t);
void vdi_enc_video_drop(VdiEncoder *e);
void vdi_enc_video_free(VdiEncoder *e);
#else
static inline void vdi_enc_video_frame(VdiEncoder *e, EncCtx *c) {}
static inline bool vdi_enc_video_covers(const VdiEncoder *e, int t)
{
    return false;
}
static inline void vdi_enc_video_drop(VdiEncoder *e) {}
static inline void vdi_enc_video_free(VdiEncoder *e) {}
#endif

#endif
