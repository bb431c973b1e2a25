/*
 * VNC server glue for the VDI adaptive display encoder: QMP and statistics
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * display-set-profile and query-display-clients for VNC clients (see
 * vnc-vdi.c for the model).
 */

#include "qemu/osdep.h"
#include "hw/vdi/vdi-extension.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-vdi-display.h"
#include "qemu/module.h"
#include "vnc-vdi-int.h"

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

static DisplayProfileConfig vdi_merge(const DisplayProfileConfig *old,
                                      const VdiSet *s)
{
    DisplayProfileConfig c = *old;

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

static bool vdi_check_merged(const DisplayProfileConfig *c,
                             const char *what, Error **errp)
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
    DisplayProfileConfig c;
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
    vnc_vdi_apply(vs, false);
    vnc_vdi_event(v, DISPLAY_PROFILE_REASON_QMP);
    /* make the refresh timer pick the change up soon */
    update_displaychangelistener(&vs->vd->dcl, GUI_REFRESH_INTERVAL_DEFAULT);
}

static void vdi_set_cb(VncState *vs, void *opaque)
{
    if (vs->vdi) {
        vdi_set_client(vs, opaque);
    }
}

void vnc_vdi_set_profile(DisplayProfile profile,
                         bool has_client, int64_t client,
                         bool has_max_bandwidth, uint64_t max_bandwidth,
                         bool has_max_fps, int64_t max_fps,
                         bool has_jpeg_quality_min, int64_t jpeg_quality_min,
                         bool has_jpeg_quality_max, int64_t jpeg_quality_max,
                         DisplayProfileConfig *defaults, Error **errp)
{
    VdiSet s = {
        .profile = profile,
        .has_max_bps = has_max_bandwidth, .max_bps = max_bandwidth,
        .has_max_fps = has_max_fps, .max_fps = max_fps,
        .has_qmin = has_jpeg_quality_min, .qmin = jpeg_quality_min,
        .has_qmax = has_jpeg_quality_max, .qmax = jpeg_quality_max,
        .errp = errp,
    };
    DisplayProfileConfig c;

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
    c = vdi_merge(defaults, &s);
    if (!vdi_check_merged(&c, "the default", errp)) {
        return;
    }
    vnc_foreach_client(vdi_check_cb, &s);
    if (s.failed) {
        return;
    }
    *defaults = c;
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
    DisplayClientList ***tail = opaque;
    VncVdi *v = vs->vdi;
    DisplayClient *client;
    DisplayClientInfo *info;
    int64_t now = vnc_vdi_now();

    if (!v) {
        return;
    }
    client = g_new0(DisplayClient, 1);
    client->protocol = DISPLAY_CLIENT_PROTOCOL_VNC;
    info = &client->u.vnc;
    info->id = v->id;
    info->host = g_strdup(vs->info && vs->info->host ? vs->info->host : "");
    info->service = g_strdup(vs->info && vs->info->service ?
                             vs->info->service : "");
    info->websocket = vs->websocket;
    info->configured = v->cfg.profile;
    info->profile = vnc_vdi_in_force(v);
    info->q_auto = v->cfg.profile == DISPLAY_PROFILE_AUTO && v->job;
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
#ifdef CONFIG_VNC_H264
    /* the members come with the H.264 glue, in its own patch */
    info->tiles->h264 = v->h264_rects;
    info->tiles->h264_bytes = v->h264_bytes;
    info->tiles->h264_failures = v->h264_failures;
#endif
    info->lossy_pending = v->job ? v->lossy_pending : 0;
    info->jpeg_quality = v->jpeg_quality;
    info->max_bandwidth = v->cfg.max_bps;
    info->max_fps = v->cfg.max_fps;
    info->jpeg_quality_min = v->cfg.qmin;
    info->jpeg_quality_max = v->cfg.qmax;
    vnc_vdi_sync_query(vs, info);
    QAPI_LIST_APPEND(*tail, client);
}

void vnc_vdi_query_clients(DisplayClientList ***tail)
{
    vnc_foreach_client(vdi_query_cb, tail);
}

static void vnc_vdi_register(void)
{
    /* 2: H.264 video regions, SPICE clients */
    vdi_extension_register("display-encoder", 2);
}

type_init(vnc_vdi_register);
