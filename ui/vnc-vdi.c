/*
 * VNC server glue for the VDI adaptive display encoder
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * For clients with the display profile lan, wan or auto (QMP
 * display-set-profile; off by default) that announced Tight and use the
 * pixel format the encoder produces, framebuffer updates are encoded by
 * the VdiEncoder (vdi-enc.c) instead of by the stock encoders, paced by a
 * VdiLink (vdi-link.c) that follows the client's socket.  Each update is
 * at most one byte budget long, so no more than that is queued per
 * update; what does not fit stays dirty and is merged into later updates.
 *
 * Threads: the main loop decides when a client gets an update, turns its
 * dirty bitmap into damage and copies the damaged pixels of the server
 * surface into the client's own copy of it (VdiJob.frame).  A worker of a
 * thread pool shared by all clients (vnc-vdi-pool.c) then runs the
 * encoder on that copy, so clients are encoded in parallel and
 * the main loop only pays for the copy.  Each client has at most one job
 * in flight, which keeps its updates in order.  The worker hands the job
 * back with a bottom half, in which the main loop queues the update on
 * the socket.  While a job is in flight the worker alone uses the
 * encoder and the job's buffers; settings and invalidations made
 * meanwhile are kept in VncVdi and applied to the encoder before the next
 * job.  A client that goes away, or stops using the encoder, abandons its
 * job, and the worker frees it when done.  When the server surface is
 * replaced or the pixel format changes while a job runs, its output is
 * dropped and the encoder replaced (it would continue zlib streams the
 * client never saw).
 */

#include "qemu/osdep.h"
#ifdef CONFIG_LINUX
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#endif
#include "hw/vdi/vdi-extension.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-vdi-display.h"
#include "qapi/qapi-events-vdi-display.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "vnc.h"
#include "vnc-jobs.h"
#include "vdi-enc.h"
#include "vdi-link.h"
#include "vnc-vdi-int.h"
#include "trace.h"

static void vdi_job_bh(void *opaque);

int64_t vnc_vdi_now(void)
{
    return g_get_monotonic_time() * 1000;
}

/*
 * Clients whose pixels are 8-bit R, G and B in 32 bits.  With Tight, the
 * only encoding the encoder then uses besides CopyRect, such clients
 * take colours as RGB bytes (TPIXEL) whatever the byte order of their
 * format: noVNC asks for shifts 0/8/16, TigerVNC for 16/8/0.
 */
static bool vdi_pixel_format_ok(VncState *vs)
{
    const PixelFormat *pf = &vs->client_pf;
    unsigned shifts;

    if (pf->rshift > 24 || pf->gshift > 24 || pf->bshift > 24) {
        return false;
    }
    shifts = (1u << pf->rshift) | (1u << pf->gshift) | (1u << pf->bshift);
    return pf->bits_per_pixel == 32 && pf->depth == 24 &&
        pf->rmax == 255 && pf->gmax == 255 && pf->bmax == 255 &&
        (shifts == 0x10101 || shifts == 0x1010100);
}

static bool vdi_usable(VncState *vs)
{
    return vs->vdi->cfg.profile != DISPLAY_PROFILE_OFF &&
        vnc_has_feature(vs, VNC_FEATURE_TIGHT) && vdi_pixel_format_ok(vs);
}

static uint32_t vdi_caps(VncVdi *v)
{
    return VDI_ENC_CAP_TIGHT | (v->copyrect ? VDI_ENC_CAP_COPYRECT : 0) |
        (v->quality >= 0 ? VDI_ENC_CAP_JPEG : 0) |
        (v->h264 ? VDI_ENC_CAP_H264 : 0);
}

/* The profile to use now, for an active encoder */
static VdiProfile vdi_want_profile(VncVdi *v, int64_t now)
{
    switch (v->cfg.profile) {
    case DISPLAY_PROFILE_LAN:
        return VDI_PROFILE_LAN;
    case DISPLAY_PROFILE_WAN:
        return VDI_PROFILE_WAN;
    default:
        return vdi_link_profile(v->link, now);
    }
}

DisplayProfile vnc_vdi_in_force(VncVdi *v)
{
    if (!v->job) {
        return DISPLAY_PROFILE_OFF;
    }
    return v->cur == VDI_PROFILE_WAN ? DISPLAY_PROFILE_WAN :
        DISPLAY_PROFILE_LAN;
}

void vnc_vdi_event(VncVdi *v, DisplayProfileReason reason)
{
    qapi_event_send_display_profile_changed(true, v->id, v->cfg.profile,
                                            vnc_vdi_in_force(v), reason);
}

/* Have the stock encoders send everything again */
static void vdi_mark_all_dirty(VncState *vs)
{
    int h = MIN(pixman_image_get_height(vs->vd->server), VNC_MAX_HEIGHT);

    for (int y = 0; y < h; y++) {
        bitmap_set(vs->dirty[y], 0, VNC_DIRTY_BITS);
    }
    vs->has_dirty++;
}

void vnc_vdi_job_free(VdiJob *job)
{
    vdi_enc_free(job->enc);
    g_free(job->frame);
    g_array_free(job->damage, true);
    g_byte_array_free(job->out, true);
    g_free(job);
}

/*
 * Give up @job: free it now, or have the worker free it if it is still
 * running.  Returns the update request it was answering.
 */
static int vdi_job_abandon(VdiJob *job)
{
    int update = job->busy ? job->update : VNC_STATE_UPDATE_NONE;
    bool running = vnc_vdi_pool_abandon(job);

    trace_vnc_vdi_job_abandon(job->id, running);
    if (!running) {
        vnc_vdi_job_free(job);
    }
    return update;
}

static void vdi_start(VncState *vs)
{
    VncVdi *v = vs->vdi;
    int64_t now = vnc_vdi_now();
    VdiJob *job = g_new0(VdiJob, 1);

    v->link = vdi_link_new(v->cfg.profile == DISPLAY_PROFILE_WAN ?
                           VDI_PROFILE_WAN : VDI_PROFILE_LAN, now);
    v->cur = vdi_want_profile(v, now);
    job->enc = vdi_enc_new(v->cur, vdi_caps(v));
    /* the stock encoder's output first: the encoder continues its streams */
    vnc_jobs_join(vs);
    for (int i = 0; i < 4; i++) {
        int level;
        z_stream *zs = vnc_tight_stream(vs, i, &level);

        if (zs) {
            vdi_enc_stream_set(job->enc, i, zs, level);
            vnc_tight_stream_set(vs, i, NULL, 0);
        }
    }
    job->damage = g_array_new(false, false, sizeof(VdiRect));
    job->out = g_byte_array_new();
    job->id = v->id;
    job->bh = v->bh;
    v->job = job;
    v->pending = false;
    v->inval_all = false;
    g_array_set_size(v->inval, 0);
    v->smooth_px = 0;
}

static void vdi_stop(VncState *vs)
{
    VncVdi *v = vs->vdi;

    /*
     * The stock encoders continue the zlib streams where the job leaves
     * them: queue (or drop) its output first.  No stock job is running:
     * none is started while the encoder serves the client.
     */
    vnc_vdi_job_join(vs);
    if (!v->job) {
        /* the job failed and stopped the encoder */
        return;
    }
    for (int i = 0; i < 4; i++) {
        int level;
        const z_stream *zs = vdi_enc_stream_get(v->job->enc, i, &level);

        if (zs) {
            vnc_tight_stream_set(vs, i, zs, level);
        }
    }
    /* a request the job was answering goes to the stock encoders */
    vs->update = MAX(vs->update, vdi_job_abandon(v->job));
    v->job = NULL;
    vdi_link_free(v->link);
    v->link = NULL;
    /* the client may have lossy areas, and stock knows nothing it has */
    vdi_mark_all_dirty(vs);
}

void vnc_vdi_apply(VncState *vs, bool invalidate)
{
    VncVdi *v = vs->vdi;
    bool usable = vdi_usable(vs);

    if (invalidate) {
        v->inval_all = true;
        /* the running job encodes for the old pixel format */
        v->gen++;
    }
    if (usable && !v->job) {
        vdi_start(vs);
    } else if (!usable && v->job) {
        vdi_stop(vs);
    }
    if (!v->job) {
        return;
    }
    vnc_vdi_sync_announce(vs);
    /* caps and profile go to the encoder with the next job */
    vdi_link_set_caps(v->link, v->cfg.max_fps, v->cfg.max_bps);
    v->cur = vdi_want_profile(v, vnc_vdi_now());
}

void vnc_vdi_client_init(VncState *vs)
{
    VncVdi *v = g_new0(VncVdi, 1);

    v->id = display_client_new_id();
    v->cfg = *display_profile_defaults();
    v->quality = -1;
    v->inval = g_array_new(false, false, sizeof(VdiRect));
    v->bh = qemu_bh_new(vdi_job_bh, vs);
    vs->vdi = v;
    vnc_vdi_sync_init(vs);
    vnc_vdi_pool_start();
}

void vnc_vdi_client_free(VncState *vs)
{
    VncVdi *v = vs->vdi;

    if (!v) {
        return;
    }
    if (v->job) {
        vdi_job_abandon(v->job);
    }
    /* a worker schedules it with the pool's lock held, if not abandoned */
    qemu_bh_delete(v->bh);
    vdi_link_free(v->link);
    g_array_free(v->inval, true);
    g_free(v);
    vs->vdi = NULL;
    vnc_vdi_sync_free(vs);
}

void vnc_vdi_set_encodings(VncState *vs, const int32_t *encodings, size_t n)
{
    VncVdi *v = vs->vdi;
    bool tight = false;

    if (!v) {
        return;
    }
    v->copyrect = false;
    v->h264 = false;
    v->quality = -1;
    vnc_vdi_sync_encodings_begin(vs);
    for (size_t i = 0; i < n; i++) {
        int32_t enc = encodings[i];

        if (enc == VNC_ENCODING_TIGHT) {
            tight = true;
        } else if (enc == VNC_ENCODING_COPYRECT) {
            v->copyrect = true;
        } else if (enc == VDI_RFB_ENC_H264) {
            v->h264 = true;
        } else if (enc >= (int32_t)VNC_ENCODING_QUALITYLEVEL0 &&
                   enc <= (int32_t)VNC_ENCODING_QUALITYLEVEL0 + 9) {
            /* the first one counts, as for the stock encoders */
            if (v->quality < 0) {
                v->quality = enc & 0x0F;
            }
        } else {
            vnc_vdi_sync_encoding(vs, enc);
        }
    }
    /*
     * Announce Fence and ContinuousUpdates now, before any update the
     * stock code sends for this SetEncodings (ExtendedKeyEvent, cursor):
     * TigerVNC 1.12 enables continuous updates only if the server
     * announced them before the end of the first update it receives.
     */
    if (v->cfg.profile != DISPLAY_PROFILE_OFF && tight &&
        vdi_pixel_format_ok(vs)) {
        vnc_vdi_sync_announce(vs);
    }
}

void vnc_vdi_reconsider(VncState *vs, bool invalidate)
{
    if (vs->vdi) {
        vnc_vdi_apply(vs, invalidate);
    }
}

void vnc_vdi_update_request(VncState *vs, int incremental,
                            int x, int y, int w, int h)
{
    VdiRect r = { x, y, w, h };

    /* for the encoder before the next job */
    if (vs->vdi && vs->vdi->job && !incremental) {
        g_array_append_val(vs->vdi->inval, r);
    }
}

void vnc_vdi_surface_changed(VncState *vs)
{
    if (vs->vdi && vs->vdi->job) {
        /* a running job encodes the old surface: drop what it produces */
        vs->vdi->gen++;
    }
}

void vnc_vdi_on_sent(VncState *vs, size_t bytes)
{
    VncVdi *v = vs->vdi;

    if (!v) {
        return;
    }
    v->bytes_sent += bytes;
    if (v->link) {
        vdi_link_on_sent(v->link, vnc_vdi_now(), bytes);
    }
    vnc_vdi_sync_on_sent(vs, bytes, vnc_vdi_now());
}

VdiLink *vnc_vdi_link(VncState *vs)
{
    return vs->vdi && vs->vdi->job ? vs->vdi->link : NULL;
}

#ifdef CONFIG_LINUX
/*
 * Linux's struct tcp_info up to tcpi_delivery_rate (Linux 4.9); glibc's
 * ends at tcpi_total_retrans, and <linux/tcp.h> clashes with it.
 */
typedef struct VdiTcpInfo {
    struct tcp_info base;
    uint64_t pacing_rate, max_pacing_rate;
    uint64_t bytes_acked, bytes_received;
    uint32_t segs_out, segs_in;
    uint32_t notsent_bytes, min_rtt;
    uint32_t data_segs_in, data_segs_out;
    uint64_t delivery_rate;
    uint64_t busy_time, rwnd_limited;   /* us, Linux 4.10 */
} VdiTcpInfo;
#endif

/* Feed the link estimator with the state of the client's socket */
static void vdi_poll_link(VncState *vs, int64_t now)
{
    VncVdi *v = vs->vdi;
    VdiLink *link = v->link;
#ifdef CONFIG_LINUX
    int fd = vs->sioc->fd;
    int unacked;
#endif

    if (vnc_vdi_sync_drives_link(vs)) {
        return;
    }
#ifdef CONFIG_LINUX

    if (ioctl(fd, SIOCOUTQ, &unacked) == 0 && unacked >= 0) {
        VdiTcpInfo ti;
        socklen_t len = sizeof(ti);

        vdi_link_on_queue(link, now, unacked);
        memset(&ti, 0, sizeof(ti));
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) {
            return;             /* not TCP */
        }
        if (!unacked && len >= offsetof(struct tcp_info, tcpi_rtt) +
            sizeof(ti.base.tcpi_rtt) && ti.base.tcpi_rtt) {
            vdi_link_on_rtt(link, now, (int64_t)ti.base.tcpi_rtt * 1000);
        }
        /*
         * The kernel's delivery rate (Linux 4.9+), a new sample only when
         * more bytes were acknowledged.  It times acknowledgements
         * exactly, where the drain seen at the next poll makes a fast
         * link look as slow as the poll interval.  It measures the
         * network path, not a client (or proxy) that reads slowly, which
         * the queue samples above measure: it is left out for a while
         * after the receive window held the sender back for a good part
         * of a poll interval, and taken as a lower bound.
         */
        if (len >= offsetof(VdiTcpInfo, rwnd_limited) +
            sizeof(ti.rwnd_limited) && ti.bytes_acked != v->tcp_acked) {
            uint64_t busy = ti.busy_time - v->tcp_busy;
            uint64_t rwnd = ti.rwnd_limited - v->tcp_rwnd;

            if (rwnd * 4 > busy) {
                v->rwnd_until = now + RWND_HOLD_NS;
            }
            if (now >= v->rwnd_until && ti.delivery_rate) {
                vdi_link_on_rate(link, now, ti.delivery_rate * 8.0, true);
            }
            v->tcp_acked = ti.bytes_acked;
            v->tcp_busy = ti.busy_time;
            v->tcp_rwnd = ti.rwnd_limited;
        }
        return;
    }
#endif
    if (buffer_empty(&vs->output)) {
        vdi_link_on_drained(link, now);
    }
}

/*
 * Turn the client's dirty bitmap into damage rectangles, one per run of
 * dirty columns in each band of VDI_ENC_TILE rows, and clear it.
 */
static void vdi_collect_damage(VncState *vs, GArray *dmg, int height)
{
    unsigned long acc[BITS_TO_LONGS(VNC_DIRTY_BITS)];

    g_array_set_size(dmg, 0);
    for (int ty = 0; ty < height; ty += VDI_ENC_TILE) {
        int bh = MIN(VDI_ENC_TILE, height - ty);
        unsigned long x, x2;

        bitmap_zero(acc, VNC_DIRTY_BITS);
        for (int y = ty; y < ty + bh; y++) {
            bitmap_or(acc, acc, vs->dirty[y], VNC_DIRTY_BITS);
            bitmap_zero(vs->dirty[y], VNC_DIRTY_BITS);
        }
        x = find_next_bit(acc, VNC_DIRTY_BITS, 0);
        while (x < VNC_DIRTY_BITS) {
            VdiRect r;

            x2 = find_next_zero_bit(acc, VNC_DIRTY_BITS, x);
            r.x = x * VNC_DIRTY_PIXELS_PER_BIT;
            r.y = ty;
            r.w = (x2 - x) * VNC_DIRTY_PIXELS_PER_BIT;
            r.h = bh;
            g_array_append_val(dmg, r);
            x = find_next_bit(acc, VNC_DIRTY_BITS, x2);
        }
    }
}

/*
 * Bring the job's copy of the server surface up to date: the damaged
 * areas, or all of it when the size changed.  Everything that changes the
 * server surface marks the clients dirty, so the copy then equals it.
 */
static void vdi_snapshot(VncDisplay *vd, VdiJob *job)
{
    pixman_image_t *img = vd->server;
    int sw = pixman_image_get_width(img), sh = pixman_image_get_height(img);
    size_t sstride = pixman_image_get_stride(img);
    const uint8_t *src = (const uint8_t *)pixman_image_get_data(img);
    VdiRect all = { 0, 0, sw, sh };
    const VdiRect *r = (const VdiRect *)job->damage->data;
    int n = job->damage->len;

    if (job->fw != sw || job->fh != sh) {
        g_free(job->frame);
        job->frame = g_new(uint32_t, (size_t)sw * sh);
        job->fw = sw;
        job->fh = sh;
        r = &all;
        n = 1;
    }
    for (int i = 0; i < n; i++) {
        int x0 = MIN(r[i].x, sw), x1 = MIN(r[i].x + r[i].w, sw);
        int y1 = MIN(r[i].y + r[i].h, sh);

        for (int y = r[i].y; y < y1 && x1 > x0; y++) {
            memcpy(job->frame + (size_t)y * sw + x0,
                   src + y * sstride + x0 * 4, (x1 - x0) * 4);
        }
    }
}

static void vdi_account(VncVdi *v, const VdiEncStats *st, int64_t now,
                        bool sent)
{
    for (int i = 0; i < VDI_ENC_CLASS__MAX; i++) {
        v->classes[i] += st->classes[i];
    }
    v->copy_rects += st->rects[VDI_ENC_KIND_COPYRECT];
    v->jpeg_rects += st->rects[VDI_ENC_KIND_JPEG];
    v->h264_rects += st->rects[VDI_ENC_KIND_H264];
    v->h264_bytes += st->bytes[VDI_ENC_KIND_H264];
    v->h264_failures += st->h264_failures;
    v->lossy_pending = st->lossy_pending;
    v->smooth_px = (v->smooth_px * 3 + st->lossy_pixels) / 4;
    if (sent) {
        vdi_link_on_update(v->link, now, st->lossy_pixels);
        v->enc_ns[v->frames % ENC_SAMPLES] = st->encode_ns;
        v->frame_t[v->frames % FPS_SAMPLES] = now;
        v->enc_total_ns += st->encode_ns;
        v->frames++;
    }
}

/* Main loop: queue what a finished job produced */
static void vdi_job_complete(VncState *vs, VdiJob *job)
{
    VncVdi *v = vs->vdi;
    bool force = job->update == VNC_STATE_UPDATE_FORCE;
    int64_t now = vnc_vdi_now();
    int n = job->n;

    trace_vnc_vdi_job_done(v->id, n, job->out->len, job->tid,
                           job->t_start_us, job->st.encode_ns,
                           (now - job->t_submit) / 1000);
    if (job->gen != v->gen) {
        /*
         * The surface was replaced, or the pixel format changed, while
         * the job ran: its output is for the old one.  Drop it; the
         * encoder sends everything again, continuing its zlib streams
         * as if the dropped output had never been, and the request is
         * answered by a later job.
         */
        trace_vnc_vdi_job_drop(v->id, n, job->out->len);
        vdi_enc_drop_output(job->enc);
        v->pending = false;
        vs->update = MAX(vs->update, job->update);
        return;
    }
    if (n < 0) {
        error_report("vnc: display encoder failed (%dx%d), using stock "
                     "encoders for client %" PRId64, job->w, job->h, v->id);
        v->cfg.profile = DISPLAY_PROFILE_OFF;
        vs->update = MAX(vs->update, job->update);
        vdi_stop(vs);
        return;
    }
    v->pending = job->pending;
    vdi_account(v, &job->st, now, n > 0 || force);
    if ((!n && !force) || vs->disconnecting || !vs->ioc) {
        /* nothing changed after all: keep the request for later */
        vs->update = MAX(vs->update, job->update);
        return;
    }

    vnc_lock_output(vs);
    vnc_write_u8(vs, VNC_MSG_SERVER_FRAMEBUFFER_UPDATE);
    vnc_write_u8(vs, 0);
    vnc_write_u16(vs, n);
    vnc_write(vs, job->out->data, job->out->len);
    if (force) {
        vs->force_update_offset = vs->output.offset;
    }
    vnc_unlock_output(vs);
    vnc_vdi_sync_after_update(vs, now);
    vnc_flush(vs);
}

static void vdi_job_bh(void *opaque)
{
    VncState *vs = opaque;
    VdiJob *job = vs->vdi->job;

    if (!job || !job->busy) {
        /* scheduled by a job abandoned since */
        return;
    }
    if (vnc_vdi_pool_finished(job)) {
        job->busy = false;
        vdi_job_complete(vs, job);
    }
}

/* Wait for the client's job in flight, if any, and queue its update */
void vnc_vdi_job_join(VncState *vs)
{
    VdiJob *job = vs->vdi ? vs->vdi->job : NULL;

    if (!job || !job->busy) {
        return;
    }
    vnc_vdi_pool_wait(job);
    job->busy = false;
    vdi_job_complete(vs, job);
}

/*
 * Main loop, from the refresh timer: start a job for the client if it
 * asked for an update, there is something to send and the link has room.
 */
int vnc_vdi_update_client(VncState *vs)
{
    VncVdi *v = vs->vdi;
    VncDisplay *vd = vs->vd;
    VdiJob *job;
    VdiProfile want;
    int64_t now;
    size_t budget;
    int w, h, q;
    bool force;

    if (vnc_vdi_sync_cu_active(vs) && vs->update == VNC_STATE_UPDATE_NONE) {
        /*
         * Continuous updates, also from the stock encoders once they
         * were enabled: a standing incremental request.
         */
        vs->update = VNC_STATE_UPDATE_INCREMENTAL;
    }
    if (!v || !v->job) {
        return -1;
    }
    job = v->job;
    now = vnc_vdi_now();
    vdi_poll_link(vs, now);
    vnc_vdi_sync_tick(vs, now);

    /* one job in flight per client: its updates stay in order */
    if (job->busy) {
        return 0;
    }
    if (vs->update == VNC_STATE_UPDATE_NONE ||
        vs->job_update != VNC_STATE_UPDATE_NONE) {
        return 0;
    }
    force = vs->update == VNC_STATE_UPDATE_FORCE;
    if (!force && !vs->has_dirty && !v->pending) {
        return 0;
    }
    /*
     * Like stock: one forced update in flight, else an idle queue, so no
     * more than one update (at most a byte budget) waits in the output
     * buffer.
     */
    if (force ? vs->force_update_offset != 0 : !buffer_empty(&vs->output)) {
        return 0;
    }
    if (!vdi_link_can_send(v->link, now)) {
        return 0;
    }
    budget = vdi_link_budget(v->link, now);
    if (!budget) {
        return 0;
    }
    budget = MIN(budget, vs->throttle_output_offset);

    want = vdi_want_profile(v, now);
    if (want != v->cur) {
        v->cur = want;
        vnc_vdi_event(v, DISPLAY_PROFILE_REASON_LINK);
    }
    /*
     * The rate controller's quality within the QMP range; the client's
     * JPEG quality level only enables JPEG (its scale is stock Tight's).
     */
    q = vdi_link_jpeg_quality(v->link, v->smooth_px);
    q = MAX(v->cfg.qmin, MIN(v->cfg.qmax, q));
    v->jpeg_quality = q;

    /* the encoder is ours until the job is submitted */
    vdi_enc_set_caps(job->enc, vdi_caps(v));
    vdi_enc_set_profile(job->enc, v->cur);
    vdi_enc_set_jpeg_quality(job->enc, q);
    vdi_enc_set_budget(job->enc, budget);
    vdi_enc_set_time(job->enc, now);
    vdi_enc_set_link_rate(job->enc, vdi_link_bandwidth(v->link) / 8);
    if (v->inval_all) {
        vdi_enc_invalidate(job->enc, NULL);
    }
    for (int i = 0; i < v->inval->len; i++) {
        vdi_enc_invalidate(job->enc, &g_array_index(v->inval, VdiRect, i));
    }
    v->inval_all = false;
    g_array_set_size(v->inval, 0);

    w = MIN(vs->client_width, pixman_image_get_width(vd->server));
    h = MIN(vs->client_height, pixman_image_get_height(vd->server));
    vdi_collect_damage(vs, job->damage,
                       MIN(pixman_image_get_height(vd->server),
                           VNC_MAX_HEIGHT));
    vdi_snapshot(vd, job);
    vs->has_dirty = 0;
    if (w <= 0 || h <= 0) {
        return 0;
    }

    job->w = w;
    job->h = h;
    g_byte_array_set_size(job->out, 0);
    job->gen = v->gen;
    job->update = vs->update;
    vs->update = VNC_STATE_UPDATE_NONE;
    job->t_submit = now;
    job->busy = true;
    trace_vnc_vdi_job_submit(v->id, job->damage->len, w, h, budget,
                             vnc_vdi_now() - now);
    vnc_vdi_pool_submit(job);
    return 1;
}

bool vnc_vdi_busy(VncState *vs)
{
    VncVdi *v = vs->vdi;

    return v && v->job && (v->job->busy ||
                           ((vs->update != VNC_STATE_UPDATE_NONE ||
                             vnc_vdi_sync_cu_active(vs)) &&
                            (vs->has_dirty || v->pending)));
}
