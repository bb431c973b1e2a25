/*
 * VDI adaptive display encoder core (RFB CopyRect, Tight and Raw)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * See vdi-enc.h for the model.  This file encodes a frame: which tiles
 * to send and how (solid runs, JPEG runs, rects), then refinement.  The
 * parts: vdi-enc-tiles.c (tile tracking), vdi-enc-motion.c (CopyRect),
 * vdi-enc-tight.c (the rect writer), vdi-enc-rate.c (change history and
 * refinement); vdi-enc-int.h is what they share.
 */

#include "qemu/osdep.h"
#include <zlib.h>
#include <jpeglib.h>
#include "vdi-enc-int.h"

/* clock step per call when the caller gives no time */
#define NOMINAL_CALL_NS (33 * MS_NS)
/*
 * Smooth content that is not moving is sent losslessly at once, not as
 * JPEG to be refined later, if the link's refinement share sends it and
 * the lossy area within this time.
 */
#define LOSSLESS_ROOM_NS (100 * MS_NS)

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the frame ---- */

static bool tile_solid(const uint32_t *px, size_t spx, const VdiRect *r,
                       uint32_t *col)
{
    uint32_t c0 = fb_row(px, spx, r->y)[r->x];

    for (int j = 0; j < r->h; j++) {
        const uint32_t *row = fb_row(px, spx, r->y + j) + r->x;

        for (int i = 0; i < r->w; i++) {
            if (row[i] != c0) {
                return false;
            }
        }
    }
    *col = c0;
    return true;
}

static void tile_sent(VdiEncoder *e, EncCtx *c, int t, const VdiRect *r,
                      bool whole, bool lossy)
{
    vdi_enc_shadow_store(e, c->px, c->spx, r);
    if (lossy) {
        e->tflags[t] &= ~TF_EXACT;
    } else if (whole) {
        e->tflags[t] |= TF_EXACT;
    }
    e->tflags[t] |= TF_VALID | TF_DONE;
    e->tflags[t] &= ~TF_PENDING;
}

/* Fill a run of solid tiles of one colour in a tile row; false: budget */
static bool encode_solid_run(VdiEncoder *e, EncCtx *c, int t, uint32_t col)
{
    VdiRect r, r2;
    int n = 1;
    size_t start = c->out->len;

    vdi_enc_tile_rect(e, t, &r);
    while ((t + n) % e->tw != 0) {
        uint32_t c2;

        if ((e->tflags[t + n] & (TF_DIRTY | TF_DONE)) != TF_DIRTY) {
            break;
        }
        vdi_enc_tile_rect(e, t + n, &r2);
        if (!tile_solid(c->px, c->spx, &r2, &c2) || c2 != col) {
            break;
        }
        n++;
    }
    vdi_enc_write_fill(c, r.x, r.y, MIN(r.x + n * TILE, e->w) - r.x, r.h,
                       col & RGB_MASK);
    if (c->out->len > c->limit) {
        g_byte_array_set_size(c->out, start);
        c->nrects--;
        c->st->rects[VDI_ENC_KIND_FILL]--;
        c->st->bytes[VDI_ENC_KIND_FILL] -= 16;
        c->stopped = true;
        return false;
    }
    c->st->classes[VDI_ENC_CLASS_SOLID]++;
    for (int i = 0; i < n; i++) {
        vdi_enc_tile_rect(e, t + i, &r2);
        tile_sent(e, c, t + i, &r2, true, false);
    }
    return true;
}

static bool lossy_ok(const VdiEncoder *e)
{
    return e->profile == VDI_PROFILE_WAN &&
        (e->caps & (VDI_ENC_CAP_TIGHT | VDI_ENC_CAP_JPEG)) ==
        (VDI_ENC_CAP_TIGHT | VDI_ENC_CAP_JPEG);
}

/* Many colours and few runs: photo or video, worth JPEG */
static bool tile_smooth(VdiEncoder *e, EncCtx *c, const VdiRect *r)
{
    uint64_t same;
    int n;

    if ((size_t)r->w * r->h < JPEG_MIN_AREA) {
        return false;
    }
    n = vdi_enc_pal_build(&e->pal, fb_row(c->px, c->spx, r->y) + r->x, c->spx,
                          r->w, r->h, VDI_ENC_FEW_COLORS, &same);
    return n > VDI_ENC_FEW_COLORS && same * 2 < (uint64_t)r->w * r->h;
}

static uint64_t rect_area(const VdiRect *r)
{
    return (uint64_t)r->w * r->h;
}

static void rect_intersect(VdiRect *a, const VdiRect *b)
{
    int x1 = MIN(a->x + a->w, b->x + b->w);
    int y1 = MIN(a->y + a->h, b->y + b->h);

    a->x = MAX(a->x, b->x);
    a->y = MAX(a->y, b->y);
    a->w = MAX(0, x1 - a->x);
    a->h = MAX(0, y1 - a->y);
}

static void rect_union(VdiRect *a, const VdiRect *b)
{
    int x1 = MAX(a->x + a->w, b->x + b->w);
    int y1 = MAX(a->y + a->h, b->y + b->h);

    a->x = MIN(a->x, b->x);
    a->y = MIN(a->y, b->y);
    a->w = x1 - a->x;
    a->h = y1 - a->y;
}

/* What the client lacks of tile @t: its changed part, or all of it */
static void tile_change(VdiEncoder *e, EncCtx *c, int t, VdiRect *bb)
{
    VdiRect r;

    vdi_enc_tile_rect(e, t, &r);
    if (!(e->tflags[t] & TF_VALID) ||
        !vdi_enc_change_bbox(e, c->px, c->spx, &r, bb)) {
        *bb = r;
    }
}

/* Can tile @t join a JPEG run that starts at tile @t0? */
static bool jpeg_joins(VdiEncoder *e, EncCtx *c, int t0, int t)
{
    VdiRect r;

    if ((e->tflags[t] & (TF_DIRTY | TF_DONE)) != TF_DIRTY ||
        tile_moving(e, t) != tile_moving(e, t0)) {
        return false;
    }
    vdi_enc_tile_rect(e, t, &r);
    return r.w == TILE && tile_smooth(e, c, &r);
}

/*
 * One JPEG for the changed parts of a box of smooth dirty tiles: a run
 * of a tile row, grown over the rows below while every tile of the run's
 * columns joins and the rect stays about as small as its parts (JPEG
 * headers cost ~600 bytes, too much per tile; a dragged window uncovers
 * strips a few pixels wide: whole tiles would cost ten times their
 * bytes).  Returns 0 if not applicable, 1 if sent, -1 if over budget.
 */
#define JPEG_MAX_RUN 16
/* pixels of a merged JPEG that cost about what a JPEG header does */
#define JPEG_MERGE_SLACK_PX 1024

static int encode_jpeg_run(VdiEncoder *e, EncCtx *c, int t)
{
    VdiRect r, m, bb;
    uint64_t parts;
    int n = 1, rows = 1;

    vdi_enc_tile_rect(e, t, &r);
    if (!tile_smooth(e, c, &r)) {
        return 0;
    }
    tile_change(e, c, t, &m);
    parts = rect_area(&m);
    while (n < JPEG_MAX_RUN && (t + n) % e->tw != 0 &&
           jpeg_joins(e, c, t, t + n)) {
        VdiRect u = m;

        tile_change(e, c, t + n, &bb);
        rect_union(&u, &bb);
        if (rect_area(&u) > parts + rect_area(&bb) + JPEG_MERGE_SLACK_PX) {
            break;
        }
        m = u;
        parts += rect_area(&bb);
        n++;
    }
    for (int ty = t / e->tw + 1;
         ty < e->th && n * (rows + 1) <= JPEG_MAX_RUN; ty++) {
        VdiRect u = m;
        uint64_t p = parts;
        int i;

        for (i = 0; i < n && jpeg_joins(e, c, t, ty * e->tw + t % e->tw + i);
             i++) {
            tile_change(e, c, ty * e->tw + t % e->tw + i, &bb);
            rect_union(&u, &bb);
            p += rect_area(&bb);
        }
        if (i < n || rect_area(&u) > p + JPEG_MERGE_SLACK_PX) {
            break;
        }
        m = u;
        parts = p;
        rows++;
    }
    for (;;) {
        size_t start = c->out->len;
        VdiEncStats saved = *c->st;
        int saved_n = c->nrects;

        if (!vdi_enc_write_jpeg(e, c, m.x, m.y, m.w, m.h)) {
            return 0;
        }
        if (c->out->len > c->limit) {
            g_byte_array_set_size(c->out, start);
            *c->st = saved;
            c->nrects = saved_n;
            if (n * rows > 1) {
                n = rows = 1;
                tile_change(e, c, t, &m);
                continue;
            }
            c->stopped = true;
            return -1;
        }
        break;
    }
    c->st->classes[VDI_ENC_CLASS_SMOOTH]++;
    for (int j = 0; j < rows; j++) {
        for (int i = 0; i < n; i++) {
            int v = t + j * e->tw + i;
            VdiRect part;

            vdi_enc_tile_rect(e, v, &r);
            part = r;
            rect_intersect(&part, &m);
            tile_sent(e, c, v, &part, part.w == r.w && part.h == r.h, true);
        }
    }
    return 1;
}

/*
 * Lossless changes of neighbouring tiles go in one rect, as large as
 * stock Tight's: one header and one palette instead of one per tile
 * (pages of text: the tiles' palettes cost more than stock's bytes).
 */
#define MERGE_MAX_TILES 32
/* unchanged pixels resent by a merge cost less than a rect of its own */
#define MERGE_SLACK_PX 256

/*
 * Is tile @t a change still to send, and not as JPEG?  *bb: what
 * lossless sends of it (its changed part).
 */
static bool tile_lossless(VdiEncoder *e, EncCtx *c, int t, VdiRect *bb,
                          bool *indexed)
{
    VdiRect r;
    uint32_t col;
    uint64_t same;

    if ((e->tflags[t] & (TF_DIRTY | TF_DONE)) != TF_DIRTY) {
        return false;
    }
    vdi_enc_tile_rect(e, t, &r);
    if (tile_solid(c->px, c->spx, &r, &col)) {
        return false;
    }
    tile_change(e, c, t, bb);
    /* as encode_tile() would: a JPEG run of whole tiles, or the change */
    if (lossy_ok(e) && (tile_moving(e, t) || !e->room) &&
        (tile_smooth(e, c, &r) || tile_smooth(e, c, bb))) {
        return false;
    }
    *indexed = vdi_enc_pal_build(&e->pal, fb_row(c->px, c->spx, bb->y) + bb->x,
                                 c->spx, bb->w, bb->h, TIGHT_MAX_COLORS,
                                 &same) <= TIGHT_MAX_COLORS;
    return true;
}

/*
 * Grow @m, the changed part of tile @t, over the lossless changes of the
 * tiles to its right, then of the tile rows below, while the rect stays
 * about as small as its parts.  Every tile under the rect is one of them
 * or unchanged.  Returns the number of tiles in @tiles.
 */
static int merge_lossless(VdiEncoder *e, EncCtx *c, int t, VdiRect *m,
                          int *tiles)
{
    int tx0 = t % e->tw, tx1 = tx0, n = 1;
    VdiRect bb;
    bool ix0, ix;

    tiles[0] = t;
    if (!tile_lossless(e, c, t, &bb, &ix0) || !ix0) {
        return 1;
    }
    while (n < MERGE_MAX_TILES / 2 && tx1 + 1 < e->tw &&
           tile_lossless(e, c, t + tx1 + 1 - tx0, &bb, &ix) && ix == ix0) {
        VdiRect u = *m;

        rect_union(&u, &bb);
        if (rect_area(&u) > RECT_MAX_AREA ||
            rect_area(&u) > rect_area(m) + rect_area(&bb) + MERGE_SLACK_PX) {
            break;
        }
        *m = u;
        tiles[n++] = t + ++tx1 - tx0;
    }
    for (int ty = t / e->tw + 1;
         ty < e->th && n + tx1 - tx0 < MERGE_MAX_TILES; ty++) {
        VdiRect u = *m;
        uint64_t parts = rect_area(m);
        int k = n;

        for (int tx = tx0; tx <= tx1; tx++) {
            int v = ty * e->tw + tx;

            if (tile_lossless(e, c, v, &bb, &ix) && ix == ix0) {
                rect_union(&u, &bb);
                parts += rect_area(&bb);
                tiles[k++] = v;
            } else if (e->tflags[v] & (TF_DIRTY | TF_DONE)) {
                return n;
            }
        }
        if (k == n || rect_area(&u) > RECT_MAX_AREA ||
            rect_area(&u) > parts + MERGE_SLACK_PX) {
            break;
        }
        *m = u;
        n = k;
    }
    return n;
}

/* Send tile @t's lossless change, merged with its neighbours' */
static bool encode_lossless(VdiEncoder *e, EncCtx *c, int t, VdiRect *bb)
{
    int tiles[MERGE_MAX_TILES];
    VdiRect m = *bb, tr, part;
    bool lossy;
    int n = merge_lossless(e, c, t, &m, tiles);

    if (n > 1 && !vdi_enc_encode_rect(e, c, m.x, m.y, m.w, m.h, false,
                                      &lossy)) {
        /* over the budget: the tile alone may still fit */
        c->stopped = false;
        n = 1;
    }
    if (n == 1) {
        m = *bb;
        if (!vdi_enc_encode_rect(e, c, m.x, m.y, m.w, m.h, false, &lossy)) {
            return false;
        }
    }
    for (int i = 0; i < n; i++) {
        vdi_enc_tile_rect(e, tiles[i], &tr);
        part = tr;
        rect_intersect(&part, &m);
        tile_sent(e, c, tiles[i], &part,
                  part.w == tr.w && part.h == tr.h, lossy);
    }
    return true;
}

static bool encode_tile(VdiEncoder *e, EncCtx *c, int t, bool refine)
{
    VdiRect r, bb;
    uint32_t col;
    bool lossy, whole, allow_lossy, ix;
    int ret;

    vdi_enc_tile_rect(e, t, &r);
    e->cur_quality = vdi_enc_tile_quality(e, t);
    if (!refine && (e->caps & VDI_ENC_CAP_TIGHT) &&
        tile_solid(c->px, c->spx, &r, &col)) {
        return encode_solid_run(e, c, t, col);
    }
    /* static content, and the link has room: lossless now, like LAN */
    allow_lossy = !refine && lossy_ok(e) &&
        (tile_moving(e, t) || !e->room);
    if (allow_lossy) {
        ret = encode_jpeg_run(e, c, t);
        if (ret) {
            return ret > 0;
        }
    }
    if (!refine && e->profile == VDI_PROFILE_WAN &&
        (e->caps & VDI_ENC_CAP_TIGHT) && tile_lossless(e, c, t, &bb, &ix)) {
        return encode_lossless(e, c, t, &bb);
    }
    if (refine || !(e->tflags[t] & TF_VALID) ||
        !vdi_enc_change_bbox(e, c->px, c->spx, &r, &bb)) {
        bb = r;
    }
    whole = bb.w == r.w && bb.h == r.h;
    if (!vdi_enc_encode_rect(e, c, bb.x, bb.y, bb.w, bb.h, allow_lossy,
                             &lossy)) {
        return false;
    }
    tile_sent(e, c, t, &bb, whole, lossy);
    return true;
}

int vdi_enc_frame(VdiEncoder *e, const uint32_t *pixels, int w, int h,
                  int stride, const VdiRect *damage, int ndamage,
                  GByteArray *out, VdiEncStats *stats)
{
    VdiEncStats local;
    EncCtx c;
    int64_t t0 = now_ns();
    int ntiles, t, i;
    uint64_t pend = 0;
    int64_t delay;
    size_t allow, before;
    uint64_t dirty_px = 0;
    bool moved;

    if (!stats) {
        stats = &local;
    }
    memset(stats, 0, sizeof(*stats));
    if (!e || !pixels || !out || w <= 0 || h <= 0 ||
        w > VDI_ENC_MAX_DIM || h > VDI_ENC_MAX_DIM || stride <= 0 ||
        stride % 4 || (int64_t)stride < (int64_t)w * 4 ||
        ndamage < 0 || (ndamage > 0 && !damage)) {
        return -EINVAL;
    }
    for (i = 0; i < ndamage; i++) {
        if (damage[i].w < 0 || damage[i].h < 0) {
            return -EINVAL;
        }
    }
    if (!e->now_set) {
        e->now += NOMINAL_CALL_NS;
    }
    e->now_set = false;
    e->zframe_live = e->zlive;
    e->zframe_touched = 0;
    if (w != e->w || h != e->h) {
        vdi_enc_resize_state(e, w, h);
    }
    ntiles = e->tw * e->th;

    memset(&c, 0, sizeof(c));
    c.px = pixels;
    c.spx = stride / 4;
    c.out = out;
    c.st = stats;
    c.limit = SIZE_MAX;
    if (e->budget) {
        c.limit = out->len + MAX(e->budget, VDI_ENC_MIN_BUDGET);
    }

    /* which tiles to compare */
    if (!damage) {
        for (t = 0; t < ntiles; t++) {
            e->tflags[t] |= TF_CAND;
        }
    } else {
        for (i = 0; i < ndamage; i++) {
            VdiRect r = damage[i];

            if (!vdi_enc_rect_clip(&r, w, h)) {
                continue;
            }
            for (int ty = r.y / TILE; ty <= (r.y + r.h - 1) / TILE; ty++) {
                for (int tx = r.x / TILE; tx <= (r.x + r.w - 1) / TILE;
                     tx++) {
                    e->tflags[ty * e->tw + tx] |= TF_CAND;
                }
            }
        }
    }
    for (t = 0; t < ntiles; t++) {
        uint8_t f = e->tflags[t];

        f &= ~(TF_DIRTY | TF_DONE | TF_MOVED);
        if (!(f & TF_VALID) || (f & TF_PENDING)) {
            f |= TF_CAND;
        }
        if (f & TF_CAND) {
            VdiRect r;

            vdi_enc_tile_rect(e, t, &r);
            if (!(f & TF_VALID) || vdi_enc_tile_differs(e, pixels, c.spx, &r)) {
                f |= TF_DIRTY;
            } else {
                f &= ~TF_PENDING;
            }
        }
        e->tflags[t] = f & ~TF_CAND;
    }

    for (t = 0; t < ntiles; t++) {
        stats->tiles_dirty += !!(e->tflags[t] & TF_DIRTY);
    }

    if (e->caps & VDI_ENC_CAP_COPYRECT) {
        vdi_enc_detect_motion(e, &c);
    }
    moved = stats->rects[VDI_ENC_KIND_COPYRECT] > 0;

    /*
     * When the content last changed and how often: content moved with
     * CopyRect did not change (and its refinement, if lossy, moves with
     * it), and what a move uncovered (the new lines of a scrolled page)
     * is not taken for moving content.  TF_PENDING is still that of the
     * previous call.
     */
    for (t = 0; t < ntiles; t++) {
        if (e->tflags[t] & TF_DIRTY) {
            VdiRect r, bb;

            vdi_enc_tile_changed(e, t, e->tflags[t] & TF_PENDING);
            if (moved) {
                e->tival[t] = 0;
            }
            vdi_enc_tile_rect(e, t, &r);
            if (lossy_ok(e) && (e->tflags[t] & TF_VALID) &&
                vdi_enc_change_bbox(e, pixels, c.spx, &r, &bb)) {
                /* what lossless would send: the changed part */
                r = bb;
            }
            dirty_px += (uint64_t)r.w * r.h;
        }
    }
    /*
     * Room for lossless: the changes fit the link's share for new content
     * within LOSSLESS_ROOM_NS.  Refinement of what the client has lossy
     * is paid from the other share (vdi_enc_refine_allowance()).
     */
    e->room = e->profile == VDI_PROFILE_WAN && e->link_rate > 0 &&
        dirty_px * REFINE_BYTES_PER_PX <=
        e->link_rate * REFINE_RATE_SHARE * LOSSLESS_ROOM_NS / 1e9;

    vdi_enc_video_frame(e, &c);

    /* changed tiles, round robin from where the budget stopped us */
    for (i = 0; i < ntiles && !c.stopped; i++) {
        t = (e->rr_start + i) % ntiles;
        if ((e->tflags[t] & (TF_DIRTY | TF_DONE)) != TF_DIRTY) {
            continue;
        }
        if (c.nrects > 60000 || !encode_tile(e, &c, t, false)) {
            c.stopped = true;
            e->rr_start = t;
        }
    }
    if (!c.stopped) {
        e->rr_start = 0;
    }

    /*
     * Refinement of lossy tiles that stopped changing, with what is left
     * of the budget and of the refinement's share of the link.
     */
    delay = vdi_enc_refine_delay(e);
    allow = vdi_enc_refine_allowance(e);
    before = out->len;
    for (t = 0; t < ntiles && !c.stopped && allow; t++) {
        uint8_t f = e->tflags[t];
        size_t limit = c.limit;

        if ((f & (TF_VALID | TF_EXACT | TF_DIRTY)) != TF_VALID ||
            vdi_enc_video_covers(e, t) || !vdi_enc_refine_due(e, t, delay)) {
            continue;
        }
        if (allow != SIZE_MAX && out->len > before) {
            /*
             * The first tile goes whenever the allowance is positive, so
             * refinement progresses; the bucket then pays it back.
             */
            if (out->len - before >= allow) {
                break;
            }
            c.limit = MIN(c.limit, before + allow);
        }
        if (c.nrects > 60000 || !encode_tile(e, &c, t, true)) {
            /* over the call's budget: stop; over the allowance: later */
            c.stopped = c.limit == limit;
            c.limit = limit;
            break;
        }
        c.limit = limit;
        stats->tiles_refined++;
    }
    if (allow != SIZE_MAX) {
        e->refine_tokens -= out->len - before;
    }

    for (t = 0; t < ntiles; t++) {
        uint8_t f = e->tflags[t];
        VdiRect r;

        if ((f & (TF_DIRTY | TF_DONE)) == TF_DIRTY) {
            f |= TF_PENDING;
            stats->tiles_deferred++;
        }
        e->tflags[t] = f & ~(TF_DIRTY | TF_DONE | TF_MOVED);
        if ((f & (TF_VALID | TF_EXACT)) == TF_VALID) {
            vdi_enc_tile_rect(e, t, &r);
            pend += (uint64_t)r.w * r.h;
        }
    }
    stats->lossy_pending = pend;
    e->lossy_pending = pend;
    stats->budget_limited = c.stopped;
    stats->encode_ns = now_ns() - t0;
    return c.nrects;
}

void vdi_enc_drop_output(VdiEncoder *e)
{
    for (int i = 0; i < TIGHT_STREAMS; i++) {
        if (e->zframe_touched & (1u << i)) {
            vdi_enc_stream_forget(e, i, e->zframe_live & (1u << i));
        }
    }
    e->zframe_touched = 0;
    vdi_enc_video_drop(e);
    vdi_enc_invalidate(e, NULL);
}

/* ---- setup ---- */

VdiEncoder *vdi_enc_new(VdiProfile profile, uint32_t caps)
{
    VdiEncoder *e;

    if (profile != VDI_PROFILE_LAN && profile != VDI_PROFILE_WAN) {
        return NULL;
    }
    e = g_new0(VdiEncoder, 1);
    e->profile = profile;
    e->caps = caps;
    e->quality = 75;
    e->cur_quality = 75;
    e->refine_min_ns = VDI_ENC_REFINE_MIN_MS * MS_NS;
    e->refine_max_ns = VDI_ENC_REFINE_MAX_MS * MS_NS;
    for (int i = 0; i < TIGHT_STREAMS; i++) {
        e->zlevel[i] = -1;
    }
    e->buf = g_malloc(RECT_MAX_AREA * 4);
    e->cinfo.err = jpeg_std_error(&e->jerr.mgr);
    e->jerr.mgr.error_exit = vdi_enc_jpeg_error_exit;
    e->jerr.mgr.output_message = vdi_enc_jpeg_output_message;
    jpeg_create_compress(&e->cinfo);
    return e;
}

void vdi_enc_free(VdiEncoder *e)
{
    if (!e) {
        return;
    }
    for (int i = 0; i < TIGHT_STREAMS; i++) {
        if (e->zlevel[i] >= 0) {
            deflateEnd(&e->zs[i]);
        }
    }
    jpeg_destroy_compress(&e->cinfo);
    vdi_enc_video_free(e);
    vdi_enc_free_state(e);
    g_free(e->buf);
    g_free(e->zbuf);
    g_free(e->key_hash);
    g_free(e->key_x);
    g_free(e->key_y);
    g_free(e->key_hits);
    g_free(e->key_table);
    g_free(e->key_bloom);
    g_free(e);
}

bool vdi_enc_set_profile(VdiEncoder *e, VdiProfile profile)
{
    if (profile != VDI_PROFILE_LAN && profile != VDI_PROFILE_WAN) {
        return false;
    }
    e->profile = profile;
    return true;
}

void vdi_enc_set_caps(VdiEncoder *e, uint32_t caps)
{
    e->caps = caps;
}

void vdi_enc_set_jpeg_quality(VdiEncoder *e, int quality)
{
    e->quality = MAX(1, MIN(100, quality));
}

void vdi_enc_set_budget(VdiEncoder *e, size_t budget)
{
    e->budget = budget;
}

void vdi_enc_set_refine_delay(VdiEncoder *e, int min_ms, int max_ms)
{
    min_ms = MAX(0, MIN(3600 * 1000, min_ms));
    max_ms = MAX(min_ms, MIN(3600 * 1000, max_ms));
    e->refine_min_ns = min_ms * MS_NS;
    e->refine_max_ns = max_ms * MS_NS;
}

void vdi_enc_set_time(VdiEncoder *e, int64_t now_ns)
{
    e->now = MAX(e->now, now_ns);
    e->now_set = true;
}

void vdi_enc_set_link_rate(VdiEncoder *e, double bytes_per_s)
{
    e->link_rate = bytes_per_s > 0 && bytes_per_s < 1e12 ?
        bytes_per_s : 0;
}
