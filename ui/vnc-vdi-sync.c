/*
 * RFB Fence and ContinuousUpdates for clients of the VDI display encoder
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Only for clients that announce the pseudo-encodings (Fence -312,
 * ContinuousUpdates -313) while the VDI encoder serves them: the server
 * then announces the extensions (a ServerFence, an EndOfContinuousUpdates)
 * and from then on accepts ClientFence and EnableContinuousUpdates from
 * that client, for the rest of the connection.  The announcement comes
 * before any update answering SetEncodings: TigerVNC 1.12 enables
 * continuous updates only if it saw it before the end of its first
 * update.  Continuous updates, once enabled, go on when the stock
 * encoders take over (TigerVNC never asks for updates again).  Stock
 * clients and clients with the profile off at SetEncodings see no change.
 *
 * Link measurement: after each update the server sends a fence with
 * BlockBefore | Request whose payload carries a sequence number; the
 * client answers it once it has processed everything before it.  The
 * answer gives an RTT sample (from the time the fence left the output
 * buffer) and acknowledges every byte up to the fence, which the link
 * estimator turns into a delivery rate per fence interval and uses, in
 * place of the socket queue, for the bytes in flight: updates, and so
 * continuous updates, wait while about one bandwidth-delay product is
 * unacknowledged.
 *
 * Client fences are answered in order with the same payload, the Request
 * bit and unknown flags cleared.  A token bucket bounds them: fences over
 * the rate are dropped and counted, and a client that goes on flooding is
 * disconnected.
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qapi/qapi-types-vdi-display.h"
#include "vnc.h"
#include "vnc-jobs.h"
#include "vdi-rfb.h"
#include "vdi-link.h"
#include "trace.h"

#define FENCE_RING 8            /* server fences in flight at most */
#define FENCE_MAGIC 0x56444946  /* "VDIF" */
#define FENCE_PROBE_NS (1000 * 1000000LL)
/* client fences: burst, refill per second; drops per window to disconnect */
#define CLIENT_FENCE_BURST 64
#define CLIENT_FENCE_RATE 64
#define CLIENT_FENCE_FLOOD 1024
#define CLIENT_FENCE_FLOOD_NS (10 * NANOSECONDS_PER_SECOND)

#define MSG_END_OF_CU 150
#define MSG_SERVER_FENCE 248

typedef struct FenceRec {
    uint32_t seq;
    uint64_t pos;               /* stream offset of its last byte */
    int64_t departed;           /* when it left the output buffer; 0: not */
} FenceRec;

struct VncVdiSync {
    bool want_fence, want_cu;   /* in the client's last SetEncodings */
    bool fence_on, cu_on;       /* announced to this client */
    bool cu_active;
    uint16_t cu_x, cu_y, cu_w, cu_h;

    uint64_t written;           /* bytes written to the socket */
    FenceRec ring[FENCE_RING];
    int head, count;
    uint32_t next_seq;
    int64_t last_fence;
    bool acked;                 /* an answer arrived: fences drive the link */
    uint64_t acked_pos;         /* stream offset acknowledged */

    uint64_t fences_sent, fences_acked;
    int64_t fence_rtt;

    double tokens;
    int64_t tokens_t;
    uint64_t client_fences, client_fences_dropped;
    int64_t drop_window;        /* start of the flood window */
    uint32_t drops;             /* in that window */
};

void vnc_vdi_sync_init(VncState *vs)
{
    vs->vdi_sync = g_new0(VncVdiSync, 1);
    vs->vdi_sync->tokens = CLIENT_FENCE_BURST;
}

void vnc_vdi_sync_free(VncState *vs)
{
    g_free(vs->vdi_sync);
    vs->vdi_sync = NULL;
}

void vnc_vdi_sync_encodings_begin(VncState *vs)
{
    if (vs->vdi_sync) {
        vs->vdi_sync->want_fence = vs->vdi_sync->want_cu = false;
    }
}

void vnc_vdi_sync_encoding(VncState *vs, int32_t enc)
{
    VncVdiSync *s = vs->vdi_sync;

    if (!s) {
        return;
    }
    if (enc == VNC_ENCODING_FENCE) {
        s->want_fence = true;
    } else if (enc == VNC_ENCODING_CONTINUOUS_UPDATES) {
        s->want_cu = true;
    }
}

uint32_t vnc_vdi_msg_allow(VncState *vs)
{
    VncVdiSync *s = vs->vdi_sync;

    if (!s) {
        return 0;
    }
    return (s->fence_on ? VDI_RFB_ALLOW_FENCE : 0) |
        (s->cu_on ? VDI_RFB_ALLOW_CU : 0);
}

static void write_fence(VncState *vs, uint32_t flags, uint8_t len,
                        const uint8_t *payload)
{
    vnc_write_u8(vs, MSG_SERVER_FENCE);
    vnc_write_u8(vs, 0);
    vnc_write_u16(vs, 0);
    vnc_write_u32(vs, flags);
    vnc_write_u8(vs, len);
    vnc_write(vs, payload, len);
}

/* Queue a measuring fence if there is room; true if sent */
static bool send_server_fence(VncState *vs, int64_t now)
{
    VncVdiSync *s = vs->vdi_sync;
    FenceRec *r;
    uint8_t p[8];

    if (!s->want_fence || s->count == FENCE_RING) {
        return false;
    }
    r = &s->ring[(s->head + s->count++) % FENCE_RING];
    r->seq = s->next_seq++;
    stl_be_p(p, FENCE_MAGIC);
    stl_be_p(p + 4, r->seq);
    vnc_lock_output(vs);
    write_fence(vs, VDI_RFB_FENCE_REQUEST | VDI_RFB_FENCE_BLOCK_BEFORE,
                sizeof(p), p);
    r->pos = s->written + vs->output.offset;
    r->departed = 0;
    vnc_unlock_output(vs);
    s->fence_on = true;
    s->fences_sent++;
    s->last_fence = now;
    trace_vnc_vdi_server_fence(vs, r->seq, r->pos);
    return true;
}

static void end_cu(VncState *vs)
{
    vs->vdi_sync->cu_active = false;
    vnc_lock_output(vs);
    vnc_write_u8(vs, MSG_END_OF_CU);
    vnc_unlock_output(vs);
}

void vnc_vdi_sync_announce(VncState *vs)
{
    VncVdiSync *s = vs->vdi_sync;
    bool wrote = false;

    if (!s) {
        return;
    }
    if (s->want_fence && !s->fence_on) {
        wrote |= send_server_fence(vs, g_get_monotonic_time() * 1000);
    }
    if (s->want_cu && !s->cu_on) {
        /* announces the extension */
        s->cu_on = true;
        end_cu(vs);
        wrote = true;
    }
    if (wrote) {
        vnc_flush(vs);
    }
}

bool vnc_vdi_sync_cu_active(VncState *vs)
{
    return vs->vdi_sync && vs->vdi_sync->cu_active;
}

bool vnc_vdi_sync_drives_link(VncState *vs)
{
    VncVdiSync *s = vs->vdi_sync;

    return s && s->want_fence && s->acked;
}

void vnc_vdi_sync_after_update(VncState *vs, int64_t now)
{
    send_server_fence(vs, now);
}

void vnc_vdi_sync_tick(VncState *vs, int64_t now)
{
    VncVdiSync *s = vs->vdi_sync;

    /*
     * With no fence in flight: cover the bytes sent since the last answer
     * (else they would count as in flight for ever), and probe now and
     * then, for RTT samples taken on an empty queue.
     */
    if (s && s->fence_on && !s->count && buffer_empty(&vs->output) &&
        (s->written > s->acked_pos || now - s->last_fence > FENCE_PROBE_NS)) {
        if (send_server_fence(vs, now)) {
            vnc_flush(vs);
        }
    }
}

void vnc_vdi_sync_on_sent(VncState *vs, size_t bytes, int64_t now)
{
    VncVdiSync *s = vs->vdi_sync;

    if (!s) {
        return;
    }
    s->written += bytes;
    for (int i = 0; i < s->count; i++) {
        FenceRec *r = &s->ring[(s->head + i) % FENCE_RING];

        if (!r->departed && r->pos <= s->written) {
            r->departed = now;
        }
    }
}

/* Too many fences, or answers to fences never sent */
static void client_fence_drop(VncState *vs, const char *why)
{
    VncVdiSync *s = vs->vdi_sync;

    int64_t now = g_get_monotonic_time() * 1000;

    s->client_fences_dropped++;
    trace_vnc_vdi_client_fence_drop(vs, why, s->client_fences_dropped);
    if (now - s->drop_window > CLIENT_FENCE_FLOOD_NS) {
        s->drop_window = now;
        s->drops = 0;
    }
    if (++s->drops > CLIENT_FENCE_FLOOD) {
        error_report("vnc: disconnecting client%s%s: fence flood (%" PRIu64
                     " fences dropped)",
                     vs->info && vs->info->host && *vs->info->host ? " " : "",
                     vs->info && vs->info->host ? vs->info->host : "",
                     s->client_fences_dropped);
        vnc_client_error(vs);
    }
}

static void fence_answer(VncState *vs, uint8_t len, const uint8_t *payload,
                         VdiLink *link, int64_t now)
{
    VncVdiSync *s = vs->vdi_sync;
    FenceRec *r;

    if (len != 8 || ldl_be_p(payload) != FENCE_MAGIC || !s->count ||
        ldl_be_p(payload + 4) != s->ring[s->head].seq) {
        client_fence_drop(vs, "answer to no fence of ours");
        return;
    }
    r = &s->ring[s->head];
    s->head = (s->head + 1) % FENCE_RING;
    s->count--;
    s->fences_acked++;
    s->acked_pos = MAX(s->acked_pos, r->pos);
    if (r->departed) {
        s->fence_rtt = now - r->departed;
    }
    trace_vnc_vdi_fence_ack(vs, r->seq, r->pos, s->fence_rtt);
    if (!link) {
        return;
    }
    s->acked = true;
    if (r->departed) {
        vdi_link_on_rtt(link, now, now - r->departed);
    }
    /* every byte up to the fence was received and processed */
    vdi_link_on_queue(link, now, s->written > r->pos ? s->written - r->pos : 0);
}

void vnc_vdi_client_fence(VncState *vs, uint32_t flags, uint8_t len,
                          const uint8_t *payload)
{
    VncVdiSync *s = vs->vdi_sync;
    int64_t now = g_get_monotonic_time() * 1000;

    if (!s) {
        return;
    }
    if (!(flags & VDI_RFB_FENCE_REQUEST)) {
        fence_answer(vs, len, payload, vnc_vdi_link(vs), now);
        return;
    }
    s->client_fences++;
    s->tokens = MIN(CLIENT_FENCE_BURST, s->tokens + (now - s->tokens_t) *
                    (double)CLIENT_FENCE_RATE / NANOSECONDS_PER_SECOND);
    s->tokens_t = now;
    if (s->tokens < 1) {
        client_fence_drop(vs, "rate");
        return;
    }
    if (vs->throttle_output_offset &&
        vs->output.offset > vs->throttle_output_offset) {
        client_fence_drop(vs, "client not reading");
        return;
    }
    s->tokens -= 1;
    /*
     * BlockBefore: everything before it has been processed, but an
     * update may still be in a worker; let it reach the output first.
     * BlockAfter and SyncNext hold as messages are processed in order
     * and the answer is queued before the next one is read.
     */
    vnc_jobs_join(vs);
    vnc_vdi_job_join(vs);
    vnc_lock_output(vs);
    write_fence(vs, flags & (VDI_RFB_FENCE_BLOCK_BEFORE |
                             VDI_RFB_FENCE_BLOCK_AFTER |
                             VDI_RFB_FENCE_SYNC_NEXT), len, payload);
    vnc_unlock_output(vs);
    vnc_flush(vs);
}

void vnc_vdi_client_enable_cu(VncState *vs, bool enable, int x, int y,
                              int w, int h)
{
    VncVdiSync *s = vs->vdi_sync;

    if (!s) {
        return;
    }
    if (!enable) {
        if (s->cu_active && vs->update == VNC_STATE_UPDATE_INCREMENTAL) {
            /* the standing request of continuous updates, not the client's */
            vs->update = VNC_STATE_UPDATE_NONE;
        }
        end_cu(vs);
        vnc_flush(vs);
        return;
    }
    s->cu_active = true;
    s->cu_x = x;
    s->cu_y = y;
    s->cu_w = w;
    s->cu_h = h;
    update_displaychangelistener(&vs->vd->dcl, GUI_REFRESH_INTERVAL_DEFAULT);
}

void vnc_vdi_sync_query(VncState *vs, DisplayClientInfo *info)
{
    VncVdiSync *s = vs->vdi_sync;

    if (!s) {
        return;
    }
    info->fence = s->fence_on;
    info->continuous_updates = s->cu_active;
    info->fences_sent = s->fences_sent;
    info->fences_acked = s->fences_acked;
    info->fence_rtt = s->fence_rtt / 1000;
    info->client_fences = s->client_fences;
    info->client_fences_dropped = s->client_fences_dropped;
}
