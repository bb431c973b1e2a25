/*
 * A small blocking RFB client: Raw and Zlib decoded, or every rect kept
 * as it came for a replay
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * For what gvnc cannot decode (Zlib, Open H.264).  Written from the RFB
 * specification (rfbproto): security type None, a client pixel format
 * of 32 bpp little-endian 0x00RRGGBB, one persistent zlib stream for all
 * Zlib rectangles.  Blocking reads; the server never sends partial
 * messages.  In keep mode (for vdi-rfb-dec.h and an H.264 decoder to
 * replay later) each rect's header and body are appended to m->log
 * undecoded, Tight, CopyRect, Raw and Open H.264 alike; the body's
 * length comes from its headers (Tight's compression control, filter
 * and palette).
 */

#ifndef TESTS_QTEST_VDI_RFB_MINI_CLIENT_H
#define TESTS_QTEST_VDI_RFB_MINI_CLIENT_H

#include <poll.h>
#include <zlib.h>
#include "qemu/bswap.h"

#define RFB_ENC_RAW 0
#define RFB_ENC_COPY_RECT 1
#define RFB_ENC_ZLIB 6
#define RFB_ENC_TIGHT 7
#define RFB_ENC_OPEN_H264 50
#define RFB_ENC_DESKTOP_RESIZE -223

typedef struct RfbMini RfbMini;

struct RfbMini {
    int fd;
    uint8_t *fb;                /* fbw x fbh, 0x00RRGGBB little-endian */
    int fbw, fbh;
    bool initialized;
    /* keep mode: every rect received, and where each one ends in @log */
    GByteArray *log;
    GArray *rect_end;           /* size_t */
    z_stream zs;
    uint8_t *zbuf;              /* one rect's pixels */
    void *opaque;               /* for the hooks */
    /* each rect received, and each new framebuffer (optional) */
    void (*on_rect)(RfbMini *m, int x, int y, int w, int h);
    void (*on_fb)(RfbMini *m);
};

/* @n bytes from the server, or fail */
static inline void rfb_mini_read(RfbMini *m, void *p, size_t n)
{
    uint8_t *q = p;

    while (n) {
        ssize_t r = read(m->fd, q, n);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            g_error("mini client: connection lost");
        }
        q += r;
        n -= r;
    }
}

/* The server's next U8, U16 or U32 (big-endian) */
static inline unsigned rfb_mini_u8(RfbMini *m)
{
    uint8_t v;

    rfb_mini_read(m, &v, 1);
    return v;
}

static inline unsigned rfb_mini_u16(RfbMini *m)
{
    uint16_t v;

    rfb_mini_read(m, &v, 2);
    return be16_to_cpu(v);
}

static inline uint32_t rfb_mini_u32(RfbMini *m)
{
    uint32_t v;

    rfb_mini_read(m, &v, 4);
    return be32_to_cpu(v);
}

/* @n bytes to the server, or fail */
static inline void rfb_mini_write(RfbMini *m, const void *p, size_t n)
{
    const uint8_t *q = p;

    while (n) {
        /* a server that has gone is an error, not SIGPIPE */
        ssize_t r = send(m->fd, q, n, MSG_NOSIGNAL);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            g_error("mini client: cannot send");
        }
        q += r;
        n -= r;
    }
}

/* FramebufferUpdateRequest for the whole framebuffer */
static inline void rfb_mini_request(RfbMini *m, bool incremental)
{
    uint8_t msg[10] = { 3, incremental };

    stw_be_p(msg + 6, m->fbw);
    stw_be_p(msg + 8, m->fbh);
    rfb_mini_write(m, msg, sizeof(msg));
}

/* A new framebuffer of @w x @h, black */
static inline void rfb_mini_fb_alloc(RfbMini *m, int w, int h)
{
    g_free(m->fb);
    g_free(m->zbuf);
    m->fbw = w;
    m->fbh = h;
    m->fb = g_malloc0((size_t)w * h * 4);
    /* a rect is at most the framebuffer */
    m->zbuf = g_malloc((size_t)w * h * 4);
    if (m->on_fb) {
        m->on_fb(m);
    }
}

/*
 * Connect on @fd (security type None, shared), offer the @n encodings
 * @enc and ask for the whole framebuffer.  With @keep, rects are kept
 * in m->log, not decoded.
 */
static inline void rfb_mini_open(RfbMini *m, int fd, const int32_t *enc,
                                 int n_enc, bool keep)
{
    char ver[12];
    uint8_t pf[20] = { 0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255,
                       16, 8, 0 };
    g_autofree uint8_t *se = g_malloc(4 + n_enc * 4);
    unsigned n, w, h, ok = 0;

    m->fd = fd;
    rfb_mini_read(m, ver, sizeof(ver));
    g_assert(!memcmp(ver, "RFB 003.008\n", 12));
    rfb_mini_write(m, ver, sizeof(ver));
    n = rfb_mini_u8(m);
    g_assert_cmpint(n, >, 0);
    for (unsigned i = 0; i < n; i++) {
        ok |= rfb_mini_u8(m) == 1;
    }
    g_assert(ok);
    rfb_mini_write(m, "\1", 1);             /* security type None */
    g_assert_cmpint(rfb_mini_u32(m), ==, 0);
    rfb_mini_write(m, "\1", 1);             /* ClientInit, shared */
    w = rfb_mini_u16(m);
    h = rfb_mini_u16(m);
    rfb_mini_read(m, ver, 12);              /* pixel format: 16 bytes */
    rfb_mini_read(m, ver, 4);
    n = rfb_mini_u32(m);                    /* name */
    for (unsigned i = 0; i < n; i++) {
        rfb_mini_u8(m);
    }
    rfb_mini_write(m, pf, sizeof(pf));      /* SetPixelFormat */
    se[0] = 2;                              /* SetEncodings */
    se[1] = 0;
    stw_be_p(se + 2, n_enc);
    for (int i = 0; i < n_enc; i++) {
        stl_be_p(se + 4 + i * 4, enc[i]);
    }
    rfb_mini_write(m, se, 4 + n_enc * 4);
    if (keep) {
        m->log = g_byte_array_new();
        m->rect_end = g_array_new(false, false, sizeof(size_t));
    }
    rfb_mini_fb_alloc(m, w, h);
    g_assert(inflateInit(&m->zs) == Z_OK);
    rfb_mini_request(m, false);
    m->initialized = true;
}

/* Copy a rect's pixels @px into the framebuffer */
static inline void rfb_mini_rect_pixels(RfbMini *m, int x, int y, int w,
                                        int h, const uint8_t *px)
{
    for (int j = 0; j < h; j++) {
        memcpy(m->fb + ((size_t)(y + j) * m->fbw + x) * 4,
               px + (size_t)j * w * 4, w * 4);
    }
}

/* @n more bytes from the server, appended to @log */
static inline const uint8_t *rfb_mini_keep(RfbMini *m, GByteArray *log,
                                           size_t n)
{
    size_t at = log->len;

    g_byte_array_set_size(log, at + n);
    rfb_mini_read(m, log->data + at, n);
    return log->data + at;
}

/* Tight "compact length": 7 bits in each of up to 2 bytes, then 8 bits */
static inline size_t rfb_mini_keep_compact(RfbMini *m, GByteArray *log)
{
    size_t len = 0;

    for (int i = 0; i < 3; i++) {
        unsigned v = *rfb_mini_keep(m, log, 1);

        len |= (size_t)(i < 2 ? v & 0x7f : v) << (7 * i);
        if (!(v & 0x80)) {
            break;
        }
    }
    return len;
}

/*
 * The body of a rect in @enc, kept in m->log: its length comes from the
 * headers (Tight's compression control, filter and palette), the
 * replay decodes it.
 */
static inline void rfb_mini_keep_rect(RfbMini *m, int32_t enc, int w,
                                      int h)
{
    GByteArray *log = m->log;

    if (enc == RFB_ENC_RAW) {
        rfb_mini_keep(m, log, (size_t)w * h * 4);
    } else if (enc == RFB_ENC_COPY_RECT) {
        rfb_mini_keep(m, log, 4);
    } else if (enc == RFB_ENC_OPEN_H264) {
        /* U32 length, U32 flags, then the H.264 data */
        rfb_mini_keep(m, log, ldl_be_p(rfb_mini_keep(m, log, 8)));
    } else if (enc == RFB_ENC_TIGHT) {
        unsigned type = *rfb_mini_keep(m, log, 1) >> 4;
        unsigned filter = 0, bits = 24;
        size_t len;

        if (type == 8) {                /* fill */
            rfb_mini_keep(m, log, 3);
            return;
        }
        if (type == 9) {                /* JPEG */
            rfb_mini_keep(m, log, rfb_mini_keep_compact(m, log));
            return;
        }
        if (type > 9) {
            g_error("mini client: bad Tight compression control");
        }
        if (type & 4) {
            filter = *rfb_mini_keep(m, log, 1);
        }
        if (filter == 1) {              /* palette */
            unsigned n = *rfb_mini_keep(m, log, 1) + 1;

            rfb_mini_keep(m, log, n * 3);
            bits = n == 2 ? 1 : 8;
        } else if (filter > 2) {
            g_error("mini client: bad Tight filter %u", filter);
        }
        len = (bits == 1 ? (w + 7) / 8 : (size_t)w * bits / 8) * h;
        rfb_mini_keep(m, log, len < 12 ? len : rfb_mini_keep_compact(m, log));
    } else {
        g_error("mini client: unexpected encoding %d", enc);
    }
}

/* One server message */
static inline void rfb_mini_message(RfbMini *m)
{
    unsigned type = rfb_mini_u8(m), n;

    switch (type) {
    case 0:                             /* FramebufferUpdate */
        rfb_mini_u8(m);
        n = rfb_mini_u16(m);
        for (unsigned i = 0; i < n; i++) {
            int x = rfb_mini_u16(m), y = rfb_mini_u16(m);
            int w = rfb_mini_u16(m), h = rfb_mini_u16(m);
            int32_t enc = rfb_mini_u32(m);
            size_t sz = (size_t)w * h * 4;

            if (enc == RFB_ENC_DESKTOP_RESIZE) {
                rfb_mini_fb_alloc(m, w, h);
                rfb_mini_request(m, false);
                continue;
            }
            g_assert(x + w <= m->fbw && y + h <= m->fbh);
            if (m->log) {
                uint8_t hdr[12];
                size_t end;

                stw_be_p(hdr, x);
                stw_be_p(hdr + 2, y);
                stw_be_p(hdr + 4, w);
                stw_be_p(hdr + 6, h);
                stl_be_p(hdr + 8, enc);
                g_byte_array_append(m->log, hdr, sizeof(hdr));
                rfb_mini_keep_rect(m, enc, w, h);
                end = m->log->len;
                g_array_append_val(m->rect_end, end);
                if (m->on_rect) {
                    m->on_rect(m, x, y, w, h);
                }
                continue;
            }
            if (enc == RFB_ENC_RAW) {
                rfb_mini_read(m, m->zbuf, sz);
            } else if (enc == RFB_ENC_ZLIB) {
                uint32_t len = rfb_mini_u32(m);
                g_autofree uint8_t *in = g_malloc(len);

                rfb_mini_read(m, in, len);
                m->zs.next_in = in;
                m->zs.avail_in = len;
                m->zs.next_out = m->zbuf;
                m->zs.avail_out = sz;
                while (m->zs.avail_out) {
                    int r = inflate(&m->zs, Z_SYNC_FLUSH);

                    g_assert(r == Z_OK || r == Z_BUF_ERROR);
                    if (r == Z_BUF_ERROR || (!m->zs.avail_in &&
                                             m->zs.avail_out)) {
                        g_error("mini client: short Zlib rectangle");
                    }
                }
            } else {
                g_error("mini client: unexpected encoding %d", enc);
            }
            rfb_mini_rect_pixels(m, x, y, w, h, m->zbuf);
            if (m->on_rect) {
                m->on_rect(m, x, y, w, h);
            }
        }
        rfb_mini_request(m, true);
        break;
    case 2:                             /* Bell */
        break;
    case 3:                             /* ServerCutText */
        rfb_mini_u8(m);
        rfb_mini_u16(m);
        n = rfb_mini_u32(m);
        for (unsigned i = 0; i < n; i++) {
            rfb_mini_u8(m);
        }
        break;
    default:
        g_error("mini client: unexpected message %u", type);
    }
}

/* Serve one message if one comes within @ms, else ask for an update */
static inline void rfb_mini_pump(RfbMini *m, int ms)
{
    struct pollfd pfd = { .fd = m->fd, .events = POLLIN };

    if (poll(&pfd, 1, ms) > 0) {
        rfb_mini_message(m);
    } else if (m->initialized) {
        rfb_mini_request(m, true);
    }
}

/* Close the connection and free what @m holds */
static inline void rfb_mini_close(RfbMini *m)
{
    close(m->fd);
    inflateEnd(&m->zs);
    g_free(m->zbuf);
    g_free(m->fb);
    if (m->log) {
        g_byte_array_unref(m->log);
        g_array_unref(m->rect_end);
    }
    memset(m, 0, sizeof(*m));
}

#endif
