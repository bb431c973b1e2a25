/*
 * Display profiles for the SPICE server
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * display-set-profile, set globally, maps the profile onto the runtime
 * controls of the SPICE server (see DisplaySpiceInfo in
 * qapi/vdi-display.json); query-display-spice reports them.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "spice-vdi.h"
#include "trace.h"

static SpiceServer *vdi_server;
static SpiceVdiSettings vdi_cmdline;
static SpiceVdiSettings vdi_cur;
static DisplayProfile vdi_profile = DISPLAY_PROFILE_OFF;

SpiceVdiSettings spice_vdi_settings(DisplayProfile profile,
                                    const SpiceVdiSettings *cmdline)
{
    SpiceVdiSettings s = *cmdline;

    switch (profile) {
    case DISPLAY_PROFILE_LAN:
        /* lossless, and no global dictionary to maintain */
        s.image = SPICE_IMAGE_COMPRESSION_AUTO_LZ;
        s.jpeg = SPICE_WAN_COMPRESSION_NEVER;
        s.zlib_glz = SPICE_WAN_COMPRESSION_NEVER;
        s.streaming_video = SPICE_STREAM_VIDEO_OFF;
        break;
    case DISPLAY_PROFILE_WAN:
        s.image = SPICE_IMAGE_COMPRESSION_AUTO_GLZ;
        s.jpeg = SPICE_WAN_COMPRESSION_ALWAYS;
        s.zlib_glz = SPICE_WAN_COMPRESSION_ALWAYS;
        s.streaming_video = SPICE_STREAM_VIDEO_FILTER;
        break;
    case DISPLAY_PROFILE_AUTO:
        /* the SPICE server's own estimate of each client's link */
        s.image = SPICE_IMAGE_COMPRESSION_AUTO_GLZ;
        s.jpeg = SPICE_WAN_COMPRESSION_AUTO;
        s.zlib_glz = SPICE_WAN_COMPRESSION_AUTO;
        s.streaming_video = SPICE_STREAM_VIDEO_FILTER;
        break;
    default:
        break;
    }
    return s;
}

void qemu_spice_vdi_init(SpiceServer *server, const SpiceVdiSettings *cmdline)
{
    vdi_server = server;
    vdi_cmdline = *cmdline;
    vdi_cur = *cmdline;
    vdi_profile = DISPLAY_PROFILE_OFF;
}

void qemu_spice_vdi_set_profile(DisplayProfile profile)
{
    SpiceVdiSettings s = spice_vdi_settings(profile, &vdi_cmdline);

    if (!vdi_server) {
        return;
    }
    trace_spice_vdi_set_profile(DisplayProfile_str(profile), s.image, s.jpeg,
                                s.zlib_glz, s.streaming_video);
    /* these two take effect at once */
    spice_server_set_image_compression(vdi_server, s.image);
    spice_server_set_streaming_video(vdi_server, s.streaming_video);
    /*
     * these only for display devices created from now on: spice-server
     * copies them into a display worker when it creates it
     */
    spice_server_set_jpeg_compression(vdi_server, s.jpeg);
    spice_server_set_zlib_glz_compression(vdi_server, s.zlib_glz);
    vdi_cur = s;
    vdi_profile = profile;
}

static DisplaySpiceImageCompression vdi_image_enum(SpiceImageCompression c)
{
    switch (c) {
    case SPICE_IMAGE_COMPRESSION_AUTO_GLZ:
        return DISPLAY_SPICE_IMAGE_COMPRESSION_AUTO_GLZ;
    case SPICE_IMAGE_COMPRESSION_AUTO_LZ:
        return DISPLAY_SPICE_IMAGE_COMPRESSION_AUTO_LZ;
    case SPICE_IMAGE_COMPRESSION_QUIC:
        return DISPLAY_SPICE_IMAGE_COMPRESSION_QUIC;
    case SPICE_IMAGE_COMPRESSION_GLZ:
        return DISPLAY_SPICE_IMAGE_COMPRESSION_GLZ;
    case SPICE_IMAGE_COMPRESSION_LZ:
        return DISPLAY_SPICE_IMAGE_COMPRESSION_LZ;
    case SPICE_IMAGE_COMPRESSION_LZ4:
        return DISPLAY_SPICE_IMAGE_COMPRESSION_LZ4;
    default:
        return DISPLAY_SPICE_IMAGE_COMPRESSION_OFF;
    }
}

static DisplaySpiceWanCompression vdi_wan_enum(spice_wan_compression_t c)
{
    switch (c) {
    case SPICE_WAN_COMPRESSION_ALWAYS:
        return DISPLAY_SPICE_WAN_COMPRESSION_ALWAYS;
    case SPICE_WAN_COMPRESSION_NEVER:
        return DISPLAY_SPICE_WAN_COMPRESSION_NEVER;
    default:
        return DISPLAY_SPICE_WAN_COMPRESSION_AUTO;
    }
}

static DisplaySpiceStreamingVideo vdi_video_enum(int v)
{
    switch (v) {
    case SPICE_STREAM_VIDEO_ALL:
        return DISPLAY_SPICE_STREAMING_VIDEO_ALL;
    case SPICE_STREAM_VIDEO_FILTER:
        return DISPLAY_SPICE_STREAMING_VIDEO_FILTER;
    default:
        return DISPLAY_SPICE_STREAMING_VIDEO_OFF;
    }
}

DisplaySpiceInfo *qemu_spice_vdi_query(Error **errp)
{
    DisplaySpiceInfo *info;

    if (!vdi_server) {
        error_setg(errp, "SPICE is not in use");
        return NULL;
    }
    info = g_new0(DisplaySpiceInfo, 1);
    info->profile = vdi_profile;
    info->image_compression = vdi_image_enum(vdi_cur.image);
    info->jpeg_wan_compression = vdi_wan_enum(vdi_cur.jpeg);
    info->zlib_glz_wan_compression = vdi_wan_enum(vdi_cur.zlib_glz);
    info->streaming_video = vdi_video_enum(vdi_cur.streaming_video);
    return info;
}
