/*
 * H.264 decoding for tests: Debian's ffmpeg, a decoder independent of
 * libx264
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Shared by vdi-enc-h264-test.c and vdi-enc-h264-bench.c; also the
 * libx264 wrapper that vdi-enc-h264-test.c defines.
 */

#ifndef VDI_H264_DEC_H
#define VDI_H264_DEC_H

#include <x264.h>

/*
 * A test linked with --wrap=x264_encoder_encode defines the wrapper (to
 * make libx264 fail) and calls the real one through __real_
 */
int __real_x264_encoder_encode(x264_t *x, x264_nal_t **nal, int *nnal,
                               x264_picture_t *in, x264_picture_t *out);
int __wrap_x264_encoder_encode(x264_t *x, x264_nal_t **nal, int *nnal,
                               x264_picture_t *in, x264_picture_t *out);

/*
 * All frames of an Annex B stream of @w x @h frames (0x00RRGGBB, one after
 * the other) and their number in *@n; NULL if ffmpeg fails or complains
 */
static G_GNUC_UNUSED uint32_t *ffmpeg_decode(const GByteArray *s, int w,
                                             int h, int *n)
{
    g_autofree char *dir = g_dir_make_tmp("vdi-h264b-XXXXXX", NULL);
    g_autofree char *in = g_build_filename(dir, "in.h264", NULL);
    g_autofree char *outp = g_build_filename(dir, "out.bgra", NULL);
    g_autofree char *raw = NULL, *err = NULL;
    const char *argv[] = { "ffmpeg", "-nostdin", "-v", "error", "-f", "h264",
                           "-i", in, "-f", "rawvideo", "-pix_fmt", "bgra",
                           "-y", outp, NULL };
    size_t fsize = (size_t)w * h * 4;
    uint32_t *px = NULL;
    gsize len = 0;
    int status = -1;

    if (g_file_set_contents(in, (char *)s->data, s->len, NULL) &&
        g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
                     NULL, NULL, &err, &status, NULL) && status == 0 &&
        !err[0] &&
        g_file_get_contents(outp, &raw, &len, NULL) && len % fsize == 0) {
        *n = len / fsize;
        px = g_new(uint32_t, len / 4);
        for (size_t i = 0; i < len / 4; i++) {
            const uint8_t *q = (uint8_t *)raw + i * 4;

            px[i] = (q[2] << 16) | (q[1] << 8) | q[0];
        }
    }
    unlink(in);
    unlink(outp);
    rmdir(dir);
    return px;
}

#endif
