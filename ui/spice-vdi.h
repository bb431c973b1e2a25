/*
 * Display profiles for the SPICE server
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef UI_SPICE_VDI_H
#define UI_SPICE_VDI_H

#include <spice.h>
#include "qapi/qapi-types-vdi-display.h"

/* The SPICE server's controls that a display profile sets */
typedef struct SpiceVdiSettings {
    SpiceImageCompression image;
    spice_wan_compression_t jpeg;
    spice_wan_compression_t zlib_glz;
    int streaming_video;            /* SPICE_STREAM_VIDEO_* */
} SpiceVdiSettings;

/* From qemu_spice_init(): the server and its -spice settings */
void qemu_spice_vdi_init(SpiceServer *server, const SpiceVdiSettings *cmdline);
/* For QemuSpiceOps */
void qemu_spice_vdi_set_profile(DisplayProfile profile);
DisplaySpiceInfo *qemu_spice_vdi_query(Error **errp);
void qemu_spice_vdi_query_clients(DisplayClientList ***tail);
/* From the SPICE core's channel_event(), with the BQL held */
void qemu_spice_vdi_channel_event(int event, SpiceChannelEventInfo *info);

#endif
