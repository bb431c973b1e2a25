/*
 * Unit tests of the VDI display encoder's Tight rectangles
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The RFB decoder checked on hand-made bytes from the specification, then
 * the encoder's wire format (fills, zlib streams), JPEG quality by PSNR,
 * and anti-aliased text from a real font (libfreetype) sent losslessly and
 * in no more bytes than stock QEMU's Tight.
 */

#include "qemu/osdep.h"
#include <ft2build.h>
#include FT_FREETYPE_H
#include FT_LCD_FILTER_H
#include "vdi-enc-test.h"

/* ---- decoder self-check with hand-made bytes from the spec ---- */

static void test_decoder_selfcheck(void)
{
    RfbDec *d = rfb_dec_new(4, 2);
    /* Tight fill of (1,0) 2x2 with RGB 12 34 56 */
    static const uint8_t fill[] = {
        0, 1, 0, 0, 0, 2, 0, 2, 0, 0, 0, 7, 0x80, 0x12, 0x34, 0x56,
    };
    /* Tight mono 4x2 (explicit palette filter, 2 colours, 1 bit rows) */
    static const uint8_t mono[] = {
        0, 0, 0, 0, 0, 4, 0, 2, 0, 0, 0, 7, 0x40 | 0x10, 1, 1,
        0xff, 0, 0, 0, 0, 0xff, 0xa0, 0x50,
    };
    /* Raw 1x1 at (3,1): B G R x */
    static const uint8_t raw[] = {
        0, 3, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0x33, 0x22, 0x11, 0,
    };
    /* CopyRect (0,0) 1x1 from (3,1) */
    static const uint8_t copy[] = {
        0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 3, 0, 1,
    };
    static const uint8_t bad[] = {
        0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 7, 0xa0,
    };

    g_assert_true(rfb_dec_apply(d, fill, sizeof(fill), 1));
    g_assert_cmphex(d->fb[1], ==, 0x123456);
    g_assert_cmphex(d->fb[4 + 2], ==, 0x123456);
    g_assert_cmphex(d->fb[0], ==, 0);
    g_assert_true(rfb_dec_apply(d, mono, sizeof(mono), 1));
    /* 0xa0 = 1010: pixels 0, 2 are colour 1 (blue) */
    g_assert_cmphex(d->fb[0], ==, 0x0000ff);
    g_assert_cmphex(d->fb[1], ==, 0xff0000);
    g_assert_cmphex(d->fb[4 + 1], ==, 0x0000ff);
    g_assert_true(rfb_dec_apply(d, raw, sizeof(raw), 1));
    g_assert_cmphex(d->fb[4 + 3], ==, 0x112233);
    g_assert_true(rfb_dec_apply(d, copy, sizeof(copy), 1));
    g_assert_cmphex(d->fb[0], ==, 0x112233);
    g_assert_false(rfb_dec_apply(d, bad, sizeof(bad), 1));
    g_assert_false(rfb_dec_apply(d, fill, sizeof(fill) - 1, 1));
    rfb_dec_free(d);
}

/* ---- wire format checks of the encoder against the spec ---- */

static void test_wire_fill(void)
{
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    Frame *f = frame_new(64, 64, 0);
    g_autoptr(GByteArray) out = g_byte_array_new();
    static const uint8_t want[] = {
        0, 0, 0, 0, 0, 64, 0, 64, 0, 0, 0, 7, 0x80, 0x12, 0x34, 0x56,
    };

    syn_fill(f->px, f->sp, 0, 0, 64, 64, 0x123456);
    g_assert_cmpint(vdi_enc_frame(e, f->px, 64, 64, 256, NULL, 0, out,
                                  NULL), ==, 1);
    g_assert_cmpuint(out->len, ==, sizeof(want));
    g_assert_cmpmem(out->data, out->len, want, sizeof(want));
    /* unchanged frame: nothing to send */
    g_byte_array_set_size(out, 0);
    g_assert_cmpint(vdi_enc_frame(e, f->px, 64, 64, 256, NULL, 0, out,
                                  NULL), ==, 0);
    g_assert_cmpuint(out->len, ==, 0);
    frame_free(f);
    vdi_enc_free(e);
}

/*
 * A full-colour rect: compact length and zlib stream 0, with no reset bit
 * (the client's inflater is new; noVNC's cannot reset one mid-session)
 */
static void test_wire_zlib(void)
{
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    Frame *f = frame_new(64, 64, 0);
    g_autoptr(GByteArray) out = g_byte_array_new();
    size_t zlen;
    const uint8_t *p;

    for (int i = 0; i < 64 * 64; i++) {
        f->px[i] = syn_hash(i, 1, 2) & 0xffffff;
    }
    g_assert_cmpint(vdi_enc_frame(e, f->px, 64, 64, 256, NULL, 0, out,
                                  NULL), ==, 1);
    p = out->data;
    g_assert_cmpint(p[11], ==, 7);
    /* stream 0, copy filter (no explicit filter), no reset */
    g_assert_cmphex(p[12], ==, 0x00);
    /* random data does not compress: 2 byte compact length (< 2^14) */
    g_assert_true(p[13] & 0x80);
    g_assert_false(p[14] & 0x80);
    zlen = (p[13] & 0x7f) | (p[14] << 7);
    g_assert_cmpuint(zlen, >, 64 * 64 * 3);
    g_assert_cmpuint(out->len, ==, 15 + zlen);
    /* the data is one zlib stream (header 0x78) ending in a sync flush */
    g_assert_cmphex(p[15], ==, 0x78);
    g_assert_cmpmem(p + out->len - 4, 4, "\x00\x00\xff\xff", 4);
    frame_free(f);
    vdi_enc_free(e);
}

/* ---- lossy profile ---- */

static void test_wan_psnr(void)
{
    const int w = 320, h = 256;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);
    VdiEncStats st;
    uint64_t diff = 0;

    vdi_enc_set_jpeg_quality(e, 70);
    vdi_enc_set_refine_delay(e, 100000, 100000);
    for (int i = 0; i < 5; i++) {
        syn_text(f->px, f->sp, 0, 0, 128, h, 0, 3, -1);
        syn_photo(f->px, f->sp, 128, 0, 192, h, i, 9);
        enc_dec(e, d, f, NULL, 0, &st);
        g_assert_cmpuint(st.rects[VDI_ENC_KIND_JPEG], >, 0);
        g_assert_cmpuint(st.lossy_pixels, >=, 192 * (h - 64));
        g_assert_cmpfloat(rfb_dec_psnr(d, f->px, f->sp, 128, 0, 192, h),
                          >=, 30.0);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < 128; x++) {
                diff += (f->px[y * f->sp + x] & 0xffffff) !=
                    d->fb[y * w + x];
            }
        }
        g_assert_cmpuint(diff, ==, 0);
        g_assert_cmpuint(st.lossy_pending, >, 0);
    }
    /* lower quality, fewer bytes */
    {
        size_t hi, lo;

        vdi_enc_invalidate(e, NULL);
        enc_dec(e, d, f, NULL, 0, &st);
        hi = st.bytes[VDI_ENC_KIND_JPEG];
        vdi_enc_set_jpeg_quality(e, 25);
        vdi_enc_invalidate(e, NULL);
        enc_dec(e, d, f, NULL, 0, &st);
        lo = st.bytes[VDI_ENC_KIND_JPEG];
        g_assert_cmpuint(lo * 5, <, hi * 4);
        g_assert_cmpfloat(rfb_dec_psnr(d, f->px, f->sp, 128, 0, 192, h),
                          >=, 25.0);
    }
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

/* ---- anti-aliased text from a real font ---- */

/* Debian's fonts-dejavu-core */
#define TEXT_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

static const char *const text_lines[] = {
    "The quick brown fox jumps over the lazy dog. Patient: Jane Doe,",
    "admitted 2026-03-14 with suspected pneumonia; chest X-ray shows",
    "bilateral infiltrates. Plan: amoxicillin 1 g t.i.d., review in 48 h.",
    "Allergies: none known. Vital signs: BP 128/82, HR 88, SpO2 94 %.",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do",
    "eiusmod tempor incididunt ut labore et dolore magna aliqua.",
};

/*
 * Render text_lines with FreeType's LCD (sub-pixel, @lcd: glyph edges
 * get coloured fringes, as on a desktop) or grey anti-aliasing (as
 * pdftoppm renders documents) at @px_size pixels onto a white frame,
 * each word in the next colour of @colors.
 */
static Frame *render_text(int w, int h, int px_size, const uint32_t *colors,
                          int ncolors, bool lcd)
{
    Frame *f = frame_new(w, h, 0);
    FT_Library lib;
    FT_Face face;
    int line_h = px_size * 3 / 2;

    for (int i = 0; i < w * h; i++) {
        f->px[i] = 0xffffff;
    }
    g_assert_cmpint(FT_Init_FreeType(&lib), ==, 0);
    if (FT_New_Face(lib, TEXT_FONT, 0, &face)) {
        g_error("cannot load %s (Debian package fonts-dejavu-core)",
                TEXT_FONT);
    }
    FT_Library_SetLcdFilter(lib, FT_LCD_FILTER_DEFAULT);
    g_assert_cmpint(FT_Set_Pixel_Sizes(face, 0, px_size), ==, 0);
    for (int l = 0; (l + 1) * line_h < h; l++) {
        const char *t = text_lines[l % ARRAY_SIZE(text_lines)];
        int pen = 4, base = (l + 1) * line_h, word = 0;

        for (; *t && pen < w; t++) {
            FT_GlyphSlot g = face->glyph;
            uint32_t fg = colors[word % ncolors];

            if (*t == ' ') {
                word++;
            }
            g_assert_cmpint(FT_Load_Char(face, (unsigned char)*t,
                                         FT_LOAD_RENDER |
                                         (lcd ? FT_LOAD_TARGET_LCD : 0)),
                            ==, 0);
            for (int y = 0; y < (int)g->bitmap.rows; y++) {
                int fy = base - g->bitmap_top + y;

                for (int x = 0; x < (int)g->bitmap.width / (lcd ? 3 : 1);
                     x++) {
                    const uint8_t *row = g->bitmap.buffer +
                        y * g->bitmap.pitch;
                    const uint8_t cov[3] = {
                        row[lcd ? x * 3 : x], row[lcd ? x * 3 + 1 : x],
                        row[lcd ? x * 3 + 2 : x],
                    };
                    int fx = pen + g->bitmap_left + x;
                    uint32_t bg, out = 0;

                    if (fx < 0 || fx >= w || fy < 0 || fy >= h) {
                        continue;
                    }
                    bg = f->px[fy * w + fx];
                    for (int ch = 0; ch < 3; ch++) {
                        int sh = 16 - 8 * ch;
                        int a = cov[ch];
                        int b = (bg >> sh) & 0xff, c = (fg >> sh) & 0xff;

                        out |= (uint32_t)((c * a + b * (255 - a) + 127) /
                                          255) << sh;
                    }
                    f->px[fy * w + fx] = out;
                }
            }
            pen += g->advance.x >> 6;
        }
    }
    FT_Done_Face(face);
    FT_Done_FreeType(lib);
    return f;
}

/* Most colours of a tile of @f, and whether that tile is mostly runs */
static int text_max_colors(Frame *f, bool *runny)
{
    int best = 0;

    for (int ty = 0; ty + 64 <= f->h; ty += 64) {
        for (int tx = 0; tx + 64 <= f->w; tx += 64) {
            g_autoptr(GHashTable) set = g_hash_table_new(NULL, NULL);
            int same = 0;

            for (int y = ty; y < ty + 64; y++) {
                for (int x = tx; x < tx + 64; x++) {
                    uint32_t p = f->px[y * f->sp + x] & 0xffffff;

                    g_hash_table_add(set, GUINT_TO_POINTER(p + 1));
                    same += x > tx && p == (f->px[y * f->sp + x - 1] &
                                            0xffffff);
                }
            }
            if ((int)g_hash_table_size(set) > best) {
                best = g_hash_table_size(set);
                *runny = same * 2 >= 64 * 63;
            }
        }
    }
    return best;
}

/*
 * Anti-aliased text is text, not a photo: wan sends it losslessly, also
 * in tiles of more than VDI_ENC_FEW_COLORS (dark text) and more than 256
 * colours (words in several colours).
 */
static void test_wan_text_lossless(void)
{
    static const uint32_t dark[] = { 0x202020 };
    static const uint32_t code[] = {
        0x202020, 0x1a4fb0, 0xa31515, 0x007a33, 0x7a1fa2,
    };
    const struct {
        const uint32_t *colors;
        int n, px, min_colors;
    } cases[] = {
        { dark, 1, 13, VDI_ENC_FEW_COLORS + 1 },
        { code, ARRAY_SIZE(code), 12, 257 },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        Frame *f = render_text(512, 192, cases[i].px, cases[i].colors,
                               cases[i].n, true);
        VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
        RfbDec *d = rfb_dec_new(f->w, f->h);
        VdiEncStats st;
        bool runny = false;

        /* what makes the case: many colours, yet mostly runs */
        g_assert_cmpint(text_max_colors(f, &runny), >=,
                        cases[i].min_colors);
        g_assert_true(runny);
        enc_dec(e, d, f, NULL, 0, &st);
        g_assert_cmpuint(st.rects[VDI_ENC_KIND_JPEG], ==, 0);
        g_assert_cmpuint(st.classes[VDI_ENC_CLASS_SMOOTH] +
                         st.classes[VDI_ENC_CLASS_PALETTE], >, 0);
        assert_exact(d, f);
        rfb_dec_free(d);
        vdi_enc_free(e);
        frame_free(f);
    }
}

/*
 * Bytes of stock QEMU's lossless Tight for rect @r of @f (what its VNC
 * server sends with the default compression level 9): rects of at most
 * 65536 pixels, whole rows; one colour a fill, two a bitmap, up to 256 a
 * palette, more full colour; each kind on its own zlib stream (@zs[3],
 * kept across calls) at level 9.
 */
static size_t ref_tight_bytes(Frame *f, const VdiRect *r, z_stream *zs)
{
    size_t total = 0;
    int rows = MAX(1, MIN(r->h, 65536 / r->w));

    for (int y0 = r->y; y0 < r->y + r->h; y0 += rows) {
        int h = MIN(rows, r->y + r->h - y0), n = r->w * h, k = 0, s;
        g_autoptr(GHashTable) pal = g_hash_table_new(NULL, NULL);
        g_autofree uint8_t *data = g_malloc(n * 3);
        g_autofree uint8_t *z = g_malloc(n * 3 + 1024);
        size_t len;

        for (int y = y0; y < y0 + h; y++) {
            for (int x = r->x; x < r->x + r->w; x++) {
                gpointer c = GUINT_TO_POINTER((f->px[y * f->sp + x] &
                                               0xffffff) + 1);

                if (!g_hash_table_contains(pal, c)) {
                    g_hash_table_insert(pal, c, GINT_TO_POINTER(
                                            g_hash_table_size(pal)));
                }
            }
        }
        total += 12 + 1;
        if (g_hash_table_size(pal) == 1) {
            total += 3;
            continue;
        }
        for (int y = y0; y < y0 + h; y++) {
            for (int x = r->x; x < r->x + r->w; x++) {
                uint32_t p = f->px[y * f->sp + x] & 0xffffff;
                int i = GPOINTER_TO_INT(g_hash_table_lookup(
                                            pal, GUINT_TO_POINTER(p + 1)));

                if (g_hash_table_size(pal) == 2) {
                    if (!((x - r->x) & 7)) {
                        data[k++] = 0;
                    }
                    data[k - 1] |= i << (7 - ((x - r->x) & 7));
                } else if (g_hash_table_size(pal) <= 256) {
                    data[k++] = i;
                } else {
                    data[k++] = p >> 16;
                    data[k++] = p >> 8;
                    data[k++] = p;
                }
            }
        }
        s = g_hash_table_size(pal) == 2 ? 1 :
            g_hash_table_size(pal) <= 256 ? 2 : 0;
        if (s) {
            total += 2 + g_hash_table_size(pal) * 3;   /* filter, palette */
        }
        zs[s].next_in = data;
        zs[s].avail_in = k;
        zs[s].next_out = z;
        zs[s].avail_out = n * 3 + 1024;
        g_assert_cmpint(deflate(&zs[s], Z_SYNC_FLUSH), ==, Z_OK);
        len = zs[s].next_out - z;
        total += len + (len > 127) + (len > 16383) + 1;
    }
    return total;
}

/*
 * Do @a's @r and @b's @r 32 rows higher differ above and below y = 64, in
 * many colours?
 */
static bool glyph_straddles(Frame *a, Frame *b, const VdiRect *r)
{
    g_autoptr(GHashTable) set = g_hash_table_new(NULL, NULL);
    bool above = false, below = false;

    for (int y = r->y; y < r->y + r->h; y++) {
        for (int x = r->x; x < r->x + r->w; x++) {
            uint32_t p = b->px[(y - 32) * b->sp + x];

            if (p != a->px[y * a->sp + x]) {
                above |= y < 64;
                below |= y >= 64;
            }
            g_hash_table_add(set, GUINT_TO_POINTER(p + 1));
        }
    }
    return above && below && g_hash_table_size(set) > 8;
}

static int rects_of(const VdiEncStats *st)
{
    int n = 0;

    for (int k = 0; k < VDI_ENC_KIND__MAX; k++) {
        n += st->rects[k];
    }
    return n;
}

/*
 * Anti-aliased text costs wan no more than stock Tight: a page turned
 * (every tile changed) and a character typed across a tile row each
 * take at most stock's bytes, the character in one rect.
 */
static void test_wan_text_not_above_stock(void)
{
    static const uint32_t dark[] = { 0x202020 };
    Frame *a = render_text(1280, 320, 13, dark, 1, false);
    Frame *b = render_text(1280, 320, 12, dark, 1, false);
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(a->w, a->h);
    VdiRect all = { 0, 0, a->w, a->h }, glyph = { 400, 56, 8, 16 };
    z_stream zs[3] = { 0 };
    size_t ours = 0, ref = 0;
    VdiEncStats st;

    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(deflateInit(&zs[i], 9), ==, Z_OK);
    }
    vdi_enc_set_link_rate(e, 100e6);
    enc_dec(e, d, a, NULL, 0, NULL);
    ref_tight_bytes(a, &all, zs);

    /* next page, twice over, as a reader pages back and forth */
    for (int i = 0; i < 2; i++) {
        Frame *f = i ? a : b;

        ours += enc_dec(e, d, f, &all, 1, &st);
        ref += ref_tight_bytes(f, &all, zs);
        assert_exact(d, f);
    }
    g_test_message("page: wan %zu bytes, stock Tight %zu", ours, ref);
    g_assert_cmpuint(ours, <=, ref);

    /* a character typed across the tile rows at y = 64 */
    while (!glyph_straddles(a, b, &glyph)) {
        glyph.x += glyph.w;
        g_assert_cmpint(glyph.x + glyph.w, <=, a->w);
    }
    for (int y = glyph.y; y < glyph.y + glyph.h; y++) {
        memcpy(a->px + y * a->sp + glyph.x,
               b->px + (y - 32) * b->sp + glyph.x, glyph.w * 4);
    }
    ours = enc_dec(e, d, a, &glyph, 1, &st);
    ref = ref_tight_bytes(a, &glyph, zs);
    g_test_message("character: wan %zu bytes, stock Tight %zu", ours, ref);
    g_assert_cmpint(rects_of(&st), ==, 1);
    g_assert_cmpuint(ours, <=, ref);
    assert_exact(d, a);

    for (int i = 0; i < 3; i++) {
        deflateEnd(&zs[i]);
    }
    rfb_dec_free(d);
    vdi_enc_free(e);
    frame_free(a);
    frame_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vdi-enc/decoder-selfcheck", test_decoder_selfcheck);
    g_test_add_func("/vdi-enc/wire/fill", test_wire_fill);
    g_test_add_func("/vdi-enc/wire/zlib", test_wire_zlib);
    g_test_add_func("/vdi-enc/wan/psnr", test_wan_psnr);
    g_test_add_func("/vdi-enc/wan/text-lossless", test_wan_text_lossless);
    g_test_add_func("/vdi-enc/wan/text-not-above-stock",
                    test_wan_text_not_above_stock);
    return g_test_run();
}
