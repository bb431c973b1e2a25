/*
 * VDI adaptive display encoder: motion (scroll and window move) detection
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Finds the displacement of changed content by hashing segments of
 * the new frame and matching them in the shadow, and sends what moved
 * as CopyRect.
 */

#include "qemu/osdep.h"
#include "vdi-enc-int.h"

/* Motion detection (MV_VOTES: vdi-enc-int.h) */
#define MV_KEY_LEN 16
#define MV_KEY_X 24
#define MV_MAX_KEYS 8192
#define MV_MAX_HITS 8
#define MV_MIN_VOTES 4
#define MV_SCAN_MAX_AREA (2560 * 1440)
#define MV_HASH_MUL 0x9E3779B97F4A7C15ull

/* ---- motion (scroll / window move) detection ---- */

static inline uint64_t seg_hash(const uint32_t *p)
{
    uint64_t hsh = 0;

    for (int i = 0; i < MV_KEY_LEN; i++) {
        hsh = hsh * MV_HASH_MUL + p[i];
    }
    return hsh;
}

static bool seg_uniform(const uint32_t *p)
{
    for (int i = 1; i < MV_KEY_LEN; i++) {
        if (p[i] != p[0]) {
            return false;
        }
    }
    return true;
}

static void vote(VdiEncoder *e, int dx, int dy)
{
    unsigned s = ((unsigned)(dx * 31 + dy * 7919) * 0x9E3779B1u) >> 20;

    if (!dx && !dy) {
        return;
    }
    for (int i = 0; i < 16; i++, s = (s + 1) & (MV_VOTES - 1)) {
        VdiVote *v = &e->votes[s];

        if (!v->count) {
            v->dx = dx;
            v->dy = dy;
            v->count = 1;
            return;
        }
        if (v->dx == dx && v->dy == dy) {
            v->count++;
            return;
        }
    }
}

static void key_match(VdiEncoder *e, uint64_t hsh, int xo, int yo,
                      bool same_x)
{
    int mask = e->key_table_size - 1;
    int s = (hsh >> 20) & mask;

    for (;;) {
        int k = e->key_table[s];

        if (k < 0) {
            return;
        }
        if (e->key_hash[k] == hsh && (!same_x || e->key_x[k] == xo) &&
            e->key_hits[k] < MV_MAX_HITS) {
            e->key_hits[k]++;
            vote(e, e->key_x[k] - xo, e->key_y[k] - yo);
        }
        s = (s + 1) & mask;
    }
}

static bool src_valid(const VdiEncoder *e, const uint8_t *flags,
                      int x, int y, int w, int h)
{
    for (int ty = y / TILE; ty <= (y + h - 1) / TILE; ty++) {
        for (int tx = x / TILE; tx <= (x + w - 1) / TILE; tx++) {
            if (!(flags[ty * e->tw + tx] & TF_VALID)) {
                return false;
            }
        }
    }
    return true;
}

static bool src_exact(const VdiEncoder *e, const uint8_t *flags,
                      int x, int y, int w, int h)
{
    for (int ty = y / TILE; ty <= (y + h - 1) / TILE; ty++) {
        for (int tx = x / TILE; tx <= (x + w - 1) / TILE; tx++) {
            if (!(flags[ty * e->tw + tx] & TF_EXACT)) {
                return false;
            }
        }
    }
    return true;
}

/* Does new[r] == shadow[r - (dx, dy)] with a valid source inside? */
static bool moved_match(const VdiEncoder *e, const uint32_t *px, size_t spx,
                        int x, int y, int w, int h, int dx, int dy)
{
    int sx = x - dx, sy = y - dy;

    if (w <= 0 || h <= 0 || x < 0 || y < 0 || x + w > e->w ||
        y + h > e->h || sx < 0 || sy < 0 || sx + w > e->w ||
        sy + h > e->h) {
        return false;
    }
    if (!src_valid(e, e->tflags, sx, sy, w, h)) {
        return false;
    }
    for (int j = 0; j < h; j++) {
        if (memcmp(fb_row(px, spx, y + j) + x,
                   e->shadow + (size_t)(sy + j) * e->w + sx, w * 4)) {
            return false;
        }
    }
    return true;
}

/* Move shadow[src] to shadow[dst] the way a client applies CopyRect */
static void shadow_move(VdiEncoder *e, const VdiRect *d, int sx, int sy)
{
    if (sy < d->y) {
        for (int j = d->h - 1; j >= 0; j--) {
            memmove(e->shadow + (size_t)(d->y + j) * e->w + d->x,
                    e->shadow + (size_t)(sy + j) * e->w + sx, d->w * 4);
        }
    } else {
        for (int j = 0; j < d->h; j++) {
            memmove(e->shadow + (size_t)(d->y + j) * e->w + d->x,
                    e->shadow + (size_t)(sy + j) * e->w + sx, d->w * 4);
        }
    }
}

/*
 * Emit a CopyRect for the largest area moved by (dx, dy) within the tile
 * box [tx0, tx1) x [ty0, ty1); returns true if one was emitted.
 */
static bool apply_motion(VdiEncoder *e, EncCtx *c, int dx, int dy,
                         int tx0, int ty0, int tx1, int ty1)
{
    int bw = tx1 - tx0;
    g_autofree int *hist = g_new0(int, bw + 1);
    g_autofree int *stack = g_new0(int, bw + 1);
    int best = 0, bx = 0, by = 0, bwid = 0, bhei = 0;
    VdiRect d;
    bool any_dirty = false;
    int ext;

    /* largest rectangle of fully matching tiles (histogram method) */
    for (int ty = ty0; ty < ty1; ty++) {
        int sp = 0;

        for (int tx = tx0; tx < tx1; tx++) {
            VdiRect r;

            vdi_enc_tile_rect(e, ty * e->tw + tx, &r);
            if (moved_match(e, c->px, c->spx, r.x, r.y, r.w, r.h, dx, dy)) {
                hist[tx - tx0]++;
            } else {
                hist[tx - tx0] = 0;
            }
        }
        hist[bw] = 0;
        for (int i = 0; i <= bw; i++) {
            while (sp > 0 && hist[stack[sp - 1]] >= hist[i]) {
                int hh = hist[stack[--sp]];
                int left = sp > 0 ? stack[sp - 1] + 1 : 0;
                int area = hh * (i - left);

                if (area > best) {
                    best = area;
                    bx = tx0 + left;
                    bwid = i - left;
                    by = ty - hh + 1;
                    bhei = hh;
                }
            }
            stack[sp++] = i;
        }
    }
    if (!best) {
        return false;
    }
    for (int ty = by; ty < by + bhei; ty++) {
        for (int tx = bx; tx < bx + bwid; tx++) {
            if (e->tflags[ty * e->tw + tx] & TF_DIRTY) {
                any_dirty = true;
            }
        }
    }
    if (!any_dirty) {
        return false;
    }
    d.x = bx * TILE;
    d.y = by * TILE;
    d.w = MIN((bx + bwid) * TILE, e->w) - d.x;
    d.h = MIN((by + bhei) * TILE, e->h) - d.y;

    /* grow to pixel precision (at most a tile each way) */
    for (ext = 0; ext < TILE && moved_match(e, c->px, c->spx, d.x, d.y - 1,
                                            d.w, 1, dx, dy); ext++) {
        d.y--;
        d.h++;
    }
    for (ext = 0; ext < TILE && moved_match(e, c->px, c->spx, d.x,
                                            d.y + d.h, d.w, 1, dx, dy);
         ext++) {
        d.h++;
    }
    for (ext = 0; ext < TILE && moved_match(e, c->px, c->spx, d.x - 1, d.y,
                                            1, d.h, dx, dy); ext++) {
        d.x--;
        d.w++;
    }
    for (ext = 0; ext < TILE && moved_match(e, c->px, c->spx, d.x + d.w,
                                            d.y, 1, d.h, dx, dy); ext++) {
        d.w++;
    }

    if (c->out->len + 16 > c->limit) {
        c->stopped = true;
        return false;
    }
    {
        uint8_t src[4] = { (d.x - dx) >> 8, d.x - dx, (d.y - dy) >> 8,
                           d.y - dy };

        vdi_enc_put_rect_header(c->out, d.x, d.y, d.w, d.h,
                                VDI_RFB_ENC_COPYRECT);
        g_byte_array_append(c->out, src, 4);
    }
    c->st->bytes[VDI_ENC_KIND_COPYRECT] += 16;
    c->st->rects[VDI_ENC_KIND_COPYRECT]++;
    c->st->copy_pixels += (uint64_t)d.w * d.h;
    c->nrects++;

    shadow_move(e, &d, d.x - dx, d.y - dy);

    /* tile flags: the copied part inherits the source's exactness */
    memcpy(e->tflags_snap, e->tflags, (size_t)e->tw * e->th);
    for (int ty = d.y / TILE; ty <= (d.y + d.h - 1) / TILE; ty++) {
        for (int tx = d.x / TILE; tx <= (d.x + d.w - 1) / TILE; tx++) {
            int t = ty * e->tw + tx;
            VdiRect r, in;
            bool exact;

            vdi_enc_tile_rect(e, t, &r);
            in.x = MAX(r.x, d.x);
            in.y = MAX(r.y, d.y);
            in.w = MIN(r.x + r.w, d.x + d.w) - in.x;
            in.h = MIN(r.y + r.h, d.y + d.h) - in.y;
            exact = src_exact(e, e->tflags_snap, in.x - dx, in.y - dy,
                              in.w, in.h);
            if (in.w == r.w && in.h == r.h) {
                e->tflags[t] |= TF_VALID;
                if (exact) {
                    e->tflags[t] |= TF_EXACT;
                }
            }
            if (!exact) {
                /*
                 * Lossy content arrived here: refine it once it stops
                 * moving, not while a window is dragged.
                 */
                e->tflags[t] &= ~TF_EXACT;
                e->tchg[t] = e->now;
            }
            e->tflags[t] = (e->tflags[t] & ~TF_DIRTY) | TF_MOVED;
            if (!(e->tflags[t] & TF_VALID) ||
                vdi_enc_tile_differs(e, c->px, c->spx, &r)) {
                e->tflags[t] |= TF_DIRTY;
            } else {
                e->tflags[t] &= ~TF_PENDING;
            }
        }
    }
    return true;
}

static bool find_motion(VdiEncoder *e, EncCtx *c, int *pdx, int *pdy,
                        int *ptx0, int *pty0, int *ptx1, int *pty1)
{
    int ntiles = e->tw * e->th;
    int tx0 = e->tw, ty0 = e->th, tx1 = -1, ty1 = -1;
    int nkeys = 0, ndirty = 0, nmoving = 0;
    int bx0, by0, bx1, by1;
    uint32_t bestc = 0;
    int bdx = 0, bdy = 0;

    for (int t = 0; t < ntiles; t++) {
        if (e->tflags[t] & TF_DIRTY) {
            int tx = t % e->tw, ty = t / e->tw;

            tx0 = MIN(tx0, tx);
            ty0 = MIN(ty0, ty);
            tx1 = MAX(tx1, tx + 1);
            ty1 = MAX(ty1, ty + 1);
            ndirty++;
            nmoving += tile_moving(e, t);
        }
    }
    if (ndirty < 2) {
        return false;
    }
    bx0 = tx0 * TILE;
    by0 = ty0 * TILE;
    bx1 = MIN(tx1 * TILE, e->w);
    by1 = MIN(ty1 * TILE, e->h);
    if (bx1 - bx0 < MV_KEY_X + MV_KEY_LEN) {
        return false;
    }

    if (!e->key_hash) {
        e->key_hash = g_new(uint64_t, MV_MAX_KEYS);
        e->key_x = g_new(int, MV_MAX_KEYS);
        e->key_y = g_new(int, MV_MAX_KEYS);
        e->key_hits = g_new(int, MV_MAX_KEYS);
        e->key_table_size = 2 * MV_MAX_KEYS;
        e->key_table = g_new(int, e->key_table_size);
        e->key_bloom = g_new(uint64_t, 1024);
    }

    /* keys: short row segments of the new frame in dirty tiles */
    for (int t = 0; t < ntiles && nkeys < MV_MAX_KEYS; t++) {
        VdiRect r;

        if (!(e->tflags[t] & TF_DIRTY)) {
            continue;
        }
        vdi_enc_tile_rect(e, t, &r);
        if (r.w < MV_KEY_X + MV_KEY_LEN) {
            continue;
        }
        for (int j = 2; j < r.h && nkeys < MV_MAX_KEYS; j += 4) {
            const uint32_t *p = fb_row(c->px, c->spx, r.y + j) + r.x +
                MV_KEY_X;

            if (seg_uniform(p) ||
                !memcmp(p, e->shadow + (size_t)(r.y + j) * e->w + r.x +
                        MV_KEY_X, MV_KEY_LEN * 4)) {
                continue;
            }
            e->key_hash[nkeys] = seg_hash(p);
            e->key_x[nkeys] = r.x + MV_KEY_X;
            e->key_y[nkeys] = r.y + j;
            e->key_hits[nkeys] = 0;
            nkeys++;
        }
    }
    if (nkeys < MV_MIN_VOTES) {
        return false;
    }
    memset(e->key_table, -1, sizeof(int) * e->key_table_size);
    memset(e->key_bloom, 0, sizeof(uint64_t) * 1024);
    for (int k = 0; k < nkeys; k++) {
        int mask = e->key_table_size - 1;
        int s = (e->key_hash[k] >> 20) & mask;
        unsigned b = e->key_hash[k] >> 48;

        while (e->key_table[s] >= 0) {
            s = (s + 1) & mask;
        }
        e->key_table[s] = k;
        e->key_bloom[b >> 6] |= 1ull << (b & 63);
    }
    memset(e->votes, 0, sizeof(e->votes));

    /* stage A: vertical only, same key columns in the shadow */
    for (int y = by0; y < by1; y++) {
        for (int x = bx0 + MV_KEY_X; x + MV_KEY_LEN <= bx1; x += TILE) {
            const uint32_t *p = e->shadow + (size_t)y * e->w + x;
            uint64_t hsh = seg_hash(p);
            unsigned b = hsh >> 48;

            if (e->key_bloom[b >> 6] & (1ull << (b & 63))) {
                key_match(e, hsh, x, y, true);
            }
        }
    }
    for (int i = 0; i < MV_VOTES; i++) {
        if (e->votes[i].count > bestc) {
            bestc = e->votes[i].count;
            bdx = e->votes[i].dx;
            bdy = e->votes[i].dy;
        }
    }

    /*
     * stage B: any direction, rolling hash over the shadow.  Not when
     * every changed tile changes in place frame after frame (video: a
     * move resets the tiles' history, and a moved window uncovers tiles
     * that were not changing); the scan is most of LAN's CPU there.
     */
    if (bestc < MAX(MV_MIN_VOTES, nkeys / 8) && nmoving < ndirty &&
        (int64_t)(bx1 - bx0) * (by1 - by0) <= MV_SCAN_MAX_AREA) {
        uint64_t powk = 1;

        for (int i = 0; i < MV_KEY_LEN; i++) {
            powk *= MV_HASH_MUL;
        }
        memset(e->votes, 0, sizeof(e->votes));
        for (int k = 0; k < nkeys; k++) {
            e->key_hits[k] = 0;
        }
        for (int y = by0; y < by1; y++) {
            const uint32_t *row = e->shadow + (size_t)y * e->w;
            uint64_t hsh = seg_hash(row + bx0);

            for (int x = bx0; ; x++) {
                unsigned b = hsh >> 48;

                if (e->key_bloom[b >> 6] & (1ull << (b & 63))) {
                    key_match(e, hsh, x, y, false);
                }
                if (x + MV_KEY_LEN >= bx1) {
                    break;
                }
                hsh = hsh * MV_HASH_MUL - row[x] * powk +
                    row[x + MV_KEY_LEN];
            }
        }
        bestc = 0;
        for (int i = 0; i < MV_VOTES; i++) {
            if (e->votes[i].count > bestc) {
                bestc = e->votes[i].count;
                bdx = e->votes[i].dx;
                bdy = e->votes[i].dy;
            }
        }
    }
    if (bestc < MV_MIN_VOTES) {
        return false;
    }
    *pdx = bdx;
    *pdy = bdy;
    *ptx0 = tx0;
    *pty0 = ty0;
    *ptx1 = tx1;
    *pty1 = ty1;
    return true;
}

void vdi_enc_detect_motion(VdiEncoder *e, EncCtx *c)
{
    for (int iter = 0; iter < 2 && !c->stopped; iter++) {
        int dx, dy, tx0, ty0, tx1, ty1;

        if (!find_motion(e, c, &dx, &dy, &tx0, &ty0, &tx1, &ty1)) {
            return;
        }
        /* the source may lie outside the dirty box: widen by the motion */
        tx0 = MAX(0, tx0 - 1);
        ty0 = MAX(0, ty0 - 1);
        tx1 = MIN(e->tw, tx1 + 1);
        ty1 = MIN(e->th, ty1 + 1);
        if (!apply_motion(e, c, dx, dy, tx0, ty0, tx1, ty1)) {
            return;
        }
    }
}
