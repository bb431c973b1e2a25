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

#ifdef CONFIG_VNC_JPEG

/* Per-client state: vnc_connect() / vnc_disconnect_finish() */
void vnc_vdi_client_init(VncState *vs);
void vnc_vdi_client_free(VncState *vs);
/* SetEncodings: start, each quality level, end */
void vnc_vdi_encodings_begin(VncState *vs);
void vnc_vdi_client_quality(VncState *vs, int level);
void vnc_vdi_client_copyrect(VncState *vs);
/*
 * Encodings or pixel format changed: pick the encoder again;
 * @invalidate: the client's framebuffer content is unknown.
 */
void vnc_vdi_reconsider(VncState *vs, bool invalidate);
/* FramebufferUpdateRequest */
void vnc_vdi_update_request(VncState *vs, int incremental,
                            int x, int y, int w, int h);
/*
 * From vnc_update_client(): -1 if the client uses the stock encoders,
 * else the number of rectangles sent.
 */
int vnc_vdi_update_client(VncState *vs);
/* Work left that needs the refresh timer running */
bool vnc_vdi_busy(VncState *vs);
/* Bytes written to the client's socket */
void vnc_vdi_on_sent(VncState *vs, size_t bytes);

#else

static inline void vnc_vdi_client_init(VncState *vs) {}
static inline void vnc_vdi_client_free(VncState *vs) {}
static inline void vnc_vdi_encodings_begin(VncState *vs) {}
static inline void vnc_vdi_client_quality(VncState *vs, int level) {}
static inline void vnc_vdi_client_copyrect(VncState *vs) {}
static inline void vnc_vdi_reconsider(VncState *vs, bool invalidate) {}
static inline void vnc_vdi_update_request(VncState *vs, int incremental,
                                          int x, int y, int w, int h) {}
static inline int vnc_vdi_update_client(VncState *vs)
{
    return -1;
}
static inline bool vnc_vdi_busy(VncState *vs)
{
    return false;
}
static inline void vnc_vdi_on_sent(VncState *vs, size_t bytes) {}

#endif

#endif
