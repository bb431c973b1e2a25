/*
 * VDI link estimator and rate controller for the adaptive VNC encoder
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <math.h>
#include "vdi-link.h"

#define NS_PER_S 1000000000LL
#define MS (1000000LL)

/* Windowed max of bandwidth: 8 buckets of 250 ms */
#define BW_BUCKETS 8
#define BW_BUCKET_NS (250 * MS)
/* Windowed min of RTT: 10 buckets of 1 s */
#define RTT_BUCKETS 10
#define RTT_BUCKET_NS (1000 * MS)

#define CWND_GAIN 1.25
#define DEFAULT_FPS 30.0
/* drain the queue at least this often so that RTT probes see it empty */
#define PROBE_INTERVAL_NS (1000 * MS)
#define INITIAL_DWELL_NS (2000 * MS)
#define MIN_SEND 4096
/* the bandwidth cap may be exceeded by at most this much of a burst */
#define CAP_BURST_NS (250 * MS)
/*
 * JPEG quality: the bits per pixel the link allows at the measured
 * update rate, corrected by a gain that a feedback loop on the bytes
 * actually sent per second steers (see adapt_gain()).
 */
#define RATE_TICK_NS (250 * MS)
#define RATE_TICKS 8            /* measure over 2 s */
#define GAIN_MIN 0.125
#define GAIN_MAX 8.0
#define UTIL_LOW 0.90           /* below: quality up */
#define UTIL_HIGH 0.98          /* above: the link is full, quality down */
#define MIN_FPS 1.0
/* sanity limits */
#define MAX_BPS 400e9
#define MAX_BUDGET (256u << 20)

typedef struct Bucket {
    int64_t id;     /* time / bucket length; -1: empty */
    double val;
} Bucket;

struct VdiLink {
    VdiProfile profile;
    int64_t last_switch;

    double prior_bps;
    int64_t prior_rtt;
    Bucket bw[BW_BUCKETS];
    double bw_last;         /* last windowed value (0: none yet) */
    Bucket rtt[RTT_BUCKETS];
    int64_t rtt_last;       /* last windowed value (0: none yet) */

    double cap_fps, cap_bps;
    /* token bucket of the bandwidth cap, in bytes; may go negative */
    double tokens;
    int64_t tokens_t;
    bool tokens_valid;

    uint64_t sent_total;
    uint64_t delivered;     /* acknowledged, as far as known */
    bool busy;
    int64_t busy_start;
    uint64_t busy_bytes;
    bool busy_queue_seen;   /* queue reports during this busy period */
    bool anchor_valid;
    int64_t anchor_t;
    uint64_t anchor_delivered;
    uint64_t poll_unacked;  /* the queue at the last report */
    uint64_t poll_delivered;

    int64_t last_drain;
    int64_t last_send;
    bool have_sent;

    /* measured send rate: sent_total and updates at each tick */
    int64_t now;            /* latest time seen */
    int64_t tick_t[RATE_TICKS];
    uint64_t tick_sent[RATE_TICKS];
    uint64_t tick_updates[RATE_TICKS];
    int ntick;              /* ticks recorded (ring index = ntick % N) */
    uint64_t updates;       /* vdi_link_on_update() calls */
    uint64_t lossy_updates; /* ... with lossy pixels */
    double gain;
    int64_t gain_t;
};

static void bucket_put(Bucket *b, int n, int64_t len, int64_t now, double v,
                       bool is_max)
{
    int64_t id = now / len;
    Bucket *s = &b[id % n];

    if (s->id != id) {
        s->id = id;
        s->val = v;
    } else if (is_max ? v > s->val : v < s->val) {
        s->val = v;
    }
}

/* Windowed extreme, or @fallback if the window holds no sample */
static double bucket_get(const Bucket *b, int n, int64_t len, int64_t now,
                         bool is_max, double fallback)
{
    int64_t id = now / len;
    bool any = false;
    double v = 0;

    for (int i = 0; i < n; i++) {
        if (b[i].id < 0 || b[i].id <= id - n || b[i].id > id) {
            continue;
        }
        if (!any || (is_max ? b[i].val > v : b[i].val < v)) {
            v = b[i].val;
        }
        any = true;
    }
    return any ? v : fallback;
}

static void bw_sample(VdiLink *l, int64_t now, double bps)
{
    if (!(bps > 0)) {
        return;
    }
    bps = MIN(bps, MAX_BPS);
    bucket_put(l->bw, BW_BUCKETS, BW_BUCKET_NS, now, bps, true);
    l->bw_last = bucket_get(l->bw, BW_BUCKETS, BW_BUCKET_NS, now, true,
                            l->bw_last);
}

static void rtt_sample(VdiLink *l, int64_t now, int64_t rtt)
{
    if (rtt <= 0) {
        return;
    }
    bucket_put(l->rtt, RTT_BUCKETS, RTT_BUCKET_NS, now, rtt, false);
    l->rtt_last = bucket_get(l->rtt, RTT_BUCKETS, RTT_BUCKET_NS, now, false,
                             l->rtt_last);
}

/* Record the send counters at each tick */
static void rate_tick(VdiLink *l, int64_t now)
{
    int64_t last = l->ntick ? l->tick_t[(l->ntick - 1) % RATE_TICKS] : 0;

    if (l->ntick && now - last < RATE_TICK_NS) {
        return;
    }
    l->tick_t[l->ntick % RATE_TICKS] = now;
    l->tick_sent[l->ntick % RATE_TICKS] = l->sent_total;
    l->tick_updates[l->ntick % RATE_TICKS] = l->updates;
    l->ntick++;
}

/*
 * Bytes/s sent and updates/s over the ticks' window (up to now); false
 * if the window is shorter than two ticks.
 */
static bool measured_rates(const VdiLink *l, double *bytes_s,
                           double *updates_s)
{
    int oldest = l->ntick > RATE_TICKS ? l->ntick - RATE_TICKS : 0;
    int i = oldest % RATE_TICKS;
    int64_t dt = l->now - l->tick_t[i];

    if (l->ntick < 2 || dt < 2 * RATE_TICK_NS) {
        return false;
    }
    *bytes_s = (l->sent_total - l->tick_sent[i]) * (double)NS_PER_S / dt;
    *updates_s = (l->updates - l->tick_updates[i]) * (double)NS_PER_S / dt;
    return true;
}

/* Let the windows move on with time, also without new samples */
static void refresh(VdiLink *l, int64_t now)
{
    l->now = MAX(l->now, now);
    rate_tick(l, l->now);
    l->bw_last = bucket_get(l->bw, BW_BUCKETS, BW_BUCKET_NS, now, true,
                            l->bw_last);
    l->rtt_last = bucket_get(l->rtt, RTT_BUCKETS, RTT_BUCKET_NS, now, false,
                             l->rtt_last);
}

/* Refill the token bucket of the bandwidth cap up to @now */
static void tokens_refill(VdiLink *l, int64_t now)
{
    double burst = MAX(l->cap_bps / 8 * CAP_BURST_NS / NS_PER_S, MIN_SEND);

    if (!l->cap_bps) {
        return;
    }
    if (!l->tokens_valid) {
        l->tokens_valid = true;
        l->tokens = burst;
    } else if (now > l->tokens_t) {
        l->tokens += l->cap_bps / 8 * (now - l->tokens_t) / NS_PER_S;
    }
    l->tokens = MIN(l->tokens, burst);
    l->tokens_t = MAX(l->tokens_t, now);
}

static double raw_bw(const VdiLink *l)
{
    return l->bw_last > 0 ? l->bw_last : l->prior_bps;
}

static int64_t cur_rtt(const VdiLink *l)
{
    return l->rtt_last > 0 ? l->rtt_last : l->prior_rtt;
}

VdiLink *vdi_link_new(VdiProfile zone_hint, int64_t now_ns)
{
    VdiLink *l = g_new0(VdiLink, 1);

    l->profile = zone_hint == VDI_PROFILE_WAN ? VDI_PROFILE_WAN :
        VDI_PROFILE_LAN;
    l->last_switch = now_ns - VDI_LINK_DWELL_NS + INITIAL_DWELL_NS;
    if (l->profile == VDI_PROFILE_LAN) {
        l->prior_bps = 100e6;
        l->prior_rtt = 1 * MS;
    } else {
        l->prior_bps = 5e6;
        l->prior_rtt = 50 * MS;
    }
    for (int i = 0; i < BW_BUCKETS; i++) {
        l->bw[i].id = -1;
    }
    for (int i = 0; i < RTT_BUCKETS; i++) {
        l->rtt[i].id = -1;
    }
    l->last_drain = now_ns;
    l->now = now_ns;
    l->gain = 1.0;
    l->gain_t = now_ns;
    return l;
}

void vdi_link_free(VdiLink *l)
{
    g_free(l);
}

void vdi_link_on_sent(VdiLink *l, int64_t now_ns, size_t bytes)
{
    refresh(l, now_ns);
    if (!bytes) {
        return;
    }
    if (!l->busy) {
        l->busy = true;
        l->busy_start = now_ns;
        l->busy_bytes = 0;
        l->busy_queue_seen = false;
    }
    l->busy_bytes += bytes;
    l->sent_total += bytes;
    if (l->cap_bps) {
        tokens_refill(l, now_ns);
        l->tokens -= bytes;
    }
    l->last_send = now_ns;
    l->have_sent = true;
}

static void drained(VdiLink *l, int64_t now)
{
    int64_t d = now - l->busy_start;

    if (l->busy && !l->busy_queue_seen && d > 0) {
        /*
         * Drain-rate method: the busy period lasted the serialisation of
         * its bytes plus one RTT.  Without a trustworthy RTT, the period
         * itself gives a lower bound.
         */
        int64_t ser = d - (l->rtt_last > 0 ? l->rtt_last : d);
        double bps = l->busy_bytes * 8.0 * NS_PER_S / (ser * 4 >= d ? ser : d);

        /*
         * The queue emptied before there was more to send, so the sender
         * was application-limited and the caller may have noticed the
         * drain late: the sample is a lower bound of the bandwidth.  It
         * may raise the estimate, never lower it; a slower link shows in
         * the samples taken while the queue stays full.
         */
        if (bps > raw_bw(l)) {
            bw_sample(l, now, bps);
        }
        /* and an upper bound of the RTT: it may only lower the estimate */
        if (d < cur_rtt(l)) {
            rtt_sample(l, now, d);
        }
    }
    l->busy = false;
    l->anchor_valid = false;
    l->delivered = l->sent_total;
    l->last_drain = now;
}

void vdi_link_on_queue(VdiLink *l, int64_t now_ns, size_t unacked)
{
    uint64_t delivered;

    refresh(l, now_ns);
    if (unacked > l->sent_total) {
        unacked = l->sent_total;
    }
    /* never backwards, whatever the caller reports */
    delivered = MAX(l->sent_total - unacked, l->delivered);
    if (!unacked) {
        if (l->busy && l->anchor_valid) {
            int64_t dt = now_ns - l->anchor_t;

            /*
             * The queue ran dry at some point since the last report: a
             * lower bound, like the drain samples.
             */
            if (dt >= MAX(cur_rtt(l) / 2, 2 * MS)) {
                double bps = (delivered - l->anchor_delivered) * 8.0 *
                    NS_PER_S / dt;

                if (bps > raw_bw(l)) {
                    bw_sample(l, now_ns, bps);
                }
            }
        }
        if (l->busy) {
            drained(l, now_ns);
        }
        return;
    }
    l->busy_queue_seen = true;
    /*
     * Unless fewer bytes were delivered since the last report than were
     * queued then, the queue may have run dry in between (the sender was
     * idle, not the link slow): start a new interval.
     */
    if (l->anchor_valid &&
        delivered - l->poll_delivered >= l->poll_unacked) {
        l->anchor_valid = false;
    }
    l->poll_unacked = unacked;
    l->poll_delivered = delivered;
    l->delivered = MAX(l->delivered, delivered);
    if (!l->anchor_valid) {
        l->anchor_valid = true;
        l->anchor_t = now_ns;
        l->anchor_delivered = delivered;
    } else if (now_ns - l->anchor_t >= MAX(cur_rtt(l), 10 * MS)) {
        /* delivery rate over an interval the queue was never empty */
        bw_sample(l, now_ns, (delivered - l->anchor_delivered) * 8.0 *
                  NS_PER_S / (now_ns - l->anchor_t));
        l->anchor_t = now_ns;
        l->anchor_delivered = delivered;
    }
}

void vdi_link_on_drained(VdiLink *l, int64_t now_ns)
{
    refresh(l, now_ns);
    if (l->busy) {
        drained(l, now_ns);
    }
    l->last_drain = now_ns;
}

void vdi_link_on_rtt(VdiLink *l, int64_t now_ns, int64_t rtt_ns)
{
    rtt_sample(l, now_ns, rtt_ns);
}

void vdi_link_on_rate(VdiLink *l, int64_t now_ns, double bps,
                      bool app_limited)
{
    refresh(l, now_ns);
    /*
     * Like the drain samples, an app-limited rate may raise the estimate
     * but not lower it: a link that carries little is not a slow link.
     */
    if (app_limited && bps <= raw_bw(l)) {
        return;
    }
    bw_sample(l, now_ns, bps);
}

void vdi_link_set_caps(VdiLink *l, double max_fps, double max_bps)
{
    double cap_bps = max_bps > 0 ? max_bps : 0;

    l->cap_fps = max_fps > 0 ? max_fps : 0;
    if (cap_bps != l->cap_bps) {
        l->cap_bps = cap_bps;
        l->tokens_valid = false;
    }
}

double vdi_link_bandwidth(const VdiLink *l)
{
    double bw = raw_bw(l);

    return l->cap_bps ? MIN(bw, l->cap_bps) : bw;
}

int64_t vdi_link_rtt_min(const VdiLink *l)
{
    return cur_rtt(l);
}

static double frame_interval_s(const VdiLink *l)
{
    return 1.0 / (l->cap_fps ? l->cap_fps : DEFAULT_FPS);
}

size_t vdi_link_budget(VdiLink *l, int64_t now_ns)
{
    double bps, interval;
    double cwnd;
    uint64_t inflight;

    refresh(l, now_ns);
    bps = vdi_link_bandwidth(l) / 8;
    /*
     * Where the cap is the bottleneck, the window spans the cap's burst,
     * not one frame interval (a few KiB at 1 Mbit/s): with updates
     * further apart than a frame, the tokens the cap allows would
     * overflow unused.
     */
    interval = frame_interval_s(l);
    if (l->cap_bps && l->cap_bps <= raw_bw(l)) {
        interval = MAX(interval, (double)CAP_BURST_NS / NS_PER_S);
    }
    cwnd = bps * (CWND_GAIN * cur_rtt(l) / (double)NS_PER_S + interval);
    inflight = l->busy ? l->sent_total - l->delivered : 0;
    if (l->busy && now_ns - l->last_drain > PROBE_INTERVAL_NS) {
        return 0;       /* let the queue drain once for the RTT probe */
    }
    if (cwnd <= inflight) {
        return 0;
    }
    if (l->cap_bps) {
        /*
         * The cap is a rate over time, not only a lower bandwidth in the
         * window: without it, the rate would follow the number of update
         * opportunities and the encoder's minimum budget.
         */
        tokens_refill(l, now_ns);
        if (l->tokens <= 0) {
            return 0;
        }
        cwnd = MIN(cwnd, inflight + l->tokens);
    }
    return MIN(cwnd - inflight, (double)MAX_BUDGET);
}

bool vdi_link_can_send(VdiLink *l, int64_t now_ns)
{
    size_t b;

    if (l->cap_fps && l->have_sent &&
        now_ns - l->last_send < NS_PER_S / l->cap_fps) {
        return false;
    }
    b = vdi_link_budget(l, now_ns);
    return b >= MIN_SEND || (b > 0 && !l->busy);
}

void vdi_link_on_update(VdiLink *l, int64_t now_ns, uint64_t lossy_pixels)
{
    refresh(l, now_ns);
    l->updates++;
    l->lossy_updates += lossy_pixels > 0;
}

/*
 * Feedback on the bytes sent per second, once per tick while lossy
 * updates go out: the link has room (sent < UTIL_LOW of the bandwidth,
 * e.g. because the content changes less often than assumed, or the
 * bytes-per-pixel model is off for it): quality up; the link is full:
 * quality down.  Steps are proportional, at most 25% per tick.
 */
static void adapt_gain(VdiLink *l)
{
    double bytes_s, updates_s, util, step;

    if (l->now - l->gain_t < RATE_TICK_NS) {
        return;
    }
    l->gain_t = l->now;
    if (!l->lossy_updates || !measured_rates(l, &bytes_s, &updates_s) ||
        !(updates_s > 0)) {
        return;
    }
    l->lossy_updates = 0;
    util = bytes_s * 8 / vdi_link_bandwidth(l);
    if (util < UTIL_LOW) {
        step = MIN(1.25, sqrt(UTIL_LOW / MAX(util, 0.01)));
    } else if (util > UTIL_HIGH) {
        step = MAX(0.8, sqrt(UTIL_HIGH / util) * 0.95);
    } else {
        return;
    }
    l->gain = MAX(GAIN_MIN, MIN(GAIN_MAX, l->gain * step));
}

/* Seconds between updates: measured, else the fps cap or 30/s */
static double update_interval_s(const VdiLink *l)
{
    double bytes_s, updates_s;

    if (measured_rates(l, &bytes_s, &updates_s) && updates_s > 0) {
        double fps = MAX(MIN_FPS, updates_s);

        return 1.0 / (l->cap_fps ? MIN(fps, l->cap_fps) : fps);
    }
    return frame_interval_s(l);
}

int vdi_link_jpeg_quality(VdiLink *l, uint64_t pixels_per_frame)
{
    const double lo = log2(0.15), hi = log2(2.0);
    double bpp, f;

    adapt_gain(l);
    if (!pixels_per_frame) {
        return 90;
    }
    bpp = vdi_link_bandwidth(l) * update_interval_s(l) * l->gain /
        pixels_per_frame;
    f = (log2(MAX(bpp, 0.000001)) - lo) / (hi - lo);
    f = MAX(0.0, MIN(1.0, f));
    return 20 + (int)(f * 70 + 0.5);
}

VdiProfile vdi_link_profile(VdiLink *l, int64_t now_ns)
{
    bool have_bw, have_rtt;
    double bw;
    int64_t rtt;
    VdiProfile want = l->profile;

    refresh(l, now_ns);
    have_bw = l->bw_last > 0;
    have_rtt = l->rtt_last > 0;
    bw = raw_bw(l);
    rtt = cur_rtt(l);
    if (now_ns - l->last_switch < VDI_LINK_DWELL_NS) {
        return l->profile;
    }
    if (l->profile == VDI_PROFILE_LAN) {
        if ((have_bw && bw < VDI_LINK_TO_WAN_BPS) ||
            (have_rtt && rtt > VDI_LINK_TO_WAN_RTT_NS)) {
            want = VDI_PROFILE_WAN;
        }
    } else if (have_bw && have_rtt && bw > VDI_LINK_TO_LAN_BPS &&
               rtt < VDI_LINK_TO_LAN_RTT_NS) {
        want = VDI_PROFILE_LAN;
    }
    if (want != l->profile) {
        l->profile = want;
        l->last_switch = now_ns;
    }
    return l->profile;
}
