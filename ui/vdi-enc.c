/*
 * VDI adaptive display encoder core (RFB CopyRect, Tight and Raw)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * See vdi-enc.h for the model.  Tight is written as the RFB protocol
 * specification (rfbproto, "Tight Encoding") and TigerVNC's TightDecoder
 * read it: a compression-control byte whose low 4 bits reset zlib streams
 * 0-3 and whose high 4 bits select fill (8), JPEG (9) or basic (0-7: bit 6
 * explicit filter, bits 4-5 stream id); TPIXELs are 3 bytes R, G, B; data
 * shorter than 12 bytes is sent as is, longer data is a compact length
 * (1-3 bytes, 7 bits per byte, then 8) followed by zlib data that
 * continues the client's inflater of that stream (Z_SYNC_FLUSH).
 */

#include "qemu/osdep.h"
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

#define TIGHT_MIN_TO_COMPRESS 12
#define TIGHT_FILL 0x80
#define TIGHT_JPEG 0x90
#define TIGHT_EXPLICIT_FILTER 0x40
#define TIGHT_FILTER_PALETTE 1

/* zlib stream ids, as QEMU and TigerVNC servers use them */
#define ZS_COPY 0
#define ZS_MONO 1
#define ZS_PALETTE 2

/*
 * In WAN, a rect with more colours goes through the full-colour zlib
 * stream: its palette, sent uncompressed with every tile, costs more than
 * it saves (pages of anti-aliased text: 22% fewer bytes).  LAN keeps
 * palettes, whose indices compress fast.
 */
#define WAN_PALETTE_MAX 64

/* JPEG only for rects at least this large and not "runny" */
#define JPEG_MIN_AREA 1024

#define PAL_HASH_BITS 10
#define PAL_HASH_SIZE (1 << PAL_HASH_BITS)

/* Motion detection */
#define MV_KEY_LEN 16
#define MV_KEY_X 24
#define MV_MAX_KEYS 8192
#define MV_MAX_HITS 8
#define MV_VOTES 4096
#define MV_MIN_VOTES 4
#define MV_SCAN_MAX_AREA (2560 * 1440)
#define MV_HASH_MUL 0x9E3779B97F4A7C15ull

/* Refinement (see vdi_enc_set_refine_delay()) */
#define MS_NS 1000000LL
/* clock step per call when the caller gives no time */
#define NOMINAL_CALL_NS (33 * MS_NS)
/* a tile that keeps changing must stay unchanged this many intervals */
#define MOVING_QUIET_FACTOR 2
/* changes further apart than this are not "moving" content */
#define MOVING_MAX_INTERVAL_MS 2000
/* refinement may use this share of the link rate (a token bucket)... */
#define REFINE_RATE_SHARE 0.5
/* ... with at most this much burst */
#define REFINE_BURST_NS (250 * MS_NS)
/* the link "has room" if the lossy area refines within this time */
#define REFINE_ROOM_NS (1000 * MS_NS)
/* lossless cost of smooth content, bytes per pixel (estimate) */
#define REFINE_BYTES_PER_PX 2
/* JPEG quality boost for smooth tiles that are not moving */
#define STATIC_QUALITY_BOOST 15
/*
 * Smooth content that is not moving is sent losslessly at once, not as
 * JPEG to be refined later, if the link's refinement share sends it and
 * the lossy area within this time.
 */
#define LOSSLESS_ROOM_NS (100 * MS_NS)
/* tchg of a tile never seen changing */
#define TCHG_NEVER INT64_MIN

typedef struct VdiPalette {
    uint32_t key[PAL_HASH_SIZE];
    uint32_t gen[PAL_HASH_SIZE];
    uint8_t idx[PAL_HASH_SIZE];
    uint32_t curgen;
    uint32_t colors[256];
    int n;
} VdiPalette;

typedef struct VdiJpegErr {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
} VdiJpegErr;

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
    z_stream zs[4];
    int zlevel[4];              /* -1: not initialised */
    int zstrategy[4];
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

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- output helpers ---- */

static void put_rect_header(GByteArray *o, int x, int y, int w, int h,
                            int32_t enc)
{
    uint8_t b[12] = {
        x >> 8, x, y >> 8, y, w >> 8, w, h >> 8, h,
        (uint32_t)enc >> 24, enc >> 16, enc >> 8, enc,
    };

    g_byte_array_append(o, b, sizeof(b));
}

static void put_u8(GByteArray *o, uint8_t v)
{
    g_byte_array_append(o, &v, 1);
}

static void put_tpixel(GByteArray *o, uint32_t p)
{
    uint8_t b[3] = { p >> 16, p >> 8, p };

    g_byte_array_append(o, b, 3);
}

static void put_compact_len(GByteArray *o, size_t len)
{
    uint8_t b[3];
    int n = 0;

    assert(len < (1 << 22));
    b[n] = len & 0x7f;
    if (len > 0x7f) {
        b[n++] |= 0x80;
        b[n] = (len >> 7) & 0x7f;
        if (len > 0x3fff) {
            b[n++] |= 0x80;
            b[n] = (len >> 14) & 0xff;
        }
    }
    g_byte_array_append(o, b, n + 1);
}

static inline const uint32_t *fb_row(const uint32_t *p, size_t spx, int y)
{
    return p + (size_t)y * spx;
}

/* ---- tile bookkeeping ---- */

static void tile_rect(const VdiEncoder *e, int t, VdiRect *r)
{
    int tx = t % e->tw, ty = t / e->tw;

    r->x = tx * TILE;
    r->y = ty * TILE;
    r->w = MIN(TILE, e->w - r->x);
    r->h = MIN(TILE, e->h - r->y);
}

static bool rect_clip(VdiRect *r, int w, int h)
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

static void free_state(VdiEncoder *e)
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

static void resize_state(VdiEncoder *e, int w, int h)
{
    free_state(e);
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

/* ---- zlib streams ---- */

static int stream_level(const VdiEncoder *e, int stream)
{
    if (e->profile == VDI_PROFILE_LAN) {
        /* CPU first: full-colour data is the expensive one */
        return stream == ZS_COPY ? 1 : 3;
    }
    return stream == ZS_COPY ? 6 : 7;
}

/*
 * Full-colour data in LAN: runs only (Z_RLE), several times faster than
 * level 1's string matching, which finds little in photos and video.
 */
static int stream_strategy(const VdiEncoder *e, int stream)
{
    return e->profile == VDI_PROFILE_LAN && stream == ZS_COPY ?
        Z_RLE : Z_DEFAULT_STRATEGY;
}

static void zbuf_reserve(VdiEncoder *e, size_t size)
{
    if (e->zbuf_size < size) {
        g_free(e->zbuf);
        e->zbuf_size = size;
        e->zbuf = g_malloc(size);
    }
}

/*
 * Compress @len bytes on @stream into e->zbuf; returns the compressed
 * size.  A level change keeps the stream (deflateParams()): the client
 * sees one stream for the whole session.
 */
static size_t stream_compress(VdiEncoder *e, int stream, const uint8_t *data,
                              size_t len)
{
    z_stream *zs = &e->zs[stream];
    int level = stream_level(e, stream);
    int strategy = stream_strategy(e, stream);
    size_t done;

    if (e->zlevel[stream] < 0) {
        memset(zs, 0, sizeof(*zs));
        if (deflateInit2(zs, level, Z_DEFLATED, MAX_WBITS, MAX_MEM_LEVEL,
                         strategy) != Z_OK) {
            abort();
        }
        e->zlevel[stream] = level;
        e->zstrategy[stream] = strategy;
    }
    zbuf_reserve(e, deflateBound(zs, len) + 64);
    zs->next_out = e->zbuf;
    zs->avail_out = e->zbuf_size;
    if (e->zlevel[stream] != level || e->zstrategy[stream] != strategy) {
        /* after a sync flush this emits nothing, but may write to next_out */
        if (deflateParams(zs, level, strategy) != Z_OK) {
            abort();
        }
        e->zlevel[stream] = level;
        e->zstrategy[stream] = strategy;
    }
    e->zlive |= 1u << stream;
    e->ztouched |= 1u << stream;
    e->zframe_touched |= 1u << stream;

    zs->next_in = (Bytef *)data;
    zs->avail_in = len;
    for (;;) {
        if (deflate(zs, Z_SYNC_FLUSH) == Z_STREAM_ERROR) {
            abort();
        }
        done = zs->next_out - e->zbuf;
        if (zs->avail_in == 0 && zs->avail_out != 0) {
            break;
        }
        e->zbuf_size *= 2;
        e->zbuf = g_realloc(e->zbuf, e->zbuf_size);
        zs->next_out = e->zbuf + done;
        zs->avail_out = e->zbuf_size - done;
    }
    return done;
}

/*
 * What @stream produced since the client last got its output is dropped.
 * If the client has the stream's start, a full flush (whose output is
 * dropped as well) makes what follows independent of the dropped data:
 * the client's inflater, at the byte boundary of the last sync flush it
 * saw, continues with the next block.  Otherwise the stream starts again,
 * as the client's inflater never got any of it.
 */
static void stream_forget(VdiEncoder *e, int stream, bool live)
{
    z_stream *zs = &e->zs[stream];

    if (!live) {
        deflateReset(zs);
        e->zlive &= ~(1u << stream);
        return;
    }
    zbuf_reserve(e, 64);
    zs->next_in = NULL;
    zs->avail_in = 0;
    zs->next_out = e->zbuf;
    zs->avail_out = e->zbuf_size;
    if (deflate(zs, Z_FULL_FLUSH) == Z_STREAM_ERROR) {
        abort();
    }
}

const z_stream *vdi_enc_stream_get(VdiEncoder *e, int id, int *level)
{
    z_stream *zs;

    if (id < 0 || id > 3 || e->zlevel[id] < 0 ||
        !(e->zlive & (1u << id))) {
        return NULL;
    }
    zs = &e->zs[id];
    if (e->zstrategy[id] != Z_DEFAULT_STRATEGY) {
        /* the taker sets levels only: back to the usual strategy */
        zbuf_reserve(e, 64);
        zs->next_out = e->zbuf;
        zs->avail_out = e->zbuf_size;
        if (deflateParams(zs, e->zlevel[id], Z_DEFAULT_STRATEGY) != Z_OK) {
            abort();
        }
        e->zstrategy[id] = Z_DEFAULT_STRATEGY;
    }
    *level = e->zlevel[id];
    return zs;
}

void vdi_enc_stream_set(VdiEncoder *e, int id, const z_stream *zs, int level)
{
    assert(id >= 0 && id <= 3);
    if (e->zlevel[id] >= 0) {
        deflateEnd(&e->zs[id]);
    }
    if (deflateCopy(&e->zs[id], (z_stream *)zs) != Z_OK) {
        abort();
    }
    e->zlevel[id] = level;
    e->zstrategy[id] = Z_DEFAULT_STRATEGY;
    e->zlive |= 1u << id;
}

/* ---- palette ---- */

static inline unsigned pal_slot(uint32_t c)
{
    return (c * 0x9E3779B1u) >> (32 - PAL_HASH_BITS);
}

/* Index of @c, adding it if there is room; -1 if the palette is full */
static inline int pal_lookup(VdiPalette *p, uint32_t c, int maxn)
{
    unsigned s = pal_slot(c);

    for (;;) {
        if (p->gen[s] != p->curgen) {
            if (p->n >= maxn) {
                return -1;
            }
            p->gen[s] = p->curgen;
            p->key[s] = c;
            p->idx[s] = p->n;
            p->colors[p->n] = c;
            return p->n++;
        }
        if (p->key[s] == c) {
            return p->idx[s];
        }
        s = (s + 1) & (PAL_HASH_SIZE - 1);
    }
}

/*
 * Count the colours of a rect (top byte ignored) up to @maxn; returns the
 * count or maxn + 1.  *same gets the number of pixels equal to their left
 * neighbour in the whole rect (a "runniness" measure: high for text/UI,
 * low for photos), also when there are more colours than @maxn.
 */
static int pal_build(VdiPalette *p, const uint32_t *px, size_t spx,
                     int w, int h, int maxn, uint64_t *same)
{
    uint64_t nsame = 0;
    bool full = false;

    p->curgen++;
    if (p->curgen == 0) {
        memset(p->gen, 0, sizeof(p->gen));
        p->curgen = 1;
    }
    p->n = 0;
    for (int y = 0; y < h; y++) {
        const uint32_t *row = fb_row(px, spx, y);
        uint32_t prev = row[0] & 0xffffff;

        full = full || pal_lookup(p, prev, maxn) < 0;
        for (int x = 1; x < w; x++) {
            uint32_t c = row[x] & 0xffffff;

            if (c == prev) {
                nsame++;
                continue;
            }
            full = full || pal_lookup(p, c, maxn) < 0;
            prev = c;
        }
    }
    *same = nsame;
    return full ? maxn + 1 : p->n;
}

/* ---- JPEG ---- */

static void jpeg_error_exit(j_common_ptr cinfo)
{
    VdiJpegErr *err = (VdiJpegErr *)cinfo->err;

    longjmp(err->jb, 1);
}

static void jpeg_output_message(j_common_ptr cinfo)
{
}

/* Returns a malloc()ed JPEG in *jbuf (free() it) or false */
static bool jpeg_encode(VdiEncoder *e, const uint32_t *px, size_t spx,
                        int w, int h, unsigned char **jbuf,
                        unsigned long *jlen)
{
    struct jpeg_compress_struct *c = &e->cinfo;
    JSAMPROW row;

    *jbuf = NULL;
    *jlen = 0;
    if (setjmp(e->jerr.jb)) {
        jpeg_abort_compress(c);
        return false;
    }
    jpeg_mem_dest(c, jbuf, jlen);
    c->image_width = w;
    c->image_height = h;
    c->input_components = 4;
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
    c->in_color_space = JCS_EXT_BGRX;
#else
    c->in_color_space = JCS_EXT_XRGB;
#endif
    jpeg_set_defaults(c);
    jpeg_set_quality(c, e->cur_quality, TRUE);
    /* Huffman tables for this image: some percent smaller, same pixels */
    c->optimize_coding = TRUE;
    if (e->cur_quality >= 90) {
        /* 4:4:4 at high quality */
        c->comp_info[0].h_samp_factor = 1;
        c->comp_info[0].v_samp_factor = 1;
    }
    jpeg_start_compress(c, TRUE);
    while (c->next_scanline < c->image_height) {
        row = (JSAMPROW)fb_row(px, spx, c->next_scanline);
        jpeg_write_scanlines(c, &row, 1);
    }
    jpeg_finish_compress(c);
    return true;
}

/* ---- rect writers ---- */

static void write_raw(VdiEncoder *e, EncCtx *c, int x, int y, int w, int h)
{
    /* chunks of at most 32 rows keep each rect below VDI_ENC_MIN_BUDGET */
    for (int y0 = 0; y0 < h; y0 += 32) {
        int hh = MIN(32, h - y0);
        size_t start = c->out->len;
        uint8_t *d;

        put_rect_header(c->out, x, y + y0, w, hh, VDI_RFB_ENC_RAW);
        g_byte_array_set_size(c->out, start + 12 + (size_t)w * hh * 4);
        d = c->out->data + start + 12;
        for (int j = 0; j < hh; j++) {
            const uint32_t *row = fb_row(c->px, c->spx, y + y0 + j) + x;

            for (int i = 0; i < w; i++) {
                uint32_t p = row[i];

                *d++ = p;
                *d++ = p >> 8;
                *d++ = p >> 16;
                *d++ = 0;
            }
        }
        c->st->bytes[VDI_ENC_KIND_RAW] += c->out->len - start;
        c->st->rects[VDI_ENC_KIND_RAW]++;
        c->nrects++;
    }
}

static void write_fill(EncCtx *c, int x, int y, int w, int h, uint32_t col)
{
    size_t start = c->out->len;

    put_rect_header(c->out, x, y, w, h, VDI_RFB_ENC_TIGHT);
    put_u8(c->out, TIGHT_FILL);
    put_tpixel(c->out, col);
    c->st->bytes[VDI_ENC_KIND_FILL] += c->out->len - start;
    c->st->rects[VDI_ENC_KIND_FILL]++;
    c->nrects++;
}

/* Tight basic rect: ctl, [filter, palette], [compact len], data */
static void write_basic(VdiEncoder *e, EncCtx *c, int x, int y, int w, int h,
                        int stream, bool palette, size_t datalen,
                        VdiEncKind kind)
{
    size_t start = c->out->len;
    uint8_t ctl = stream << 4;
    size_t zlen = 0;

    if (datalen >= TIGHT_MIN_TO_COMPRESS) {
        zlen = stream_compress(e, stream, e->buf, datalen);
    }
    put_rect_header(c->out, x, y, w, h, VDI_RFB_ENC_TIGHT);
    if (palette) {
        put_u8(c->out, ctl | TIGHT_EXPLICIT_FILTER);
        put_u8(c->out, TIGHT_FILTER_PALETTE);
        put_u8(c->out, e->pal.n - 1);
        for (int i = 0; i < e->pal.n; i++) {
            put_tpixel(c->out, e->pal.colors[i]);
        }
    } else {
        /* copy filter is implied without the explicit-filter bit */
        put_u8(c->out, ctl);
    }
    if (datalen < TIGHT_MIN_TO_COMPRESS) {
        g_byte_array_append(c->out, e->buf, datalen);
    } else {
        put_compact_len(c->out, zlen);
        g_byte_array_append(c->out, e->zbuf, zlen);
    }
    c->st->bytes[kind] += c->out->len - start;
    c->st->rects[kind]++;
    c->nrects++;
}

static void write_mono(VdiEncoder *e, EncCtx *c, int x, int y, int w, int h)
{
    int rowbytes = (w + 7) / 8;
    uint32_t c0 = e->pal.colors[0];
    uint8_t *d = e->buf;

    for (int j = 0; j < h; j++) {
        const uint32_t *row = fb_row(c->px, c->spx, y + j) + x;

        memset(d, 0, rowbytes);
        for (int i = 0; i < w; i++) {
            if ((row[i] & 0xffffff) != c0) {
                d[i >> 3] |= 0x80 >> (i & 7);
            }
        }
        d += rowbytes;
    }
    write_basic(e, c, x, y, w, h, ZS_MONO, true, (size_t)rowbytes * h,
                VDI_ENC_KIND_MONO);
}

static void write_palette(VdiEncoder *e, EncCtx *c, int x, int y, int w,
                          int h)
{
    uint8_t *d = e->buf;

    for (int j = 0; j < h; j++) {
        const uint32_t *row = fb_row(c->px, c->spx, y + j) + x;
        uint32_t prev = row[0] & 0xffffff;
        int idx = pal_lookup(&e->pal, prev, 256);

        for (int i = 0; i < w; i++) {
            uint32_t p = row[i] & 0xffffff;

            if (p != prev) {
                prev = p;
                idx = pal_lookup(&e->pal, p, 256);
            }
            *d++ = idx;
        }
    }
    write_basic(e, c, x, y, w, h, ZS_PALETTE, true, (size_t)w * h,
                VDI_ENC_KIND_PALETTE);
}

static void write_copy(VdiEncoder *e, EncCtx *c, int x, int y, int w, int h)
{
    uint8_t *d = e->buf;

    for (int j = 0; j < h; j++) {
        const uint32_t *row = fb_row(c->px, c->spx, y + j) + x;

        for (int i = 0; i < w; i++) {
            uint32_t p = row[i];

            *d++ = p >> 16;
            *d++ = p >> 8;
            *d++ = p;
        }
    }
    write_basic(e, c, x, y, w, h, ZS_COPY, false, (size_t)w * h * 3,
                VDI_ENC_KIND_ZLIB);
}

static bool write_jpeg(VdiEncoder *e, EncCtx *c, int x, int y, int w, int h)
{
    unsigned char *jbuf;
    unsigned long jlen;
    size_t start = c->out->len;

    if (!jpeg_encode(e, fb_row(c->px, c->spx, y) + x, c->spx, w, h,
                     &jbuf, &jlen)) {
        free(jbuf);
        return false;
    }
    if (jlen >= (size_t)w * h * 3) {
        /* not worth it (noise at high quality): send lossless */
        free(jbuf);
        return false;
    }
    put_rect_header(c->out, x, y, w, h, VDI_RFB_ENC_TIGHT);
    put_u8(c->out, TIGHT_JPEG);
    put_compact_len(c->out, jlen);
    g_byte_array_append(c->out, jbuf, jlen);
    free(jbuf);
    c->st->bytes[VDI_ENC_KIND_JPEG] += c->out->len - start;
    c->st->rects[VDI_ENC_KIND_JPEG]++;
    c->st->lossy_pixels += (uint64_t)w * h;
    c->nrects++;
    return true;
}

/*
 * Encode one rect (at most TILE x TILE) of the new frame; *lossy tells if
 * the client gets an approximation.  Returns false if it did not fit the
 * budget (then nothing was appended and the rect stays dirty).
 */
static bool encode_rect(VdiEncoder *e, EncCtx *c, int x, int y, int w, int h,
                        bool allow_lossy, bool *lossy)
{
    size_t start = c->out->len;
    VdiEncStats saved = *c->st;
    int saved_n = c->nrects;
    unsigned live = e->zlive;
    int n;
    uint64_t same;
    VdiEncClass cls;

    *lossy = false;
    e->ztouched = 0;
    if (!(e->caps & VDI_ENC_CAP_TIGHT)) {
        write_raw(e, c, x, y, w, h);
        cls = VDI_ENC_CLASS_SMOOTH;
    } else {
        const uint32_t *p = fb_row(c->px, c->spx, y) + x;

        n = pal_build(&e->pal, p, c->spx, w, h, 256, &same);
        if (n == 1) {
            cls = VDI_ENC_CLASS_SOLID;
        } else if (n == 2) {
            cls = VDI_ENC_CLASS_MONO;
        } else if (n <= VDI_ENC_FEW_COLORS) {
            cls = VDI_ENC_CLASS_PALETTE;
        } else {
            cls = VDI_ENC_CLASS_SMOOTH;
        }
        allow_lossy = allow_lossy && e->profile == VDI_PROFILE_WAN &&
            (e->caps & VDI_ENC_CAP_JPEG) && cls == VDI_ENC_CLASS_SMOOTH &&
            (size_t)w * h >= JPEG_MIN_AREA &&
            same * 2 < (uint64_t)w * h;
        if (n == 1) {
            write_fill(c, x, y, w, h, e->pal.colors[0]);
        } else if (allow_lossy && write_jpeg(e, c, x, y, w, h)) {
            *lossy = true;
        } else if (n == 2) {
            write_mono(e, c, x, y, w, h);
        } else if (n <= (e->profile == VDI_PROFILE_WAN ?
                         WAN_PALETTE_MAX : 256)) {
            write_palette(e, c, x, y, w, h);
        } else {
            write_copy(e, c, x, y, w, h);
        }
    }
    if (c->out->len > c->limit) {
        /* drop it, and what it compressed */
        for (int i = 0; i < 4; i++) {
            if (e->ztouched & (1u << i)) {
                stream_forget(e, i, live & (1u << i));
            }
        }
        g_byte_array_set_size(c->out, start);
        *c->st = saved;
        c->nrects = saved_n;
        c->stopped = true;
        return false;
    }
    c->st->classes[cls]++;
    return true;
}

/* ---- change detection ---- */

static bool tile_differs(const VdiEncoder *e, const uint32_t *px, size_t spx,
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
static bool change_bbox(const VdiEncoder *e, const uint32_t *px, size_t spx,
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

static void shadow_store(VdiEncoder *e, const uint32_t *px, size_t spx,
                         const VdiRect *r)
{
    for (int j = 0; j < r->h; j++) {
        memcpy(e->shadow + (size_t)(r->y + j) * e->w + r->x,
               fb_row(px, spx, r->y + j) + r->x, r->w * 4);
    }
}

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

            tile_rect(e, ty * e->tw + tx, &r);
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

        put_rect_header(c->out, d.x, d.y, d.w, d.h, VDI_RFB_ENC_COPYRECT);
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

            tile_rect(e, t, &r);
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
            e->tflags[t] &= ~TF_DIRTY;
            if (!(e->tflags[t] & TF_VALID) ||
                tile_differs(e, c->px, c->spx, &r)) {
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
    int nkeys = 0, ndirty = 0;
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
        tile_rect(e, t, &r);
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

    /* stage B: any direction, rolling hash over the shadow */
    if (bestc < MAX(MV_MIN_VOTES, nkeys / 8) &&
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

static void detect_motion(VdiEncoder *e, EncCtx *c)
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
    shadow_store(e, c->px, c->spx, r);
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

    tile_rect(e, t, &r);
    while ((t + n) % e->tw != 0) {
        uint32_t c2;

        if ((e->tflags[t + n] & (TF_DIRTY | TF_DONE)) != TF_DIRTY) {
            break;
        }
        tile_rect(e, t + n, &r2);
        if (!tile_solid(c->px, c->spx, &r2, &c2) || c2 != col) {
            break;
        }
        n++;
    }
    write_fill(c, r.x, r.y, MIN(r.x + n * TILE, e->w) - r.x, r.h,
               col & 0xffffff);
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
        tile_rect(e, t + i, &r2);
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
    n = pal_build(&e->pal, fb_row(c->px, c->spx, r->y) + r->x, c->spx,
                  r->w, r->h, VDI_ENC_FEW_COLORS, &same);
    return n > VDI_ENC_FEW_COLORS && same * 2 < (uint64_t)r->w * r->h;
}

/*
 * One JPEG for a run of smooth dirty tiles of a tile row (JPEG headers
 * cost ~600 bytes, too much per tile).  Returns 0 if not applicable, 1 if
 * sent, -1 if over budget.
 */
#define JPEG_MAX_RUN 16

/* Tiles that keep changing (video, animations) */
static bool tile_moving(const VdiEncoder *e, int t)
{
    return e->tival[t] != 0;
}

/* JPEG quality of a tile: better for content that stays (it is seen) */
static int tile_quality(const VdiEncoder *e, int t)
{
    if (tile_moving(e, t)) {
        return e->quality;
    }
    return MIN(95, MAX(e->quality, e->quality + STATIC_QUALITY_BOOST));
}

static int encode_jpeg_run(VdiEncoder *e, EncCtx *c, int t)
{
    VdiRect r, r2;
    int n = 1;

    tile_rect(e, t, &r);
    if (!tile_smooth(e, c, &r)) {
        return 0;
    }
    while (n < JPEG_MAX_RUN && (t + n) % e->tw != 0) {
        if ((e->tflags[t + n] & (TF_DIRTY | TF_DONE)) != TF_DIRTY ||
            tile_moving(e, t + n) != tile_moving(e, t)) {
            break;
        }
        tile_rect(e, t + n, &r2);
        if (r2.w != TILE || !tile_smooth(e, c, &r2)) {
            break;
        }
        n++;
    }
    for (;;) {
        size_t start = c->out->len;
        VdiEncStats saved = *c->st;
        int saved_n = c->nrects;
        int w = MIN(r.x + n * TILE, e->w) - r.x;

        if (!write_jpeg(e, c, r.x, r.y, w, r.h)) {
            return 0;
        }
        if (c->out->len > c->limit) {
            g_byte_array_set_size(c->out, start);
            *c->st = saved;
            c->nrects = saved_n;
            if (n > 1) {
                n = 1;
                continue;
            }
            c->stopped = true;
            return -1;
        }
        break;
    }
    c->st->classes[VDI_ENC_CLASS_SMOOTH]++;
    for (int i = 0; i < n; i++) {
        tile_rect(e, t + i, &r2);
        tile_sent(e, c, t + i, &r2, true, true);
    }
    return 1;
}

static bool encode_tile(VdiEncoder *e, EncCtx *c, int t, bool refine)
{
    VdiRect r, bb;
    uint32_t col;
    bool lossy, whole, allow_lossy;
    int ret;

    tile_rect(e, t, &r);
    e->cur_quality = tile_quality(e, t);
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
    if (refine || !(e->tflags[t] & TF_VALID) ||
        !change_bbox(e, c->px, c->spx, &r, &bb)) {
        bb = r;
    }
    whole = bb.w == r.w && bb.h == r.h;
    if (!encode_rect(e, c, bb.x, bb.y, bb.w, bb.h, allow_lossy, &lossy)) {
        return false;
    }
    tile_sent(e, c, t, &bb, whole, lossy);
    return true;
}

/*
 * How long lossy tiles must stay unchanged before they are refined: the
 * shortest delay if the link could refine all the lossy area quickly,
 * longer the more of the link refinement would take, at most the
 * configured delay (also when the link rate is unknown).
 */
static int64_t refine_delay(const VdiEncoder *e)
{
    double rate = e->link_rate * REFINE_RATE_SHARE;
    double ns;

    if (e->profile == VDI_PROFILE_LAN) {
        return 0;
    }
    if (!(rate > 0)) {
        return e->refine_max_ns;
    }
    ns = (double)e->lossy_pending * REFINE_BYTES_PER_PX / rate * 1e9;
    ns *= (double)e->refine_min_ns / REFINE_ROOM_NS;
    return MAX(e->refine_min_ns, MIN(e->refine_max_ns, (int64_t)ns));
}

/*
 * May tile @t be refined now?  Moving content is given more time; LAN
 * refines everything at once.
 */
static bool refine_due(const VdiEncoder *e, int t, int64_t delay)
{
    int64_t quiet;

    if (e->profile == VDI_PROFILE_LAN || e->tchg[t] == TCHG_NEVER) {
        return true;
    }
    quiet = e->now - e->tchg[t];
    if (tile_moving(e, t)) {
        delay = MAX(delay, (int64_t)e->tival[t] * MS_NS *
                    MOVING_QUIET_FACTOR);
    }
    return quiet >= delay;
}

/* Bytes refinement may use in this call (token bucket), SIZE_MAX: any */
static size_t refine_allowance(VdiEncoder *e)
{
    double rate = e->link_rate * REFINE_RATE_SHARE;
    double burst = rate * REFINE_BURST_NS / 1e9;

    if (e->profile == VDI_PROFILE_LAN || !(rate > 0)) {
        return SIZE_MAX;
    }
    burst = MAX(burst, VDI_ENC_MIN_BUDGET);
    if (e->now > e->refine_tokens_t) {
        e->refine_tokens += rate * (e->now - e->refine_tokens_t) / 1e9;
    }
    e->refine_tokens_t = MAX(e->refine_tokens_t, e->now);
    e->refine_tokens = MIN(e->refine_tokens, burst);
    return e->refine_tokens > 0 ? (size_t)e->refine_tokens : 0;
}

/* Note a change of tile @t in its history */
static void tile_changed(VdiEncoder *e, int t, bool was_pending)
{
    int64_t dt = e->tchg[t] == TCHG_NEVER ? 0 :
        (e->now - e->tchg[t]) / MS_NS;

    if (was_pending) {
        /* still the same change, deferred by the budget */
    } else if (e->tchg[t] != TCHG_NEVER && dt > 0 &&
               dt <= MOVING_MAX_INTERVAL_MS) {
        e->tival[t] = e->tival[t] ? (e->tival[t] * 3 + dt + 3) / 4 : dt;
    } else {
        e->tival[t] = 0;
    }
    e->tchg[t] = e->now;
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
        resize_state(e, w, h);
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

            if (!rect_clip(&r, w, h)) {
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

        f &= ~(TF_DIRTY | TF_DONE);
        if (!(f & TF_VALID) || (f & TF_PENDING)) {
            f |= TF_CAND;
        }
        if (f & TF_CAND) {
            VdiRect r;

            tile_rect(e, t, &r);
            if (!(f & TF_VALID) || tile_differs(e, pixels, c.spx, &r)) {
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
        detect_motion(e, &c);
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

            tile_changed(e, t, e->tflags[t] & TF_PENDING);
            if (moved) {
                e->tival[t] = 0;
            }
            tile_rect(e, t, &r);
            if (lossy_ok(e) && (e->tflags[t] & TF_VALID) &&
                change_bbox(e, pixels, c.spx, &r, &bb)) {
                /* what lossless would send: the changed part */
                r = bb;
            }
            dirty_px += (uint64_t)r.w * r.h;
        }
    }
    /*
     * Room for lossless: the changes fit the link's share for new content
     * within LOSSLESS_ROOM_NS.  Refinement of what the client has lossy
     * is paid from the other share (refine_allowance()).
     */
    e->room = e->profile == VDI_PROFILE_WAN && e->link_rate > 0 &&
        dirty_px * REFINE_BYTES_PER_PX <=
        e->link_rate * REFINE_RATE_SHARE * LOSSLESS_ROOM_NS / 1e9;

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
    delay = refine_delay(e);
    allow = refine_allowance(e);
    before = out->len;
    for (t = 0; t < ntiles && !c.stopped && allow; t++) {
        uint8_t f = e->tflags[t];
        size_t limit = c.limit;

        if ((f & (TF_VALID | TF_EXACT | TF_DIRTY)) != TF_VALID ||
            !refine_due(e, t, delay)) {
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
        e->tflags[t] = f & ~(TF_DIRTY | TF_DONE);
        if ((f & (TF_VALID | TF_EXACT)) == TF_VALID) {
            tile_rect(e, t, &r);
            pend += (uint64_t)r.w * r.h;
        }
    }
    stats->lossy_pending = pend;
    e->lossy_pending = pend;
    stats->budget_limited = c.stopped;
    stats->encode_ns = now_ns() - t0;
    return c.nrects;
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

void vdi_enc_drop_output(VdiEncoder *e)
{
    for (int i = 0; i < 4; i++) {
        if (e->zframe_touched & (1u << i)) {
            stream_forget(e, i, e->zframe_live & (1u << i));
        }
    }
    e->zframe_touched = 0;
    vdi_enc_invalidate(e, NULL);
}

void vdi_enc_invalidate(VdiEncoder *e, const VdiRect *rect)
{
    VdiRect r = { 0, 0, e->w, e->h };

    if (rect) {
        r = *rect;
    }
    if (!e->w || r.w < 0 || r.h < 0 || !rect_clip(&r, e->w, e->h)) {
        return;
    }
    for (int ty = r.y / TILE; ty <= (r.y + r.h - 1) / TILE; ty++) {
        for (int tx = r.x / TILE; tx <= (r.x + r.w - 1) / TILE; tx++) {
            e->tflags[ty * e->tw + tx] &= ~(TF_VALID | TF_EXACT);
        }
    }
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
    for (int i = 0; i < 4; i++) {
        e->zlevel[i] = -1;
    }
    e->buf = g_malloc(TILE * TILE * 4);
    e->cinfo.err = jpeg_std_error(&e->jerr.mgr);
    e->jerr.mgr.error_exit = jpeg_error_exit;
    e->jerr.mgr.output_message = jpeg_output_message;
    jpeg_create_compress(&e->cinfo);
    return e;
}

void vdi_enc_free(VdiEncoder *e)
{
    if (!e) {
        return;
    }
    for (int i = 0; i < 4; i++) {
        if (e->zlevel[i] >= 0) {
            deflateEnd(&e->zs[i]);
        }
    }
    jpeg_destroy_compress(&e->cinfo);
    free_state(e);
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

VdiProfile vdi_enc_get_profile(const VdiEncoder *e)
{
    return e->profile;
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
