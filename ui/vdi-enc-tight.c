/*
 * VDI adaptive display encoder: the Tight, Raw and CopyRect rect writer
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Tight is written as the RFB protocol
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
#include "vdi-enc-int.h"

/* a rect header: x, y, w, h (16 bits each), encoding (32 bits) */
#define RFB_RECT_HEADER_LEN 12
/* Raw is sent in rects of this many rows, each below VDI_ENC_MIN_BUDGET */
#define RAW_CHUNK_ROWS 32

#define TIGHT_MIN_TO_COMPRESS 12
/* a TPIXEL: R, G, B */
#define TIGHT_TPIXEL_LEN 3
/* compression control: the stream id of a basic rect is bits 4-5 */
#define TIGHT_STREAM_SHIFT 4
#define TIGHT_FILL 0x80
#define TIGHT_JPEG 0x90
#define TIGHT_EXPLICIT_FILTER 0x40
#define TIGHT_FILTER_PALETTE 1

/* zlib stream ids, as QEMU and TigerVNC servers use them */
#define ZS_COPY 0
#define ZS_MONO 1
#define ZS_PALETTE 2

/*
 * zlib levels.  LAN: CPU first, full-colour data is the expensive one;
 * WAN: bytes first.
 */
#define ZLEVEL_LAN_COPY 1
#define ZLEVEL_LAN_INDEXED 3
#define ZLEVEL_WAN_COPY 6
#define ZLEVEL_WAN_INDEXED 7
/* room in zbuf beyond deflateBound(): a flush's block and sync marker */
#define ZBUF_SLACK 64

/*
 * Compact length: 7 bits per byte, low bits first, 0x80 when another
 * byte follows; the third byte holds 8 bits, so lengths stay below 2^22.
 */
#define TIGHT_LEN_MORE 0x80
#define TIGHT_LEN_BITS 0x7f
#define TIGHT_LEN_2BYTES 0x7f       /* longer lengths take two bytes */
#define TIGHT_LEN_3BYTES 0x3fff     /* ... and three */
#define TIGHT_LEN_LIMIT (1 << 22)

/*
 * In WAN, a rect with more colours than this, and than one per
 * WAN_PALETTE_PX pixels, goes through the full-colour zlib stream: its
 * palette, sent uncompressed with the rect, costs more than it saves
 * (pages of anti-aliased text: 22% fewer bytes in single tiles).  LAN
 * keeps palettes, whose indices compress fast.
 */
#define WAN_PALETTE_MAX 64
#define WAN_PALETTE_PX 48

/* ---- output helpers ---- */

void vdi_enc_put_rect_header(GByteArray *o, int x, int y, int w, int h,
                             int32_t enc)
{
    uint8_t b[RFB_RECT_HEADER_LEN] = {
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
    uint8_t b[TIGHT_TPIXEL_LEN] = { p >> 16, p >> 8, p };

    g_byte_array_append(o, b, sizeof(b));
}

static void put_compact_len(GByteArray *o, size_t len)
{
    uint8_t b[3];
    int n = 0;

    assert(len < TIGHT_LEN_LIMIT);
    b[n] = len & TIGHT_LEN_BITS;
    if (len > TIGHT_LEN_2BYTES) {
        b[n++] |= TIGHT_LEN_MORE;
        b[n] = (len >> 7) & TIGHT_LEN_BITS;
        if (len > TIGHT_LEN_3BYTES) {
            b[n++] |= TIGHT_LEN_MORE;
            b[n] = (len >> 14) & 0xff;
        }
    }
    g_byte_array_append(o, b, n + 1);
}

/* ---- zlib streams ---- */

static int stream_level(const VdiEncoder *e, int stream)
{
    if (e->profile == VDI_PROFILE_LAN) {
        return stream == ZS_COPY ? ZLEVEL_LAN_COPY : ZLEVEL_LAN_INDEXED;
    }
    return stream == ZS_COPY ? ZLEVEL_WAN_COPY : ZLEVEL_WAN_INDEXED;
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
    zbuf_reserve(e, deflateBound(zs, len) + ZBUF_SLACK);
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
void vdi_enc_stream_forget(VdiEncoder *e, int stream, bool live)
{
    z_stream *zs = &e->zs[stream];

    if (!live) {
        deflateReset(zs);
        e->zlive &= ~(1u << stream);
        return;
    }
    zbuf_reserve(e, ZBUF_SLACK);
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

    if (id < 0 || id >= TIGHT_STREAMS || e->zlevel[id] < 0 ||
        !(e->zlive & (1u << id))) {
        return NULL;
    }
    zs = &e->zs[id];
    if (e->zstrategy[id] != Z_DEFAULT_STRATEGY) {
        /* the taker sets levels only: back to the usual strategy */
        zbuf_reserve(e, ZBUF_SLACK);
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
    assert(id >= 0 && id < TIGHT_STREAMS);
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

/* Fibonacci hashing: 2^32 divided by the golden ratio */
#define PAL_HASH_MUL 0x9E3779B1u

static inline unsigned pal_slot(uint32_t c)
{
    return (c * PAL_HASH_MUL) >> (32 - PAL_HASH_BITS);
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
int vdi_enc_pal_build(VdiPalette *p, const uint32_t *px, size_t spx,
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
        uint32_t prev = row[0] & RGB_MASK;

        full = full || pal_lookup(p, prev, maxn) < 0;
        for (int x = 1; x < w; x++) {
            uint32_t c = row[x] & RGB_MASK;

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

/* from this quality on, chroma is not subsampled (4:4:4) */
#define JPEG_444_QUALITY 90

void vdi_enc_jpeg_error_exit(j_common_ptr cinfo)
{
    VdiJpegErr *err = (VdiJpegErr *)cinfo->err;

    longjmp(err->jb, 1);
}

void vdi_enc_jpeg_output_message(j_common_ptr cinfo)
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
    if (e->cur_quality >= JPEG_444_QUALITY) {
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
    for (int y0 = 0; y0 < h; y0 += RAW_CHUNK_ROWS) {
        int hh = MIN(RAW_CHUNK_ROWS, h - y0);
        size_t start = c->out->len;
        uint8_t *d;

        vdi_enc_put_rect_header(c->out, x, y + y0, w, hh, VDI_RFB_ENC_RAW);
        g_byte_array_set_size(c->out, start + RFB_RECT_HEADER_LEN +
                             (size_t)w * hh * 4);
        d = c->out->data + start + RFB_RECT_HEADER_LEN;
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

void vdi_enc_write_fill(EncCtx *c, int x, int y, int w, int h, uint32_t col)
{
    size_t start = c->out->len;

    vdi_enc_put_rect_header(c->out, x, y, w, h, VDI_RFB_ENC_TIGHT);
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
    uint8_t ctl = stream << TIGHT_STREAM_SHIFT;
    size_t zlen = 0;

    if (datalen >= TIGHT_MIN_TO_COMPRESS) {
        zlen = stream_compress(e, stream, e->buf, datalen);
    }
    vdi_enc_put_rect_header(c->out, x, y, w, h, VDI_RFB_ENC_TIGHT);
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
            if ((row[i] & RGB_MASK) != c0) {
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
        uint32_t prev = row[0] & RGB_MASK;
        int idx = pal_lookup(&e->pal, prev, TIGHT_MAX_COLORS);

        for (int i = 0; i < w; i++) {
            uint32_t p = row[i] & RGB_MASK;

            if (p != prev) {
                prev = p;
                idx = pal_lookup(&e->pal, p, TIGHT_MAX_COLORS);
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
    write_basic(e, c, x, y, w, h, ZS_COPY, false,
                (size_t)w * h * TIGHT_TPIXEL_LEN, VDI_ENC_KIND_ZLIB);
}

bool vdi_enc_write_jpeg(VdiEncoder *e, EncCtx *c, int x, int y, int w, int h)
{
    unsigned char *jbuf;
    unsigned long jlen;
    size_t start = c->out->len;

    if (!jpeg_encode(e, fb_row(c->px, c->spx, y) + x, c->spx, w, h,
                     &jbuf, &jlen)) {
        free(jbuf);
        return false;
    }
    if (jlen >= (size_t)w * h * TIGHT_TPIXEL_LEN) {
        /* not worth it (noise at high quality): send lossless */
        free(jbuf);
        return false;
    }
    vdi_enc_put_rect_header(c->out, x, y, w, h, VDI_RFB_ENC_TIGHT);
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
bool vdi_enc_encode_rect(VdiEncoder *e, EncCtx *c, int x, int y, int w, int h,
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

        n = vdi_enc_pal_build(&e->pal, p, c->spx, w, h, TIGHT_MAX_COLORS,
                              &same);
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
            vdi_enc_write_fill(c, x, y, w, h, e->pal.colors[0]);
        } else if (allow_lossy && vdi_enc_write_jpeg(e, c, x, y, w, h)) {
            *lossy = true;
        } else if (n == 2) {
            write_mono(e, c, x, y, w, h);
        } else if (n <= (e->profile == VDI_PROFILE_WAN ?
                         MIN(TIGHT_MAX_COLORS,
                             MAX(WAN_PALETTE_MAX, w * h / WAN_PALETTE_PX)) :
                         TIGHT_MAX_COLORS)) {
            write_palette(e, c, x, y, w, h);
        } else {
            write_copy(e, c, x, y, w, h);
        }
    }
    if (c->out->len > c->limit) {
        /* drop it, and what it compressed */
        for (int i = 0; i < TIGHT_STREAMS; i++) {
            if (e->ztouched & (1u << i)) {
                vdi_enc_stream_forget(e, i, live & (1u << i));
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
