/*
 * Unit tests of the VDI display encoder's API
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One encode per update, as the VNC glue calls it: lossless sequences
 * decoded exactly, a text console through profile switches, odd sizes
 * and strides, damage hints and resizes, invalid arguments, random use,
 * and encoders in parallel threads that share no state.
 */

#include "qemu/osdep.h"
#include "vdi-enc-test.h"

/* ---- lossless profile ---- */

static void test_lan_exact_sequence(void)
{
    const int w = 320, h = 240;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);
    VdiEncStats st;

    syn_wallpaper(f->px, f->sp, w, h);
    syn_window(f->px, f->sp, w, h, 10, 10, 300, 170, 1);
    syn_fill(f->px, f->sp, 0, 192, w, 48, 0x303030);   /* task bar */
    enc_dec(e, d, f, NULL, 0, &st);
    assert_exact(d, f);
    g_assert_cmpuint(st.rects[VDI_ENC_KIND_FILL], >, 0);
    g_assert_cmpuint(st.rects[VDI_ENC_KIND_PALETTE] +
                     st.rects[VDI_ENC_KIND_MONO], >, 0);
    g_assert_cmpuint(st.rects[VDI_ENC_KIND_ZLIB], >, 0);
    g_assert_cmpuint(st.rects[VDI_ENC_KIND_JPEG], ==, 0);

    for (int i = 0; i < 30; i++) {
        switch (i % 5) {
        case 0: /* typing */
            syn_text(f->px, f->sp, 18, 68, 134, 130, 0, 1, i * 3);
            break;
        case 1: /* video-like region */
            syn_photo(f->px, f->sp, 160, 80, 140, 100, i, 3);
            break;
        case 2: /* a button press */
            syn_fill(f->px, f->sp, 18, 40, 60, 20, 0x808080 + i);
            break;
        case 3: /* single pixels */
            f->px[(i * 37) % h * f->sp + (i * 91) % w] ^= 0x10101;
            break;
        default: /* a gradient */
            for (int y = 100; y < 164; y++) {
                for (int x = 0; x < 200; x++) {
                    f->px[y * f->sp + x] = (x + i) << 8 | y;
                }
            }
        }
        enc_dec(e, d, f, NULL, 0, &st);
        assert_exact(d, f);
        g_assert_cmpuint(st.lossy_pending, ==, 0);
    }
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

/*
 * A VGA text console (80x25 cells of 9x16) scrolling under "seq" with a
 * blinking cursor, encoded the way the glue drives the encoder while the
 * display profile switches: damage from the changed 16-pixel blocks of
 * each row, in bands of 64 rows; lan and wan in turn (auto, or QMP),
 * byte budgets, link rates, outputs dropped for a stale surface.  Once
 * the encoder says nothing is pending, the client must have the console
 * exactly: a cell it believes sent is never sent again.
 */
#define CON_COLS 80
#define CON_ROWS 25
#define CON_CW 9
#define CON_CH 16

typedef struct Console {
    uint8_t text[CON_ROWS][CON_COLS];
    int cx, cy;
    bool cursor;
} Console;

static void con_draw(const Console *con, Frame *f)
{
    for (int y = 0; y < f->h; y++) {
        for (int x = 0; x < f->w; x++) {
            int r = y / CON_CH, col = x / CON_CW;
            int gx = x % CON_CW, gy = y % CON_CH;
            uint8_t ch = con->text[r][col];
            bool on = ch && gx < 8 && gy >= 2 && gy < 14 &&
                !(syn_hash(ch, gx, gy) & 3);

            if (con->cursor && r == con->cy && col == con->cx && gy >= 14) {
                on = true;
            }
            f->px[(size_t)y * f->sp + x] = on ? 0xaaaaaa : 0;
        }
    }
}

static void con_newline(Console *con)
{
    con->cx = 0;
    if (con->cy < CON_ROWS - 1) {
        con->cy++;
        return;
    }
    memmove(con->text[0], con->text[1], (CON_ROWS - 1) * CON_COLS);
    memset(con->text[CON_ROWS - 1], 0, CON_COLS);
}

static void con_puts(Console *con, const char *s)
{
    for (; *s; s++) {
        if (*s == '\n') {
            con_newline(con);
        } else if (con->cx < CON_COLS) {
            con->text[con->cy][con->cx++] = *s;
        }
    }
}

/* What vnc-vdi.c's vdi_collect_damage() makes of the changed pixels */
static int con_damage(const Frame *old, const Frame *f, VdiRect *dmg)
{
    int n = 0;

    for (int ty = 0; ty < f->h; ty += 64) {
        bool col[CON_COLS * CON_CW / 16 + 1] = { false };
        int bh = MIN(64, f->h - ty), x = 0;

        for (int y = ty; y < ty + bh; y++) {
            for (int px = 0; px < f->w; px++) {
                size_t i = (size_t)y * f->sp + px;

                if ((old->px[i] ^ f->px[i]) & 0xffffff) {
                    col[px / 16] = true;
                }
            }
        }
        while (x < f->w / 16 + 1) {
            int x2 = x;

            if (!col[x]) {
                x++;
                continue;
            }
            while (x2 < f->w / 16 + 1 && col[x2]) {
                x2++;
            }
            dmg[n++] = (VdiRect) { x * 16, ty, (x2 - x) * 16, bh };
            x = x2;
        }
    }
    return n;
}

static void test_console_profile_switches(void)
{
    const int w = CON_COLS * CON_CW, h = CON_ROWS * CON_CH;

    for (int seed = 1; seed <= 16; seed++) {
        VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN,
                                    VDI_ENC_CAP_ALL | VDI_ENC_CAP_H264);
        RfbDec *d = rfb_dec_new(w, h);
        Frame *f = frame_new(w, h, 0), *old = frame_new(w, h, 0);
        GRand *rnd = g_rand_new_with_seed(seed);
        g_autoptr(GByteArray) out = g_byte_array_new();
        VdiRect dmg[64];
        Console con = { .cursor = true };
        VdiEncStats st;
        int64_t t = 0;
        int line = 0, nd, n, i;

        con_puts(&con, "$ ");
        con_draw(&con, f);
        enc_dec_at(e, d, f, t, NULL, 0, &st);
        for (i = 0; i < 300; i++) {
            memcpy(old->px, f->px, (size_t)w * h * 4);
            switch (g_rand_int_range(rnd, 0, 4)) {
            case 0:
            case 1:
                for (int k = g_rand_int_range(rnd, 1, 8); k > 0; k--) {
                    g_autofree char *s = g_strdup_printf("%d\n", line++);

                    con_puts(&con, s);
                }
                break;
            case 2:
                con.cursor = !con.cursor;
                break;
            default:
                con_puts(&con, g_rand_boolean(rnd) ? "$ " : "seq 1 400\n");
                break;
            }
            con_draw(&con, f);
            nd = con_damage(old, f, dmg);
            t += g_rand_int_range(rnd, 5, 80);
            vdi_enc_set_time(e, t * MSEC);
            vdi_enc_set_profile(e, g_rand_int_range(rnd, 0, 3) ?
                                VDI_PROFILE_WAN : VDI_PROFILE_LAN);
            vdi_enc_set_budget(e, g_rand_boolean(rnd) ? 0 :
                               g_rand_int_range(rnd, VDI_ENC_MIN_BUDGET,
                                                20000));
            vdi_enc_set_link_rate(e, g_rand_int_range(rnd, 0, 4) * 40000.0);
            vdi_enc_set_jpeg_quality(e, g_rand_int_range(rnd, 20, 90));
            g_byte_array_set_size(out, 0);
            n = vdi_enc_frame(e, f->px, w, h, w * 4, dmg, nd, out, &st);
            g_assert_cmpint(n, >=, 0);
            if (!g_rand_int_range(rnd, 0, 12)) {
                /* the surface changed while the job ran */
                vdi_enc_drop_output(e);
                continue;
            }
            g_assert_true(rfb_dec_apply(d, out->data, out->len, n));
            g_assert_cmpuint(rfb_dec_stale(d, f->px, f->sp), ==, 0);
        }
        /* lan from now on, as long as the encoder has something pending */
        vdi_enc_set_profile(e, VDI_PROFILE_LAN);
        vdi_enc_set_budget(e, 0);
        for (i = 0; i < 20 && vdi_enc_has_pending(e); i++) {
            t += 50;
            enc_dec_at(e, d, f, t, dmg, 0, &st);
        }
        if (rfb_dec_diff(d, f->px, f->sp)) {
            g_test_message("seed %d: %" PRIu64 " pixels differ after %d "
                           "updates with nothing pending", seed,
                           rfb_dec_diff(d, f->px, f->sp), i);
        }
        assert_exact(d, f);
        g_rand_free(rnd);
        frame_free(old);
        frame_free(f);
        rfb_dec_free(d);
        vdi_enc_free(e);
    }
}

/* ---- sizes, strides, damage, caps ---- */

static void odd_size_case(int w, int h, int sp, VdiProfile prof, uint32_t caps)
{
    VdiEncoder *e = vdi_enc_new(prof, caps);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, sp);

    vdi_enc_set_refine_delay(e, 0, 0);
    for (int i = 0; i < 4; i++) {
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                f->px[y * f->sp + x] = i == 1 ? 0x445566 :
                    (syn_hash(x / (i + 1), y, i) % (i ? 3 : 300)) * 0x50503;
            }
        }
        enc_dec(e, d, f, NULL, 0, NULL);
        if (prof == VDI_PROFILE_LAN) {
            assert_exact(d, f);
        }
    }
    /* unchanged frame: WAN has refined everything */
    enc_dec(e, d, f, NULL, 0, NULL);
    assert_exact(d, f);
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

static void test_odd_sizes(void)
{
    static const int sz[][3] = {
        { 1, 1, 0 }, { 65, 3, 0 }, { 3, 65, 0 }, { 127, 129, 0 },
        { 64, 64, 0 }, { 2, 200, 5 }, { 100, 70, 133 }, { 1, 1, 7 },
    };

    for (int i = 0; i < ARRAY_SIZE(sz); i++) {
        odd_size_case(sz[i][0], sz[i][1], sz[i][2], VDI_PROFILE_LAN,
                      VDI_ENC_CAP_ALL);
        odd_size_case(sz[i][0], sz[i][1], sz[i][2], VDI_PROFILE_WAN,
                      VDI_ENC_CAP_ALL);
        odd_size_case(sz[i][0], sz[i][1], sz[i][2], VDI_PROFILE_LAN,
                      VDI_ENC_CAP_COPYRECT);
    }
}

static void test_raw_only(void)
{
    const int w = 200, h = 150;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_COPYRECT);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);

    syn_text(f->px, f->sp, 0, 0, w, h, 0, 1, -1);
    enc_dec(e, d, f, NULL, 0, NULL);
    assert_exact(d, f);
    syn_text(f->px, f->sp, 0, 0, w, h, 32, 1, -1);
    enc_dec(e, d, f, NULL, 0, NULL);
    assert_exact(d, f);
    g_assert_cmpuint(d->rects_by_enc[7], ==, 0);
    g_assert_cmpuint(d->rects_by_enc[1], >=, 1);
    g_assert_cmpuint(d->rects_by_enc[0], >, 0);
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

static void test_damage_and_resize(void)
{
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    RfbDec *d = rfb_dec_new(200, 100);
    Frame *f = frame_new(200, 100, 0);
    VdiRect dmg[3] = {
        { 150, 50, 1000, 1000 }, { -20, -20, 30, 30 }, { 500, 500, 1, 1 },
    };
    VdiEncStats st;

    syn_text(f->px, f->sp, 0, 0, 200, 100, 0, 1, -1);
    enc_dec(e, d, f, dmg, 0, NULL);  /* first frame: everything */
    assert_exact(d, f);
    syn_fill(f->px, f->sp, 160, 70, 30, 20, 0xff0000);
    syn_fill(f->px, f->sp, 0, 0, 10, 10, 0x00ff00);
    enc_dec(e, d, f, dmg, 3, &st);
    assert_exact(d, f);
    g_assert_cmpuint(st.tiles_dirty, ==, 2);
    /* damage hints are trusted: an undeclared change is not seen ... */
    syn_fill(f->px, f->sp, 100, 0, 10, 10, 0x0000ff);
    enc_dec(e, d, f, dmg, 1, &st);
    g_assert_cmpuint(rfb_dec_diff(d, f->px, f->sp), ==, 100);
    /* ... until an update without hints, or an invalidation */
    vdi_enc_invalidate(e, &dmg[1]);
    enc_dec(e, d, f, dmg, 0, &st);
    g_assert_cmpuint(st.tiles_dirty, ==, 1);
    enc_dec(e, d, f, NULL, 0, &st);
    assert_exact(d, f);

    /* a new size resets the client state */
    rfb_dec_resize(d, 130, 70);
    frame_free(f);
    f = frame_new(130, 70, 0);
    syn_photo(f->px, f->sp, 0, 0, 130, 70, 0, 0);
    enc_dec(e, d, f, dmg, 0, &st);
    assert_exact(d, f);
    g_assert_cmpuint(st.tiles_dirty, ==, 6);
    frame_free(f);
    rfb_dec_free(d);
    vdi_enc_free(e);
}

static void test_invalid(void)
{
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    g_autoptr(GByteArray) out = g_byte_array_new();
    uint32_t px[64] = { 0 };
    VdiRect neg = { 0, 0, -1, 5 };

    g_assert_null(vdi_enc_new(VDI_PROFILE_AUTO, 0));
    g_assert_false(vdi_enc_set_profile(e, VDI_PROFILE_AUTO));
    g_assert_false(vdi_enc_set_profile(e, 42));
    g_assert_cmpint(vdi_enc_frame(e, NULL, 8, 8, 32, NULL, 0, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 0, 8, 32, NULL, 0, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 8, -1, 32, NULL, 0, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 8, 8, 28, NULL, 0, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 4, 8, 18, NULL, 0, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 4, 4, -16, NULL, 0, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 8, 8, 32, NULL, 2, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 8, 8, 32, &neg, -1, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 8, 8, 32, &neg, 1, out, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 100000, 1, 400000, NULL, 0, out,
                                  NULL), ==, -EINVAL);
    g_assert_cmpint(vdi_enc_frame(e, px, 8, 8, 32, NULL, 0, NULL, NULL),
                    ==, -EINVAL);
    g_assert_cmpuint(out->len, ==, 0);
    /* still usable */
    g_assert_cmpint(vdi_enc_frame(e, px, 8, 8, 32, NULL, 0, out, NULL),
                    ==, 1);
    vdi_enc_invalidate(e, &neg);
    vdi_enc_free(e);
}

/* Random frames, damage, budgets, profiles: always decodable and exact */
static void test_random(void)
{
    GRand *rnd = g_rand_new_with_seed(1234);

    for (int round = 0; round < 12; round++) {
        int w = g_rand_int_range(rnd, 1, 300);
        int h = g_rand_int_range(rnd, 1, 200);
        int sp = w + g_rand_int_range(rnd, 0, 9);
        VdiProfile prof = round % 2 ? VDI_PROFILE_WAN : VDI_PROFILE_LAN;
        VdiEncoder *e = vdi_enc_new(prof, round % 3 ? VDI_ENC_CAP_ALL :
                                    VDI_ENC_CAP_COPYRECT);
        RfbDec *d = rfb_dec_new(w, h);
        Frame *f = frame_new(w, h, sp);
        VdiRect none;

        syn_text(f->px, f->sp, 0, 0, w, h, 0, round, -1);
        for (int i = 0; i < 25; i++) {
            VdiRect dmg[4];
            int nd = g_rand_int_range(rnd, 0, 4);
            int x = g_rand_int_range(rnd, -10, w);
            int y = g_rand_int_range(rnd, -10, h);
            int rw = g_rand_int_range(rnd, 0, w + 20);
            int rh = g_rand_int_range(rnd, 0, h + 20);
            int shift = g_rand_int_range(rnd, -20, 21);

            switch (g_rand_int_range(rnd, 0, 4)) {
            case 0:
                syn_text(f->px, f->sp, 0, 0, w, h, 100 + i * shift, round,
                         -1);
                break;
            case 1: {
                VdiRect r = { x, y, rw, rh };

                if (r.x < 0) {
                    r.x = 0;
                }
                if (r.y < 0) {
                    r.y = 0;
                }
                r.w = MIN(r.w, w - r.x);
                r.h = MIN(r.h, h - r.y);
                syn_photo(f->px, f->sp, r.x, r.y, r.w, r.h, i, round);
                break;
            }
            case 2:
                syn_window(f->px, f->sp, w, h, x, y, 120, 90, round);
                break;
            default:
                break;
            }
            vdi_enc_set_budget(e, g_rand_boolean(rnd) ? 0 :
                               g_rand_int_range(rnd, 1, 60000));
            vdi_enc_set_jpeg_quality(e, g_rand_int_range(rnd, 1, 101));
            for (int k = 0; k < nd; k++) {
                dmg[k].x = g_rand_int_range(rnd, -100, w + 100);
                dmg[k].y = g_rand_int_range(rnd, -100, h + 100);
                dmg[k].w = g_rand_int_range(rnd, 0, 2 * w);
                dmg[k].h = g_rand_int_range(rnd, 0, 2 * h);
            }
            /* damage hints that miss changes would be a caller bug */
            enc_dec(e, d, f, NULL, 0, NULL);
            enc_dec(e, d, f, dmg, nd, NULL);
        }
        vdi_enc_set_budget(e, 0);
        vdi_enc_set_profile(e, VDI_PROFILE_LAN);
        enc_dec(e, d, f, &none, 0, NULL);
        assert_exact(d, f);
        frame_free(f);
        rfb_dec_free(d);
        vdi_enc_free(e);
    }
    g_rand_free(rnd);
}

/* ---- encoders in parallel threads ---- */

#define PAR_ENCODERS 4
#define PAR_FRAMES 12

typedef struct ParRun {
    int idx;
    GByteArray *out;    /* every update, with its rect count first */
} ParRun;

/* A desktop sequence for encoder @r->idx (lan or wan), encoded */
static gpointer par_encode(gpointer opaque)
{
    ParRun *r = opaque;
    const int w = 256, h = 192;
    VdiEncoder *e = vdi_enc_new(r->idx % 2 ? VDI_PROFILE_WAN :
                                VDI_PROFILE_LAN, VDI_ENC_CAP_ALL);
    Frame *f = frame_new(w, h, 0);

    vdi_enc_set_jpeg_quality(e, 60);
    syn_wallpaper(f->px, f->sp, w, h);
    for (int i = 0; i < PAR_FRAMES; i++) {
        uint8_t count[2];
        guint at = r->out->len;
        int n;

        syn_photo(f->px, f->sp, 16 * r->idx, 16, 128, 96, i, r->idx);
        syn_text(f->px, f->sp, 0, 128, 192, 56, 0, r->idx, i * 5);
        g_byte_array_append(r->out, count, 2);
        n = vdi_enc_frame(e, f->px, w, h, f->sp * 4, NULL, 0, r->out, NULL);
        g_assert_cmpint(n, >=, 0);
        r->out->data[at] = n >> 8;
        r->out->data[at + 1] = n;
    }
    frame_free(f);
    vdi_enc_free(e);
    return NULL;
}

/*
 * Encoders share no state: run at the same time in several threads, each
 * produces the same bytes as when run alone.
 */
static void test_threads(void)
{
    ParRun serial[PAR_ENCODERS], par[PAR_ENCODERS];
    GThread *t[PAR_ENCODERS];

    for (int i = 0; i < PAR_ENCODERS; i++) {
        serial[i] = (ParRun) { .idx = i, .out = g_byte_array_new() };
        par_encode(&serial[i]);
        par[i] = (ParRun) { .idx = i, .out = g_byte_array_new() };
    }
    for (int i = 0; i < PAR_ENCODERS; i++) {
        t[i] = g_thread_new("vdi-enc-api-test", par_encode, &par[i]);
    }
    for (int i = 0; i < PAR_ENCODERS; i++) {
        g_thread_join(t[i]);
    }
    for (int i = 0; i < PAR_ENCODERS; i++) {
        g_assert_cmpuint(par[i].out->len, >, 0);
        g_assert_cmpmem(par[i].out->data, par[i].out->len,
                        serial[i].out->data, serial[i].out->len);
        if (i) {
            /* the sequences differ, so equal output is no accident */
            g_assert_false(serial[i].out->len == serial[0].out->len &&
                           !memcmp(serial[i].out->data, serial[0].out->data,
                                   serial[0].out->len));
        }
        g_byte_array_free(par[i].out, true);
        g_byte_array_free(serial[i].out, true);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vdi-enc/lan/exact-sequence", test_lan_exact_sequence);
    g_test_add_func("/vdi-enc/console-profile-switches",
                    test_console_profile_switches);
    g_test_add_func("/vdi-enc/odd-sizes", test_odd_sizes);
    g_test_add_func("/vdi-enc/raw-only", test_raw_only);
    g_test_add_func("/vdi-enc/damage-resize", test_damage_and_resize);
    g_test_add_func("/vdi-enc/invalid", test_invalid);
    g_test_add_func("/vdi-enc/random", test_random);
    g_test_add_func("/vdi-enc/threads", test_threads);
    return g_test_run();
}
