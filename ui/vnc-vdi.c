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
 * the VdiEncoder (vdi-enc.c) in the main loop instead of by the stock
 * encoders in the VNC worker thread, paced by a VdiLink (vdi-link.c) that
 * follows the client's socket.  Each update is at most one byte budget
 * long, so no more than that is queued per update; what does not fit
 * stays dirty and is merged into later updates.
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
#include "qemu/module.h"
#include "vnc.h"
#include "vnc-jobs.h"
#include "vdi-enc.h"
#include "vdi-link.h"

#define ENC_SAMPLES 128
/* kernel rate samples are left out this long after a receiver-limited poll */
#define RWND_HOLD_NS (3 * NANOSECONDS_PER_SECOND)
#define FPS_SAMPLES 64

typedef struct VncVdiConfig {
    DisplayProfile profile;
    uint64_t max_bps;
    int64_t max_fps;
    int64_t qmin, qmax;
} VncVdiConfig;

struct VncVdi {
    int64_t id;
    VncVdiConfig cfg;
    bool copyrect;              /* the client announced CopyRect */
    int quality;                /* its JPEG quality level, -1: none */

    VdiEncoder *enc;            /* NULL: stock encoders */
    VdiLink *link;              /* with enc */
    VdiProfile cur;             /* profile enc uses */
    bool tight_used;            /* enc wrote to the Tight zlib streams */
    GByteArray *out;
    GArray *damage;
    uint64_t smooth_px;         /* mean JPEG area per update */

    uint64_t bytes_sent;
    uint64_t frames;
    uint64_t classes[VDI_ENC_CLASS__MAX];
    uint64_t copy_rects, jpeg_rects;
    uint64_t lossy_pending;
    int jpeg_quality;
    int64_t enc_total_ns;
    int64_t enc_ns[ENC_SAMPLES];
    int64_t frame_t[FPS_SAMPLES];
    /* Linux TCP_INFO at the last poll: bytes acked, busy and rwnd us */
    uint64_t tcp_acked, tcp_busy, tcp_rwnd;
    int64_t rwnd_until;         /* no kernel rate samples before */
};

static VncVdiConfig vdi_default = {
    .profile = DISPLAY_PROFILE_OFF,
    .max_bps = 0,
    .max_fps = 30,
    .qmin = 20,
    .qmax = 90,
};
static int64_t vdi_next_id = 1;

static int64_t vdi_now(void)
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
        (v->quality >= 0 ? VDI_ENC_CAP_JPEG : 0);
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

static DisplayProfile vdi_in_force(VncVdi *v)
{
    if (!v->enc) {
        return DISPLAY_PROFILE_OFF;
    }
    return v->cur == VDI_PROFILE_WAN ? DISPLAY_PROFILE_WAN :
        DISPLAY_PROFILE_LAN;
}

static void vdi_event(VncVdi *v, DisplayProfileReason reason)
{
    qapi_event_send_display_profile_changed(v->id, v->cfg.profile,
                                            vdi_in_force(v), reason);
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

static void vdi_start(VncState *vs)
{
    VncVdi *v = vs->vdi;
    int64_t now = vdi_now();

    v->link = vdi_link_new(v->cfg.profile == DISPLAY_PROFILE_WAN ?
                           VDI_PROFILE_WAN : VDI_PROFILE_LAN, now);
    v->cur = vdi_want_profile(v, now);
    /* a new encoder resets the client's zlib streams before using them */
    v->enc = vdi_enc_new(v->cur, vdi_caps(v));
    v->smooth_px = 0;
}

static void vdi_stop(VncState *vs)
{
    VncVdi *v = vs->vdi;

    vdi_enc_free(v->enc);
    v->enc = NULL;
    vdi_link_free(v->link);
    v->link = NULL;
    if (v->tight_used) {
        /* no stock job can be running: none is started while enc exists */
        vnc_tight_reset_streams(vs);
        v->tight_used = false;
    }
    /* the client may have lossy areas, and stock knows nothing it has */
    vdi_mark_all_dirty(vs);
}

static void vdi_apply(VncState *vs, bool invalidate)
{
    VncVdi *v = vs->vdi;
    bool usable = vdi_usable(vs);

    if (usable && !v->enc) {
        vdi_start(vs);
    } else if (!usable && v->enc) {
        vdi_stop(vs);
    }
    if (!v->enc) {
        return;
    }
    vdi_enc_set_caps(v->enc, vdi_caps(v));
    vdi_link_set_caps(v->link, v->cfg.max_fps, v->cfg.max_bps);
    v->cur = vdi_want_profile(v, vdi_now());
    vdi_enc_set_profile(v->enc, v->cur);
    if (invalidate) {
        vdi_enc_invalidate(v->enc, NULL);
    }
}

void vnc_vdi_client_init(VncState *vs)
{
    VncVdi *v = g_new0(VncVdi, 1);

    v->id = vdi_next_id++;
    v->cfg = vdi_default;
    v->quality = -1;
    v->out = g_byte_array_new();
    v->damage = g_array_new(false, false, sizeof(VdiRect));
    vs->vdi = v;
}

void vnc_vdi_client_free(VncState *vs)
{
    VncVdi *v = vs->vdi;

    if (!v) {
        return;
    }
    vdi_enc_free(v->enc);
    vdi_link_free(v->link);
    g_byte_array_free(v->out, true);
    g_array_free(v->damage, true);
    g_free(v);
    vs->vdi = NULL;
}

void vnc_vdi_encodings_begin(VncState *vs)
{
    if (vs->vdi) {
        vs->vdi->copyrect = false;
        vs->vdi->quality = -1;
    }
}

void vnc_vdi_client_quality(VncState *vs, int level)
{
    if (vs->vdi) {
        vs->vdi->quality = level;
    }
}

void vnc_vdi_client_copyrect(VncState *vs)
{
    if (vs->vdi) {
        vs->vdi->copyrect = true;
    }
}

void vnc_vdi_reconsider(VncState *vs, bool invalidate)
{
    if (vs->vdi) {
        vdi_apply(vs, invalidate);
    }
}

void vnc_vdi_update_request(VncState *vs, int incremental,
                            int x, int y, int w, int h)
{
    VdiRect r = { x, y, w, h };

    if (vs->vdi && vs->vdi->enc && !incremental) {
        vdi_enc_invalidate(vs->vdi->enc, &r);
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
        vdi_link_on_sent(v->link, vdi_now(), bytes);
    }
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
static void vdi_collect_damage(VncState *vs, int height)
{
    unsigned long acc[BITS_TO_LONGS(VNC_DIRTY_BITS)];
    GArray *dmg = vs->vdi->damage;

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

static void vdi_account(VncVdi *v, const VdiEncStats *st, int64_t now,
                        bool sent)
{
    for (int i = 0; i < VDI_ENC_CLASS__MAX; i++) {
        v->classes[i] += st->classes[i];
    }
    v->copy_rects += st->rects[VDI_ENC_KIND_COPYRECT];
    v->jpeg_rects += st->rects[VDI_ENC_KIND_JPEG];
    v->lossy_pending = st->lossy_pending;
    v->smooth_px = (v->smooth_px * 3 + st->lossy_pixels) / 4;
    if (sent) {
        v->enc_ns[v->frames % ENC_SAMPLES] = st->encode_ns;
        v->frame_t[v->frames % FPS_SAMPLES] = now;
        v->enc_total_ns += st->encode_ns;
        v->frames++;
    }
}

int vnc_vdi_update_client(VncState *vs)
{
    static const VdiRect no_damage;
    VncVdi *v = vs->vdi;
    VncDisplay *vd = vs->vd;
    VdiEncStats st;
    VdiProfile want;
    int64_t now;
    size_t budget;
    int n, w, h, q;
    bool force;

    if (!v || !v->enc) {
        return -1;
    }
    now = vdi_now();
    vdi_poll_link(vs, now);

    if (vs->update == VNC_STATE_UPDATE_NONE ||
        vs->job_update != VNC_STATE_UPDATE_NONE) {
        return 0;
    }
    force = vs->update == VNC_STATE_UPDATE_FORCE;
    if (!force && !vs->has_dirty && !vdi_enc_has_pending(v->enc)) {
        return 0;
    }
    /* like stock: one forced update in flight, else an idle queue */
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
        vdi_enc_set_profile(v->enc, want);
        vdi_event(v, DISPLAY_PROFILE_REASON_LINK);
    }
    q = vdi_link_jpeg_quality(v->link, v->smooth_px);
    q = MAX(v->cfg.qmin, MIN(v->cfg.qmax, q));
    if (v->quality >= 0) {
        q = MIN(q, v->quality * 10 + 10);
    }
    v->jpeg_quality = q;
    vdi_enc_set_jpeg_quality(v->enc, q);
    vdi_enc_set_budget(v->enc, budget);

    w = MIN(vs->client_width, pixman_image_get_width(vd->server));
    h = MIN(vs->client_height, pixman_image_get_height(vd->server));
    vdi_collect_damage(vs, MIN(pixman_image_get_height(vd->server),
                               VNC_MAX_HEIGHT));
    if (w <= 0 || h <= 0) {
        return 0;
    }

    g_byte_array_set_size(v->out, 0);
    vnc_lock_display(vd);
    n = vdi_enc_frame(v->enc, pixman_image_get_data(vd->server), w, h,
                      pixman_image_get_stride(vd->server),
                      v->damage->len ? (VdiRect *)v->damage->data :
                      &no_damage, v->damage->len, v->out, &st);
    vnc_unlock_display(vd);
    vs->has_dirty = 0;
    if (n < 0) {
        error_report("vnc: display encoder failed (%dx%d), using stock "
                     "encoders for client %" PRId64, w, h, v->id);
        v->cfg.profile = DISPLAY_PROFILE_OFF;
        vdi_stop(vs);
        return 0;
    }
    vdi_account(v, &st, now, n > 0 || force);
    if (!n && !force) {
        /* nothing changed after all: keep the request for later */
        return 0;
    }

    vnc_lock_output(vs);
    vnc_write_u8(vs, VNC_MSG_SERVER_FRAMEBUFFER_UPDATE);
    vnc_write_u8(vs, 0);
    vnc_write_u16(vs, n);
    vnc_write(vs, v->out->data, v->out->len);
    if (force) {
        vs->force_update_offset = vs->output.offset;
    }
    vnc_unlock_output(vs);
    v->tight_used = true;
    vs->update = VNC_STATE_UPDATE_NONE;
    vnc_flush(vs);
    return n;
}

bool vnc_vdi_busy(VncState *vs)
{
    VncVdi *v = vs->vdi;

    return v && v->enc && vs->update != VNC_STATE_UPDATE_NONE &&
        (vs->has_dirty || vdi_enc_has_pending(v->enc));
}

/* ---- QMP ---- */

typedef struct VdiFind {
    int64_t id;
    VncState *vs;
} VdiFind;

static void vdi_find_cb(VncState *vs, void *opaque)
{
    VdiFind *f = opaque;

    if (vs->vdi && vs->vdi->id == f->id) {
        f->vs = vs;
    }
}

typedef struct VdiSet {
    DisplayProfile profile;
    bool has_max_bps, has_max_fps, has_qmin, has_qmax;
    uint64_t max_bps;
    int64_t max_fps, qmin, qmax;
    Error **errp;
    bool failed;
} VdiSet;

static VncVdiConfig vdi_merge(const VncVdiConfig *old, const VdiSet *s)
{
    VncVdiConfig c = *old;

    c.profile = s->profile;
    if (s->has_max_bps) {
        c.max_bps = s->max_bps;
    }
    if (s->has_max_fps) {
        c.max_fps = s->max_fps;
    }
    if (s->has_qmin) {
        c.qmin = s->qmin;
    }
    if (s->has_qmax) {
        c.qmax = s->qmax;
    }
    return c;
}

static bool vdi_check_merged(const VncVdiConfig *c, const char *what,
                             Error **errp)
{
    if (c->qmin > c->qmax) {
        error_setg(errp, "'jpeg-quality-min' (%" PRId64 ") would be above "
                   "'jpeg-quality-max' (%" PRId64 ") for %s",
                   c->qmin, c->qmax, what);
        return false;
    }
    return true;
}

static void vdi_check_cb(VncState *vs, void *opaque)
{
    VdiSet *s = opaque;
    VncVdiConfig c;
    g_autofree char *what = NULL;

    if (s->failed || !vs->vdi) {
        return;
    }
    c = vdi_merge(&vs->vdi->cfg, s);
    what = g_strdup_printf("client %" PRId64, vs->vdi->id);
    s->failed = !vdi_check_merged(&c, what, s->errp);
}

static void vdi_set_client(VncState *vs, const VdiSet *s)
{
    VncVdi *v = vs->vdi;

    v->cfg = vdi_merge(&v->cfg, s);
    vdi_apply(vs, false);
    vdi_event(v, DISPLAY_PROFILE_REASON_QMP);
    /* make the refresh timer pick the change up soon */
    update_displaychangelistener(&vs->vd->dcl, GUI_REFRESH_INTERVAL_DEFAULT);
}

static void vdi_set_cb(VncState *vs, void *opaque)
{
    if (vs->vdi) {
        vdi_set_client(vs, opaque);
    }
}

void qmp_display_set_profile(DisplayProfile profile,
                             bool has_client, int64_t client,
                             bool has_max_bandwidth, uint64_t max_bandwidth,
                             bool has_max_fps, int64_t max_fps,
                             bool has_jpeg_quality_min,
                             int64_t jpeg_quality_min,
                             bool has_jpeg_quality_max,
                             int64_t jpeg_quality_max, Error **errp)
{
    VdiSet s = {
        .profile = profile,
        .has_max_bps = has_max_bandwidth, .max_bps = max_bandwidth,
        .has_max_fps = has_max_fps, .max_fps = max_fps,
        .has_qmin = has_jpeg_quality_min, .qmin = jpeg_quality_min,
        .has_qmax = has_jpeg_quality_max, .qmax = jpeg_quality_max,
        .errp = errp,
    };
    VncVdiConfig c;

    if (has_max_bandwidth && max_bandwidth && max_bandwidth < 8000) {
        error_setg(errp, "'max-bandwidth' must be 0 (no limit) or at least "
                   "8000 bit/s");
        return;
    }
    if (has_max_fps && (max_fps < 1 || max_fps > 240)) {
        error_setg(errp, "'max-fps' must be between 1 and 240");
        return;
    }
    if (has_jpeg_quality_min &&
        (jpeg_quality_min < 1 || jpeg_quality_min > 100)) {
        error_setg(errp, "'jpeg-quality-min' must be between 1 and 100");
        return;
    }
    if (has_jpeg_quality_max &&
        (jpeg_quality_max < 1 || jpeg_quality_max > 100)) {
        error_setg(errp, "'jpeg-quality-max' must be between 1 and 100");
        return;
    }

    if (has_client) {
        VdiFind f = { .id = client };
        g_autofree char *what = NULL;

        vnc_foreach_client(vdi_find_cb, &f);
        if (!f.vs) {
            error_setg(errp, "No VNC client with id %" PRId64, client);
            return;
        }
        c = vdi_merge(&f.vs->vdi->cfg, &s);
        what = g_strdup_printf("client %" PRId64, client);
        if (!vdi_check_merged(&c, what, errp)) {
            return;
        }
        vdi_set_client(f.vs, &s);
        return;
    }

    /* all or nothing: check every target before changing any */
    c = vdi_merge(&vdi_default, &s);
    if (!vdi_check_merged(&c, "the default", errp)) {
        return;
    }
    vnc_foreach_client(vdi_check_cb, &s);
    if (s.failed) {
        return;
    }
    vdi_default = c;
    vnc_foreach_client(vdi_set_cb, &s);
}

static double vdi_fps(VncVdi *v, int64_t now)
{
    int n = MIN(v->frames, FPS_SAMPLES);
    int count = 0;

    for (int i = 0; i < n; i++) {
        if (now - v->frame_t[i] <= NANOSECONDS_PER_SECOND) {
            count++;
        }
    }
    return count;
}

static double vdi_p95_us(VncVdi *v)
{
    int n = MIN(v->frames, ENC_SAMPLES);
    int64_t s[ENC_SAMPLES];

    if (!n) {
        return 0;
    }
    memcpy(s, v->enc_ns, n * sizeof(s[0]));
    /* insertion sort: at most ENC_SAMPLES values */
    for (int i = 1; i < n; i++) {
        int64_t x = s[i];
        int j = i;

        for (; j > 0 && s[j - 1] > x; j--) {
            s[j] = s[j - 1];
        }
        s[j] = x;
    }
    return s[(n * 95 + 99) / 100 - 1] / 1000.0;
}

static void vdi_query_cb(VncState *vs, void *opaque)
{
    DisplayClientInfoList ***tail = opaque;
    VncVdi *v = vs->vdi;
    DisplayClientInfo *info;
    int64_t now = vdi_now();

    if (!v) {
        return;
    }
    info = g_new0(DisplayClientInfo, 1);
    info->id = v->id;
    info->host = g_strdup(vs->info && vs->info->host ? vs->info->host : "");
    info->service = g_strdup(vs->info && vs->info->service ?
                             vs->info->service : "");
    info->websocket = vs->websocket;
    info->configured = v->cfg.profile;
    info->profile = vdi_in_force(v);
    info->q_auto = v->cfg.profile == DISPLAY_PROFILE_AUTO && v->enc;
    if (v->link) {
        info->bandwidth = vdi_link_bandwidth(v->link);
        info->rtt = vdi_link_rtt_min(v->link) / 1000;
    }
    info->fps = vdi_fps(v, now);
    info->bytes_sent = v->bytes_sent;
    info->frames_sent = v->frames;
    info->encode_time_mean = v->frames ?
        v->enc_total_ns / 1000.0 / v->frames : 0;
    info->encode_time_p95 = vdi_p95_us(v);
    info->tiles = g_new0(DisplayTileCounts, 1);
    info->tiles->solid = v->classes[VDI_ENC_CLASS_SOLID];
    info->tiles->mono = v->classes[VDI_ENC_CLASS_MONO];
    info->tiles->palette = v->classes[VDI_ENC_CLASS_PALETTE];
    info->tiles->smooth = v->classes[VDI_ENC_CLASS_SMOOTH];
    info->tiles->copy = v->copy_rects;
    info->tiles->jpeg = v->jpeg_rects;
    info->lossy_pending = v->enc ? v->lossy_pending : 0;
    info->jpeg_quality = v->jpeg_quality;
    info->max_bandwidth = v->cfg.max_bps;
    info->max_fps = v->cfg.max_fps;
    info->jpeg_quality_min = v->cfg.qmin;
    info->jpeg_quality_max = v->cfg.qmax;
    QAPI_LIST_APPEND(*tail, info);
}

DisplayClientInfoList *qmp_query_display_clients(Error **errp)
{
    DisplayClientInfoList *head = NULL, **tail = &head;

    vnc_foreach_client(vdi_query_cb, &tail);
    return head;
}

static void vnc_vdi_register(void)
{
    vdi_extension_register("display-encoder", 1);
}

type_init(vnc_vdi_register);
