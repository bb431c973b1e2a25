/*
 * QTest for the automatic display profile under a throttled link
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A gvnc client talks to QEMU's VNC server through a proxy thread in
 * this test, which relays between a socket pair on the client's side and
 * a loopback TCP connection on QEMU's side (so that QEMU measures a real
 * TCP socket) at a rate and with a delay the test sets.  With the
 * profile auto and a part of the screen animated: on the fast link the
 * client stays on lan; throttled to 1.5 Mbit/s with 40 ms of delay it
 * switches to wan (DISPLAY_PROFILE_CHANGED, reason link) with a measured
 * bandwidth near the throttle; unthrottled, it goes back to lan, not
 * before the dwell time, and does not flap.  The static text stays exact
 * throughout, and the whole screen is exact at the end.
 */

#include "qemu/osdep.h"
#include "qemu/sockets.h"
#include "qemu/atomic.h"
#include "qemu/thread.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "vdi-display-util.h"
#include "vdi-display-qmp.h"
#include "vdi-gvnc-client.h"

/* the animated part of the photo */
#define AX 352
#define AY 96
#define AW 256
#define AH 192

#define THROTTLE_BPS 1500000
#define THROTTLE_DELAY_US 40000
/* as in ui/vdi-link.h */
#define TO_WAN_BPS 20e6
#define DWELL_US (5 * G_USEC_PER_SEC)
/* generous: a loaded machine with two cores */
#define SWITCH_TIMEOUT_US (90 * G_USEC_PER_SEC)

/* ---- the throttling proxy ---- */

typedef struct Chunk {
    int64_t release;        /* monotonic us */
    size_t len, off;
    uint8_t data[];
} Chunk;

typedef struct Pipe {
    int src, dst;
    GQueue q;               /* of Chunk, delayed bytes */
    size_t queued;
    double tokens;
    int64_t last_fill;
    bool eof;
} Pipe;

typedef struct Proxy {
    QemuThread thread;
    int client_fd;          /* the proxy's end towards gvnc */
    int qemu_fd;            /* the proxy's end towards QEMU */
    int64_t rate;           /* bytes/s, 0: unlimited; atomic */
    int64_t delay_us;       /* atomic */
    uint64_t to_client;     /* bytes relayed towards the client; atomic */
    bool stop;              /* atomic */
} Proxy;

#define PIPE_QUEUE_MAX (64 * 1024)
#define PIPE_READ_MAX (16 * 1024)
/* the proxy's receive buffer on QEMU's side while throttled */
#define PROXY_RCVBUF 4096

/* Bytes @p may read now */
static size_t pipe_allowance(Pipe *p, int64_t rate, int64_t now)
{
    double burst;

    if (!rate) {
        p->tokens = 0;
        p->last_fill = now;
        return PIPE_READ_MAX;
    }
    /* at most 5 ms worth in one go, so that the rate is smooth */
    burst = MAX(rate * 0.005, 1500);
    p->tokens = MIN(burst, p->tokens + rate * (now - p->last_fill) / 1e6);
    p->last_fill = now;
    return p->tokens >= 1 ? MIN((size_t)p->tokens, PIPE_READ_MAX) : 0;
}

static bool pipe_read(Pipe *p, size_t max, int64_t now, int64_t delay,
                      uint64_t *count)
{
    Chunk *c = g_malloc(sizeof(Chunk) + max);
    ssize_t n = read(p->src, c->data, max);

    if (n <= 0) {
        g_free(c);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return true;
        }
        p->eof = true;
        return false;
    }
    c->release = now + delay;
    c->len = n;
    c->off = 0;
    g_queue_push_tail(&p->q, c);
    p->queued += n;
    if (p->tokens >= n) {
        p->tokens -= n;
    } else {
        p->tokens = 0;
    }
    if (count) {
        qatomic_set(count, qatomic_read(count) + n);
    }
    return true;
}

static bool pipe_write(Pipe *p, int64_t now)
{
    Chunk *c;

    while ((c = g_queue_peek_head(&p->q)) && c->release <= now) {
        ssize_t n = write(p->dst, c->data + c->off, c->len - c->off);

        if (n < 0) {
            return errno == EAGAIN || errno == EINTR;
        }
        c->off += n;
        p->queued -= n;
        if (c->off < c->len) {
            return true;
        }
        g_free(g_queue_pop_head(&p->q));
    }
    return true;
}

static void *proxy_thread(void *opaque)
{
    Proxy *px = opaque;
    Pipe pipes[2] = {
        { .src = px->qemu_fd, .dst = px->client_fd },
        { .src = px->client_fd, .dst = px->qemu_fd },
    };

    for (int i = 0; i < 2; i++) {
        g_queue_init(&pipes[i].q);
        pipes[i].last_fill = g_get_monotonic_time();
    }
    while (!qatomic_read(&px->stop)) {
        struct pollfd pfd[4];
        int64_t now = g_get_monotonic_time();
        int64_t rate = qatomic_read(&px->rate);
        int64_t delay = qatomic_read(&px->delay_us);
        int timeout = 5;
        int n = 0;
        int rd[2] = { -1, -1 }, wr[2] = { -1, -1 };

        for (int i = 0; i < 2; i++) {
            Pipe *p = &pipes[i];
            Chunk *c = g_queue_peek_head(&p->q);
            /* the throttle applies in both directions */
            size_t allow = pipe_allowance(p, rate, now);

            if (!p->eof && allow && p->queued < PIPE_QUEUE_MAX) {
                pfd[n] = (struct pollfd) { .fd = p->src, .events = POLLIN };
                rd[i] = n++;
            }
            if (c && c->release <= now) {
                pfd[n] = (struct pollfd) { .fd = p->dst, .events = POLLOUT };
                wr[i] = n++;
            } else if (c) {
                timeout = MIN(timeout, (c->release - now + 999) / 1000);
            }
        }
        if (poll(pfd, n, MAX(timeout, 1)) < 0 && errno != EINTR) {
            break;
        }
        now = g_get_monotonic_time();
        for (int i = 0; i < 2; i++) {
            Pipe *p = &pipes[i];

            if (rd[i] >= 0 && pfd[rd[i]].revents) {
                size_t allow = pipe_allowance(p, rate, now);

                if (allow && !pipe_read(p, allow, now, delay,
                                        i == 0 ? &px->to_client : NULL)) {
                    /* EOF: pass it on once the queue is out */
                    shutdown(p->dst, SHUT_WR);
                }
            }
            if (wr[i] >= 0 && pfd[wr[i]].revents) {
                pipe_write(p, now);
            }
        }
        if (pipes[0].eof && pipes[1].eof) {
            break;
        }
    }
    for (int i = 0; i < 2; i++) {
        g_queue_clear_full(&pipes[i].q, g_free);
    }
    return NULL;
}

static void proxy_set(Proxy *px, int64_t bps, int64_t delay_us)
{
    /*
     * Unthrottled, a receive buffer of the usual size: with the small
     * one, the proxy's wake-ups limit the window more often than not on
     * a loaded machine.
     */
    int rcvbuf = bps ? PROXY_RCVBUF : 256 * 1024;

    setsockopt(px->qemu_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    qatomic_set(&px->rate, bps / 8);
    qatomic_set(&px->delay_us, delay_us);
}

/*
 * Start the proxy; QEMU gets the accepted end of a loopback TCP
 * connection, the client the returned end of a socket pair.
 */
static int proxy_start(Proxy *px, QTestState *qts)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET,
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    socklen_t len = sizeof(sa);
    int pair[2], lfd, qfd;
    /*
     * A small receive buffer and Ethernet-sized segments on the proxy's
     * end, so that QEMU's send queue and acknowledgements follow the
     * throttled reads closely.
     */
    int rcvbuf = PROXY_RCVBUF, mss = 1448, one = 1;

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(lfd, >=, 0);
    g_assert_cmpint(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(lfd, 1), ==, 0);
    g_assert_cmpint(getsockname(lfd, (struct sockaddr *)&sa, &len), ==, 0);

    px->qemu_fd = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(px->qemu_fd, >=, 0);
    setsockopt(px->qemu_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    setsockopt(px->qemu_fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
    setsockopt(px->qemu_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    g_assert_cmpint(connect(px->qemu_fd, (struct sockaddr *)&sa, sizeof(sa)),
                    ==, 0);
    qfd = accept(lfd, NULL, NULL);
    g_assert_cmpint(qfd, >=, 0);
    close(lfd);
    qtest_qmp_add_client(qts, "vnc", qfd);
    close(qfd);

    g_assert_cmpint(qemu_socketpair(AF_UNIX, SOCK_STREAM, 0, pair), ==, 0);
    px->client_fd = pair[1];
    qemu_socket_set_nonblock(px->client_fd);
    qemu_socket_set_nonblock(px->qemu_fd);
    qemu_thread_create(&px->thread, "vdi-proxy", proxy_thread, px,
                       QEMU_THREAD_JOINABLE);
    return pair[0];
}

static void proxy_stop(Proxy *px)
{
    qatomic_set(&px->stop, true);
    qemu_thread_join(&px->thread);
    close(px->client_fd);
    close(px->qemu_fd);
}

/* ---- the client ---- */

typedef struct Test {
    QTestState *qts;
    Proxy px;
    GvncClient c;
    uint32_t *expect;
    int frame;              /* animation frame */
    int link_events;
} Test;

/* Whether the client shows t->expect in [@x0, @x1) x [@y0, @y1) */
static bool region_exact(Test *t, int x0, int y0, int x1, int y1)
{
    return gvnc_client_is(&t->c, W, H) &&
        gvnc_client_exact(&t->c, t->expect, x0, y0, x1, y1);
}

/* Next frame of the animated area, in the guest and in t->expect */
static void animate(Test *t)
{
    g_autofree uint32_t *row = g_new(uint32_t, AW);

    t->frame++;
    for (int y = AY; y < AY + AH; y++) {
        for (int x = AX; x < AX + AW; x++) {
            row[x - AX] = t->expect[y * W + x] = photo_pixel(x, y, t->frame);
        }
        qtest_bufwrite(t->qts, LFB + ((uint64_t)y * W + AX) * 4, row,
                       AW * 4);
    }
}

/*
 * Profile changes that the link caused since the last call: the last
 * one's profile, or NULL.  Other reasons are not expected here.
 */
static const char *link_event(Test *t)
{
    static char profile[8];
    QDict *ev;
    const char *ret = NULL;

    while ((ev = qtest_qmp_event_ref(t->qts, "DISPLAY_PROFILE_CHANGED"))) {
        QDict *data = qdict_get_qdict(ev, "data");

        g_assert_cmpstr(qdict_get_str(data, "configured"), ==, "auto");
        if (!strcmp(qdict_get_str(data, "reason"), "link")) {
            g_strlcpy(profile, qdict_get_str(data, "profile"),
                      sizeof(profile));
            ret = profile;
            t->link_events++;
        }
        qobject_unref(ev);
    }
    return ret;
}

typedef struct Sample {
    const char *profile;        /* static string */
    double bandwidth;
    double rtt;
} Sample;

/*
 * Animate for up to @us microseconds, until a link event switches to
 * @until (NULL: none expected, run for @us).  Every step checks that the
 * text is exact and samples the query.
 */
static Sample run_phase(Test *t, const char *phase, int64_t us,
                        const char *until, int64_t *switch_time)
{
    int64_t end = g_get_monotonic_time() + us, next_query = 0;
    Sample s = { 0 };

    while (g_get_monotonic_time() < end) {
        const char *ev;
        int64_t now;

        animate(t);
        gvnc_pump(100);
        g_assert_false(vnc_connection_has_error(t->c.conn));
        g_assert_false(t->c.disconnected);
        g_assert_true(region_exact(t, 0, 0, SPLIT, H));

        now = g_get_monotonic_time();
        if (now >= next_query) {
            QDict *c = query_client(t->qts);

            s.profile = g_str_equal(qdict_get_str(c, "profile"), "wan") ?
                "wan" : g_str_equal(qdict_get_str(c, "profile"), "lan") ?
                "lan" : "other";
            s.bandwidth = qdict_get_int(c, "bandwidth");
            s.rtt = qdict_get_int(c, "rtt");
            g_assert_true(qdict_get_bool(c, "auto"));
            g_test_message("%s: %s, bandwidth %.2f Mbit/s, rtt %.1f ms, "
                           "jpeg quality %" PRId64 ", %" PRId64 " bytes",
                           phase, s.profile, s.bandwidth / 1e6,
                           s.rtt / 1e3, qdict_get_int(c, "jpeg-quality"),
                           qdict_get_int(c, "bytes-sent"));
            qobject_unref(c);
            next_query = now + G_USEC_PER_SEC / 2;
        }
        ev = link_event(t);
        if (ev) {
            g_test_message("%s: DISPLAY_PROFILE_CHANGED to %s", phase, ev);
            if (!until) {
                g_error("%s: unexpected switch to %s", phase, ev);
            }
            g_assert_cmpstr(ev, ==, until);
            *switch_time = g_get_monotonic_time();
            return s;
        }
    }
    if (until) {
        g_error("%s: no switch to %s within %" PRId64 " s", phase, until,
                us / G_USEC_PER_SEC);
    }
    return s;
}

static QDict *query_now(Test *t)
{
    return query_client(t->qts);
}

static void test_throttle(void)
{
    Test t = { 0 };
    QDict *c;
    Sample s;
    int64_t t_wan = 0, t_lan = 0, t_throttle, t_unthrottle, end;
    double bw;
    int fd;

    t.expect = make_image();
    t.qts = qtest_init("-machine pc -nodefaults -vga std -vnc none");
    vga_setup(t.qts, t.expect);
    set_profile_ok(t.qts, "{ 'profile': 'auto' }");

    fd = proxy_start(&t.px, t.qts);
    gvnc_client_open_fd(&t.c, fd);

    /* the fast link: the first frame, exact, on lan */
    end = g_get_monotonic_time() + SWITCH_TIMEOUT_US;
    while (!region_exact(&t, 0, 0, W, H)) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_assert_false(t.c.disconnected);
        gvnc_pump(10);
    }
    c = query_now(&t);
    g_assert_cmpstr(qdict_get_str(c, "profile"), ==, "lan");
    qobject_unref(c);

    /* past the initial dwell time, with an animation: still lan */
    s = run_phase(&t, "fast", 8 * G_USEC_PER_SEC, NULL, NULL);
    g_assert_cmpstr(s.profile, ==, "lan");
    g_assert_cmpint(t.link_events, ==, 0);

    /* throttled: wan, with about the throttle rate measured */
    proxy_set(&t.px, THROTTLE_BPS, THROTTLE_DELAY_US);
    t_throttle = g_get_monotonic_time();
    run_phase(&t, "throttled", SWITCH_TIMEOUT_US, "wan", &t_wan);
    g_test_message("switched to wan %.1f s after throttling",
                   (t_wan - t_throttle) / 1e6);
    /* no flapping while throttled: wan for longer than the dwell time */
    s = run_phase(&t, "throttled", DWELL_US + 3 * G_USEC_PER_SEC, NULL,
                  NULL);
    g_assert_cmpstr(s.profile, ==, "wan");
    bw = s.bandwidth;
    g_assert_cmpfloat(bw, <, TO_WAN_BPS);
    g_assert_cmpfloat(bw, >, THROTTLE_BPS * 0.3);
    g_assert_cmpfloat(bw, <, THROTTLE_BPS * 3);

    /* unthrottled: back to lan, not before the dwell time */
    proxy_set(&t.px, 0, 0);
    t_unthrottle = g_get_monotonic_time();
    run_phase(&t, "unthrottled", SWITCH_TIMEOUT_US, "lan", &t_lan);
    g_test_message("switched back to lan %.1f s after unthrottling",
                   (t_lan - t_unthrottle) / 1e6);
    g_assert_cmpint(t_lan - t_wan, >=, DWELL_US);
    s = run_phase(&t, "unthrottled", DWELL_US + 3 * G_USEC_PER_SEC, NULL,
                  NULL);
    g_assert_cmpstr(s.profile, ==, "lan");
    g_assert_cmpfloat(s.bandwidth, >, TO_WAN_BPS);
    g_assert_cmpint(t.link_events, ==, 2);

    /* the animation stops: the whole screen becomes exact */
    end = g_get_monotonic_time() + SWITCH_TIMEOUT_US;
    while (!region_exact(&t, 0, 0, W, H)) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_assert_false(vnc_connection_has_error(t.c.conn));
        gvnc_pump(10);
    }
    c = query_now(&t);
    g_assert_cmpstr(qdict_get_str(c, "profile"), ==, "lan");
    g_assert_cmpint(qdict_get_int(c, "lossy-pending"), ==, 0);
    g_test_message("%" PRIu64 " bytes relayed to the client, %" PRId64
                   " JPEG rectangles", qatomic_read(&t.px.to_client),
                   qdict_get_int(qdict_get_qdict(c, "tiles"), "jpeg"));
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(c, "tiles"), "jpeg"), >,
                    0);
    qobject_unref(c);
    g_assert_null(link_event(&t));

    gvnc_client_close(&t.c);
    qtest_quit(t.qts);
    proxy_stop(&t.px);
    g_free(t.expect);
}

int main(int argc, char **argv)
{
    if (getenv("GTK_VNC_DEBUG")) {
        vnc_util_set_debug(true);
    }
    g_test_init(&argc, &argv, NULL);

    if (qtest_has_machine("pc") && qtest_has_device("VGA")) {
        qtest_add_func("/vdi-display/link/throttle", test_throttle);
    }
    return g_test_run();
}
