/*
 * Helpers for the VDI display qtests: a W x H std VGA framebuffer, and
 * synthetic desktop content
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_QTEST_VDI_DISPLAY_UTIL_H
#define TESTS_QTEST_VDI_DISPLAY_UTIL_H

#include <math.h>
#include "libqtest.h"
#include "vdi-vga-util.h"

#define W 640
#define H 480
/* columns [0, SPLIT) are text-like, [SPLIT, W) photo-like */
#define SPLIT 320
#define LFB VGA_LFB

/* Text-like: few colours, sharp glyph-ish strokes on a flat background */
static inline uint32_t text_pixel(int x, int y)
{
    int cx = x / 8, cy = y / 14;
    uint32_t h = (cx * 2654435761u) ^ (cy * 40503u);
    int gx = x % 8, gy = y % 14;

    if (cy % 3 == 2 || gy >= 12 || gx == 7) {
        return 0xffffff;
    }
    h = h * 2246822519u + gx * 3266489917u + (gy / 2) * 668265263u;
    if ((h >> 13) & 1) {
        return (cx / 10) % 2 ? 0x1030a0 : 0x101010;
    }
    return 0xffffff;
}

/* Photo-like: smooth colour fields with a little grain; @k animates */
static inline uint32_t photo_pixel(int x, int y, int k)
{
    double r = 128 + 90 * sin((x + 5 * k) / 23.0) * cos(y / 31.0);
    double g = 120 + 80 * sin((x + y + 3 * k) / 41.0);
    double b = 110 + 70 * cos(x / 57.0 - (y + 2 * k) / 19.0);
    uint32_t n = (x * 73856093u) ^ (y * 19349663u) ^ (k * 83492791u);
    int d = (int)(n % 7) - 3;

    return ((uint32_t)(r + d) << 16) | ((uint32_t)(g + d) << 8) |
        (uint32_t)(b + d);
}

/* Std VGA at W x H x 32 with its LFB at LFB, showing @img */
static inline void vga_setup(QTestState *qts, const uint32_t *img)
{
    vga_setup_size(qts, W, H, img);
}

/* The test image: text on the left, the photo (frame 0) on the right */
static inline uint32_t *make_image(void)
{
    uint32_t *img = g_new(uint32_t, W * H);

    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            img[y * W + x] = x < SPLIT ? text_pixel(x, y) :
                photo_pixel(x, y, 0);
        }
    }
    return img;
}

#endif
