/*
 * VDI host: what the display encoder's unit tests share
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frames the tests draw (with vdi-synth.h) and encode, and the output
 * decoded with the independent RFB decoder of vdi-rfb-dec.h and compared
 * with the frame.  Encoders are driven as the VNC glue drives them: at a
 * time the test sets, with damage hints, budgets and link rates.
 */

#ifndef TESTS_QTEST_VDI_ENC_TEST_H
#define TESTS_QTEST_VDI_ENC_TEST_H

#include "ui/vdi-enc.h"
#include "vdi-rfb-dec.h"
#include "vdi-synth.h"

typedef struct Frame {
    int w, h, sp;       /* sp: stride in pixels */
    uint32_t *px;
} Frame;

static inline Frame *frame_new(int w, int h, int sp)
{
    Frame *f = g_new0(Frame, 1);

    f->w = w;
    f->h = h;
    f->sp = sp ? sp : w;
    f->px = g_new0(uint32_t, (size_t)f->sp * h);
    /* garbage in the padding and the top byte must not matter */
    for (size_t i = 0; i < (size_t)f->sp * h; i++) {
        f->px[i] = 0xab000000u | (i % (size_t)f->sp >= (size_t)w ?
                                  0x00ff00ff : 0);
    }
    return f;
}

static inline void frame_free(Frame *f)
{
    g_free(f->px);
    g_free(f);
}

/* Encode, decode, return the bytes; fails the test on decode errors */
static inline size_t enc_dec(VdiEncoder *e, RfbDec *d, Frame *f,
                             const VdiRect *damage, int nd, VdiEncStats *st)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    VdiEncStats local;
    int n;

    n = vdi_enc_frame(e, f->px, f->w, f->h, f->sp * 4, damage, nd, out,
                      st ? st : &local);
    g_assert_cmpint(n, >=, 0);
    g_assert_cmpint(n, <=, 65535);
    g_assert_true(rfb_dec_apply(d, out->data, out->len, n));
    return out->len;
}

static inline void assert_exact(RfbDec *d, Frame *f)
{
    g_assert_cmpuint(rfb_dec_diff(d, f->px, f->sp), ==, 0);
}

#define MSEC 1000000LL

/* Encode at time @ms (ms) */
static inline size_t enc_dec_at(VdiEncoder *e, RfbDec *d, Frame *f,
                                int64_t ms, const VdiRect *damage, int nd,
                                VdiEncStats *st)
{
    vdi_enc_set_time(e, ms * MSEC);
    return enc_dec(e, d, f, damage, nd, st);
}

#endif
