/*
 * Benchmark of QEMU's VNC encoders, stock and VDI, through a real client
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Replays the deterministic desktop workloads of vdi-workloads.h into the
 * framebuffer of a std VGA (bochs VBE, 32 bpp, programmed from qtest) of
 * a QEMU started with -accel qtest, frame by frame: after each frame it
 * waits until the client has received rectangles covering every pixel
 * that changed, then compares the client's framebuffer with the frame
 * (PSNR over R, G and B; SSIM on BT.601 luma with the 11x11 Gaussian
 * window, sigma 1.5).  Video (the workloads that play) does not wait for
 * the client, as a player in the guest does not: it shows a frame every
 * 1/FPS s (-f) and measures what the client shows just before the next
 * one, so a client that lags behind is measured as lagging; after the
 * last frame the run waits until the client has it; the bytes are those
 * sent while the video played.  Each run uses one QEMU and one client
 * that offers exactly one encoding configuration: stock Raw, Zlib, ZRLE,
 * Tight (lossless: no JPEG quality pseudo-encoding), Tight+JPEG (quality
 * level pseudo-encoding and lossy=on), and the VDI encoder with
 * display-set-profile lan and wan (the client offering Tight, CopyRect
 * and the quality level), and wan with H.264 video regions (the client
 * also offering RFB Open H.264, 50).  The client is gtk-vnc's gvnc,
 * except for Zlib and Open H.264, which gvnc cannot decode: those runs
 * use the small RFB client of vdi-rfb-mini-client.h.  A proxy thread
 * between QEMU and the client counts the bytes the client receives.
 *
 * wan+h264: the small client keeps every rectangle it receives and notes
 * how many it had when each frame was measured.  After the run it
 * replays them into a framebuffer: Tight, CopyRect and Raw through
 * vdi-rfb-dec.h, each H.264 context's stream decoded by ffmpeg (one
 * process per context, vdi-h264-dec.h), each Open H.264 rectangle showing
 * its context's next decoded frame; PSNR and SSIM are taken at each
 * frame's mark, so they are those of what the client showed then.
 *
 * Server CPU: "enc" is the CPU time of the threads that encode, from
 * /proc/PID/task/TID/schedstat: QEMU's VNC worker thread for the stock
 * encoders, the VDI encoder's thread pool (threads "vnc_vdi_enc") for
 * lan and wan.  "main" is QEMU's main thread (for VDI it also copies the
 * changed pixels for the encoder), "proc" the whole QEMU process; it also
 * counts the qtest writes of the frames, the VGA refresh and the VNC
 * dirty tracking, which are the same for every configuration.
 *
 * Two tables: the synthetic workloads of vdi-workloads.h, and with -r DIR
 * the real ones (documents, photographs, a film clip from Debian
 * packages, prepared in DIR by scripts/real-content).
 *
 * Last, a bandwidth cap check: profile wan, the video workload at up to
 * 30 frames/s for a few seconds with the JPEG quality fixed, first
 * without a cap (to show that the workload exceeds the cap), then with
 * max-bandwidth set; the bit rate the client received after the first
 * second is compared with the cap.  A third run, capped with the default
 * adaptive JPEG quality, shows how much of the cap the rate controller
 * uses.
 *
 * Not a test: run it by hand or with `make bench`.
 * Usage: QTEST_QEMU_BINARY=... vdi-display-bench [-n FRAMES] [-q LEVEL]
 *        [-i MIN_FRAME_MS] [-b CAP_BIT/S] [-t CAP_SECONDS] [-w WORKLOAD]
 *        [-c CONFIGS] [-r REAL_DIR] [-H QUALITY] [-f FPS]
 * -n frames per workload (30), -q the client's JPEG quality level 0..9
 * (6), -i the least time each frame is shown (33 ms), -b the cap (1000000,
 * 0: no cap check), -t the length of each cap run (6 s), -w one workload
 * only, -c the configurations, a comma-separated list (0 Raw, 1 Zlib,
 * 2 ZRLE, 3 Tight, 4 Tight+JPEG, 5 lan, 6 wan, 7 wan+h264; default all,
 * wan+h264 only if QEMU has H.264), -r the real content's directory
 * (without it, the synthetic table only), -H wan+h264's JPEG quality
 * (jpeg-quality-min and -max, which also set the rate factor of its
 * H.264 regions; default: the profile's adaptive range), -f the rate
 * video plays at in frames/s (12; 0: each video frame waits for the
 * client as the other workloads do).
 */

#include "qemu/osdep.h"
#include "qemu/sockets.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qemu/atomic.h"
#include "qemu/bswap.h"
#include <math.h>
#include <poll.h>
#include "vdi-workloads.h"
#include "vdi-rfb-dec.h"
#include "vdi-vga-util.h"
#include "vdi-display-qmp.h"
#include "vdi-gvnc-client.h"
#include "vdi-rfb-mini-client.h"
#include "vdi-image-quality.h"
#ifdef CONFIG_VNC_H264
#include "ui/vdi-enc-h264.h"
#include "vdi-h264-dec.h"
#endif

#define W 1280
#define H 720
#define LFB VGA_LFB
#define FRAME_TIMEOUT_US (60 * G_USEC_PER_SEC)

typedef enum Cfg {
    CFG_RAW,
    CFG_ZLIB,
    CFG_ZRLE,
    CFG_TIGHT,
    CFG_TIGHT_JPEG,
    CFG_LAN,
    CFG_WAN,
    CFG_WAN_H264,
    CFG__MAX,
} Cfg;

typedef struct CfgInfo {
    const char *name;
    const char *vnc_opts;       /* appended to -vnc none */
    const char *profile;        /* display-set-profile, or NULL */
    int32_t enc;                /* the one pixel encoding offered */
    bool copyrect, quality;     /* also offered */
    bool lossy;                 /* may not be bit-exact */
    bool h264;                  /* also offers Open H.264 */
} CfgInfo;

static const CfgInfo cfgs[CFG__MAX] = {
    [CFG_RAW] = { "stock Raw", "", NULL, VNC_CONNECTION_ENCODING_RAW },
    [CFG_ZLIB] = { "stock Zlib", "", NULL, RFB_ENC_ZLIB },
    [CFG_ZRLE] = { "stock ZRLE", "", NULL, VNC_CONNECTION_ENCODING_ZRLE },
    [CFG_TIGHT] = { "stock Tight", "", NULL, VNC_CONNECTION_ENCODING_TIGHT,
                    true },
    [CFG_TIGHT_JPEG] = { "stock Tight+JPEG", ",lossy=on", NULL,
                         VNC_CONNECTION_ENCODING_TIGHT, true, true, true },
    [CFG_LAN] = { "vdi lan", "", "lan", VNC_CONNECTION_ENCODING_TIGHT,
                  true, true },
    [CFG_WAN] = { "vdi wan", ",lossy=on", "wan",
                  VNC_CONNECTION_ENCODING_TIGHT, true, true, true },
    [CFG_WAN_H264] = { "vdi wan+h264", ",lossy=on", "wan",
                       VNC_CONNECTION_ENCODING_TIGHT, true, true, true,
                       true },
};

typedef struct Cpu {
    int64_t main_ns, enc_ns, proc_ns;
} Cpu;

typedef struct Result {
    uint64_t first_bytes, bytes;
    int frames;
    double enc_ms, main_ms, proc_ms;
    double mse_sum;             /* per-frame MSE over R, G, B */
    double ssim_sum, ssim_min;
    int exact_frames;
    int late_frames;            /* video: written later than its time */
    int64_t copy, jpeg;         /* VDI only */
    int64_t h264;               /* H.264 rects, wan+h264 only, else -1 */
    double link_bps;            /* VDI only: QEMU's link estimate */
} Result;

typedef struct Bench {
    const CfgInfo *cfg;
    int quality;
    QTestState *qts;
    pid_t pid;

    /* proxy between QEMU and the client */
    int px_qemu, px_client;
    GThread *proxy;
    uint64_t rx;                /* atomic: bytes QEMU sent the client */

    /* client: what it shows is fb, whichever client it is */
    GvncClient gvnc;            /* gvnc.conn NULL: the mini client */
    gint32 gvnc_enc[8];         /* the encodings gvnc offers */
    RfbMini mini;
    /* wan+h264: the mini client's log of every rect, and their ends */
    GByteArray *log;
    GArray *rect_end;           /* size_t */
    bool initialized;
    uint8_t *fb;                /* 32 bpp, little-endian 0x00RRGGBB */
    int fbw, fbh;

    /* pixels still to be covered by an update, of the W x H frame */
    uint8_t *need;
    int64_t remaining;

    /* the VRAM page not shown (page flipping), and which one is shown */
    uint32_t *back;
    int shown;
} Bench;

static int64_t now_us(void)
{
    return g_get_monotonic_time();
}

/* ---- QEMU and its std VGA ---- */

/*
 * Two pages of W x H in VRAM: the display shows one (the VBE Y offset)
 * while the next frame is written into the other
 */
static void vga_setup(QTestState *qts, const uint32_t *img)
{
    vga_setup_size(qts, W, H, img);
    vga_write_rows(qts, W, H, H, img);
}

static int64_t read_schedstat(pid_t pid, const char *tid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/task/%s/schedstat",
                                            (int)pid, tid);
    g_autofree char *s = NULL;

    if (!g_file_get_contents(path, &s, NULL, NULL)) {
        return 0;           /* the thread has gone */
    }
    return g_ascii_strtoll(s, NULL, 10);
}

static void cpu_sample(Bench *b, Cpu *c)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/task", (int)b->pid);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *tid;

    memset(c, 0, sizeof(*c));
    g_assert(d);
    while ((tid = g_dir_read_name(d))) {
        g_autofree char *path = g_strdup_printf("%s/%s/comm", dir, tid);
        g_autofree char *comm = NULL;
        int64_t ns = read_schedstat(b->pid, tid);

        c->proc_ns += ns;
        if (atoi(tid) == b->pid) {
            c->main_ns += ns;
        } else if (g_file_get_contents(path, &comm, NULL, NULL) &&
                   g_str_has_prefix(comm, b->cfg->profile ? "vnc_vdi_enc" :
                                    "vnc_worker")) {
            c->enc_ns += ns;
        }
    }
    g_dir_close(d);
}

/* ---- proxy: counts what QEMU sends ---- */

static bool write_full(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        /* a peer that has gone is an error, not SIGPIPE */
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        p += r;
        n -= r;
    }
    return true;
}

/*
 * Reads whatever QEMU sends at once and queues it for the client without
 * limit, so QEMU sees a fast link even while the benchmark writes a frame
 * and its client does not read.
 */
static gpointer proxy_thread(gpointer opaque)
{
    Bench *b = opaque;
    g_autoptr(GByteArray) q = g_byte_array_new();
    g_autofree uint8_t *buf = g_malloc(65536);
    struct pollfd pfd[2] = {
        { .fd = b->px_qemu, .events = POLLIN },
        { .fd = b->px_client },
    };

    for (;;) {
        pfd[1].events = POLLIN | (q->len ? POLLOUT : 0);
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (pfd[0].revents) {
            ssize_t n = read(b->px_qemu, buf, 65536);

            if (n <= 0) {
                break;
            }
            qatomic_add(&b->rx, n);
            g_byte_array_append(q, buf, n);
        }
        if (pfd[1].revents & POLLOUT) {
            ssize_t n = send(b->px_client, q->data, q->len,
                             MSG_DONTWAIT | MSG_NOSIGNAL);

            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                break;
            }
            if (n > 0) {
                g_byte_array_remove_range(q, 0, n);
            }
        }
        if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(b->px_client, buf, 65536);

            if (n <= 0 || !write_full(b->px_qemu, buf, n)) {
                break;
            }
        }
    }
    /* both ways closed: each end sees EOF */
    shutdown(b->px_qemu, SHUT_RDWR);
    shutdown(b->px_client, SHUT_RDWR);
    return NULL;
}

/* ---- what the client receives ---- */

static void covered(Bench *b, int x, int y, int w, int h)
{
    if (b->fbw != W || b->fbh != H || x + w > W || y + h > H) {
        return;
    }
    for (int j = y; j < y + h; j++) {
        uint8_t *n = b->need + j * W;

        for (int i = x; i < x + w; i++) {
            if (n[i]) {
                n[i] = 0;
                b->remaining--;
            }
        }
    }
}

/* The client's framebuffer is now @fb, @w x @h (the client owns it) */
static void client_fb(Bench *b, uint8_t *fb, int w, int h)
{
    b->fb = fb;
    b->fbw = w;
    b->fbh = h;
}

/* -- gvnc (vdi-gvnc-client.h) -- */

static void gvnc_on_fb(GvncClient *c)
{
    client_fb(c->opaque, c->fb, c->fbw, c->fbh);
}

static void gvnc_on_update(GvncClient *c, int x, int y, int w, int h)
{
    covered(c->opaque, x, y, w, h);
}

static void gvnc_on_initialized(GvncClient *c)
{
    ((Bench *)c->opaque)->initialized = true;
}

/* gvnc offering b->cfg's encodings, on @fd */
static void gvnc_open(Bench *b, int fd)
{
    GvncClient *c = &b->gvnc;
    int n = 0;

    b->gvnc_enc[n++] = b->cfg->enc;
    if (b->cfg->copyrect) {
        b->gvnc_enc[n++] = VNC_CONNECTION_ENCODING_COPY_RECT;
    }
    if (b->cfg->quality) {
        b->gvnc_enc[n++] = VNC_CONNECTION_ENCODING_TIGHT_JPEG0 + b->quality;
    }
    b->gvnc_enc[n++] = VNC_CONNECTION_ENCODING_DESKTOP_RESIZE;
    if (b->cfg->enc != VNC_CONNECTION_ENCODING_RAW) {
        b->gvnc_enc[n++] = VNC_CONNECTION_ENCODING_RAW;
    }
    c->enc = b->gvnc_enc;
    c->n_enc = n;
    c->req_ms = 10;
    c->opaque = b;
    c->on_fb = gvnc_on_fb;
    c->on_update = gvnc_on_update;
    c->on_initialized = gvnc_on_initialized;
    gvnc_client_open_fd(c, fd);
}

/*
 * -- mini client (vdi-rfb-mini-client.h): Raw and Zlib for the Zlib run;
 * Tight, CopyRect and Open H.264 kept for replay (wan+h264) --
 */

static void mini_on_fb(RfbMini *m)
{
    client_fb(m->opaque, m->fb, m->fbw, m->fbh);
}

static void mini_on_rect(RfbMini *m, int x, int y, int w, int h)
{
    covered(m->opaque, x, y, w, h);
}

static void mini_open(Bench *b, int fd)
{
    /* wan+h264: what gvnc offers for wan, and Open H.264 */
    const int32_t h264[] = {
        RFB_ENC_TIGHT, RFB_ENC_COPY_RECT, RFB_ENC_OPEN_H264,
        VNC_CONNECTION_ENCODING_TIGHT_JPEG0 + b->quality,
        RFB_ENC_DESKTOP_RESIZE, RFB_ENC_RAW,
    };
    const int32_t zlib[] = {
        RFB_ENC_ZLIB, RFB_ENC_DESKTOP_RESIZE, RFB_ENC_RAW,
    };

    b->mini.opaque = b;
    b->mini.on_fb = mini_on_fb;
    b->mini.on_rect = mini_on_rect;
    if (b->cfg->h264) {
        rfb_mini_open(&b->mini, fd, h264, ARRAY_SIZE(h264), true);
    } else {
        rfb_mini_open(&b->mini, fd, zlib, ARRAY_SIZE(zlib), false);
    }
    b->log = b->mini.log;
    b->rect_end = b->mini.rect_end;
    b->initialized = true;
}

/* Let the client work for up to @ms milliseconds */
static void pump(Bench *b, int ms)
{
    if (b->gvnc.conn) {
        gvnc_pump(ms);
    } else {
        rfb_mini_pump(&b->mini, ms);
    }
}

/*
 * Let the client take in what has arrived, without waiting: it runs in
 * this thread, and a client on its own machine would not stop for the
 * benchmark's writes
 */
static void drain(Bench *b)
{
    if (b->gvnc.conn) {
        while (g_main_context_iteration(NULL, false)) {
            /* next event */
        }
    } else {
        struct pollfd pfd = { .fd = b->mini.fd, .events = POLLIN };

        while (poll(&pfd, 1, 0) > 0) {
            rfb_mini_message(&b->mini);
        }
    }
}

/* ---- quality ---- */

static double mse_rgb(const Bench *b, const uint32_t *src)
{
    return image_mse_rgb(b->fb, src, W, H);
}

static double ssim_luma(const Bench *b, const uint32_t *src)
{
    return image_ssim_luma(b->fb, src, W, H);
}

/* ---- one run ---- */

static void bench_start(Bench *b, const CfgInfo *cfg, int quality,
                        const uint32_t *first, const char *profile_args)
{
    int qpair[2], cpair[2];

    memset(b, 0, sizeof(*b));
    b->cfg = cfg;
    b->quality = quality;
    b->need = g_malloc(W * H);
    b->back = g_memdup2(first, W * H * 4);
    b->qts = qtest_initf("-machine pc -nodefaults -vga std "
                         "-name bench,debug-threads=on -vnc none%s",
                         cfg->vnc_opts);
    b->pid = qtest_pid(b->qts);
    /* the VNC display is refreshed only with a client: set up first */
    vga_setup(b->qts, first);
    if (profile_args) {
        set_profile_ok(b->qts, profile_args);
    }

    g_assert_cmpint(qemu_socketpair(AF_UNIX, SOCK_STREAM, 0, qpair), ==, 0);
    g_assert_cmpint(qemu_socketpair(AF_UNIX, SOCK_STREAM, 0, cpair), ==, 0);
    qtest_qmp_add_client(b->qts, "vnc", qpair[1]);
    close(qpair[1]);
    b->px_qemu = qpair[0];
    b->px_client = cpair[0];
    b->proxy = g_thread_new("proxy", proxy_thread, b);

    /* the whole first frame */
    memset(b->need, 1, W * H);
    b->remaining = (int64_t)W * H;
    if (cfg->enc == RFB_ENC_ZLIB || cfg->h264) {
        mini_open(b, cpair[1]);
    } else {
        gvnc_open(b, cpair[1]);
    }
}

static void bench_stop(Bench *b)
{
    if (b->gvnc.conn) {
        gvnc_client_close(&b->gvnc);
    } else {
        rfb_mini_close(&b->mini);
    }
    /* the client's */
    b->fb = NULL;
    b->log = NULL;
    b->rect_end = NULL;
    g_thread_join(b->proxy);
    close(b->px_qemu);
    close(b->px_client);
    qtest_quit(b->qts);
    g_free(b->fb);
    g_free(b->need);
    g_free(b->back);
}

/* Until every pixel in b->need has been covered by an update */
static void wait_covered(Bench *b, const char *what, int frame)
{
    int64_t deadline = now_us() + FRAME_TIMEOUT_US;

    while (!b->initialized || b->remaining) {
        if (now_us() > deadline) {
            g_error("%s, %s: frame %d incomplete after %d s (%" PRId64
                    " pixels missing, client framebuffer %dx%d)",
                    b->cfg->name, what, frame,
                    (int)(FRAME_TIMEOUT_US / G_USEC_PER_SEC), b->remaining,
                    b->fbw, b->fbh);
        }
        pump(b, 10);
    }
}

/*
 * Rows per qtest write: QEMU's qtest scans a command's whole line for
 * each 1 KiB it reads, so one long write costs time quadratic in it
 */
#define WRITE_ROWS 16

/* Write @cur into the page not shown, the rows that differ, in short writes */
static void write_hidden(Bench *b, const uint32_t *cur)
{
    uint64_t page = LFB + (uint64_t)(1 - b->shown) * W * H * 4;
    int y0 = -1;

    for (int y = 0; y <= H; y++) {
        bool differs = y < H && memcmp(cur + y * W, b->back + y * W, W * 4);

        if (differs && y0 < 0) {
            y0 = y;
        }
        if (y0 >= 0 && (!differs || y - y0 == WRITE_ROWS)) {
            qtest_bufwrite(b->qts, page + (uint64_t)y0 * W * 4, cur + y0 * W,
                           (size_t)(y - y0) * W * 4);
            drain(b);
            y0 = differs ? y : -1;
        }
    }
    memcpy(b->back, cur, W * H * 4);
}

/*
 * Show the page not shown, written with @cur, in place of @prev: the
 * display never shows part of a frame.  Marks the pixels that differ as
 * to be covered by the client's updates.
 */
static void show(Bench *b, const uint32_t *cur, const uint32_t *prev)
{
    int64_t n = 0;

    for (int y = 0; y < H; y++) {
        const uint32_t *c = cur + y * W, *p = prev + y * W;
        uint8_t *nd = b->need + y * W;

        if (!memcmp(c, p, W * 4)) {
            continue;
        }
        for (int x = 0; x < W; x++) {
            if (c[x] != p[x]) {
                /* video may change pixels still to be covered */
                b->remaining += !nd[x];
                nd[x] = 1;
                n++;
            }
        }
    }
    if (!n) {
        return;
    }
    b->shown = 1 - b->shown;
    vbe_write(b->qts, VBE_DISPI_INDEX_Y_OFFSET, b->shown * H);
    /* the page now not shown has the previous frame */
    memcpy(b->back, prev, W * H * 4);
}

/*
 * Let the first frame settle, its refinement included (what follows
 * belongs to the workload, the rest to "first KiB"): until the client
 * has everything exactly (VDI) and nothing arrived for 200 ms, at most
 * SETTLE_MAX_MS.
 */
#define SETTLE_MAX_MS 15000

static void settle(Bench *b)
{
    int64_t end = now_us() + SETTLE_MAX_MS * 1000;
    uint64_t rx = qatomic_read(&b->rx);
    int quiet = 0;

    while (quiet < 200 && now_us() < end) {
        pump(b, 10);
        quiet += 10;
        if (qatomic_read(&b->rx) != rx) {
            rx = qatomic_read(&b->rx);
            quiet = 0;
        } else if (quiet >= 200 && b->cfg->profile) {
            QDict *q = query_client(b->qts);

            if (qdict_get_int(q, "lossy-pending")) {
                quiet = 0;
            }
            qobject_unref(q);
        }
    }
}

/*
 * Quality of the client's framebuffer @b->fb against the frame @px;
 * lossless configurations must show it exactly unless @may_lag
 */
static void measure(const Bench *b, const uint32_t *px, const char *what,
                    int frame, bool may_lag, Result *res)
{
    double mse = mse_rgb(b, px);
    double ssim = mse ? ssim_luma(b, px) : 1.0;

    if (!b->cfg->lossy && !may_lag && mse) {
        g_error("%s, %s: frame %d not exact", b->cfg->name, what, frame);
    }
    res->mse_sum += mse;
    res->ssim_sum += ssim;
    res->ssim_min = MIN(res->ssim_min, ssim);
    res->exact_frames += !mse;
    res->frames++;
}

#ifdef CONFIG_VNC_H264

/* ---- wan+h264: the client's rects replayed ---- */

/* An Open H.264 decoder context of the client */
typedef struct H264Ctx {
    VdiRect r;
    bool live;
    GByteArray *s;              /* its stream */
    int nframes;                /* its rects, one frame each */
    uint32_t *frames;           /* decoded */
} H264Ctx;

typedef struct ReplayShow {
    guint ctx;
    int frame;
} ReplayShow;

typedef struct Replay {
    GPtrArray *ctxs;
    GArray *shown;              /* ReplayShow, per Open H.264 rect */
    guint next;
    bool decoded;
} Replay;

/*
 * Open H.264 (rfbproto): a context per rect (x, y, w, h), reset by its
 * flags.  Before decoding, collect each context's stream; after, show
 * its decoded frame.
 */
static bool replay_h264(RfbDec *d, int x, int y, int w, int h,
                        uint32_t flags, const uint8_t *data, size_t len)
{
    Replay *rp = d->opaque;
    ReplayShow sh;
    const uint32_t *f;
    H264Ctx *c;

    if (!rp->decoded) {
        sh.ctx = rp->ctxs->len;
        for (guint i = 0; i < rp->ctxs->len; i++) {
            c = g_ptr_array_index(rp->ctxs, i);
            if (flags & VDI_H264_FLAG_RESET_ALL) {
                c->live = false;
            }
            if (c->live && c->r.x == x && c->r.y == y && c->r.w == w &&
                c->r.h == h) {
                if (flags & VDI_H264_FLAG_RESET) {
                    c->live = false;
                } else {
                    sh.ctx = i;
                }
            }
        }
        if (sh.ctx == rp->ctxs->len) {
            c = g_new0(H264Ctx, 1);
            c->r = (VdiRect) { x, y, w, h };
            c->live = true;
            c->s = g_byte_array_new();
            g_ptr_array_add(rp->ctxs, c);
        }
        c = g_ptr_array_index(rp->ctxs, sh.ctx);
        g_byte_array_append(c->s, data, len);
        sh.frame = c->nframes++;
        g_array_append_val(rp->shown, sh);
        return true;
    }
    if (rp->next >= rp->shown->len) {
        return false;
    }
    sh = g_array_index(rp->shown, ReplayShow, rp->next++);
    c = g_ptr_array_index(rp->ctxs, sh.ctx);
    f = c->frames + (size_t)sh.frame * w * h;
    for (int j = 0; j < h; j++) {
        memcpy(d->fb + (size_t)(y + j) * d->w + x, f + (size_t)j * w, w * 4);
    }
    return true;
}

static void h264_ctx_free(gpointer p)
{
    H264Ctx *c = p;

    g_byte_array_unref(c->s);
    g_free(c->frames);
    g_free(c);
}

/*
 * The rects @b's client received, replayed: first to collect the H.264
 * streams, which ffmpeg then decodes, then to show them, measuring the
 * framebuffer at each frame's mark (the rects received by then)
 */
static void replay(const Workload *wl, const Bench *b, const GArray *marks,
                   Result *res)
{
    Replay rp = { .ctxs = g_ptr_array_new_with_free_func(h264_ctx_free),
                  .shown = g_array_new(false, false, sizeof(ReplayShow)) };
    Bench view = { .cfg = b->cfg, .fbw = W, .fbh = H };
    Work wk = { .w = W, .h = H };

    view.fb = g_malloc((size_t)W * H * 4);
    wk.px = g_new0(uint32_t, W * H);
    for (int pass = 0; pass < 2; pass++) {
        RfbDec *d = rfb_dec_new(W, H);
        size_t off = 0;
        guint r = 0;

        d->h264 = replay_h264;
        d->opaque = &rp;
        if (pass) {
            for (guint i = 0; i < rp.ctxs->len; i++) {
                H264Ctx *c = g_ptr_array_index(rp.ctxs, i);
                int n = 0;

                c->frames = ffmpeg_decode(c->s, c->r.w, c->r.h, &n);
                if (!c->frames || n != c->nframes) {
                    g_error("%s, %s: ffmpeg decoded %d of the %d frames of "
                            "an H.264 context", b->cfg->name, wl->name, n,
                            c->nframes);
                }
            }
            rp.decoded = true;
            wl->init(&wk);
        }
        for (guint k = 0; k <= marks->len; k++) {
            guint upto = k < marks->len ? g_array_index(marks, guint, k) :
                b->rect_end->len;

            for (; r < upto; r++) {
                size_t end = g_array_index(b->rect_end, size_t, r);

                if (!rfb_dec_apply(d, b->log->data + off, end - off, 1)) {
                    g_error("%s, %s: rect %u does not decode", b->cfg->name,
                            wl->name, r);
                }
                off = end;
            }
            if (pass && k < marks->len) {
                wk.frame = k + 1;
                wl->step(&wk);
                for (size_t i = 0; i < (size_t)W * H; i++) {
                    stl_le_p(view.fb + i * 4, d->fb[i]);
                }
                measure(&view, wk.px, wl->name, wk.frame, false, res);
            }
        }
        rfb_dec_free(d);
    }
    g_ptr_array_unref(rp.ctxs);
    g_array_unref(rp.shown);
    g_free(view.fb);
    g_free(wk.page);
    g_free(wk.px);
}

#endif

/* Until the client shows @px exactly, failing after FRAME_TIMEOUT_US */
static void wait_exact(Bench *b, const uint32_t *px, const char *what)
{
    int64_t deadline = now_us() + FRAME_TIMEOUT_US;

    while (mse_rgb(b, px)) {
        if (now_us() > deadline) {
            g_error("%s, %s: last frame not exact", b->cfg->name, what);
        }
        pump(b, 10);
    }
}

/*
 * Until QEMU has sent nothing for QUIET_MS, failing after
 * FRAME_TIMEOUT_US: it sends until the client has what it shows
 */
#define QUIET_MS 300

static void wait_quiet(Bench *b, const char *what)
{
    int64_t deadline = now_us() + FRAME_TIMEOUT_US;
    uint64_t rx = qatomic_read(&b->rx);
    int quiet = 0;

    while (quiet < QUIET_MS) {
        if (now_us() > deadline) {
            g_error("%s, %s: still sending after %d s", b->cfg->name, what,
                    (int)(FRAME_TIMEOUT_US / G_USEC_PER_SEC));
        }
        pump(b, 10);
        quiet += 10;
        if (qatomic_read(&b->rx) != rx) {
            rx = qatomic_read(&b->rx);
            quiet = 0;
        }
    }
}

/* Measure frame @frame, or for wan+h264 mark it for the replay */
static void measure_frame(const Bench *b, const uint32_t *px,
                          const char *what, int frame, bool may_lag,
                          GArray *marks, Result *res)
{
    if (b->cfg->h264) {
        g_array_append_val(marks, b->rect_end->len);
    } else {
        measure(b, px, what, frame, may_lag, res);
    }
}

/*
 * Play video: show a frame every @period us whatever the client has, as
 * a player does, writing the next frame into the page not shown while
 * one is shown (the writes through qtest are slow), and measure each
 * frame just before the next one replaces it.  The bytes are those
 * sent until then.  Then wait until the client has the last frame, which
 * lossless configurations show exactly (not by coverage: a pixel that a
 * skipped frame changed and the next one changed back is never sent).
 */
static void play(Bench *b, const Workload *wl, Work *wk, int nframes,
                 int64_t period, GArray *marks, Result *res)
{
    g_autofree uint32_t *prev = g_new(uint32_t, W * H);
    g_autofree uint32_t *shown = g_new(uint32_t, W * H);
    int64_t t_show;

    memcpy(prev, wk->px, W * H * 4);
    wk->frame = 1;
    wl->step(wk);
    write_hidden(b, wk->px);
    show(b, wk->px, prev);
    t_show = now_us();
    for (int f = 1; f <= nframes; f++) {
        memcpy(shown, wk->px, W * H * 4);
        if (f < nframes) {
            memcpy(prev, wk->px, W * H * 4);
            wk->frame = f + 1;
            wl->step(wk);
            write_hidden(b, wk->px);
        }
        res->late_frames += now_us() - t_show > period;
        while (now_us() - t_show < period) {
            pump(b, 1);
        }
        drain(b);
        measure_frame(b, shown, wl->name, f, true, marks, res);
        if (f < nframes) {
            show(b, wk->px, prev);
            t_show = now_us();
        }
    }
    /* what the link carried while the video played */
    res->bytes = qatomic_read(&b->rx) - res->first_bytes;
    if (b->cfg->lossy) {
        wait_quiet(b, wl->name);
    } else {
        wait_exact(b, wk->px, wl->name);
    }
}

static void run(const Workload *wl, Cfg c, int nframes, int quality,
                int min_frame_ms, int play_fps, int h264_quality,
                Result *res)
{
    int64_t period = wl->plays && play_fps ? G_USEC_PER_SEC / play_fps : 0;
    const CfgInfo *cfg = &cfgs[c];
    Work wk = { .w = W, .h = H };
    g_autofree uint32_t *prev = g_new(uint32_t, W * H);
    g_autofree char *pargs = NULL;
    g_autoptr(GArray) marks = g_array_new(false, false, sizeof(guint));
    Bench b;
    Cpu c0, c1;

    memset(res, 0, sizeof(*res));
    res->ssim_min = 1;
    wk.px = g_new0(uint32_t, W * H);
    wl->init(&wk);
    if (cfg->profile) {
        pargs = g_strdup_printf("{ 'profile': '%s' }", cfg->profile);
    }
    if (cfg->h264 && h264_quality) {
        /* the JPEG quality also sets the H.264 regions' rate factor */
        g_free(pargs);
        pargs = g_strdup_printf("{ 'profile': '%s', 'jpeg-quality-min': %d, "
                                "'jpeg-quality-max': %d }", cfg->profile,
                                h264_quality, h264_quality);
    }
    bench_start(&b, cfg, quality, wk.px, pargs);
    wait_covered(&b, wl->name, 0);
    if (!cfg->lossy && mse_rgb(&b, wk.px) != 0) {
        g_error("%s, %s: first frame not exact", cfg->name, wl->name);
    }
    settle(&b);
    res->first_bytes = qatomic_read(&b.rx);
    cpu_sample(&b, &c0);

    if (period) {
        play(&b, wl, &wk, nframes, period, marks, res);
    } else {
        for (wk.frame = 1; wk.frame <= nframes; wk.frame++) {
            int64_t t0 = now_us();

            memcpy(prev, wk.px, W * H * 4);
            wl->step(&wk);
            write_hidden(&b, wk.px);
            show(&b, wk.px, prev);
            wait_covered(&b, wl->name, wk.frame);
            while (now_us() - t0 < min_frame_ms * 1000) {
                pump(&b, 1);
            }
            measure_frame(&b, wk.px, wl->name, wk.frame, false, marks, res);
        }
    }
    if (!period) {
        res->bytes = qatomic_read(&b.rx) - res->first_bytes;
    }
    cpu_sample(&b, &c1);
    res->main_ms = (c1.main_ns - c0.main_ns) / 1e6;
    res->proc_ms = (c1.proc_ns - c0.proc_ns) / 1e6;
    res->enc_ms = (c1.enc_ns - c0.enc_ns) / 1e6;
    if (cfg->profile) {
        QDict *q = query_client(b.qts);
        QDict *t = qdict_get_qdict(q, "tiles");

        g_assert_cmpstr(qdict_get_str(q, "profile"), ==, cfg->profile);
        res->copy = qdict_get_int(t, "copy");
        res->link_bps = qdict_get_try_int(q, "bandwidth", 0);
        res->jpeg = qdict_get_int(t, "jpeg");
        res->h264 = cfg->h264 ? qdict_get_try_int(t, "h264", 0) : -1;
        qobject_unref(q);
    } else {
        res->copy = res->jpeg = res->h264 = -1;
    }
#ifdef CONFIG_VNC_H264
    if (cfg->h264) {
        replay(wl, &b, marks, res);
    }
#endif
    bench_stop(&b);
    g_free(wk.page);
    g_free(wk.px);
}

static double psnr_of(double mse)
{
    return mse ? 10 * log10(255.0 * 255.0 / mse) : INFINITY;
}

static void print_row(const char *wl, const CfgInfo *cfg, const Result *r)
{
    char q[32], ql[32], tiles[32] = "-", link[32] = "-";

    if (r->exact_frames == r->frames) {
        snprintf(q, sizeof(q), "exact");
        snprintf(ql, sizeof(ql), "-");
    } else {
        snprintf(q, sizeof(q), "%.2f", psnr_of(r->mse_sum / r->frames));
        snprintf(ql, sizeof(ql), "%.2f",
                 psnr_of(r->mse_sum / (r->frames - r->exact_frames)));
    }
    if (r->h264 >= 0) {
        snprintf(tiles, sizeof(tiles), "%" PRId64 " / %" PRId64 " / %"
                 PRId64, r->copy, r->jpeg, r->h264);
    } else if (r->copy >= 0) {
        snprintf(tiles, sizeof(tiles), "%" PRId64 " / %" PRId64, r->copy,
                 r->jpeg);
    }
    if (r->link_bps > 0) {
        snprintf(link, sizeof(link), "%.0f", r->link_bps / 1e6);
    }
    printf("| %s | %s | %.1f | %.1f | %.2f | %.3f | %.2f | %.2f | %s | "
           "%s | %.4f / %.4f | %d/%d | %s | %s |\n", wl, cfg->name,
           r->first_bytes / 1024.0, r->bytes / 1024.0,
           r->bytes / 1024.0 / r->frames, r->enc_ms / r->frames,
           r->main_ms / r->frames, r->proc_ms / r->frames, q, ql,
           r->ssim_sum / r->frames, r->ssim_min, r->exact_frames, r->frames,
           tiles, link);
    fflush(stdout);
}

static void add_result(Result *mix, const Result *r)
{
    double smin = mix->frames ? mix->ssim_min : 1;

    mix->first_bytes += r->first_bytes;
    mix->bytes += r->bytes;
    mix->frames += r->frames;
    mix->enc_ms += r->enc_ms;
    mix->main_ms += r->main_ms;
    mix->proc_ms += r->proc_ms;
    mix->mse_sum += r->mse_sum;
    mix->ssim_sum += r->ssim_sum;
    mix->ssim_min = MIN(smin, r->ssim_min);
    mix->exact_frames += r->exact_frames;
    if (r->copy >= 0) {
        mix->copy += r->copy;
        mix->jpeg += r->jpeg;
    } else {
        mix->copy = mix->jpeg = -1;
    }
    mix->h264 = r->h264 >= 0 ? mix->h264 + r->h264 : -1;
}

/* ---- bandwidth cap ---- */

#define CAP_LOOP 24         /* video frames, replayed in a loop */

/*
 * Profile wan with @args (max-bandwidth, JPEG qualities), the video
 * workload at up to 30 frames/s for @seconds: the bit rate the client
 * received after the first second.  @info gets the client's
 * query-display-clients entry, @frames the number of frames written.
 */
static double cap_phase(uint32_t **loop, const char *args, int seconds,
                        int quality, QDict **info, int *frames)
{
    int64_t t0, t_meas = 0, t_end, next;
    uint64_t b0 = 0;
    double rate;
    Bench b;

    bench_start(&b, &cfgs[CFG_WAN], quality, loop[0], args);
    wait_covered(&b, "video", 0);

    t0 = now_us();
    t_end = t0 + seconds * G_USEC_PER_SEC;
    next = t0;
    *frames = 0;
    for (int f = 1; now_us() < t_end; f++) {
        write_hidden(&b, loop[f % CAP_LOOP]);
        show(&b, loop[f % CAP_LOOP], loop[(f - 1) % CAP_LOOP]);
        (*frames)++;
        next += G_USEC_PER_SEC / 30;
        if (!t_meas && now_us() - t0 >= G_USEC_PER_SEC) {
            t_meas = now_us();
            b0 = qatomic_read(&b.rx);
        }
        do {
            pump(&b, 1);
        } while (now_us() < next);
    }
    rate = (qatomic_read(&b.rx) - b0) * 8.0 / ((now_us() - t_meas) / 1e6);
    *info = query_client(b.qts);
    bench_stop(&b);
    return rate;
}

static void run_cap(uint64_t cap, int seconds, int quality)
{
    static const struct {
        const char *what;
        bool capped;
        const char *quality;
    } phases[] = {
        { "JPEG quality fixed at 70, no cap", false,
          "'jpeg-quality-min': 70, 'jpeg-quality-max': 70" },
        { "JPEG quality fixed at 70, capped", true,
          "'jpeg-quality-min': 70, 'jpeg-quality-max': 70" },
        { "JPEG quality adaptive (20..90), capped", true,
          "'jpeg-quality-min': 20, 'jpeg-quality-max': 90" },
    };
    const Workload *wl = NULL;
    uint32_t *loop[CAP_LOOP];
    Work wk = { .w = W, .h = H };
    double demand = 0;

    for (int i = 0; i < ARRAY_SIZE(workloads); i++) {
        if (!strcmp(workloads[i].name, "video")) {
            wl = &workloads[i];
        }
    }
    g_assert(wl);
    wk.px = g_new0(uint32_t, W * H);
    wl->init(&wk);
    for (wk.frame = 0; wk.frame < CAP_LOOP; wk.frame++) {
        if (wk.frame) {
            wl->step(&wk);
        }
        loop[wk.frame] = g_memdup2(wk.px, W * H * 4);
    }
    g_free(wk.px);

    printf("\nBandwidth cap: profile wan, workload video (%d frames in a "
           "loop) at up to 30 frames/s for %d s; bit rate received after "
           "the first second; cap %" PRIu64 " bit/s\n", CAP_LOOP, seconds,
           cap);
    for (int i = 0; i < ARRAY_SIZE(phases); i++) {
        g_autofree char *args = g_strdup_printf(
            "{ 'profile': 'wan', 'max-bandwidth': %" PRIu64 ", %s }",
            phases[i].capped ? cap : 0, phases[i].quality);
        QDict *q;
        int frames;
        double rate = cap_phase(loop, args, seconds, quality, &q, &frames);
        double err = (rate - cap) / cap;

        printf("- %s: %.0f bit/s (%d frames written; QEMU reports %.0f "
               "updates/s, JPEG quality %" PRId64 ")", phases[i].what, rate,
               frames, qdict_get_double(q, "fps"),
               qdict_get_int(q, "jpeg-quality"));
        qobject_unref(q);
        if (!phases[i].capped) {
            demand = rate;
            printf("\n");
        } else if (demand < cap * 1.2) {
            printf(": the workload does not exceed the cap by 20%%, "
                   "no check (lower the cap with -b)\n");
        } else {
            printf(": error vs the cap %+.1f%%%s\n", err * 100,
                   i == 1 ? (fabs(err) <= 0.10 ? " (target within 10%: yes)"
                             : " (target within 10%: NO)") : "");
        }
    }
    for (int i = 0; i < CAP_LOOP; i++) {
        g_free(loop[i]);
    }
}

/* ---- main ---- */

typedef struct Opts {
    int nframes, quality, min_frame_ms;
    int play_fps;               /* video's frame rate, 0: the client's */
    int h264_quality;           /* wan+h264's fixed JPEG quality, or 0 */
    const char *only_wl;
    unsigned cfgs;              /* bit per Cfg */
} Opts;

static void print_header(void)
{
    printf("| workload | config | first KiB | KiB | KiB/frame | "
           "enc ms/frame | main ms/frame | proc ms/frame | PSNR dB | "
           "PSNR inexact frames dB | SSIM mean / min | exact frames | "
           "CopyRect / JPEG (/ H.264) rects | link Mbit/s |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"
           "---:|\n");
}

static double mix_psnr(const Result *r)
{
    return psnr_of(r->mse_sum / r->frames);
}

/* One table: each workload with each configuration, the mix, targets */
/*
 * wan+h264 against stock Tight+JPEG: bytes, which must be below
 * 1/@below of stock's, and PSNR, which must be at least stock's for the
 * ratio to count (video: 1/5; a mix: wan's 1/3)
 */
static void h264_target(const char *what, const Result *w, const Result *t,
                        int below)
{
    double rb = (double)w->bytes / MAX(t->bytes, 1);
    double pw = mix_psnr(w), pt = mix_psnr(t);
    bool small = rb * below < 1;

    printf("- %s: wan+h264 / stock Tight+JPEG bytes %.3f, PSNR %.2f vs "
           "%.2f dB, SSIM %.4f vs %.4f: below 1/%d at >= stock's PSNR: "
           "%s\n", what, rb, pw, pt, w->ssim_sum / w->frames,
           t->ssim_sum / t->frames, below,
           small && pw >= pt ? "yes" :
           small ? "NO (PSNR below stock's)" : "NO");
}

static void run_table(const char *title, const Workload *wls, int nwl,
                      const char *scroll_name, const char *video_name,
                      const Opts *o)
{
    g_autofree Result *res = g_new0(Result, nwl * CFG__MAX);
    Result mix[CFG__MAX];
    bool lan_exact = true, ran = false;
    int scroll = -1, video = -1;

    memset(mix, 0, sizeof(mix));
    printf("\n%s\n\n", title);
    print_header();
    for (int i = 0; i < nwl; i++) {
        if (o->only_wl && strcmp(o->only_wl, wls[i].name)) {
            continue;
        }
        ran = true;
        if (!strcmp(wls[i].name, scroll_name)) {
            scroll = i;
        }
        if (!strcmp(wls[i].name, video_name)) {
            video = i;
        }
        for (int c = 0; c < CFG__MAX; c++) {
            Result *r = &res[i * CFG__MAX + c];

            if (!(o->cfgs & (1u << c))) {
                continue;
            }
            run(&wls[i], c, o->nframes, o->quality, o->min_frame_ms,
                o->play_fps, o->h264_quality, r);
            print_row(wls[i].name, &cfgs[c], r);
            add_result(&mix[c], r);
            /* playing video is measured as it lags; play() checks its end */
            if (c == CFG_LAN && !(wls[i].plays && o->play_fps)) {
                lan_exact &= r->exact_frames == r->frames;
            }
        }
    }
    if (!ran) {
        return;
    }
    for (int c = 0; c < CFG__MAX; c++) {
        if (mix[c].frames) {
            print_row("**mix**", &cfgs[c], &mix[c]);
        }
    }

    printf("\nTargets (%s):\n", o->only_wl ? o->only_wl :
           "mix of all workloads");
    if (mix[CFG_WAN].frames && mix[CFG_TIGHT_JPEG].frames) {
        const Result *wan = &mix[CFG_WAN], *tj = &mix[CFG_TIGHT_JPEG];
        double pw = mix_psnr(wan), pt = mix_psnr(tj);
        double rb = (double)wan->bytes / tj->bytes;
        GString *over = g_string_new("");

        printf("- wan / stock Tight+JPEG bytes: %.3f (target <= 0.333: %s),"
               " PSNR %.2f vs %.2f dB (equal or better: %s), SSIM %.4f vs "
               "%.4f\n", rb, rb <= 1.0 / 3 ? "yes" : "NO", pw, pt,
               pw >= pt ? "yes" : "NO", wan->ssim_sum / wan->frames,
               tj->ssim_sum / tj->frames);
        for (int i = 0; i < nwl; i++) {
            const Result *w = &res[i * CFG__MAX + CFG_WAN];
            const Result *t = &res[i * CFG__MAX + CFG_TIGHT_JPEG];

            if (w->frames && t->frames) {
                printf("  - %s: wan / stock Tight+JPEG bytes %.3f, PSNR "
                       "%.2f vs %.2f dB\n", wls[i].name,
                       (double)w->bytes / MAX(t->bytes, 1), mix_psnr(w),
                       mix_psnr(t));
                if (w->bytes > t->bytes) {
                    g_string_append_printf(over, " %s", wls[i].name);
                }
            }
        }
        printf("- wan never above stock Tight+JPEG's bytes on a workload: "
               "%s%s\n", over->len ? "NO:" : "yes", over->str);
        g_string_free(over, true);
        if (scroll >= 0) {
            const Result *ws = &res[scroll * CFG__MAX + CFG_WAN];
            const Result *ts = &res[scroll * CFG__MAX + CFG_TIGHT_JPEG];
            double rs = (double)ws->bytes / ts->bytes;

            printf("- %s: wan / stock Tight+JPEG bytes: %.3f (target "
                   "<= 0.1: %s), PSNR %.2f vs %.2f dB\n", scroll_name, rs,
                   rs <= 0.1 ? "yes" : "NO", mix_psnr(ws), mix_psnr(ts));
        }
    }
    if (mix[CFG_WAN_H264].frames && mix[CFG_TIGHT_JPEG].frames) {
        if (video >= 0) {
            h264_target(video_name, &res[video * CFG__MAX + CFG_WAN_H264],
                        &res[video * CFG__MAX + CFG_TIGHT_JPEG], 5);
        }
        if (!o->only_wl) {
            h264_target("mix of all workloads", &mix[CFG_WAN_H264],
                        &mix[CFG_TIGHT_JPEG], 3);
        }
    }
    for (int i = 0; i < nwl && o->play_fps; i++) {
        GString *late = g_string_new("");

        for (int c = 0; c < CFG__MAX && wls[i].plays; c++) {
            const Result *r = &res[i * CFG__MAX + c];

            if (r->frames) {
                g_string_append_printf(late, "%s %s %d", late->len ? "," : "",
                                       cfgs[c].name, r->late_frames);
            }
        }
        if (late->len) {
            printf("- %s played at %d frames/s; frames the benchmark wrote "
                   "late (its writes overran 1/%d s):%s\n", wls[i].name,
                   o->play_fps, o->play_fps, late->str);
        }
        g_string_free(late, true);
    }
    if (mix[CFG_LAN].frames) {
        printf("- lan bit-exact on every frame (playing video: once the "
               "client has its last frame): %s\n",
               lan_exact ? "yes" : "NO");
    }
    if (mix[CFG_LAN].frames && mix[CFG_TIGHT].frames) {
        /*
         * Where both encode every frame: playing video, each encodes the
         * frames it keeps up with, so its CPU is shown on its own
         */
        double lan = 0, tight = 0, lan_p = 0, tight_p = 0;
        GString *played = g_string_new("");

        for (int i = 0; i < nwl; i++) {
            const Result *l = &res[i * CFG__MAX + CFG_LAN];
            const Result *t = &res[i * CFG__MAX + CFG_TIGHT];

            if (!l->frames || !t->frames) {
                continue;
            }
            if (wls[i].plays && o->play_fps) {
                g_string_append_printf(played, "%s %s %.3f",
                                       played->len ? "," : "", wls[i].name,
                                       l->enc_ms / t->enc_ms);
                continue;
            }
            lan += l->enc_ms;
            tight += t->enc_ms;
            lan_p += l->proc_ms;
            tight_p += t->proc_ms;
        }
        if (tight > 0) {
            printf("- lan / stock Tight encoding-thread CPU, workloads that "
                   "wait for the client: %.3f (target <= 0.2: %s); whole "
                   "QEMU process CPU: %.3f\n", lan / tight,
                   lan / tight <= 0.2 ? "yes" : "NO", lan_p / tight_p);
        }
        if (played->len) {
            printf("- lan / stock Tight encoding-thread CPU, video playing "
                   "(each encodes the frames it keeps up with):%s\n",
                   played->str);
        }
        g_string_free(played, true);
    }
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [-n FRAMES] [-q JPEG_LEVEL 0-9] "
            "[-i MIN_FRAME_MS] [-b CAP_BIT/S] [-t CAP_SECONDS] "
            "[-w WORKLOAD] [-c CONFIG,...] [-r REAL_CONTENT_DIR] "
            "[-H H264_JPEG_QUALITY 1-100] [-f VIDEO_FPS 0-60]\n", argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    Opts o = { .nframes = 30, .quality = 6, .min_frame_ms = 33,
               .play_fps = 12, .cfgs = (1u << CFG__MAX) - 1 };
    int cap_s = 6, opt;
    uint64_t cap = 1000000;
    const char *real_dir = NULL;

    while ((opt = getopt(argc, argv, "n:q:i:b:t:w:c:r:H:f:")) != -1) {
        switch (opt) {
        case 'n':
            o.nframes = atoi(optarg);
            break;
        case 'q':
            o.quality = atoi(optarg);
            break;
        case 'i':
            o.min_frame_ms = atoi(optarg);
            break;
        case 'b':
            cap = g_ascii_strtoull(optarg, NULL, 10);
            break;
        case 't':
            cap_s = atoi(optarg);
            break;
        case 'w':
            o.only_wl = optarg;
            break;
        case 'c': {
            g_auto(GStrv) list = g_strsplit(optarg, ",", -1);

            o.cfgs = 0;
            for (int i = 0; list[i]; i++) {
                int c = atoi(list[i]);

                if (c < 0 || c >= CFG__MAX) {
                    usage(argv[0]);
                }
                o.cfgs |= 1u << c;
            }
            break;
        }
        case 'r':
            real_dir = optarg;
            break;
        case 'H':
            o.h264_quality = atoi(optarg);
            break;
        case 'f':
            o.play_fps = atoi(optarg);
            break;
        default:
            usage(argv[0]);
        }
    }
#ifndef CONFIG_VNC_H264
    if (o.cfgs == (1u << CFG__MAX) - 1) {
        o.cfgs &= ~(1u << CFG_WAN_H264);
    } else if (o.cfgs & (1u << CFG_WAN_H264)) {
        fprintf(stderr, "wan+h264 needs QEMU built with --enable-vnc-h264\n");
        return 2;
    }
#endif
    if (o.nframes < 1 || o.quality < 0 || o.quality > 9 ||
        o.min_frame_ms < 0 || cap_s < 0 || (cap && cap < 8000) || !o.cfgs ||
        o.h264_quality < 0 || o.h264_quality > 100 || o.play_fps < 0 ||
        o.play_fps > 60) {
        usage(argv[0]);
    }
    if (!getenv("QTEST_QEMU_BINARY")) {
        fprintf(stderr, "set QTEST_QEMU_BINARY to qemu-system-x86_64\n");
        return 2;
    }
    if (!qtest_has_machine("pc") || !qtest_has_device("VGA")) {
        fprintf(stderr, "QEMU lacks the pc machine or the VGA device\n");
        return 2;
    }
    if (real_dir && !real_load(real_dir)) {
        fprintf(stderr, "%s lacks the real content: run "
                "scripts/real-content %s\n", real_dir, real_dir);
        return 2;
    }

    printf("VNC encoders, %dx%d, %d frames per workload after the first, "
           "each shown >= %d ms once the client has it; JPEG quality level "
           "%d (pseudo-encoding %d)\n", W, H, o.nframes, o.min_frame_ms,
           o.quality, VNC_CONNECTION_ENCODING_TIGHT_JPEG0 + o.quality);
    if (o.play_fps) {
        printf("Video plays at %d frames/s whatever the client has; each "
               "video frame is measured just before the next\n",
               o.play_fps);
    }
    if (o.h264_quality) {
        printf("wan+h264: JPEG quality fixed at %d (H.264 regions at the "
               "encoder's rate factor for it)\n", o.h264_quality);
    }
    printf("enc = CPU of the encoding threads (stock: VNC worker; vdi: "
           "its thread pool); main/proc = QEMU main thread / process CPU\n");
    printf("PSNR (R, G, B) and SSIM (luma) of the client's framebuffer "
           "against the whole frame, once each frame has arrived (video: just "
           "before the next frame); PSNR "
           "from the mean MSE of the frames; wan+h264's measured by "
           "replaying what its client received at each frame, H.264 "
           "decoded by ffmpeg\n");

    run_table("Synthetic workloads (vdi-workloads.h)", workloads,
              ARRAY_SIZE(workloads), "scroll", "video", &o);
    if (real_dir) {
        run_table("Real content (scripts/real-content: a PDF from "
                  "shared-mime-info rasterized by pdftoppm, photographs and "
                  "a film clip from opencv-doc decoded by ffmpeg)",
                  real_workloads, ARRAY_SIZE(real_workloads), "doc-scroll",
                  "film", &o);
    }
    if (cap && cap_s > 0 && (o.cfgs & (1u << CFG_WAN))) {
        run_cap(cap, cap_s, o.quality);
    }
    return 0;
}
