/*
 * Helpers for the VDI display qtests: a std VGA framebuffer programmed
 * from qtest, and synthetic desktop content
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_QTEST_VDI_DISPLAY_UTIL_H
#define TESTS_QTEST_VDI_DISPLAY_UTIL_H

#include <math.h>
#include "libqtest.h"

#define W 640
#define H 480
/* columns [0, SPLIT) are text-like, [SPLIT, W) photo-like */
#define SPLIT 320
#define LFB 0xe0000000ULL

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

static inline uint32_t pci_cfg_read(QTestState *qts, int dev, int reg)
{
    qtest_outl(qts, 0xcf8, 0x80000000u | dev << 11 | reg);
    return qtest_inl(qts, 0xcfc);
}

static inline void pci_cfg_write(QTestState *qts, int dev, int reg, uint32_t v)
{
    qtest_outl(qts, 0xcf8, 0x80000000u | dev << 11 | reg);
    qtest_outl(qts, 0xcfc, v);
}

static inline void vbe_write(QTestState *qts, uint16_t index, uint16_t val)
{
    qtest_outw(qts, 0x1ce, index);
    qtest_outw(qts, 0x1cf, val);
}

/* Std VGA at W x H x 32 with its LFB at LFB, showing @img */
static inline void vga_setup(QTestState *qts, const uint32_t *img)
{
    int dev;

    for (dev = 0; dev < 32; dev++) {
        if (pci_cfg_read(qts, dev, 0) == 0x11111234) {
            break;
        }
    }
    g_assert_cmpint(dev, <, 32);
    pci_cfg_write(qts, dev, 0x10, LFB);
    pci_cfg_write(qts, dev, 0x04, pci_cfg_read(qts, dev, 0x04) | 0x3);

    vbe_write(qts, 4, 0);           /* VBE_DISPI_INDEX_ENABLE: off */
    vbe_write(qts, 1, W);           /* XRES */
    vbe_write(qts, 2, H);           /* YRES */
    vbe_write(qts, 3, 32);          /* BPP */
    vbe_write(qts, 4, 0x41);        /* enabled, linear framebuffer */
    qtest_outb(qts, 0x3c0, 0x20);   /* attribute controller: video on */

    qtest_memwrite(qts, LFB, img, W * H * 4);
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
