/*
 * QTest for RFB Fence, ContinuousUpdates and hostile client messages
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * gtk-vnc has no Fence support, so this test speaks RFB itself over a
 * socket pair handed to QEMU with add_client: handshake, SetPixelFormat,
 * SetEncodings with Tight, Fence (-312) and ContinuousUpdates (-313).  It
 * walks the server's messages (FramebufferUpdate rectangles in Raw,
 * CopyRect and Tight are measured, not decoded) and checks:
 * - the server announces both extensions to a client of the display
 *   encoder, and answers a client fence with the same payload;
 * - server fences follow updates, and their answers show in
 *   query-display-clients as a fence RTT;
 * - with continuous updates, framebuffer changes arrive without requests,
 *   and stop after EnableContinuousUpdates(0), which is answered with
 *   EndOfContinuousUpdates;
 * - hostile messages disconnect that client while QEMU and another client
 *   carry on; a fence flood is bounded;
 * - a client that follows TigerVNC 1.12's rule gets continuous updates;
 * - with the updates decoded (vdi-rfb-dec.h, which refuses a zlib stream
 *   reset mid-session as noVNC must): profile switches, stock encoders
 *   included, keep the streams, and stock Tight is exact on 256 colours.
 */

#include "qemu/osdep.h"
#include "qemu/sockets.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qemu/bswap.h"
#include <poll.h>
#include "vdi-rfb-dec.h"
#include "vdi-vga-util.h"
#include "vdi-rfb-msg.h"

#define W 640
#define H 480
#define LFB VGA_LFB
#define TIMEOUT_MS 20000

#define ENC_COPYRECT 1
#define ENC_TIGHT 7
#define ENC_QUALITY5 (-27)
#define ENC_EXT_KEY_EVENT (-258)
#define ENC_FENCE (-312)
#define ENC_CU (-313)
#define FENCE_BLOCK_BEFORE 1u
#define FENCE_REQUEST 0x80000000u

typedef struct Fence {
    uint32_t flags;
    uint8_t len;
    uint8_t payload[64];
} Fence;

typedef struct Cli {
    int fd;
    GByteArray *in;
    bool eof;
    int updates;            /* FramebufferUpdates received */
    int eocu;               /* EndOfContinuousUpdates received */
    int fences;             /* ServerFences received */
    Fence last_fence;
    int answer_delay_ms;    /* -1: hold the answers to server fences */
    int answers;            /* ServerFences that were answers */
    GArray *held;           /* Fence: server fences not answered yet */
    uint64_t update_bytes;  /* bytes of FramebufferUpdates */
    RfbDec *dec;            /* decodes the updates, if set */
    /*
     * TigerVNC 1.12: at the end of the first update, enable continuous
     * updates if an EndOfContinuousUpdates came before
     */
    bool tigervnc;
    bool cu_by_rule;
} Cli;

static void cli_send(Cli *c, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = write(c->fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            /* the server may have closed the connection */
            return;
        }
        p += n;
        len -= n;
    }
}

static void cli_send_ba(Cli *c, GByteArray *b)
{
    cli_send(c, b->data, b->len);
    g_byte_array_set_size(b, 0);
}

/* Read what is there within @ms; false on EOF */
static bool cli_read(Cli *c, int ms)
{
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
    uint8_t buf[65536];
    ssize_t n;

    if (c->eof || poll(&pfd, 1, ms) <= 0) {
        return !c->eof;
    }
    n = read(c->fd, buf, sizeof(buf));
    if (n <= 0) {
        c->eof = true;
        return false;
    }
    g_byte_array_append(c->in, buf, n);
    return true;
}

static void cli_need(Cli *c, size_t n)
{
    int64_t end = g_get_monotonic_time() + TIMEOUT_MS * 1000LL;

    while (c->in->len < n) {
        g_assert_true(cli_read(c, 100));
        g_assert_cmpint(g_get_monotonic_time(), <, end);
    }
}

static void cli_take(Cli *c, void *buf, size_t n)
{
    cli_need(c, n);
    if (buf) {
        memcpy(buf, c->in->data, n);
    }
    g_byte_array_remove_range(c->in, 0, n);
}

/* Bytes of a Tight rectangle at @p (@len available); 0: incomplete */
static size_t tight_len(const uint8_t *p, size_t len, int w, int h)
{
    size_t pos = 1, data;
    unsigned ctl, filter = 0, colours = 0;

    if (len < 1) {
        return 0;
    }
    ctl = p[0] >> 4;
    if (ctl == 8) {
        return len >= 4 ? 4 : 0;            /* fill: one TPIXEL */
    }
    if (ctl == 9) {
        data = SIZE_MAX;                    /* JPEG: compact length */
    } else {
        g_assert_cmpint(ctl & 8, ==, 0);    /* basic, no PNG */
        if (p[0] & 0x40) {
            if (len < pos + 1) {
                return 0;
            }
            filter = p[pos++];
        }
        if (filter == 1) {
            if (len < pos + 1) {
                return 0;
            }
            colours = p[pos++] + 1;
            pos += colours * 3;
            data = colours == 2 ? (size_t)(w + 7) / 8 * h : (size_t)w * h;
        } else {
            data = (size_t)w * h * 3;
        }
        if (data < 12) {
            return len >= pos + data ? pos + data : 0;
        }
    }
    /* compact length */
    {
        size_t n = 0;

        for (int i = 0; i < 3; i++) {
            if (len < pos + 1) {
                return 0;
            }
            n |= (size_t)(p[pos] & (i < 2 ? 0x7f : 0xff)) << (7 * i);
            if (!(p[pos++] & 0x80) || i == 2) {
                break;
            }
        }
        return len >= pos + n ? pos + n : 0;
    }
}

/* Bytes of the server message at the start of c->in; 0: incomplete */
static size_t server_msg_len(Cli *c)
{
    const uint8_t *p = c->in->data;
    size_t len = c->in->len, pos;
    int n;

    if (!len) {
        return 0;
    }
    switch (p[0]) {
    case 0:
        if (len < 4) {
            return 0;
        }
        n = lduw_be_p(p + 2);
        pos = 4;
        for (int i = 0; i < n; i++) {
            int w, h;
            int32_t enc;
            size_t r;

            if (len < pos + 12) {
                return 0;
            }
            w = lduw_be_p(p + pos + 4);
            h = lduw_be_p(p + pos + 6);
            enc = ldl_be_p(p + pos + 8);
            pos += 12;
            switch (enc) {
            case 0:
                r = (size_t)w * h * 4;
                r = len >= pos + r ? r : 0;
                break;
            case 1:
                r = len >= pos + 4 ? 4 : 0;
                break;
            case ENC_TIGHT:
                r = tight_len(p + pos, len - pos, w, h);
                break;
            case ENC_EXT_KEY_EVENT:
                /* a pseudo-rectangle with no data, whatever its size */
                continue;
            default:
                g_error("unexpected encoding %d", enc);
            }
            if (!r && w && h) {
                return 0;
            }
            pos += r;
        }
        return pos;
    case 2:         /* Bell */
    case 150:       /* EndOfContinuousUpdates */
        return 1;
    case 3:         /* ServerCutText */
        return len >= 8 && len >= 8 + ldl_be_p(p + 4) ? 8 + ldl_be_p(p + 4) :
            0;
    case 248:       /* ServerFence */
        return len >= 9 && len >= 9u + p[8] ? 9 + p[8] : 0;
    default:
        g_error("unexpected server message %d", p[0]);
    }
}

static void send_fence(Cli *c, uint32_t flags, uint8_t len,
                       const uint8_t *payload)
{
    g_autoptr(GByteArray) b = g_byte_array_new();

    put8(b, 248); put8(b, 0); put16(b, 0);
    put32(b, flags);
    put8(b, len);
    g_byte_array_append(b, payload, len);
    cli_send_ba(c, b);
}

static void enable_cu(Cli *c, bool on);

/* Handle the complete server messages received so far */
static void cli_process(Cli *c)
{
    size_t n;

    while ((n = server_msg_len(c))) {
        const uint8_t *p = c->in->data;

        switch (p[0]) {
        case 0:
            if (c->dec) {
                g_assert_true(rfb_dec_apply(c->dec, p + 4, n - 4,
                                            lduw_be_p(p + 2)));
            }
            if (c->tigervnc && !c->updates && c->eocu) {
                c->cu_by_rule = true;
                enable_cu(c, true);
            }
            c->updates++;
            c->update_bytes += n;
            break;
        case 150:
            c->eocu++;
            break;
        case 248:
            c->last_fence.flags = ldl_be_p(p + 4);
            c->last_fence.len = p[8];
            memcpy(c->last_fence.payload, p + 9, p[8]);
            if (c->last_fence.flags & FENCE_REQUEST) {
                c->fences++;
                if (c->answer_delay_ms >= 0) {
                    g_usleep(c->answer_delay_ms * 1000);
                    send_fence(c, c->last_fence.flags & ~FENCE_REQUEST,
                               p[8], p + 9);
                } else {
                    g_array_append_val(c->held, c->last_fence);
                }
            } else {
                c->answers++;
            }
            break;
        }
        g_byte_array_remove_range(c->in, 0, n);
    }
}

/* Process messages for @ms */
static void cli_pump(Cli *c, int ms)
{
    int64_t end = g_get_monotonic_time() + ms * 1000LL;

    do {
        if (!cli_read(c, 10)) {
            break;
        }
        cli_process(c);
    } while (g_get_monotonic_time() < end);
}

/* Process messages until *@counter reaches @target; false on timeout */
static bool cli_wait(Cli *c, int *counter, int target, int ms)
{
    int64_t end = g_get_monotonic_time() + ms * 1000LL;

    while (*counter < target) {
        if (g_get_monotonic_time() > end || !cli_read(c, 10)) {
            return false;
        }
        cli_process(c);
    }
    return true;
}

static void fb_request(Cli *c, bool incremental)
{
    g_autoptr(GByteArray) b = g_byte_array_new();

    put8(b, 3); put8(b, incremental);
    put16(b, 0); put16(b, 0); put16(b, W); put16(b, H);
    cli_send_ba(c, b);
}

static void enable_cu(Cli *c, bool on)
{
    g_autoptr(GByteArray) b = g_byte_array_new();

    put8(b, 150); put8(b, on);
    put16(b, 0); put16(b, 0); put16(b, W); put16(b, H);
    cli_send_ba(c, b);
}

/* Connect, handshake (RFB 3.8, no auth), pixel format, @encs */
static Cli *cli_connect_encs(QTestState *qts, const int32_t *encs, int n)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    Cli *c = g_new0(Cli, 1);
    uint8_t ver[12], nsec, sec[16], result[4], init[24];
    int pair[2];

    g_assert_cmpint(qemu_socketpair(AF_UNIX, SOCK_STREAM, 0, pair), ==, 0);
    qtest_qmp_add_client(qts, "vnc", pair[1]);
    close(pair[1]);
    c->fd = pair[0];
    c->in = g_byte_array_new();
    c->held = g_array_new(false, false, sizeof(Fence));

    cli_take(c, ver, 12);
    g_assert_cmpmem(ver, 12, "RFB 003.008\n", 12);
    cli_send(c, ver, 12);
    cli_take(c, &nsec, 1);
    g_assert_cmpint(nsec, >=, 1);
    cli_take(c, sec, nsec);
    g_assert_nonnull(memchr(sec, 1, nsec));
    put8(b, 1);
    cli_send_ba(c, b);
    cli_take(c, result, 4);
    g_assert_cmpint(ldl_be_p(result), ==, 0);
    put8(b, 1);                             /* shared */
    cli_send_ba(c, b);
    cli_take(c, init, 24);
    g_assert_cmpint(lduw_be_p(init), ==, W);
    g_assert_cmpint(lduw_be_p(init + 2), ==, H);
    cli_take(c, NULL, ldl_be_p(init + 20));

    /* 32 bpp, depth 24, little-endian, true colour, 16/8/0 */
    put8(b, 0); put8(b, 0); put16(b, 0);
    put8(b, 32); put8(b, 24); put8(b, 0); put8(b, 1);
    put16(b, 255); put16(b, 255); put16(b, 255);
    put8(b, 16); put8(b, 8); put8(b, 0);
    put8(b, 0); put16(b, 0);
    put8(b, 2); put8(b, 0); put16(b, n);
    for (int i = 0; i < n; i++) {
        put32(b, (uint32_t)encs[i]);
    }
    cli_send_ba(c, b);
    return c;
}

/* Tight, and Fence and ContinuousUpdates if @extensions */
static Cli *cli_connect(QTestState *qts, bool extensions)
{
    static const int32_t encs[] = { ENC_TIGHT, ENC_FENCE, ENC_CU };

    return cli_connect_encs(qts, encs, extensions ? 3 : 1);
}

static void cli_free(Cli *c)
{
    if (c->dec) {
        rfb_dec_free(c->dec);
    }
    close(c->fd);
    g_byte_array_free(c->in, true);
    g_array_free(c->held, true);
    g_free(c);
}

/* Wait until the server closes the connection; false on timeout */
static bool cli_wait_eof(Cli *c)
{
    int64_t end = g_get_monotonic_time() + TIMEOUT_MS * 1000LL;

    while (!c->eof && g_get_monotonic_time() < end) {
        if (cli_read(c, 50)) {
            /* keep the buffer small; what the server sent is irrelevant */
            g_byte_array_set_size(c->in, 0);
        }
    }
    return c->eof;
}

/* Fill rows [y0, y1) of the framebuffer with a pattern of @seed */
static void fb_paint(QTestState *qts, int y0, int y1, uint32_t seed)
{
    g_autofree uint32_t *px = g_new(uint32_t, W * (y1 - y0));

    for (int i = 0; i < W * (y1 - y0); i++) {
        px[i] = (seed * 2654435761u) ^ (i / 7 * 0x010203);
    }
    qtest_bufwrite(qts, LFB + (uint64_t)y0 * W * 4, px,
                   sizeof(uint32_t) * W * (y1 - y0));
}

/* A pc with a std VGA at W x H x 32 and the lan profile by default */
static QTestState *start_vm(void)
{
    QTestState *qts = qtest_init("-machine pc -nodefaults -vga std "
                                 "-vnc none");

    vga_setup_size(qts, W, H, NULL);
    fb_paint(qts, 0, H, 1);
    qobject_unref(qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'display-set-profile',"
        "  'arguments': { 'profile': 'lan' } }"));
    return qts;
}

/* The entry of query-display-clients with the most bytes sent, or @nth */
static QDict *query_client(QTestState *qts, int nth)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-display-clients' }");
    QList *list = qdict_get_qlist(resp, "return");
    QListEntry *e;
    QDict *c = NULL;
    int i = 0;

    g_assert(list);
    QLIST_FOREACH_ENTRY(list, e) {
        if (i++ == nth) {
            c = qobject_to(QDict, qlist_entry_obj(e));
        }
    }
    g_assert_nonnull(c);
    qobject_ref(c);
    qobject_unref(resp);
    return c;
}

static int count_clients(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-display-clients' }");
    int n = qlist_size(qdict_get_qlist(resp, "return"));

    qobject_unref(resp);
    return n;
}

/* The client gets a full update when it asks */
static void assert_alive(Cli *c)
{
    int before = c->updates;

    fb_request(c, false);
    g_assert_true(cli_wait(c, &c->updates, before + 1, TIMEOUT_MS));
}

static void test_fence(void)
{
    QTestState *qts = start_vm();
    Cli *c = cli_connect(qts, true);
    uint8_t payload[13] = "hello, fence";
    QDict *q;

    /* both extensions are announced */
    c->answer_delay_ms = 0;
    g_assert_true(cli_wait(c, &c->eocu, 1, TIMEOUT_MS));
    g_assert_true(cli_wait(c, &c->fences, 1, TIMEOUT_MS));
    g_assert_cmphex(c->last_fence.flags & FENCE_REQUEST, ==, FENCE_REQUEST);

    /* a client fence comes back with the same payload, Request cleared */
    send_fence(c, FENCE_REQUEST | FENCE_BLOCK_BEFORE | 0x100,
               sizeof(payload), payload);
    g_assert_true(cli_wait(c, &c->answers, 1, TIMEOUT_MS));
    g_assert_cmphex(c->last_fence.flags, ==, FENCE_BLOCK_BEFORE);
    g_assert_cmpmem(c->last_fence.payload, c->last_fence.len,
                    payload, sizeof(payload));
    /* a 64-byte payload too */
    {
        uint8_t big[64];

        for (int i = 0; i < 64; i++) {
            big[i] = 200 - i;
        }
        send_fence(c, FENCE_REQUEST, 64, big);
        g_assert_true(cli_wait(c, &c->answers, 2, TIMEOUT_MS));
        g_assert_cmphex(c->last_fence.flags, ==, 0);
        g_assert_cmpmem(c->last_fence.payload, c->last_fence.len, big, 64);
    }

    q = query_client(qts, 0);
    g_assert_true(qdict_get_bool(q, "fence"));
    g_assert_cmpint(qdict_get_int(q, "client-fences"), ==, 2);
    g_assert_cmpint(qdict_get_int(q, "client-fences-dropped"), ==, 0);
    qobject_unref(q);
    cli_free(c);
    qtest_quit(qts);
}

static void test_server_fences(void)
{
    QTestState *qts = start_vm();
    Cli *c = cli_connect(qts, true);
    int64_t acked = 0, rtt = 0;
    QDict *q;

    /* answer every server fence 100 ms late: the measured RTT shows it */
    c->answer_delay_ms = 100;
    g_assert_true(cli_wait(c, &c->fences, 1, TIMEOUT_MS));
    for (int i = 0; i < 3; i++) {
        int f = c->fences;

        fb_paint(qts, 0, 64, 10 + i);
        fb_request(c, true);
        g_assert_true(cli_wait(c, &c->updates, i + 1, TIMEOUT_MS));
        /* a fence follows the update */
        g_assert_true(cli_wait(c, &c->fences, f + 1, TIMEOUT_MS));
    }
    for (int i = 0; i < 100 && acked < 3; i++) {
        cli_pump(c, 50);
        q = query_client(qts, 0);
        acked = qdict_get_int(q, "fences-acked");
        rtt = qdict_get_int(q, "fence-rtt");
        g_assert_cmpint(qdict_get_int(q, "rtt"), >, 0);
        qobject_unref(q);
    }
    g_test_message("fences acked %" PRId64 ", fence RTT %" PRId64 " us",
                   acked, rtt);
    g_assert_cmpint(acked, >=, 3);
    g_assert_cmpint(rtt, >=, 100000);
    g_assert_cmpint(rtt, <, 5000000);
    cli_free(c);
    qtest_quit(qts);
}

static void test_continuous(void)
{
    QTestState *qts = start_vm();
    Cli *c = cli_connect(qts, true);
    int u, e;
    QDict *q;

    c->answer_delay_ms = 0;
    g_assert_true(cli_wait(c, &c->eocu, 1, TIMEOUT_MS));
    enable_cu(c, true);
    /* no request at all: the whole screen, then each change */
    g_assert_true(cli_wait(c, &c->updates, 1, TIMEOUT_MS));
    for (int i = 0; i < 3; i++) {
        u = c->updates;
        fb_paint(qts, 100 + 50 * i, 150 + 50 * i, 20 + i);
        g_assert_true(cli_wait(c, &c->updates, u + 1, TIMEOUT_MS));
    }
    q = query_client(qts, 0);
    g_assert_true(qdict_get_bool(q, "continuous-updates"));
    g_assert_cmpint(qdict_get_int(q, "fences-sent"), >=, 2);
    qobject_unref(q);

    /* disable: EndOfContinuousUpdates, then nothing without a request */
    enable_cu(c, false);
    g_assert_true(cli_wait(c, &c->eocu, 2, TIMEOUT_MS));
    cli_pump(c, 200);
    u = c->updates;
    fb_paint(qts, 300, 400, 30);
    cli_pump(c, 1500);
    g_assert_cmpint(c->updates, ==, u);
    q = query_client(qts, 0);
    g_assert_false(qdict_get_bool(q, "continuous-updates"));
    qobject_unref(q);
    /* a request gets the change */
    fb_request(c, true);
    g_assert_true(cli_wait(c, &c->updates, u + 1, TIMEOUT_MS));

    /*
     * profile off: the stock encoders take over and continuous updates go
     * on (TigerVNC 1.12 would never ask for an update again)
     */
    enable_cu(c, true);
    cli_pump(c, 200);
    qobject_unref(qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'display-set-profile',"
        "  'arguments': { 'profile': 'off' } }"));
    /* the stock encoders send everything once */
    cli_pump(c, 1000);
    e = c->eocu;
    for (int i = 0; i < 3; i++) {
        u = c->updates;
        fb_paint(qts, 100 + 50 * i, 150 + 50 * i, 40 + i);
        g_assert_true(cli_wait(c, &c->updates, u + 1, TIMEOUT_MS));
    }
    g_assert_cmpint(c->eocu, ==, e);
    q = query_client(qts, 0);
    g_assert_cmpstr(qdict_get_str(q, "profile"), ==, "off");
    g_assert_true(qdict_get_bool(q, "continuous-updates"));
    qobject_unref(q);
    /* fences still answered */
    u = c->answers;
    send_fence(c, FENCE_REQUEST, 0, NULL);
    g_assert_true(cli_wait(c, &c->answers, u + 1, TIMEOUT_MS));
    cli_free(c);
    qtest_quit(qts);
}

/*
 * TigerVNC 1.12 enables continuous updates only if the server announced
 * them before the end of the first update it gets, and QEMU answers the
 * ExtendedKeyEvent pseudo-encoding with an update at once.
 */
static void test_tigervnc_cu(void)
{
    static const int32_t encs[] = {
        ENC_EXT_KEY_EVENT, ENC_TIGHT, ENC_COPYRECT, ENC_FENCE, ENC_CU,
    };
    QTestState *qts = start_vm();
    Cli *c = cli_connect_encs(qts, encs, ARRAY_SIZE(encs));
    int64_t end = g_get_monotonic_time() + TIMEOUT_MS * 1000LL;
    bool on = false;
    int u;

    c->tigervnc = true;
    c->answer_delay_ms = 0;
    fb_request(c, false);
    g_assert_true(cli_wait(c, &c->updates, 1, TIMEOUT_MS));
    g_assert_true(c->cu_by_rule);
    while (!on && g_get_monotonic_time() < end) {
        QDict *q;

        cli_pump(c, 50);
        q = query_client(qts, 0);
        on = qdict_get_bool(q, "continuous-updates");
        qobject_unref(q);
    }
    g_assert_true(on);
    /* changes arrive without requests */
    cli_pump(c, 500);
    u = c->updates;
    fb_paint(qts, 100, 200, 7);
    g_assert_true(cli_wait(c, &c->updates, u + 1, TIMEOUT_MS));
    cli_free(c);
    qtest_quit(qts);
}

/* Rows [y0, y1) in runs of @ncolors colours of @seed (0: many colours) */
static void fb_paint_colors(QTestState *qts, int y0, int y1, uint32_t seed,
                            int ncolors)
{
    g_autofree uint32_t *px = g_new(uint32_t, W * (y1 - y0));

    if (!ncolors) {
        fb_paint(qts, y0, y1, seed);
        return;
    }
    for (int i = 0; i < W * (y1 - y0); i++) {
        uint32_t k = (i / 5 * 7 + i / W * 3 + seed) % ncolors;

        px[i] = (k * 0x0b1d3f + seed * 0x10101) & 0xffffff;
    }
    qtest_bufwrite(qts, LFB + (uint64_t)y0 * W * 4, px,
                   sizeof(uint32_t) * W * (y1 - y0));
}

/* Pixels where the client's framebuffer differs from the guest's */
static uint64_t fb_diff(QTestState *qts, Cli *c)
{
    g_autofree uint32_t *px = g_new(uint32_t, W * H);

    qtest_memread(qts, LFB, px, sizeof(uint32_t) * W * H);
    for (int i = 0; i < W * H; i++) {
        px[i] &= 0xffffff;
    }
    return rfb_dec_diff(c->dec, px, W);
}

/* Ask for incremental updates until the client has the guest's screen */
static void assert_converges(QTestState *qts, Cli *c)
{
    for (int i = 0; i < 100 && fb_diff(qts, c); i++) {
        int u = c->updates;

        fb_request(c, true);
        cli_wait(c, &c->updates, u + 1, 500);
    }
    g_assert_cmpuint(fb_diff(qts, c), ==, 0);
}

static void set_profile(QTestState *qts, const char *profile)
{
    qobject_unref(qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'display-set-profile',"
        "  'arguments': { 'profile': %s, 'max-bandwidth': %d } }",
        profile, !strcmp(profile, "wan") ? 4000000 : 0));
}

/*
 * The client's inflaters keep their state for the session, as noVNC's
 * must (its inflater keeps no window after a reset): through switches
 * between lan, wan and the stock encoders (off), and updates cut short by
 * the byte budget (wan at 4 Mbit/s), the client decodes every update with
 * no stream reset and ends with the guest's screen bit for bit.
 */
static void test_stream_continuity(void)
{
    static const int32_t encs[] = { ENC_TIGHT, ENC_COPYRECT, ENC_QUALITY5 };
    static const char *const seq[] = {
        "wan", "off", "lan", "off", "wan", "lan", "wan", "off", "lan",
    };
    static const int colors[] = { 0, 2, 40, 0, 200 };
    QTestState *qts = start_vm();
    Cli *c = cli_connect_encs(qts, encs, ARRAY_SIZE(encs));
    uint32_t seed = 100;

    c->dec = rfb_dec_new(W, H);
    fb_request(c, false);
    g_assert_true(cli_wait(c, &c->updates, 1, TIMEOUT_MS));
    for (int i = 0; i < ARRAY_SIZE(seq); i++) {
        for (int k = 0; k < ARRAY_SIZE(colors); k++) {
            int y0 = (seed * 37) % (H - 64), u = c->updates;

            fb_paint_colors(qts, y0, y0 + 64, seed++, colors[k]);
            fb_request(c, true);
            g_assert_true(cli_wait(c, &c->updates, u + 1, TIMEOUT_MS));
        }
        set_profile(qts, seq[i]);
    }
    assert_converges(qts, c);
    g_assert_cmpuint(c->dec->tight_basic, >, 0);
    cli_free(c);
    qtest_quit(qts);
}

/*
 * Stock lossless Tight (profile off) is exact on content of 256 colours:
 * the palette index 255 is not taken for "colour not found".
 */
static void test_stock_palette_256(void)
{
    static const int32_t encs[] = { ENC_TIGHT };
    QTestState *qts = start_vm();
    Cli *c;

    set_profile(qts, "off");
    c = cli_connect_encs(qts, encs, ARRAY_SIZE(encs));
    c->dec = rfb_dec_new(W, H);
    fb_paint_colors(qts, 0, H, 1, 256);
    fb_request(c, false);
    g_assert_true(cli_wait(c, &c->updates, 1, TIMEOUT_MS));
    g_assert_cmpuint(c->dec->tight_basic, >, 0);
    g_assert_cmpuint(fb_diff(qts, c), ==, 0);
    cli_free(c);
    qtest_quit(qts);
}

/*
 * Updates are paced by fence answers: a client that stops answering gets
 * no more than about one bandwidth-delay product, and updates resume when
 * it answers again.  On a socket pair the socket alone would let them
 * flow at the bandwidth cap.
 */
static void test_fence_pacing(void)
{
    QTestState *qts = start_vm();
    Cli *c = cli_connect(qts, true);
    uint64_t bytes;
    int u, seed = 100;
    QDict *q;

    /* 1 MB/s: about 3 MB in the 3 s below without fence pacing */
    qobject_unref(qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'display-set-profile',"
        "  'arguments': { 'profile': 'lan', 'max-bandwidth': 8000000 } }"));
    c->answer_delay_ms = 0;
    g_assert_true(cli_wait(c, &c->eocu, 1, TIMEOUT_MS));
    enable_cu(c, true);
    g_assert_true(cli_wait(c, &c->updates, 1, TIMEOUT_MS));
    for (int i = 0; i < 10; i++) {
        fb_paint(qts, 0, 128, seed++);
        cli_pump(c, 100);
    }
    q = query_client(qts, 0);
    g_assert_cmpint(qdict_get_int(q, "fences-acked"), >, 0);
    qobject_unref(q);

    /* stop answering, keep changing the whole screen */
    c->answer_delay_ms = -1;
    bytes = c->update_bytes;
    for (int i = 0; i < 30; i++) {
        fb_paint(qts, 0, 128, seed++);
        cli_pump(c, 100);
    }
    u = c->updates;
    for (int i = 0; i < 10; i++) {
        fb_paint(qts, 0, 128, seed++);
        cli_pump(c, 100);
    }
    g_test_message("without answers: %" PRIu64 " bytes of updates in 4 s, "
                   "%d fences held", c->update_bytes - bytes, c->held->len);
    /* a window is about 1 MB/s * (1.25 RTT + 1/30 s) */
    g_assert_cmpint(c->update_bytes - bytes, <, 512 * 1024);
    /* and nothing at all in the last second */
    g_assert_cmpint(c->updates, ==, u);
    g_assert_cmpint(c->held->len, >, 0);

    /* answering again lets updates flow */
    for (int i = 0; i < c->held->len; i++) {
        Fence *f = &g_array_index(c->held, Fence, i);

        send_fence(c, f->flags & ~FENCE_REQUEST, f->len, f->payload);
    }
    g_array_set_size(c->held, 0);
    c->answer_delay_ms = 0;
    fb_paint(qts, 0, 128, seed++);
    g_assert_true(cli_wait(c, &c->updates, u + 1, TIMEOUT_MS));
    cli_free(c);
    qtest_quit(qts);
}

typedef struct Hostile {
    const char *name;
    bool extensions;        /* negotiate Fence and CU first */
    const uint8_t *msg;
    size_t len;
    bool shut_write;        /* then close our sending side */
} Hostile;

static void test_hostile(void)
{
    static const uint8_t fence65[] = { 248, 0, 0, 0, 0x80, 0, 0, 0, 65 };
    static const uint8_t fence_off[] = { 248, 0, 0, 0, 0x80, 0, 0, 0, 0 };
    static const uint8_t enc_huge[] = { 2, 0, 0xff, 0xff };
    static const uint8_t cut_min[] = { 6, 0, 0, 0, 0x80, 0, 0, 0 };
    static const uint8_t cut_big[] = { 6, 0, 0, 0, 0, 0x20, 0, 0 };
    static const uint8_t unknown[] = { 77, 1, 2, 3, 4, 5, 6, 7 };
    static const uint8_t truncated[] = { 0, 0, 0, 0, 32, 24 };
    static const uint8_t cu_off[] = { 150, 1, 0, 0, 0, 0, 1, 0, 1, 0 };
    static const Hostile cases[] = {
        { "oversized fence payload", true, fence65, sizeof(fence65) },
        { "fence without the extension", false, fence_off,
          sizeof(fence_off) },
        { "continuous updates without the extension", false, cu_off,
          sizeof(cu_off) },
        { "65535 encodings", true, enc_huge, sizeof(enc_huge) },
        { "cut text INT32_MIN", true, cut_min, sizeof(cut_min) },
        { "cut text 2 MiB", true, cut_big, sizeof(cut_big) },
        { "unknown message type", true, unknown, sizeof(unknown) },
        { "truncated SetPixelFormat", true, truncated, sizeof(truncated),
          true },
    };
    QTestState *qts = start_vm();
    Cli *good = cli_connect(qts, true);

    good->answer_delay_ms = 0;
    assert_alive(good);
    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        Cli *bad = cli_connect(qts, cases[i].extensions);

        bad->answer_delay_ms = 0;
        if (cases[i].extensions) {
            g_assert_true(cli_wait(bad, &bad->fences, 1, TIMEOUT_MS));
        }
        g_assert_cmpint(count_clients(qts), ==, 2);
        cli_send(bad, cases[i].msg, cases[i].len);
        if (cases[i].shut_write) {
            shutdown(bad->fd, SHUT_WR);
        }
        g_test_message("%s", cases[i].name);
        g_assert_true(cli_wait_eof(bad));
        cli_free(bad);
        /* QEMU and the other client carry on */
        assert_alive(good);
        g_assert_cmpint(count_clients(qts), ==, 1);
    }
    cli_free(good);
    qtest_quit(qts);
}

static void test_fence_flood(void)
{
    QTestState *qts = start_vm();
    Cli *good = cli_connect(qts, true);
    Cli *c = cli_connect(qts, true);
    g_autoptr(GByteArray) b = g_byte_array_new();
    int64_t t0;
    double secs;
    QDict *q;

    good->answer_delay_ms = c->answer_delay_ms = 0;
    assert_alive(good);
    g_assert_true(cli_wait(c, &c->fences, 1, TIMEOUT_MS));

    /* 600 fences at once: a burst is answered, the rest dropped */
    for (int i = 0; i < 600; i++) {
        put8(b, 248); put8(b, 0); put16(b, 0);
        put32(b, FENCE_REQUEST);
        put8(b, 0);
    }
    t0 = g_get_monotonic_time();
    cli_send_ba(c, b);
    cli_pump(c, 500);
    secs = (g_get_monotonic_time() - t0) / 1e6;
    g_test_message("600 fences: %d answered in %.2f s", c->answers, secs);
    g_assert_cmpint(c->answers, >=, 64);
    g_assert_cmpint(c->answers, <=, 64 + 64 * secs + 1);
    q = query_client(qts, 1);
    g_assert_cmpint(qdict_get_int(q, "client-fences"), ==, 600);
    g_assert_cmpint(qdict_get_int(q, "client-fences-dropped"), ==,
                    600 - c->answers);
    qobject_unref(q);
    g_assert_false(c->eof);

    /* thousands more: the client is disconnected */
    for (int i = 0; i < 5000; i++) {
        put8(b, 248); put8(b, 0); put16(b, 0);
        put32(b, FENCE_REQUEST);
        put8(b, 0);
    }
    cli_send_ba(c, b);
    g_assert_true(cli_wait_eof(c));
    cli_free(c);
    assert_alive(good);
    g_assert_cmpint(count_clients(qts), ==, 1);
    cli_free(good);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (qtest_has_machine("pc") && qtest_has_device("VGA")) {
        qtest_add_func("/vdi-rfb-sync/fence", test_fence);
        qtest_add_func("/vdi-rfb-sync/server-fences", test_server_fences);
        qtest_add_func("/vdi-rfb-sync/continuous", test_continuous);
        qtest_add_func("/vdi-rfb-sync/tigervnc-continuous",
                       test_tigervnc_cu);
        qtest_add_func("/vdi-rfb-sync/stream-continuity",
                       test_stream_continuity);
        qtest_add_func("/vdi-rfb-sync/stock-palette-256",
                       test_stock_palette_256);
        qtest_add_func("/vdi-rfb-sync/fence-pacing", test_fence_pacing);
        qtest_add_func("/vdi-rfb-sync/hostile", test_hostile);
        qtest_add_func("/vdi-rfb-sync/fence-flood", test_fence_flood);
    }
    return g_test_run();
}
