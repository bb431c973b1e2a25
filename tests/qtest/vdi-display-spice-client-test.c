/*
 * QTest for display profiles with a SPICE client
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Puts known pixels (text and a photo) into a std VGA framebuffer and
 * reads them back with spice-client-glib, after display-set-profile,
 * over the SPICE server's Unix socket or over TCP on the loopback
 * (sockets handed to QEMU with add_client).  Then the photo changes,
 * and the bytes of that update are counted.  QEMU starts with the
 * SPICE option image-compression=off, which the profile off keeps.
 *
 * Over TCP the profile decides: lan sends the exact pixels in fewer
 * bytes than off, wan the photo as JPEG in far fewer (one JPEG for the
 * changed area, since QEMU joins its 32-pixel strips).  On a Unix
 * socket spice-server compresses the first image of the screen only:
 * every update after it is the same size whatever the profile, and
 * query-display-clients says so ("compressed": false).
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qemu/bswap.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include <spice-client.h>
#include "vdi-display-util.h"

#define TIMEOUT_US (120 * G_USEC_PER_SEC)

typedef struct Test {
    QTestState *qts;
    SpiceSession *session;
    SpiceChannel *display;
    uint8_t *covered;
    const uint8_t *need;        /* the pixels an update must cover */
    int listen_fd;              /* TCP: where the client's sockets come from */
    int main_port;              /* TCP: the client's port of the main channel */
} Test;

/* What a client saw */
typedef struct Result {
    double text_psnr, photo_psnr, update_psnr;
    uint64_t first_bytes, update_bytes;
} Result;

static void on_invalidate(SpiceChannel *channel, gint x, gint y, gint w,
                          gint h, Test *t)
{
    for (int j = MAX(y, 0); j < MIN(y + h, H); j++) {
        for (int i = MAX(x, 0); i < MIN(x + w, W); i++) {
            t->covered[j * W + i] = 1;
        }
    }
}

/* A TCP connection on the loopback: one end to QEMU, one to the channel */
static void on_open_fd(SpiceChannel *channel, int with_tls, Test *t)
{
    struct sockaddr_in in;
    socklen_t len = sizeof(in);
    int c, s;

    g_assert_cmpint(getsockname(t->listen_fd, (struct sockaddr *)&in, &len),
                    ==, 0);
    c = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(connect(c, (struct sockaddr *)&in, len), ==, 0);
    s = accept(t->listen_fd, NULL, NULL);
    g_assert_cmpint(s, >=, 0);
    if (SPICE_IS_MAIN_CHANNEL(channel)) {
        len = sizeof(in);
        g_assert_cmpint(getsockname(c, (struct sockaddr *)&in, &len), ==, 0);
        t->main_port = ntohs(in.sin_port);
    }
    qtest_qmp_add_client(t->qts, "spice", s);
    close(s);
    g_assert_true(spice_channel_open_fd(channel, c));
}

static void on_channel_new(SpiceSession *s, SpiceChannel *channel, Test *t)
{
    if (t->listen_fd >= 0) {
        g_signal_connect(channel, "open-fd", G_CALLBACK(on_open_fd), t);
    }
    if (SPICE_IS_DISPLAY_CHANNEL(channel)) {
        t->display = channel;
        g_signal_connect(channel, "display-invalidate",
                         G_CALLBACK(on_invalidate), t);
        spice_channel_connect(channel);
    }
}

/* The primary surface, if it is W x H x 32 bpp */
static bool primary(Test *t, SpiceDisplayPrimary *p)
{
    return t->display &&
        spice_display_channel_get_primary(t->display, 0, p) &&
        p->width == W && p->height == H &&
        p->format == SPICE_SURFACE_FMT_32_xRGB;
}

static bool all_covered(Test *t)
{
    for (int i = 0; i < W * H; i++) {
        if (t->need[i] && !t->covered[i]) {
            return false;
        }
    }
    return true;
}

/* Until the client has a W x H screen and updates covered t->need */
static void wait_update(Test *t, const char *what)
{
    SpiceDisplayPrimary p;
    int64_t end = g_get_monotonic_time() + TIMEOUT_US;

    while (!primary(t, &p) || !all_covered(t)) {
        if (g_get_monotonic_time() > end) {
            g_error("%s: no update from the SPICE server", what);
        }
        g_main_context_iteration(NULL, false);
        g_usleep(1000);
    }
    /* a moment for updates still on their way */
    for (int i = 0; i < 200; i++) {
        g_main_context_iteration(NULL, false);
        g_usleep(1000);
    }
}

static uint64_t read_bytes(Test *t)
{
    uint64_t bytes;

    g_object_get(t->display, "total-read-bytes", &bytes, NULL);
    return bytes;
}

static bool has_channel(QList *channels, int type)
{
    QListEntry *e;

    QLIST_FOREACH_ENTRY(channels, e) {
        QDict *ch = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(ch, "type") == type) {
            g_assert_false(qdict_get_bool(ch, "tls"));
            return true;
        }
    }
    return false;
}

/*
 * The client's entry in query-display-clients: @profile set when its
 * display connected, @configured now
 */
static void check_entry(Test *t, const char *sock, const char *profile,
                        const char *configured, const char *image)
{
    QDict *r = qtest_qmp(t->qts, "{ 'execute': 'query-display-clients' }");
    QList *list = qdict_get_qlist(r, "return");
    QDict *c, *resp;

    g_assert_cmpint(qlist_size(list), ==, 1);
    c = qobject_to(QDict, qlist_peek(list));
    g_assert_cmpstr(qdict_get_str(c, "protocol"), ==, "spice");
    g_assert_cmpint(qdict_get_int(c, "id"), >, 0);
    if (t->listen_fd >= 0) {
        g_autofree char *port = g_strdup_printf("%d", t->main_port);

        g_assert_cmpstr(qdict_get_str(c, "host"), ==, "127.0.0.1");
        g_assert_cmpstr(qdict_get_str(c, "service"), ==, port);
    } else {
        g_assert_cmpstr(qdict_get_str(c, "host"), ==, "");
        g_assert_cmpstr(qdict_get_str(c, "service"), ==, sock);
    }
    g_assert_cmpint(qdict_get_bool(c, "compressed"), ==, t->listen_fd >= 0);
    g_assert_false(qdict_get_bool(c, "tls"));
    g_assert_true(has_channel(qdict_get_qlist(c, "channels"),
                              SPICE_CHANNEL_MAIN));
    g_assert_true(has_channel(qdict_get_qlist(c, "channels"),
                              SPICE_CHANNEL_DISPLAY));
    g_assert_cmpstr(qdict_get_str(c, "profile"), ==, profile);
    g_assert_cmpstr(qdict_get_str(c, "configured"), ==, configured);
    g_assert_cmpstr(qdict_get_str(c, "image-compression"), ==, image);

    /* spice-server has no per-client setting */
    resp = qtest_qmp(t->qts, "{ 'execute': 'display-set-profile', "
                     "'arguments': { 'profile': 'lan', 'client': %" PRId64
                     " } }", qdict_get_int(c, "id"));
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "is a SPICE client"));
    qobject_unref(resp);
    qobject_unref(r);
}

/* PSNR over the colour channels of the columns [x0, x1) */
static double region_psnr(const SpiceDisplayPrimary *p, const uint32_t *expect,
                          int x0, int x1)
{
    double se = 0;
    uint64_t n = 0;

    for (int y = 0; y < H; y++) {
        const uint32_t *row = (const uint32_t *)(p->data + y * p->stride);

        for (int x = x0; x < x1; x++) {
            uint32_t a = le32_to_cpu(row[x]), b = expect[y * W + x];

            for (int s = 0; s < 24; s += 8) {
                int d = (int)((a >> s) & 0xff) - (int)((b >> s) & 0xff);

                se += d * d;
                n++;
            }
        }
    }
    return se ? 10 * log10(255.0 * 255.0 * n / se) : INFINITY;
}

/*
 * A client over TCP (@tcp) or the Unix socket connects after
 * display-set-profile @profile, gets the screen (@image: the image
 * compression it then has), then an update of the photo
 */
static void run_client(const char *profile, const char *image, bool tcp,
                       Result *r)
{
    g_autofree char *dir = g_dir_make_tmp("vdi-spice-client-XXXXXX", NULL);
    g_autofree char *sock = g_strdup_printf("%s/spice.sock", dir);
    g_autofree uint32_t *img = make_image();
    g_autofree uint8_t *need = g_malloc(W * H);
    Test t = { .listen_fd = -1, .need = need };
    SpiceDisplayPrimary p;

    t.covered = g_malloc0(W * H);
    t.qts = qtest_initf("-machine pc -nodefaults -vga std "
                        "-spice unix=on,addr=%s,disable-ticketing=on,"
                        "image-compression=off", sock);
    vga_setup(t.qts, img);
    /* spice-server gives a display channel the settings as it connects */
    qtest_qmp_assert_success(t.qts, "{ 'execute': 'display-set-profile', "
                             "'arguments': { 'profile': %s } }", profile);

    t.session = spice_session_new();
    g_signal_connect(t.session, "channel-new", G_CALLBACK(on_channel_new),
                     &t);
    if (tcp) {
        struct sockaddr_in in = {
            .sin_family = AF_INET,
            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };

        t.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
        g_assert_cmpint(bind(t.listen_fd, (struct sockaddr *)&in,
                             sizeof(in)), ==, 0);
        g_assert_cmpint(listen(t.listen_fd, 4), ==, 0);
        g_assert_true(spice_session_open_fd(t.session, -1));
    } else {
        g_object_set(t.session, "unix-path", sock, NULL);
        g_assert_true(spice_session_connect(t.session));
    }

    memset(need, 1, W * H);
    wait_update(&t, profile);
    g_assert_true(primary(&t, &p));
    r->text_psnr = region_psnr(&p, img, 0, SPLIT);
    r->photo_psnr = region_psnr(&p, img, SPLIT, W);
    r->first_bytes = read_bytes(&t);
    check_entry(&t, sock, profile, profile, image);

    /* the photo's next frame: the pixels that change */
    memset(need, 0, W * H);
    for (int y = 0; y < H; y++) {
        for (int x = SPLIT; x < W; x++) {
            uint32_t v = photo_pixel(x, y, 7);

            need[y * W + x] = v != img[y * W + x];
            img[y * W + x] = v;
        }
    }
    memset(t.covered, 0, W * H);
    qtest_memwrite(t.qts, LFB, img, W * H * 4);
    wait_update(&t, profile);
    g_assert_true(primary(&t, &p));
    r->update_psnr = region_psnr(&p, img, SPLIT, W);
    r->update_bytes = read_bytes(&t) - r->first_bytes;

    /* a connected display channel keeps what it has */
    qtest_qmp_assert_success(t.qts, "{ 'execute': 'display-set-profile', "
                             "'arguments': { 'profile': 'wan' } }");
    check_entry(&t, sock, profile, "wan", image);

    spice_session_disconnect(t.session);
    g_object_unref(t.session);
    qtest_quit(t.qts);
    if (t.listen_fd >= 0) {
        close(t.listen_fd);
    }
    unlink(sock);
    rmdir(dir);
    g_free(t.covered);
}

enum { OFF, LAN, WAN };

/*
 * The profiles off (-spice image-compression=off, which it keeps), lan
 * and wan, each with a client of its own
 */
static void run_profiles(bool tcp, Result r[3])
{
    static const char *const profile[3] = { "off", "lan", "wan" };
    static const char *const image[3] = { "off", "auto-lz", "auto-glz" };

    for (int i = OFF; i <= WAN; i++) {
        run_client(profile[i], image[i], tcp, &r[i]);
        g_test_message("%s %s: screen %" PRIu64 " bytes, text %.1f dB, "
                       "photo %.1f dB; photo update %" PRIu64 " bytes, "
                       "%.1f dB", tcp ? "tcp" : "unix", profile[i],
                       r[i].first_bytes, r[i].text_psnr, r[i].photo_psnr,
                       r[i].update_bytes, r[i].update_psnr);
    }
}

static void test_unix(void)
{
    Result r[3];

    run_profiles(false, r);
    g_assert_true(isinf(r[OFF].text_psnr) && isinf(r[OFF].photo_psnr));
    /* the first image: lossless, compressed although -spice said off */
    g_assert_true(isinf(r[LAN].text_psnr) && isinf(r[LAN].photo_psnr));
    g_assert_cmpuint(r[LAN].first_bytes, <, r[OFF].first_bytes / 2);
    g_assert_true(isinf(r[WAN].text_psnr) && isinf(r[WAN].photo_psnr));
    g_assert_cmpuint(r[WAN].first_bytes, <, r[OFF].first_bytes / 2);
    /* then raw, whatever the profile */
    g_assert_true(isinf(r[OFF].update_psnr) && isinf(r[LAN].update_psnr) &&
                  isinf(r[WAN].update_psnr));
    g_assert_cmpuint(r[LAN].update_bytes, ==, r[OFF].update_bytes);
    g_assert_cmpuint(r[WAN].update_bytes, ==, r[OFF].update_bytes);
}

static void test_tcp(void)
{
    Result r[3];

    run_profiles(true, r);
    g_assert_true(isinf(r[OFF].update_psnr) && isinf(r[LAN].update_psnr));
    /* lan: lossless in less than half the bytes of raw */
    g_assert_cmpuint(r[LAN].update_bytes, <, r[OFF].update_bytes / 2);
    /*
     * wan: the photo as JPEG, in a tenth of lan's bytes at most; 1/8.7
     * when QEMU sent 32-pixel strips, each a JPEG of its own
     */
    g_assert_cmpfloat(r[WAN].update_psnr, >, 30.0);
    g_assert_cmpuint(r[WAN].update_bytes, <, r[LAN].update_bytes / 10);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (qtest_has_machine("pc") && qtest_has_device("VGA")) {
        qtest_add_func("/vdi-display/spice-client/unix", test_unix);
        qtest_add_func("/vdi-display/spice-client/tcp", test_tcp);
    }
    return g_test_run();
}
