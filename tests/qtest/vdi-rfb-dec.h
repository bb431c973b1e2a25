/*
 * Minimal RFB client-side decoder (Raw, CopyRect, Tight) for tests
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Written from the RFB protocol specification (rfbproto) independently of
 * ui/vdi-enc.c, for a client pixel format of 32 bpp, depth 24, true
 * colour, little-endian, shifts 16/8/0: Raw pixels are 4 bytes B, G, R, x
 * and Tight TPIXELs 3 bytes R, G, B.  Like a real client it keeps one zlib
 * inflater per Tight stream across rectangles.  Every read is bounds
 * checked; malformed input makes rfb_dec_apply() fail.
 * Shared by the encoder tests and vdi-enc-bench.c.
 */

#ifndef VDI_RFB_DEC_H
#define VDI_RFB_DEC_H

#include <math.h>
#include <zlib.h>
#include <jpeglib.h>
#include <setjmp.h>

typedef struct RfbDec RfbDec;

struct RfbDec {
    int w, h;
    uint32_t *fb;               /* 0x00RRGGBB */
    /*
     * Per pixel: came from a JPEG (also through CopyRect), and was
     * written by a rectangle since rfb_dec_new() or the last
     * rfb_dec_stale()
     */
    uint8_t *lossy, *covered;
    z_stream zs[4];
    bool zinit[4];
    uint64_t rects_by_enc[8];   /* raw, copyrect, ..., tight = [7] */
    uint64_t tight_fill, tight_jpeg, tight_basic, tight_resets;
    /*
     * RFB Open H.264 (50), refused unless set: the rect, its flags and
     * its Annex B data
     */
    bool (*h264)(struct RfbDec *d, int x, int y, int w, int h,
                 uint32_t flags, const uint8_t *data, size_t len);
    void *opaque;
};

typedef struct RfbRd {
    const uint8_t *p;
    size_t len, pos;
    bool err;
} RfbRd;

static inline const uint8_t *rfb_rd_take(RfbRd *r, size_t n)
{
    const uint8_t *q;

    if (r->err || r->len - r->pos < n) {
        r->err = true;
        return NULL;
    }
    q = r->p + r->pos;
    r->pos += n;
    return q;
}

static inline unsigned rfb_rd_u8(RfbRd *r)
{
    const uint8_t *q = rfb_rd_take(r, 1);

    return q ? q[0] : 0;
}

static inline unsigned rfb_rd_u16(RfbRd *r)
{
    const uint8_t *q = rfb_rd_take(r, 2);

    return q ? (q[0] << 8) | q[1] : 0;
}

static inline int32_t rfb_rd_s32(RfbRd *r)
{
    const uint8_t *q = rfb_rd_take(r, 4);

    return q ? (int32_t)(((uint32_t)q[0] << 24) | (q[1] << 16) |
                         (q[2] << 8) | q[3]) : 0;
}

/* Tight "compact length": 7 bits in each of up to 2 bytes, then 8 bits */
static inline size_t rfb_rd_compact(RfbRd *r)
{
    unsigned b = rfb_rd_u8(r);
    size_t len = b & 0x7f;

    if (b & 0x80) {
        b = rfb_rd_u8(r);
        len |= (size_t)(b & 0x7f) << 7;
        if (b & 0x80) {
            b = rfb_rd_u8(r);
            len |= (size_t)b << 14;
        }
    }
    return len;
}

static inline RfbDec *rfb_dec_new(int w, int h)
{
    RfbDec *d = g_new0(RfbDec, 1);

    d->w = w;
    d->h = h;
    d->fb = g_new0(uint32_t, (size_t)w * h);
    d->lossy = g_new0(uint8_t, (size_t)w * h);
    d->covered = g_new0(uint8_t, (size_t)w * h);
    return d;
}

/* DesktopSize: a new framebuffer, the zlib streams carry on */
static inline void rfb_dec_resize(RfbDec *d, int w, int h)
{
    g_free(d->fb);
    g_free(d->lossy);
    g_free(d->covered);
    d->w = w;
    d->h = h;
    d->fb = g_new0(uint32_t, (size_t)w * h);
    d->lossy = g_new0(uint8_t, (size_t)w * h);
    d->covered = g_new0(uint8_t, (size_t)w * h);
}

static inline void rfb_dec_free(RfbDec *d)
{
    for (int i = 0; i < 4; i++) {
        if (d->zinit[i]) {
            inflateEnd(&d->zs[i]);
        }
    }
    g_free(d->fb);
    g_free(d->lossy);
    g_free(d->covered);
    g_free(d);
}

typedef struct RfbJpegErr {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
} RfbJpegErr;

static void rfb_jpeg_exit(j_common_ptr ci)
{
    longjmp(((RfbJpegErr *)ci->err)->jb, 1);
}

static void rfb_jpeg_msg(j_common_ptr ci)
{
}

static inline bool rfb_dec_jpeg(RfbDec *d, const uint8_t *data, size_t len,
                                int x, int y, int w, int h)
{
    struct jpeg_decompress_struct ci;
    RfbJpegErr err;
    /* volatile: it is freed after longjmp() back to the setjmp() */
    uint8_t *volatile line = NULL;

    ci.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = rfb_jpeg_exit;
    err.mgr.output_message = rfb_jpeg_msg;
    jpeg_create_decompress(&ci);
    if (setjmp(err.jb)) {
        jpeg_destroy_decompress(&ci);
        g_free(line);
        return false;
    }
    jpeg_mem_src(&ci, (unsigned char *)data, len);
    jpeg_read_header(&ci, TRUE);
    ci.out_color_space = JCS_RGB;
    jpeg_start_decompress(&ci);
    if ((int)ci.output_width != w || (int)ci.output_height != h ||
        ci.output_components != 3) {
        jpeg_destroy_decompress(&ci);
        return false;
    }
    line = g_malloc((size_t)w * 3);
    while ((int)ci.output_scanline < h) {
        JSAMPROW row = line;
        int j = ci.output_scanline;

        jpeg_read_scanlines(&ci, &row, 1);
        for (int i = 0; i < w; i++) {
            d->fb[(size_t)(y + j) * d->w + x + i] =
                (line[i * 3] << 16) | (line[i * 3 + 1] << 8) |
                line[i * 3 + 2];
        }
        memset(d->lossy + (size_t)(y + j) * d->w + x, 1, w);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    g_free(line);
    return true;
}

static inline bool rfb_dec_inflate(RfbDec *d, int s, const uint8_t *in,
                                   size_t inlen, uint8_t *out, size_t outlen)
{
    z_stream *zs = &d->zs[s];
    int ret;

    if (!d->zinit[s]) {
        memset(zs, 0, sizeof(*zs));
        if (inflateInit(zs) != Z_OK) {
            return false;
        }
        d->zinit[s] = true;
    }
    zs->next_in = (Bytef *)in;
    zs->avail_in = inlen;
    zs->next_out = out;
    zs->avail_out = outlen;
    ret = inflate(zs, Z_SYNC_FLUSH);
    if (ret != Z_OK && ret != Z_BUF_ERROR) {
        return false;
    }
    if (zs->avail_out != 0) {
        return false;
    }
    if (zs->avail_in) {
        /* the rest (sync flush marker) must not produce more data */
        uint8_t extra[16];

        zs->next_out = extra;
        zs->avail_out = sizeof(extra);
        ret = inflate(zs, Z_SYNC_FLUSH);
        if ((ret != Z_OK && ret != Z_BUF_ERROR) ||
            zs->avail_out != sizeof(extra)) {
            return false;
        }
    }
    /* a rect's zlib data must produce exactly the expected bytes */
    return zs->avail_in == 0;
}

static inline bool rfb_dec_tight(RfbDec *d, RfbRd *r, int x, int y, int w,
                                 int h)
{
    unsigned ctl = rfb_rd_u8(r);
    unsigned type;

    if (r->err) {
        return false;
    }
    for (int i = 0; i < 4; i++) {
        if (ctl & (1 << i)) {
            d->tight_resets++;
            if (d->zinit[i]) {
                /*
                 * Refused, as by noVNC, whose inflater keeps no window
                 * after a reset: a server must not reset a stream the
                 * client has used.
                 */
                return false;
            }
        }
    }
    type = ctl >> 4;
    if (type == 8) {
        const uint8_t *c = rfb_rd_take(r, 3);
        uint32_t pix;

        if (!c) {
            return false;
        }
        pix = (c[0] << 16) | (c[1] << 8) | c[2];
        for (int j = 0; j < h; j++) {
            for (int i = 0; i < w; i++) {
                d->fb[(size_t)(y + j) * d->w + x + i] = pix;
            }
        }
        d->tight_fill++;
        return true;
    }
    if (type == 9) {
        size_t len = rfb_rd_compact(r);
        const uint8_t *data = rfb_rd_take(r, len);

        d->tight_jpeg++;
        return data && rfb_dec_jpeg(d, data, len, x, y, w, h);
    }
    if (type > 9) {
        return false;
    }
    /* basic compression */
    {
        int stream = type & 3;
        int filter = 0, npal = 0, bits;
        uint32_t pal[256];
        size_t rowbytes, datalen;
        g_autofree uint8_t *data = NULL;

        d->tight_basic++;
        if (type & 4) {
            filter = rfb_rd_u8(r);
        }
        if (filter == 1) {
            npal = rfb_rd_u8(r) + 1;
            for (int i = 0; i < npal; i++) {
                const uint8_t *c = rfb_rd_take(r, 3);

                if (!c) {
                    return false;
                }
                pal[i] = (c[0] << 16) | (c[1] << 8) | c[2];
            }
            bits = npal == 2 ? 1 : 8;
        } else if (filter == 0) {
            bits = 24;
        } else {
            return false;   /* gradient filter: not produced by the server */
        }
        if (r->err) {
            return false;
        }
        rowbytes = bits == 1 ? (w + 7) / 8 : (size_t)w * bits / 8;
        datalen = rowbytes * h;
        data = g_malloc(datalen ? datalen : 1);
        if (datalen < 12) {
            const uint8_t *q = rfb_rd_take(r, datalen);

            if (!q) {
                return false;
            }
            memcpy(data, q, datalen);
        } else {
            size_t zlen = rfb_rd_compact(r);
            const uint8_t *q = rfb_rd_take(r, zlen);

            if (!q || !rfb_dec_inflate(d, stream, q, zlen, data, datalen)) {
                return false;
            }
        }
        for (int j = 0; j < h; j++) {
            const uint8_t *row = data + j * rowbytes;

            for (int i = 0; i < w; i++) {
                uint32_t pix;

                if (bits == 24) {
                    pix = (row[i * 3] << 16) | (row[i * 3 + 1] << 8) |
                        row[i * 3 + 2];
                } else if (bits == 8) {
                    if (row[i] >= npal) {
                        return false;
                    }
                    pix = pal[row[i]];
                } else {
                    pix = pal[(row[i / 8] >> (7 - i % 8)) & 1];
                }
                d->fb[(size_t)(y + j) * d->w + x + i] = pix;
            }
        }
    }
    return true;
}

/*
 * Apply the body of a FramebufferUpdate (@nrects rectangles); returns
 * false on malformed data or if bytes are left over.
 */
static inline bool rfb_dec_apply(RfbDec *d, const uint8_t *buf, size_t len,
                                 int nrects)
{
    RfbRd r = { buf, len, 0, false };

    for (int n = 0; n < nrects; n++) {
        int x = rfb_rd_u16(&r), y = rfb_rd_u16(&r);
        int w = rfb_rd_u16(&r), h = rfb_rd_u16(&r);
        int32_t enc = rfb_rd_s32(&r);

        if (r.err || x + w > d->w || y + h > d->h) {
            return false;
        }
        if (enc >= 0 && enc < 8) {
            d->rects_by_enc[enc]++;
        }
        for (int j = 0; j < h; j++) {
            memset(d->covered + (size_t)(y + j) * d->w + x, 1, w);
            if (enc != 1) {
                /* rfb_dec_jpeg() sets it again */
                memset(d->lossy + (size_t)(y + j) * d->w + x, 0, w);
            }
        }
        if (enc == 0) {
            for (int j = 0; j < h; j++) {
                for (int i = 0; i < w; i++) {
                    const uint8_t *q = rfb_rd_take(&r, 4);

                    if (!q) {
                        return false;
                    }
                    d->fb[(size_t)(y + j) * d->w + x + i] =
                        (q[2] << 16) | (q[1] << 8) | q[0];
                }
            }
        } else if (enc == 1) {
            int sx = rfb_rd_u16(&r), sy = rfb_rd_u16(&r);
            g_autofree uint32_t *tmp = NULL;

            if (r.err || sx + w > d->w || sy + h > d->h) {
                return false;
            }
            /* via a copy, so overlapping areas behave like a client */
            tmp = g_new(uint32_t, (size_t)w * h + 1);
            for (int j = 0; j < h; j++) {
                memcpy(tmp + (size_t)j * w,
                       d->fb + (size_t)(sy + j) * d->w + sx, w * 4);
            }
            for (int j = 0; j < h; j++) {
                memcpy(d->fb + (size_t)(y + j) * d->w + x,
                       tmp + (size_t)j * w, w * 4);
            }
            /* the lossy marks move with the pixels */
            for (int j = 0; j < h; j++) {
                memcpy((uint8_t *)tmp + (size_t)j * w,
                       d->lossy + (size_t)(sy + j) * d->w + sx, w);
            }
            for (int j = 0; j < h; j++) {
                memcpy(d->lossy + (size_t)(y + j) * d->w + x,
                       (uint8_t *)tmp + (size_t)j * w, w);
            }
        } else if (enc == 7) {
            if (!rfb_dec_tight(d, &r, x, y, w, h)) {
                return false;
            }
        } else if (enc == 50 && d->h264) {
            uint32_t len264 = rfb_rd_s32(&r), flags = rfb_rd_s32(&r);
            const uint8_t *data = rfb_rd_take(&r, len264);

            if (!data || !d->h264(d, x, y, w, h, flags, data, len264)) {
                return false;
            }
        } else {
            return false;
        }
    }
    return !r.err && r.pos == len;
}

/* Compare with a server frame (host xRGB, top byte ignored) */
static inline uint64_t rfb_dec_diff(const RfbDec *d, const uint32_t *px,
                                    int stride_px)
{
    uint64_t n = 0;

    for (int y = 0; y < d->h; y++) {
        for (int x = 0; x < d->w; x++) {
            if ((px[(size_t)y * stride_px + x] & 0xffffff) !=
                d->fb[(size_t)y * d->w + x]) {
                n++;
            }
        }
    }
    return n;
}

/*
 * Stale pixels: written by a rectangle since the last call, not from a
 * JPEG, and different from the server frame.  A server may leave pixels
 * for a later update, but every rectangle it sends must leave what it
 * covers right (or JPEG-approximate).  Clears the coverage.
 */
static inline uint64_t rfb_dec_stale(RfbDec *d, const uint32_t *px,
                                     int stride_px)
{
    uint64_t n = 0;

    for (int y = 0; y < d->h; y++) {
        for (int x = 0; x < d->w; x++) {
            size_t i = (size_t)y * d->w + x;

            if (d->covered[i] && !d->lossy[i] &&
                (px[(size_t)y * stride_px + x] & 0xffffff) != d->fb[i]) {
                n++;
            }
        }
    }
    memset(d->covered, 0, (size_t)d->w * d->h);
    return n;
}

/* PSNR (dB) over the rect, 99 if identical */
static inline double rfb_dec_psnr(const RfbDec *d, const uint32_t *px,
                                  int stride_px, int x0, int y0, int w,
                                  int h)
{
    double se = 0;

    for (int y = y0; y < y0 + h; y++) {
        for (int x = x0; x < x0 + w; x++) {
            uint32_t a = px[(size_t)y * stride_px + x];
            uint32_t b = d->fb[(size_t)y * d->w + x];

            for (int s = 0; s < 24; s += 8) {
                double e = (double)((a >> s) & 0xff) - ((b >> s) & 0xff);

                se += e * e;
            }
        }
    }
    if (se == 0) {
        return 99.0;
    }
    return 10 * log10(255.0 * 255.0 * 3.0 * w * h / se);
}

#endif
