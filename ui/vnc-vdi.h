/*
 * VNC server glue for the VDI adaptive display encoder
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef UI_VNC_VDI_H
#define UI_VNC_VDI_H

typedef struct VncState VncState;
typedef struct VncVdi VncVdi;
typedef struct VncVdiSync VncVdiSync;
typedef struct VdiLink VdiLink;
typedef struct DisplayClientInfo DisplayClientInfo;

#if defined(CONFIG_VNC_JPEG) || defined(CONFIG_SPICE)

#include "qapi/qapi-types-vdi-display.h"

/* A display profile and its limits: a VNC client's, or the VM's defaults */
typedef struct DisplayProfileConfig {
    DisplayProfile profile;
    uint64_t max_bps;
    int64_t max_fps;
    int64_t qmin, qmax;
} DisplayProfileConfig;

/*
 * The VM's defaults for new clients: those of its vdi-display-profile
 * object (ui/display-profile.c), else the built-in ones
 */
const DisplayProfileConfig *display_profile_defaults(void);

#endif

#ifdef CONFIG_VNC_JPEG

/* Per-client state: vnc_connect() / vnc_disconnect_finish() */
void vnc_vdi_client_init(VncState *vs);
void vnc_vdi_client_free(VncState *vs);
/*
 * SetEncodings, before the stock encoders act on it (they may send
 * pseudo-encoding updates at once); vnc_vdi_reconsider() after them.
 */
void vnc_vdi_set_encodings(VncState *vs, const int32_t *encodings, size_t n);
/*
 * Encodings or pixel format changed: pick the encoder again;
 * @invalidate: the client's framebuffer content is unknown.
 */
void vnc_vdi_reconsider(VncState *vs, bool invalidate);
/* FramebufferUpdateRequest */
void vnc_vdi_update_request(VncState *vs, int incremental,
                            int x, int y, int w, int h);
/* vnc_dpy_switch() replaced the server surface */
void vnc_vdi_surface_changed(VncState *vs);
/*
 * From vnc_update_client(): -1 if the client uses the stock encoders,
 * else 1 if an update is being encoded for it, 0 if not.
 */
int vnc_vdi_update_client(VncState *vs);
/* Work left that needs the refresh timer running */
bool vnc_vdi_busy(VncState *vs);
/* Bytes written to the client's socket */
void vnc_vdi_on_sent(VncState *vs, size_t bytes);
/* Wait for the client's encoding job and queue its update */
void vnc_vdi_job_join(VncState *vs);
/*
 * display-set-profile for VNC clients (ui/display-profile.c); without
 * @has_client, for all of them and @defaults, which it changes
 */
void vnc_vdi_set_profile(DisplayProfile profile,
                         bool has_client, int64_t client,
                         bool has_max_bandwidth, uint64_t max_bandwidth,
                         bool has_max_fps, int64_t max_fps,
                         bool has_jpeg_quality_min, int64_t jpeg_quality_min,
                         bool has_jpeg_quality_max, int64_t jpeg_quality_max,
                         DisplayProfileConfig *defaults, Error **errp);
/* Appends the VNC clients for query-display-clients */
void vnc_vdi_query_clients(DisplayClientList ***tail);
/* The client's link estimator while the encoder serves it, else NULL */
VdiLink *vnc_vdi_link(VncState *vs);

/* RFB Fence and ContinuousUpdates: vnc-vdi-sync.c */
void vnc_vdi_sync_init(VncState *vs);
void vnc_vdi_sync_free(VncState *vs);
/* SetEncodings: start, then each encoding */
void vnc_vdi_sync_encodings_begin(VncState *vs);
void vnc_vdi_sync_encoding(VncState *vs, int32_t enc);
/* VDI_RFB_ALLOW_* of the extensions announced to the client */
uint32_t vnc_vdi_msg_allow(VncState *vs);
/* Client messages */
void vnc_vdi_client_fence(VncState *vs, uint32_t flags, uint8_t len,
                          const uint8_t *payload);
void vnc_vdi_client_enable_cu(VncState *vs, bool enable, int x, int y,
                              int w, int h);
/* Announce Fence and ContinuousUpdates to a client of the encoder */
void vnc_vdi_sync_announce(VncState *vs);
bool vnc_vdi_sync_cu_active(VncState *vs);
/* Fence answers feed the link estimator instead of the socket */
bool vnc_vdi_sync_drives_link(VncState *vs);
/* At each update opportunity, and after an update was queued */
void vnc_vdi_sync_tick(VncState *vs, int64_t now);
void vnc_vdi_sync_after_update(VncState *vs, int64_t now);
void vnc_vdi_sync_on_sent(VncState *vs, size_t bytes, int64_t now);
void vnc_vdi_sync_query(VncState *vs, DisplayClientInfo *info);

#else

static inline void vnc_vdi_client_init(VncState *vs) {}
static inline void vnc_vdi_client_free(VncState *vs) {}
static inline void vnc_vdi_set_encodings(VncState *vs,
                                         const int32_t *encodings, size_t n)
{
}
static inline void vnc_vdi_reconsider(VncState *vs, bool invalidate) {}
static inline void vnc_vdi_update_request(VncState *vs, int incremental,
                                          int x, int y, int w, int h) {}
static inline void vnc_vdi_surface_changed(VncState *vs) {}
static inline int vnc_vdi_update_client(VncState *vs)
{
    return -1;
}
static inline bool vnc_vdi_busy(VncState *vs)
{
    return false;
}
static inline void vnc_vdi_on_sent(VncState *vs, size_t bytes) {}
static inline uint32_t vnc_vdi_msg_allow(VncState *vs)
{
    return 0;
}
static inline void vnc_vdi_client_fence(VncState *vs, uint32_t flags,
                                        uint8_t len, const uint8_t *payload)
{
}
static inline void vnc_vdi_client_enable_cu(VncState *vs, bool enable,
                                            int x, int y, int w, int h)
{
}

#endif

/*
 * The limits display-set-profile takes (ui/display-profile.c, when
 * DisplayProfile exists), checked before anything changes
 */
bool display_check_limits(bool has_max_bandwidth, uint64_t max_bandwidth,
                          bool has_max_fps, int64_t max_fps,
                          bool has_qmin, int64_t qmin,
                          bool has_qmax, int64_t qmax, Error **errp);
/* An id for a new VNC or SPICE client, unique among display clients */
int64_t display_client_new_id(void);

#endif
