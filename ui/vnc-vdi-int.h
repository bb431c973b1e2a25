/*
 * VNC server glue for the VDI adaptive display encoder: what its files
 * share (private)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * vnc-vdi.c holds the per-client state and the socket polling;
 * vnc-vdi-pool.c the encoder threads that run the clients' jobs;
 * vnc-vdi-qmp.c the QMP commands and statistics, which read the state and
 * apply settings through vnc-vdi.c.
 */

#ifndef VNC_VDI_INT_H
#define VNC_VDI_INT_H

#include "qapi/qapi-types-vdi-display.h"
#include "vnc.h"
#include "vdi-enc.h"
#include "vdi-link.h"

#define ENC_SAMPLES 128
/* kernel rate samples are left out this long after a receiver-limited poll */
#define RWND_HOLD_NS (3 * NANOSECONDS_PER_SECOND)
#define FPS_SAMPLES 64

/*
 * A client's encoder and what a worker needs to run it.  While @busy, the
 * worker alone uses enc, frame, damage and the results; otherwise the
 * main loop does.
 */
typedef struct VdiJob {
    VdiEncoder *enc;
    uint32_t *frame;            /* the client's copy of the server surface */
    int fw, fh;                 /* its size; rows are fw pixels apart */
    int w, h;                   /* the area to encode */
    GArray *damage;             /* VdiRect, changed since the last job */
    int64_t id;                 /* the client's, for traces */

    /* results */
    GByteArray *out;
    VdiEncStats st;
    int n;
    bool pending;               /* vdi_enc_has_pending() afterwards */
    int tid;                    /* the thread that ran it */
    int64_t t_start_us;         /* when it started, g_get_monotonic_time() */

    /* main loop only */
    bool busy;                  /* submitted, not yet completed */
    uint64_t gen;               /* VncVdi.gen at submission */
    int update;                 /* the VNC_STATE_UPDATE_* it answers */
    int64_t t_submit;

    /* under the pool's lock (vnc-vdi-pool.c) */
    bool finished;              /* the worker is done with it */
    bool abandoned;             /* the worker frees it */
    QEMUBH *bh;                 /* the client's completion bottom half */
} VdiJob;

struct VncVdi {
    int64_t id;
    DisplayProfileConfig cfg;
    bool copyrect;              /* the client announced CopyRect */
    bool h264;                  /* ... Open H.264 */
    int quality;                /* its JPEG quality level, -1: none */

    VdiJob *job;                /* NULL: stock encoders */
    VdiLink *link;              /* with job */
    VdiProfile cur;             /* profile for the encoder */
    bool pending;               /* the encoder has work left */
    uint64_t gen;               /* bumped when a running job is stale */
    bool inval_all;             /* to invalidate before the next job */
    GArray *inval;              /* VdiRect, ditto */
    QEMUBH *bh;
    uint64_t smooth_px;         /* mean JPEG area per update */

    uint64_t bytes_sent;
    uint64_t frames;
    uint64_t classes[VDI_ENC_CLASS__MAX];
    uint64_t copy_rects, jpeg_rects;
    uint64_t h264_rects, h264_bytes, h264_failures;
    uint64_t lossy_pending;
    int jpeg_quality;
    int64_t enc_total_ns;
    int64_t enc_ns[ENC_SAMPLES];
    int64_t frame_t[FPS_SAMPLES];
    /* Linux TCP_INFO at the last poll: bytes acked, busy and rwnd us */
    uint64_t tcp_acked, tcp_busy, tcp_rwnd;
    int64_t rwnd_until;         /* no kernel rate samples before */
};

int64_t vnc_vdi_now(void);
DisplayProfile vnc_vdi_in_force(VncVdi *v);
void vnc_vdi_event(VncVdi *v, DisplayProfileReason reason);
void vnc_vdi_apply(VncState *vs, bool invalidate);
void vnc_vdi_job_free(VdiJob *job);

/* The encoder threads shared by all clients (vnc-vdi-pool.c) */
void vnc_vdi_pool_start(void);
/* Run @job on a worker, which then schedules job->bh */
void vnc_vdi_pool_submit(VdiJob *job);
/* Has the worker finished @job? */
bool vnc_vdi_pool_finished(VdiJob *job);
/* Wait until the worker has finished @job */
void vnc_vdi_pool_wait(VdiJob *job);
/*
 * Give up @job: returns true if a worker is still on it and will free it
 * (with vnc_vdi_job_free()), false if the caller must.
 */
bool vnc_vdi_pool_abandon(VdiJob *job);

#endif
