/*
 * Unit tests of the VDI display encoder's link estimator
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The estimator (ui/vdi-link.c) fed synthetic timelines of a simulated
 * bottleneck link whose bandwidth and delay the test knows: rate, RTT,
 * the lan/wan switch, app-limited samples, caps, and the JPEG quality
 * and the encoder's own updates within a bandwidth cap.
 */

#include "qemu/osdep.h"
#include <math.h>
#include "ui/vdi-link.h"
#include "vdi-enc-test.h"

/*
 * A bottleneck link of @bps bit/s and @rtt ns round trip (a byte is
 * acknowledged one RTT after the bottleneck has sent it), fed by an
 * application with endless data (video) that may send an update every
 * 33 ms.  Like the VNC glue, it reports the unacknowledged bytes
 * (SIOCOUTQ) every millisecond and at the exact time the queue drains,
 * and sends an RTT probe (Fence) when the queue has drained.
 */
typedef struct SimSend {
    int64_t start, finish, rtt;
    uint64_t bytes;
} SimSend;

typedef struct SimLink {
    double bps;
    int64_t rtt;
    int64_t link_free;          /* when the bottleneck is idle again */
    GArray *sends;              /* SimSend not yet fully acknowledged */
    uint64_t unacked_base;
    uint64_t sent_bytes;
    int64_t probe_reply;        /* when the pending probe's reply comes */
} SimLink;

static void sim_init(SimLink *s, double bps, int64_t rtt)
{
    memset(s, 0, sizeof(*s));
    s->bps = bps;
    s->rtt = rtt;
    s->sends = g_array_new(false, false, sizeof(SimSend));
    s->probe_reply = -1;
}

static void sim_send(SimLink *s, int64_t now, size_t bytes)
{
    SimSend ss;

    ss.start = MAX(now, s->link_free);
    ss.finish = ss.start + (int64_t)(bytes * 8 * 1e9 / s->bps);
    ss.bytes = bytes;
    ss.rtt = s->rtt;
    s->link_free = ss.finish;
    s->sent_bytes += bytes;
    g_array_append_val(s->sends, ss);
}

/* Unacknowledged bytes at @t */
static uint64_t sim_unacked(SimLink *s, int64_t t)
{
    double n = 0;

    while (s->sends->len) {
        SimSend *ss = &g_array_index(s->sends, SimSend, 0);

        if (ss->finish + ss->rtt > t) {
            break;
        }
        g_array_remove_index(s->sends, 0);
    }
    for (guint i = 0; i < s->sends->len; i++) {
        SimSend *ss = &g_array_index(s->sends, SimSend, i);
        double done = ss->finish > ss->start ?
            (double)(t - ss->rtt - ss->start) / (ss->finish - ss->start) : 0;

        n += ss->bytes * (1 - MAX(0.0, MIN(1.0, done)));
    }
    return (uint64_t)(n + 0.5);
}

/* Run the timeline from @t0 for @dur ns; returns the end time */
static int64_t sim_run(VdiLink *l, SimLink *s, int64_t t0, int64_t dur,
                       VdiProfile *prof, int *switches)
{
    const int64_t tick = 1000000, frame = 33 * tick;
    int64_t t = t0;

    while (t < t0 + dur) {
        int64_t nt = t + tick;
        int64_t drain = s->sends->len ?
            s->link_free + g_array_index(s->sends, SimSend,
                                         s->sends->len - 1).rtt : 0;
        VdiProfile p;

        if (s->sends->len && drain > t && drain <= nt) {
            /* exact drain time, and the RTT probe goes out */
            sim_unacked(s, drain);
            vdi_link_on_queue(l, drain, 0);
            s->probe_reply = drain + s->rtt;
        }
        if (s->probe_reply >= 0 && s->probe_reply <= nt) {
            vdi_link_on_rtt(l, s->probe_reply, s->rtt);
            s->probe_reply = -1;
        }
        t = nt;
        vdi_link_on_queue(l, t, sim_unacked(s, t));
        if ((t - t0) % frame == 0 && vdi_link_can_send(l, t)) {
            size_t b = vdi_link_budget(l, t);

            vdi_link_on_sent(l, t, b);
            sim_send(s, t, b);
        }
        p = vdi_link_profile(l, t);
        if (p != *prof) {
            (*switches)++;
            *prof = p;
        }
    }
    return t;
}

static void link_case(double bps, int64_t rtt, VdiProfile hint,
                      VdiProfile want)
{
    VdiLink *l = vdi_link_new(hint, 0);
    SimLink s;
    VdiProfile prof = hint;
    int switches = 0;
    int64_t t;

    sim_init(&s, bps, rtt);
    t = sim_run(l, &s, 0, 10 * 1000000000ll, &prof, &switches);
    g_assert_cmpfloat(fabs(vdi_link_bandwidth(l) - bps) / bps, <, 0.1);
    g_assert_cmpfloat(fabs((double)vdi_link_rtt_min(l) - rtt) / rtt, <,
                      0.1);
    g_assert_cmpint(prof, ==, want);
    g_assert_cmpint(switches, <=, 1);
    g_assert_cmpint(switches, ==, hint != want);
    /* the link is used: at least 70% of its capacity over the run */
    g_assert_cmpfloat(s.sent_bytes * 8.0 / (t / 1e9), >, 0.7 * bps);
    /* in flight: about one BDP (plus a frame interval) at most */
    g_assert_cmpuint(vdi_link_budget(l, t), <=,
                     2.5 * bps / 8 * MAX(rtt, 33000000) / 1e9 + 65536);
    g_array_free(s.sends, true);
    vdi_link_free(l);
}

static void test_link_wan(void)
{
    /* 2 Mbit/s, 80 ms, starting from either zone hint */
    link_case(2e6, 80 * 1000000, VDI_PROFILE_WAN, VDI_PROFILE_WAN);
    link_case(2e6, 80 * 1000000, VDI_PROFILE_LAN, VDI_PROFILE_WAN);
}

static void test_link_lan(void)
{
    /* 1 Gbit/s, 0.2 ms */
    link_case(1e9, 200 * 1000, VDI_PROFILE_LAN, VDI_PROFILE_LAN);
    link_case(1e9, 200 * 1000, VDI_PROFILE_WAN, VDI_PROFILE_LAN);
}

/*
 * An idle desktop on a fast LAN: small updates that drain at once, but
 * the caller only notices each drain at its next update, half a second
 * later.  Such app-limited samples must not make the link look slow.
 */
static void test_link_app_limited(void)
{
    VdiLink *l = vdi_link_new(VDI_PROFILE_LAN, 0);
    int64_t t;

    for (t = 0; t < 20 * 1000000000ll; t += 500 * 1000000) {
        vdi_link_on_sent(l, t, 2000);
        vdi_link_on_drained(l, t + 499 * 1000000);
        g_assert_cmpint(vdi_link_profile(l, t + 499 * 1000000), ==,
                        VDI_PROFILE_LAN);
    }
    g_assert_cmpfloat(vdi_link_bandwidth(l), >, 50e6);
    vdi_link_free(l);
}

/*
 * A fast LAN polled every 30 ms: each poll finds the update just sent
 * still queued (unacknowledged), although everything queued at the
 * previous poll was delivered long ago.  The queue was not busy in
 * between, so these intervals must not be taken as the link's rate.
 */
static void test_link_idle_between_polls(void)
{
    VdiLink *l = vdi_link_new(VDI_PROFILE_LAN, 0);
    int64_t t;

    for (t = 0; t < 10 * 1000000000ll; t += 30 * 1000000) {
        vdi_link_on_sent(l, t, 3000);
        /* 3000 bytes sent, 1000 of them still in flight */
        vdi_link_on_queue(l, t + 100 * 1000, 1000);
        g_assert_cmpint(vdi_link_profile(l, t + 100 * 1000), ==,
                        VDI_PROFILE_LAN);
    }
    g_assert_cmpfloat(vdi_link_bandwidth(l), >, 50e6);
    vdi_link_free(l);
}

/* Transport rate samples: app-limited ones only raise the estimate */
static void test_link_rate(void)
{
    VdiLink *l = vdi_link_new(VDI_PROFILE_WAN, 0);
    int64_t t = 0;

    vdi_link_on_rate(l, t, 1e6, true);
    g_assert_cmpfloat(vdi_link_bandwidth(l), ==, 5e6);      /* prior */
    vdi_link_on_rate(l, t, 300e6, true);
    g_assert_cmpfloat(vdi_link_bandwidth(l), ==, 300e6);
    for (t = 0; t < 6 * 1000000000ll; t += 100 * 1000000) {
        vdi_link_on_rtt(l, t, 1000000);
        vdi_link_on_rate(l, t, 300e6, true);
    }
    g_assert_cmpint(vdi_link_profile(l, t), ==, VDI_PROFILE_LAN);
    /*
     * not app-limited: a slower link replaces the estimate in time, and
     * the profile follows after the dwell time
     */
    for (int64_t end = t + 6 * 1000000000ll; t < end; t += 100 * 1000000) {
        vdi_link_on_rate(l, t, 2e6, false);
    }
    g_assert_cmpfloat(vdi_link_bandwidth(l), ==, 2e6);
    g_assert_cmpint(vdi_link_profile(l, t), ==, VDI_PROFILE_WAN);
    vdi_link_free(l);
}

static void test_link_degrade(void)
{
    VdiLink *l = vdi_link_new(VDI_PROFILE_LAN, 0);
    SimLink s;
    VdiProfile prof = VDI_PROFILE_LAN;
    int switches = 0;
    int64_t t;

    sim_init(&s, 1e9, 200 * 1000);
    t = sim_run(l, &s, 0, 5000000000ll, &prof, &switches);
    g_assert_cmpint(switches, ==, 0);
    /* the VPN kicks in: 5 Mbit/s, 40 ms */
    s.bps = 5e6;
    s.rtt = 40 * 1000000;
    t = sim_run(l, &s, t, 20000000000ll, &prof, &switches);
    g_assert_cmpint(prof, ==, VDI_PROFILE_WAN);
    g_assert_cmpint(switches, ==, 1);
    g_assert_cmpfloat(fabs(vdi_link_bandwidth(l) - 5e6) / 5e6, <, 0.1);
    /* back on the LAN */
    s.bps = 1e9;
    s.rtt = 200 * 1000;
    t = sim_run(l, &s, t, 20000000000ll, &prof, &switches);
    g_assert_cmpint(prof, ==, VDI_PROFILE_LAN);
    g_assert_cmpint(switches, ==, 2);
    g_assert_cmpfloat(fabs(vdi_link_bandwidth(l) - 1e9) / 1e9, <, 0.1);

    /* a link in between the thresholds keeps its profile: no flapping */
    s.bps = 35e6;
    s.rtt = 20 * 1000000;
    sim_run(l, &s, t, 20000000000ll, &prof, &switches);
    g_assert_cmpint(switches, ==, 2);
    g_array_free(s.sends, true);
    vdi_link_free(l);
}

static void test_link_quality_caps(void)
{
    VdiLink *l = vdi_link_new(VDI_PROFILE_WAN, 0);
    SimLink s;
    VdiProfile prof = VDI_PROFILE_WAN;
    int switches = 0, q_small, q_big, n = 0;
    int64_t t, last = -1;

    sim_init(&s, 2e6, 80 * 1000000);
    t = sim_run(l, &s, 0, 5000000000ll, &prof, &switches);
    /* more pixels per second for the same bandwidth: lower quality */
    q_small = vdi_link_jpeg_quality(l, 64 * 64);
    q_big = vdi_link_jpeg_quality(l, 1920 * 1080);
    g_assert_cmpint(q_small, <=, 90);
    g_assert_cmpint(q_big, >=, 20);
    g_assert_cmpint(q_small, >, q_big);
    g_assert_cmpint(vdi_link_jpeg_quality(l, 0), ==, 90);

    /* a bandwidth cap lowers the budget and the estimate used */
    vdi_link_set_caps(l, 10, 5e5);
    g_assert_cmpfloat(vdi_link_bandwidth(l), <=, 5e5);
    /* the fps cap: at most 10 updates per second */
    vdi_link_on_drained(l, t);
    for (int64_t tt = t; tt < t + 1000000000ll; tt += 1000000) {
        if (vdi_link_can_send(l, tt)) {
            vdi_link_on_sent(l, tt, 100);
            vdi_link_on_drained(l, tt + 1000);
            g_assert_true(last < 0 || tt - last >= 100000000);
            last = tt;
            n++;
        }
    }
    g_assert_cmpint(n, >=, 9);
    g_assert_cmpint(n, <=, 10);
    g_array_free(s.sends, true);
    vdi_link_free(l);
}

/*
 * The bandwidth cap holds as a rate over time: on a fast link, with an
 * update at every opportunity (each ms, fps cap 30) and each update at
 * least VDI_ENC_MIN_BUDGET long, as the encoder makes them, the bytes
 * sent stay within 5% of the cap.
 */
static void test_link_cap_rate(void)
{
    static const double caps[] = { 5e5, 2e6, 20e6 };
    const int64_t s = 1000000000ll;

    for (int i = 0; i < ARRAY_SIZE(caps); i++) {
        VdiLink *l = vdi_link_new(VDI_PROFILE_WAN, 0);
        uint64_t bytes = 0;
        double rate;

        vdi_link_set_caps(l, 30, caps[i]);
        for (int64_t t = 0; t < 21 * s; t += 1000000) {
            /* the queue drains within the millisecond */
            vdi_link_on_queue(l, t, 0);
            if (vdi_link_can_send(l, t)) {
                size_t b = MAX(vdi_link_budget(l, t), VDI_ENC_MIN_BUDGET);

                vdi_link_on_sent(l, t, b);
                if (t >= s) {
                    bytes += b;
                }
            }
        }
        rate = bytes * 8.0 / 20;
        if (fabs(rate - caps[i]) / caps[i] >= 0.05) {
            g_error("cap %.0f bit/s: sent %.0f bit/s", caps[i], rate);
        }
        vdi_link_free(l);
    }
}

/*
 * The JPEG quality controller fills a bandwidth cap whatever the update
 * rate: a video source of 640x360 smooth pixels at 7 or 30 frames/s on
 * a fast link capped at 1 Mbit/s, encoded with a JPEG size model that is
 * the controller's own bits-per-pixel model times @k (content cheaper or
 * dearer than assumed).  Updates go out as the VNC server sends them:
 * whenever there is something to send and the link allows, at most the
 * byte budget (the rest waits and merges with the next frame).  The rate
 * after 5 s is within 10% of the cap, and at 7 frames/s the quality is
 * not the lowest (the controller does not assume 30 updates/s).
 */
static void link_quality_case(double fps, double k)
{
    const double cap = 1e6;
    const uint64_t px = 640 * 360;
    const int64_t s = 1000000000ll, frame_ns = s / fps;
    VdiLink *l = vdi_link_new(VDI_PROFILE_WAN, 0);
    uint64_t smooth = 0, bytes = 0;
    double left = 0, qsum = 0, rate;
    int64_t next_frame = 0;
    int nq = 0;

    vdi_link_set_caps(l, 0, cap);
    for (int64_t t = 0; t < 25 * s; t += 1000000) {
        vdi_link_on_queue(l, t, 0);
        if (t >= next_frame) {
            left = -1;          /* a new frame, size unknown yet */
            next_frame += frame_ns;
        }
        if (left && vdi_link_can_send(l, t)) {
            size_t budget = MAX(vdi_link_budget(l, t), VDI_ENC_MIN_BUDGET);
            double sent;

            if (left < 0) {
                int q = vdi_link_jpeg_quality(l, smooth);
                double bpp = k * 0.15 * pow(2.0 / 0.15, (q - 20) / 70.0);

                left = px * bpp / 8;
                if (t >= 5 * s) {
                    qsum += q;
                    nq++;
                }
            }
            sent = MIN(left, budget);
            left -= sent;
            vdi_link_on_sent(l, t, sent);
            vdi_link_on_update(l, t, px * sent / (sent + left));
            smooth = (smooth * 3 + px * sent / (sent + left)) / 4;
            if (t >= 5 * s) {
                bytes += sent;
            }
        }
    }
    rate = bytes * 8.0 / 20;
    g_test_message("%.0f frames/s, k %.1f: %.0f bit/s, mean quality %.1f",
                   fps, k, rate, qsum / nq);
    if (fabs(rate - cap) / cap >= 0.10) {
        g_error("%.0f fps, k %.1f: sent %.0f bit/s, quality %.1f", fps, k,
                rate, qsum / nq);
    }
    if (fps < 10) {
        g_assert_cmpfloat(qsum / nq, >, 35);
    }
    vdi_link_free(l);
}

/*
 * The bandwidth cap holds with the encoder's own updates: video (a photo
 * that changes 30 times a second, 960x540, JPEG quality fixed at 70,
 * several times the cap) on a link capped at 1 Mbit/s, the encoder given
 * the link's byte budget at each update opportunity.  On a loaded host
 * the opportunities come every 100-250 ms (main loop, encoding time),
 * not every frame, so each update must carry what the cap allowed since
 * the last one.  The rate is within 10% of the cap and not above it
 * (plus one burst over the run).
 */
static void cap_encoder_case(int64_t interval_ms)
{
    const int w = 960, h = 540;
    const double cap = 1e6;
    const int64_t s = 1000000000ll, t_end = 11 * s;
    VdiEncoder *e = vdi_enc_new(VDI_PROFILE_WAN, VDI_ENC_CAP_ALL);
    VdiLink *l = vdi_link_new(VDI_PROFILE_WAN, 0);
    RfbDec *d = rfb_dec_new(w, h);
    Frame *f = frame_new(w, h, 0);
    g_autoptr(GByteArray) out = g_byte_array_new();
    VdiEncStats st;
    uint64_t bytes = 0;
    int64_t shown = -1;
    double rate;

    vdi_link_set_caps(l, 0, cap);
    vdi_enc_set_jpeg_quality(e, 70);
    for (int64_t t = 0; t < t_end; t += interval_ms * MSEC) {
        int64_t frame = t / (33 * MSEC);
        int n;

        /* the last update drained at once: the link is far faster */
        vdi_link_on_queue(l, t, 0);
        if (frame != shown) {
            syn_photo(f->px, f->sp, 0, 0, w, h, frame, 7);
            shown = frame;
        }
        if (!vdi_link_can_send(l, t)) {
            continue;
        }
        vdi_enc_set_budget(e, vdi_link_budget(l, t));
        vdi_enc_set_time(e, t);
        vdi_enc_set_link_rate(e, vdi_link_bandwidth(l) / 8);
        g_byte_array_set_size(out, 0);
        n = vdi_enc_frame(e, f->px, w, h, f->sp * 4, NULL, 0, out, &st);
        g_assert_cmpint(n, >=, 0);
        g_assert_true(rfb_dec_apply(d, out->data, out->len, n));
        vdi_link_on_sent(l, t, out->len);
        vdi_link_on_update(l, t, st.lossy_pixels);
        if (t >= s) {
            bytes += out->len;
        }
    }
    rate = bytes * 8.0 / ((t_end - s) / 1e9);
    g_test_message("updates every %" PRId64 " ms: %.0f bit/s", interval_ms,
                   rate);
    if (rate < cap * 0.9 || rate > cap * 1.03) {
        g_error("updates every %" PRId64 " ms: sent %.0f bit/s, cap %.0f",
                interval_ms, rate, cap);
    }
    frame_free(f);
    rfb_dec_free(d);
    vdi_link_free(l);
    vdi_enc_free(e);
}

static void test_link_cap_encoder(void)
{
    cap_encoder_case(50);
    cap_encoder_case(150);
    cap_encoder_case(250);
}

static void test_link_quality_rate(void)
{
    link_quality_case(7, 1);
    link_quality_case(7, 0.5);
    link_quality_case(7, 2);
    link_quality_case(30, 1);
    link_quality_case(30, 0.5);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vdi-enc/link/wan", test_link_wan);
    g_test_add_func("/vdi-enc/link/lan", test_link_lan);
    g_test_add_func("/vdi-enc/link/degrade-recover", test_link_degrade);
    g_test_add_func("/vdi-enc/link/app-limited", test_link_app_limited);
    g_test_add_func("/vdi-enc/link/idle-between-polls",
                    test_link_idle_between_polls);
    g_test_add_func("/vdi-enc/link/rate", test_link_rate);
    g_test_add_func("/vdi-enc/link/quality-caps", test_link_quality_caps);
    g_test_add_func("/vdi-enc/link/cap-rate", test_link_cap_rate);
    g_test_add_func("/vdi-enc/link/quality-rate", test_link_quality_rate);
    g_test_add_func("/vdi-enc/link/cap-encoder", test_link_cap_encoder);
    return g_test_run();
}
