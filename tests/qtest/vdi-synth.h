/*
 * Deterministic synthetic desktop content for the VDI encoder tests
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Shared by the encoder tests and vdi-enc-bench.c.  Pixels are 0x00RRGGBB,
 * @sp is the row stride in pixels.
 */

#ifndef VDI_SYNTH_H
#define VDI_SYNTH_H

static inline uint32_t syn_hash(uint32_t a, uint32_t b, uint32_t c)
{
    uint32_t h = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u) * 0x85EBCA77u ^
        (c + 0x165667B1u) * 0xC2B2AE3Du;

    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 12;
    h *= 0x297A2D39u;
    h ^= h >> 15;
    return h;
}

static inline void syn_fill(uint32_t *fb, int sp, int x0, int y0, int w,
                            int h, uint32_t col)
{
    for (int y = y0; y < y0 + h; y++) {
        for (int x = x0; x < x0 + w; x++) {
            fb[(size_t)y * sp + x] = col;
        }
    }
}

/*
 * A text document: 8x16 character cells of anti-aliased glyphs (4 grey
 * levels, some blue "links"), black on white.  @doc_y is the document
 * line offset in pixels (for scrolling), @nchars limits the number of
 * characters shown (for typing; -1 = all).
 */
static inline void syn_text(uint32_t *fb, int sp, int x0, int y0, int w,
                            int h, int doc_y, uint32_t seed, int nchars)
{
    static const uint32_t lv[4] = { 0xffffff, 0xaaaaaa, 0x555555, 0x000000 };
    int cols = w / 8;

    for (int y = y0; y < y0 + h; y++) {
        int dy = y - y0 + doc_y;
        int line = dy / 16, ly = dy % 16;
        bool blank_line = syn_hash(line, seed, 1) % 7 == 0;
        bool link = syn_hash(line, seed, 2) % 5 == 0;

        for (int x = x0; x < x0 + w; x++) {
            int col = (x - x0) / 8, lx = (x - x0) % 8;
            uint32_t g = syn_hash(line, col, seed) % 40;
            uint32_t pix = 0xffffff;

            if (nchars >= 0 && line * cols + col >= nchars) {
                g = 0;
            }
            if (!blank_line && g > 4 && col < cols && lx >= 1 && lx <= 6 &&
                ly >= 3 && ly <= 12) {
                uint32_t bit = syn_hash(g, lx, ly) % 5;

                if (bit >= 2) {
                    pix = lv[bit - 1];
                    if (link && pix != 0xffffff) {
                        pix &= 0x0000ff;
                    }
                }
            }
            fb[(size_t)y * sp + x] = pix;
        }
    }
}

/* Photo-like content: smooth colour waves, soft edges and mild noise */
static inline void syn_photo(uint32_t *fb, int sp, int x0, int y0, int w,
                             int h, int t, uint32_t seed)
{
    for (int y = y0; y < y0 + h; y++) {
        for (int x = x0; x < x0 + w; x++) {
            double u = (x - x0) * 0.031, v = (y - y0) * 0.027;
            double tt = t * 0.15 + seed;
            int n = (int)(syn_hash(x + t * 7, y, seed) % 9) - 4;
            int r = 128 + 90 * sin(u + tt) * cos(v * 0.7) + n;
            int g = 120 + 80 * sin(u * 0.6 + v + tt * 0.7) + n;
            int b = 110 + 100 * cos(v * 1.3 - tt * 0.5 + u * 0.2) + n;

            r = MAX(0, MIN(255, r));
            g = MAX(0, MIN(255, g));
            b = MAX(0, MIN(255, b));
            fb[(size_t)y * sp + x] = (r << 16) | (g << 8) | b;
        }
    }
}

/* A vertical gradient wallpaper */
static inline void syn_wallpaper(uint32_t *fb, int sp, int w, int h)
{
    for (int y = 0; y < h; y++) {
        uint32_t c = ((40 + y * 60 / h) << 16) | ((80 + y * 100 / h) << 8) |
            (140 + y * 80 / h);

        for (int x = 0; x < w; x++) {
            fb[(size_t)y * sp + x] = c;
        }
    }
}

/* A UI window: title bar, buttons, a text area and a picture */
static inline void syn_window(uint32_t *fb, int sp, int fw, int fh, int wx,
                              int wy, int ww, int wh, uint32_t seed)
{
    g_autofree uint32_t *win = g_new(uint32_t, (size_t)ww * wh);

    syn_fill(win, ww, 0, 0, ww, wh, 0xe8e8e8);
    syn_fill(win, ww, 0, 0, ww, 24, 0x2050a0);
    syn_fill(win, ww, ww - 22, 4, 16, 16, 0xc03030);
    for (int i = 0; i < 4; i++) {
        syn_fill(win, ww, 8 + i * 70, 30, 60, 20, 0xd0d0d0 - i * 0x101010);
    }
    syn_text(win, ww, 8, 58, ww / 2 - 16, wh - 66, 0, seed, -1);
    syn_photo(win, ww, ww / 2, 58, ww / 2 - 8, wh - 66, 0, seed);
    for (int y = 0; y < wh; y++) {
        for (int x = 0; x < ww; x++) {
            int fx = wx + x, fy = wy + y;

            if (fx >= 0 && fy >= 0 && fx < fw && fy < fh) {
                fb[(size_t)fy * sp + fx] = win[(size_t)y * ww + x];
            }
        }
    }
}

#endif
