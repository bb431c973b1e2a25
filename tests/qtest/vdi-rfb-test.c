/*
 * Unit tests of the RFB client-message reader (ui/vdi-rfb.c)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "../../ui/vdi-rfb.h"
#include "vdi-rfb-msg.h"

#define ALL (VDI_RFB_ALLOW_CLIPBOARD_EXT | VDI_RFB_ALLOW_XVP | \
             VDI_RFB_ALLOW_AUDIO | VDI_RFB_ALLOW_FENCE | VDI_RFB_ALLOW_CU)

/*
 * Every proper prefix needs more, with need between its length and the
 * whole; reading need-sized steps from 1 ends on the whole message; the
 * message followed by junk parses to the same message.
 */
static void check_whole(const GByteArray *b, uint32_t allow, VdiRfbMsg *out)
{
    g_autoptr(GByteArray) more = g_byte_array_new();
    VdiRfbMsg m, m2;
    size_t n = 1;

    for (size_t i = 0; i < b->len; i++) {
        g_assert_cmpint(vdi_rfb_read(b->data, i, allow, &m), ==,
                        VDI_RFB_NEED_MORE);
        g_assert_cmpuint(m.need, >, i);
        g_assert_cmpuint(m.need, <=, b->len);
    }
    while (vdi_rfb_read(b->data, n, allow, &m) == VDI_RFB_NEED_MORE) {
        n = m.need;
    }
    g_assert_cmpuint(n, ==, b->len);
    g_assert_cmpint(vdi_rfb_read(b->data, b->len, allow, &m), ==,
                    VDI_RFB_MSG);
    g_assert_cmpuint(m.len, ==, b->len);

    g_byte_array_append(more, b->data, b->len);
    put32(more, 0xdeadbeef);
    g_assert_cmpint(vdi_rfb_read(more->data, more->len, allow, &m2), ==,
                    VDI_RFB_MSG);
    g_assert_true(vdi_rfb_msg_equal(&m, &m2));
    *out = m;
}

static void check_bad(const GByteArray *b, uint32_t allow, const char *what)
{
    VdiRfbMsg m;

    g_assert_cmpint(vdi_rfb_read(b->data, b->len, allow, &m), ==,
                    VDI_RFB_ERROR);
    g_assert_nonnull(m.reason);
    g_assert_nonnull(strstr(m.reason, what));
}

static void test_basic_messages(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    VdiRfbMsg m;

    /* SetPixelFormat 32bpp depth 24 little-endian true colour 16/8/0 */
    put8(b, 0); put8(b, 0); put16(b, 0);
    put8(b, 32); put8(b, 24); put8(b, 0); put8(b, 1);
    put16(b, 255); put16(b, 255); put16(b, 255);
    put8(b, 16); put8(b, 8); put8(b, 0);
    put8(b, 0); put16(b, 0);
    check_whole(b, 0, &m);
    g_assert_cmpint(m.pf.bits_per_pixel, ==, 32);
    g_assert_cmpint(m.pf.depth, ==, 24);
    g_assert_cmpint(m.pf.true_colour, ==, 1);
    g_assert_cmpint(m.pf.red_max, ==, 255);
    g_assert_cmpint(m.pf.red_shift, ==, 16);
    g_assert_cmpint(m.pf.blue_shift, ==, 0);

    /* FramebufferUpdateRequest */
    g_byte_array_set_size(b, 0);
    put8(b, 3); put8(b, 1);
    put16(b, 10); put16(b, 20); put16(b, 640); put16(b, 480);
    check_whole(b, 0, &m);
    g_assert_cmpint(m.fur.incremental, ==, 1);
    g_assert_cmpint(m.fur.x, ==, 10);
    g_assert_cmpint(m.fur.y, ==, 20);
    g_assert_cmpint(m.fur.w, ==, 640);
    g_assert_cmpint(m.fur.h, ==, 480);

    /* KeyEvent, PointerEvent */
    g_byte_array_set_size(b, 0);
    put8(b, 4); put8(b, 1); put16(b, 0); put32(b, 0xff0d);
    check_whole(b, 0, &m);
    g_assert_cmpint(m.key.down, ==, 1);
    g_assert_cmphex(m.key.keysym, ==, 0xff0d);
    g_byte_array_set_size(b, 0);
    put8(b, 5); put8(b, 5); put16(b, 1000); put16(b, 700);
    check_whole(b, 0, &m);
    g_assert_cmpint(m.ptr.buttons, ==, 5);
    g_assert_cmpint(m.ptr.x, ==, 1000);
    g_assert_cmpint(m.ptr.y, ==, 700);

    /* SetEncodings with Tight, Fence, ContinuousUpdates */
    g_byte_array_set_size(b, 0);
    put8(b, 2); put8(b, 0); put16(b, 3);
    put32(b, 7); put32(b, (uint32_t)-312); put32(b, (uint32_t)-313);
    check_whole(b, 0, &m);
    g_assert_cmpint(m.enc.count, ==, 3);
    g_assert_cmphex(m.enc.list[7], ==, 0xc8);
    g_assert_cmphex(m.enc.list[11], ==, 0xc7);

    /* an empty SetEncodings is valid */
    g_byte_array_set_size(b, 0);
    put8(b, 2); put8(b, 0); put16(b, 0);
    check_whole(b, 0, &m);
    g_assert_cmpint(m.enc.count, ==, 0);
}

static void test_cut_text(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    g_autofree uint8_t *big = g_malloc0(VDI_RFB_MAX_CUT_TEXT);
    VdiRfbMsg m;

    put8(b, 6); put8(b, 0); put16(b, 0); put32(b, 5);
    g_byte_array_append(b, (const uint8_t *)"hello", 5);
    check_whole(b, 0, &m);
    g_assert_false(m.cut.ext);
    g_assert_cmpint(m.cut.len, ==, 5);
    g_assert_cmpmem(m.cut.data, 5, "hello", 5);

    /* empty text */
    g_byte_array_set_size(b, 0);
    put8(b, 6); put8(b, 0); put16(b, 0); put32(b, 0);
    check_whole(b, 0, &m);
    g_assert_cmpint(m.cut.len, ==, 0);

    /* exactly the limit is fine, one more is not */
    g_byte_array_set_size(b, 0);
    put8(b, 6); put8(b, 0); put16(b, 0); put32(b, VDI_RFB_MAX_CUT_TEXT);
    g_assert_cmpint(vdi_rfb_read(b->data, b->len, 0, &m), ==,
                    VDI_RFB_NEED_MORE);
    g_assert_cmpuint(m.need, ==, 8 + VDI_RFB_MAX_CUT_TEXT);
    g_byte_array_append(b, big, VDI_RFB_MAX_CUT_TEXT);
    g_assert_cmpint(vdi_rfb_read(b->data, b->len, 0, &m), ==, VDI_RFB_MSG);
    g_byte_array_set_size(b, 0);
    put8(b, 6); put8(b, 0); put16(b, 0); put32(b, VDI_RFB_MAX_CUT_TEXT + 1);
    check_bad(b, ALL, "longer than 1 MiB");

    /* extended clipboard: negative length, flags first */
    g_byte_array_set_size(b, 0);
    put8(b, 6); put8(b, 0); put16(b, 0); put32(b, (uint32_t)-7);
    put32(b, 0x01000001);
    g_byte_array_append(b, (const uint8_t *)"abc", 3);
    check_whole(b, VDI_RFB_ALLOW_CLIPBOARD_EXT, &m);
    g_assert_true(m.cut.ext);
    g_assert_cmphex(m.cut.flags, ==, 0x01000001);
    g_assert_cmpint(m.cut.len, ==, 3);
    g_assert_cmpmem(m.cut.data, 3, "abc", 3);
    /* not negotiated */
    check_bad(b, ALL & ~VDI_RFB_ALLOW_CLIPBOARD_EXT, "without the extended");
    /* shorter than its flags, and INT32_MIN */
    g_byte_array_set_size(b, 0);
    put8(b, 6); put8(b, 0); put16(b, 0); put32(b, (uint32_t)-3);
    check_bad(b, ALL, "shorter than its flags");
    g_byte_array_set_size(b, 0);
    put8(b, 6); put8(b, 0); put16(b, 0); put32(b, 0x80000000u);
    check_bad(b, ALL, "longer than 1 MiB");
}

static void test_extensions(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    uint8_t payload[64];
    VdiRfbMsg m;

    for (int i = 0; i < 64; i++) {
        payload[i] = i * 7;
    }

    /* ClientFence with a full 64-byte payload */
    put8(b, 248); put8(b, 0); put16(b, 0);
    put32(b, VDI_RFB_FENCE_REQUEST | VDI_RFB_FENCE_BLOCK_BEFORE | 0x100);
    put8(b, 64);
    g_byte_array_append(b, payload, 64);
    check_whole(b, VDI_RFB_ALLOW_FENCE, &m);
    g_assert_cmphex(m.fence.flags, ==,
                    VDI_RFB_FENCE_REQUEST | VDI_RFB_FENCE_BLOCK_BEFORE | 0x100);
    g_assert_cmpint(m.fence.len, ==, 64);
    g_assert_cmpmem(m.fence.payload, 64, payload, 64);
    check_bad(b, ALL & ~VDI_RFB_ALLOW_FENCE, "without the Fence");
    /* 65 bytes is rejected as soon as the length byte is there */
    b->data[8] = 65;
    g_byte_array_set_size(b, 9);
    check_bad(b, ALL, "longer than 64");
    /* empty payload */
    b->data[8] = 0;
    check_whole(b, VDI_RFB_ALLOW_FENCE, &m);
    g_assert_cmpint(m.fence.len, ==, 0);

    /* EnableContinuousUpdates */
    g_byte_array_set_size(b, 0);
    put8(b, 150); put8(b, 1);
    put16(b, 0); put16(b, 0); put16(b, 800); put16(b, 600);
    check_whole(b, VDI_RFB_ALLOW_CU, &m);
    g_assert_cmpint(m.cu.enable, ==, 1);
    g_assert_cmpint(m.cu.w, ==, 800);
    g_assert_cmpint(m.cu.h, ==, 600);
    check_bad(b, ALL & ~VDI_RFB_ALLOW_CU, "without the ContinuousUpdates");

    /* xvp */
    g_byte_array_set_size(b, 0);
    put8(b, 250); put8(b, 0); put8(b, 1); put8(b, 2);
    check_whole(b, VDI_RFB_ALLOW_XVP, &m);
    g_assert_cmpint(m.xvp.action, ==, 2);
    check_bad(b, 0, "without the xvp");
    b->data[2] = 2;
    check_bad(b, ALL, "version is not 1");

    /* SetDesktopSize with two screens */
    g_byte_array_set_size(b, 0);
    put8(b, 251); put8(b, 0); put16(b, 1024); put16(b, 768);
    put8(b, 2); put8(b, 0);
    for (int i = 0; i < 32; i++) {
        put8(b, i);
    }
    check_whole(b, 0, &m);
    g_assert_cmpint(m.ds.w, ==, 1024);
    g_assert_cmpint(m.ds.screens, ==, 2);
    g_assert_cmpint(m.ds.layout[31], ==, 31);
}

static void test_qemu_messages(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    VdiRfbMsg m;

    put8(b, 255); put8(b, 0); put16(b, 1); put32(b, 0x61); put32(b, 0x1e);
    check_whole(b, 0, &m);
    g_assert_cmpint(m.qemu.sub, ==, 0);
    g_assert_cmpint(m.qemu.down, ==, 1);
    g_assert_cmphex(m.qemu.keysym, ==, 0x61);
    g_assert_cmphex(m.qemu.keycode, ==, 0x1e);

    g_byte_array_set_size(b, 0);
    put8(b, 255); put8(b, 1); put16(b, 0);
    check_whole(b, VDI_RFB_ALLOW_AUDIO, &m);
    g_assert_cmpint(m.qemu.op, ==, 0);
    check_bad(b, 0, "without the audio");

    g_byte_array_set_size(b, 0);
    put8(b, 255); put8(b, 1); put16(b, 2);
    put8(b, 3); put8(b, 2); put32(b, 44100);
    check_whole(b, VDI_RFB_ALLOW_AUDIO, &m);
    g_assert_cmpint(m.qemu.fmt, ==, 3);
    g_assert_cmpint(m.qemu.nchannels, ==, 2);
    g_assert_cmpint(m.qemu.freq, ==, 44100);
    b->data[4] = 6;
    check_bad(b, ALL, "unknown sample format");
    b->data[4] = 3;
    b->data[5] = 3;
    check_bad(b, ALL, "channel count");
    b->data[5] = 1;
    b->data[6] = 1;
    check_bad(b, ALL, "frequency");

    g_byte_array_set_size(b, 0);
    put8(b, 255); put8(b, 1); put16(b, 3);
    check_bad(b, ALL, "unknown operation");
    g_byte_array_set_size(b, 0);
    put8(b, 255); put8(b, 2);
    check_bad(b, ALL, "unknown sub-type");
}

static void test_hostile(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    VdiRfbMsg m;

    /* 65535 encodings are refused from the 4-byte header alone */
    put8(b, 2); put8(b, 0); put16(b, 65535);
    check_bad(b, ALL, "more than 1024");
    g_byte_array_set_size(b, 0);
    put8(b, 2); put8(b, 0); put16(b, VDI_RFB_MAX_ENCODINGS);
    g_assert_cmpint(vdi_rfb_read(b->data, b->len, ALL, &m), ==,
                    VDI_RFB_NEED_MORE);
    g_assert_cmpuint(m.need, ==, 4 + 4 * VDI_RFB_MAX_ENCODINGS);

    /* unknown message types, including the ones QEMU never accepted */
    for (int t = 0; t < 256; t++) {
        static const uint8_t known[] = { 0, 2, 3, 4, 5, 6, 150, 248, 250,
                                         251, 255 };
        bool k = memchr(known, t, sizeof(known)) != NULL;

        g_byte_array_set_size(b, 0);
        put8(b, t);
        if (k) {
            g_assert_cmpint(vdi_rfb_read(b->data, 1, ALL, &m), ==,
                            VDI_RFB_NEED_MORE);
        } else {
            check_bad(b, ALL, "unknown message type");
        }
    }

    /* SetPixelFormat values QEMU cannot serve */
    g_byte_array_set_size(b, 0);
    put8(b, 0); put8(b, 0); put16(b, 0);
    put8(b, 24); put8(b, 24); put8(b, 0); put8(b, 1);
    put16(b, 255); put16(b, 255); put16(b, 255);
    put8(b, 16); put8(b, 8); put8(b, 0);
    put8(b, 0); put16(b, 0);
    check_bad(b, 0, "bits-per-pixel");
    b->data[4] = 32;
    b->data[8] = 1;
    check_bad(b, 0, "maximum");
    b->data[8] = 0;
    b->data[14] = 40;
    check_bad(b, 0, "shift");
    /* a colour-map format is served with QEMU's own map: fine */
    b->data[7] = 0;
    check_whole(b, 0, &m);

    /* nothing at all */
    g_assert_cmpint(vdi_rfb_read(NULL, 0, ALL, &m), ==, VDI_RFB_NEED_MORE);
    g_assert_cmpuint(m.need, ==, 1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vdi-rfb/basic", test_basic_messages);
    g_test_add_func("/vdi-rfb/cut-text", test_cut_text);
    g_test_add_func("/vdi-rfb/extensions", test_extensions);
    g_test_add_func("/vdi-rfb/qemu", test_qemu_messages);
    g_test_add_func("/vdi-rfb/hostile", test_hostile);
    return g_test_run();
}
