/*
 * Image quality of a received frame against the frame sent: MSE over
 * R, G and B (for PSNR), and SSIM on luma
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The frame received is a client's framebuffer, 32 bpp little-endian
 * 0x00RRGGBB; the frame sent an array of 0xRRGGBB (the top byte is
 * ignored).
 */

#ifndef TESTS_QTEST_VDI_IMAGE_QUALITY_H
#define TESTS_QTEST_VDI_IMAGE_QUALITY_H

#include <math.h>
#include "qemu/bswap.h"

/* Pixel @i of @fb (little-endian 0x00RRGGBB), 0xRRGGBB */
static inline uint32_t image_px(const uint8_t *fb, size_t i)
{
    return ldl_le_p(fb + i * 4) & 0xffffff;
}

/* Mean squared error over R, G and B of @fb against @src, both @w x @h */
static inline double image_mse_rgb(const uint8_t *fb, const uint32_t *src,
                                   int w, int h)
{
    uint64_t se = 0;

    for (size_t i = 0; i < (size_t)w * h; i++) {
        uint32_t a = image_px(fb, i), c = src[i];

        if (a != (c & 0xffffff)) {
            for (int s = 0; s < 24; s += 8) {
                int d = (int)((a >> s) & 0xff) - (int)((c >> s) & 0xff);

                se += d * d;
            }
        }
    }
    return (double)se / ((double)w * h * 3);
}

/* BT.601 luma */
static inline float image_luma(uint32_t p)
{
    return 0.299f * ((p >> 16) & 0xff) + 0.587f * ((p >> 8) & 0xff) +
        0.114f * (p & 0xff);
}

/*
 * Mean SSIM (Wang et al. 2004) on luma, 11x11 Gaussian window with
 * sigma 1.5, K1 = 0.01, K2 = 0.03, over all window positions inside the
 * frame.  Windows over identical pixels have SSIM exactly 1, so only
 * those near a difference are computed.
 */
static inline double image_ssim_luma(const uint8_t *fb,
                                     const uint32_t *src, int w, int h)
{
    const double c1 = 6.5025, c2 = 58.5225;
    const int R = 5;
    float g[11], gs = 0;
    int bx0 = w, by0 = h, bx1 = -1, by1 = -1;
    int cx0, cx1, cy0, cy1, rx0, ry0, rw, rh, cw;
    double sum = 0, nwin = (double)(w - 2 * R) * (h - 2 * R);
    int64_t ncomp;
    float *la, *lb, *hm[5];

    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;

            if (image_px(fb, i) != (src[i] & 0xffffff)) {
                bx0 = MIN(bx0, x);
                bx1 = MAX(bx1, x);
                by0 = MIN(by0, y);
                by1 = MAX(by1, y);
            }
        }
    }
    if (bx1 < 0) {
        return 1.0;
    }
    for (int i = 0; i < 11; i++) {
        g[i] = exp(-(i - R) * (i - R) / (2 * 1.5 * 1.5));
        gs += g[i];
    }
    for (int i = 0; i < 11; i++) {
        g[i] /= gs;
    }
    /* window centres that see a difference */
    cx0 = MAX(R, bx0 - R);
    cx1 = MIN(w - 1 - R, bx1 + R);
    cy0 = MAX(R, by0 - R);
    cy1 = MIN(h - 1 - R, by1 + R);
    if (cx0 > cx1 || cy0 > cy1) {
        return 1.0;
    }
    rx0 = cx0 - R;
    ry0 = cy0 - R;
    rw = cx1 - cx0 + 1 + 2 * R;
    rh = cy1 - cy0 + 1 + 2 * R;
    cw = cx1 - cx0 + 1;
    la = g_new(float, (size_t)rw * rh);
    lb = g_new(float, (size_t)rw * rh);
    for (int y = 0; y < rh; y++) {
        for (int x = 0; x < rw; x++) {
            size_t i = (size_t)(ry0 + y) * w + rx0 + x;

            la[(size_t)y * rw + x] = image_luma(src[i]);
            lb[(size_t)y * rw + x] = image_luma(image_px(fb, i));
        }
    }
    /* horizontal pass: mu_a, mu_b, a^2, b^2, ab */
    for (int k = 0; k < 5; k++) {
        hm[k] = g_new(float, (size_t)cw * rh);
    }
    for (int y = 0; y < rh; y++) {
        const float *pa = la + (size_t)y * rw, *pb = lb + (size_t)y * rw;

        for (int x = 0; x < cw; x++) {
            float s[5] = { 0 };

            for (int i = 0; i < 11; i++) {
                float va = pa[x + i], vb = pb[x + i];

                s[0] += g[i] * va;
                s[1] += g[i] * vb;
                s[2] += g[i] * va * va;
                s[3] += g[i] * vb * vb;
                s[4] += g[i] * va * vb;
            }
            for (int k = 0; k < 5; k++) {
                hm[k][(size_t)y * cw + x] = s[k];
            }
        }
    }
    /* vertical pass and the SSIM of each window */
    for (int y = 0; y < cy1 - cy0 + 1; y++) {
        for (int x = 0; x < cw; x++) {
            double s[5] = { 0 };
            double ma, mb, va, vb, cov;

            for (int i = 0; i < 11; i++) {
                for (int k = 0; k < 5; k++) {
                    s[k] += g[i] * hm[k][(size_t)(y + i) * cw + x];
                }
            }
            ma = s[0];
            mb = s[1];
            va = s[2] - ma * ma;
            vb = s[3] - mb * mb;
            cov = s[4] - ma * mb;
            sum += ((2 * ma * mb + c1) * (2 * cov + c2)) /
                ((ma * ma + mb * mb + c1) * (va + vb + c2));
        }
    }
    ncomp = (int64_t)cw * (cy1 - cy0 + 1);
    for (int k = 0; k < 5; k++) {
        g_free(hm[k]);
    }
    g_free(la);
    g_free(lb);
    return (sum + (nwin - ncomp)) / nwin;
}

#endif
