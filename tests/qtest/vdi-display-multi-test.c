/*
 * QTest for the VDI display encoder with several clients at once
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Clients of their own profiles read a std VGA framebuffer that keeps
 * changing, while their encoders run in worker threads: clients that
 * come and go, video mode changes under running jobs, and a text console
 * through profile switches, each client ending bit-exact.
 */

#include "qemu/osdep.h"
#include "vdi-display-test.h"

/*
 * ---- Several clients at once ----
 *
 * Each client has its own profile; the guest framebuffer keeps changing
 * while they read it.  The encoder of each client runs in a worker thread
 * (trace event vnc_vdi_job_done has the thread id), so the tests
 * also check that no encoding happens in QEMU's main thread.
 */

#define MAX_CLIENTS 3

typedef struct Multi Multi;

typedef struct Client {
    GvncClient g;
    Multi *m;
    const char *profile;
    bool lossless;              /* check that updates are exact frames */
    int64_t id;
    /* client_exact() result, and the updates and frame it was for */
    bool exact;
    int exact_updates;
    int exact_frame;
} Client;

struct Multi {
    QTestState *qts;
    int w, h;                   /* the guest's mode */
    uint32_t *cur;              /* what the guest shows */
    int frame;                  /* changes of cur */
    /* each frame shown so far, if lan clients check their updates */
    GPtrArray *versions;
    char *log;                  /* QEMU's trace log */
};

/* A desktop-like frame: text on the left half, a photo on the right */
static uint32_t scene_pixel(int x, int y, int w, int seed)
{
    return x < w / 2 ? text_pixel(x + 8 * seed, y) :
        photo_pixel(x + 5 * seed, y + 3 * seed, 0);
}

static void multi_init(Multi *m, int w, int h, const char *extra)
{
    int fd;

    fd = g_file_open_tmp("vdi-display-trace-XXXXXX", &m->log, NULL);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    m->w = w;
    m->h = h;
    m->cur = g_new(uint32_t, w * h);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            m->cur[y * w + x] = scene_pixel(x, y, w, 0);
        }
    }
    m->qts = qtest_initf("-machine pc -nodefaults -vga std -vnc none "
                         "-msg timestamp=on -D %s "
                         "-trace vnc_vdi_job_* %s", m->log, extra);
    vga_setup_size(m->qts, w, h, m->cur);
}

/* Rows [@y0, @y0 + @n) of the guest framebuffer become frame @seed */
static void multi_show_rows(Multi *m, int y0, int n, int seed)
{
    for (int y = y0; y < y0 + n; y++) {
        for (int x = 0; x < m->w; x++) {
            m->cur[y * m->w + x] = scene_pixel(x, y, m->w, seed);
        }
    }
    m->frame++;
    if (m->versions) {
        g_ptr_array_add(m->versions,
                        g_memdup2(m->cur, m->w * m->h * sizeof(uint32_t)));
    }
    vga_write_rows(m->qts, m->w, y0, n, m->cur + y0 * m->w);
}

/* Change the guest's mode and show frame @seed in it */
static void multi_resize(Multi *m, int w, int h, int seed)
{
    m->w = w;
    m->h = h;
    g_free(m->cur);
    m->cur = g_new(uint32_t, w * h);
    vga_mode(m->qts, w, h);
    multi_show_rows(m, 0, h, seed);
}

static bool client_exact(Client *c)
{
    Multi *m = c->m;

    if (c->exact_updates == c->g.updates && c->exact_frame == m->frame) {
        return c->exact;
    }
    c->exact_updates = c->g.updates;
    c->exact_frame = m->frame;
    c->exact = gvnc_client_is(&c->g, m->w, m->h) &&
        gvnc_client_exact(&c->g, m->cur, 0, 0, m->w, m->h);
    return c->exact;
}

/*
 * A lossless client only ever shows frames the guest showed: each pixel
 * of an update equals that pixel in one of them.
 */
static void client_check_rect(Client *c, int x0, int y0, int w, int h)
{
    GPtrArray *v = c->m->versions;

    for (int y = y0; y < y0 + h; y++) {
        for (int x = x0; x < x0 + w; x++) {
            uint32_t p = gvnc_client_pixel(&c->g, x, y);
            int i;

            for (i = v->len - 1; i >= 0; i--) {
                if (((uint32_t *)v->pdata[i])[y * c->m->w + x] == p) {
                    break;
                }
            }
            if (i < 0) {
                g_error("client %" PRId64 " (%s): pixel %d,%d is %06x, in "
                        "no frame shown", c->id, c->profile, x, y, p);
            }
        }
    }
}

static void client_on_update(GvncClient *g, int x, int y, int w, int h)
{
    Client *c = g->opaque;

    if (c->m->versions && c->lossless &&
        gvnc_client_is(g, c->m->w, c->m->h)) {
        client_check_rect(c, x, y, w, h);
    }
}

static bool client_initialized(void *opaque)
{
    return ((Client *)opaque)->g.initialized;
}

/* The ids of the connected clients */
static GArray *client_ids(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-display-clients' }");
    QList *list = qdict_get_qlist(resp, "return");
    GArray *ids = g_array_new(false, false, sizeof(int64_t));
    QListEntry *e;

    g_assert(list);
    QLIST_FOREACH_ENTRY(list, e) {
        int64_t id = qdict_get_int(qobject_to(QDict, qlist_entry_obj(e)),
                                   "id");

        g_array_append_val(ids, id);
    }
    qobject_unref(resp);
    return ids;
}

/* Connect @c with the display profile @profile */
static void client_connect(Multi *m, Client *c, const char *profile)
{
    g_autoptr(GArray) before = client_ids(m->qts);
    g_autoptr(GArray) after = NULL;
    g_autofree char *args = NULL;
    int fd;

    memset(c, 0, sizeof(*c));
    c->m = m;
    c->profile = profile;
    c->lossless = !strcmp(profile, "lan");
    fd = gvnc_client_socket(m->qts);

    after = client_ids(m->qts);
    g_assert_cmpint(after->len, ==, before->len + 1);
    for (int i = 0; i < after->len; i++) {
        int64_t id = g_array_index(after, int64_t, i);
        bool old = false;

        for (int j = 0; j < before->len; j++) {
            old |= g_array_index(before, int64_t, j) == id;
        }
        if (!old) {
            c->id = id;
        }
    }
    g_assert_cmpint(c->id, >, 0);
    args = g_strdup_printf("{ 'profile': '%s', 'client': %" PRId64 " }",
                           profile, c->id);
    set_profile_ok(m->qts, args);

    c->g.opaque = c;
    c->g.on_update = client_on_update;
    gvnc_client_new(&c->g);
    vnc_connection_set_auth_type(c->g.conn, VNC_CONNECTION_AUTH_NONE);
    /* the others stay connected */
    vnc_connection_set_shared(c->g.conn, true);
    vnc_connection_open_fd(c->g.conn, fd);
    gvnc_wait(client_initialized, c, TIMEOUT_MS, "client did not initialize");
}

typedef struct ClientSet {
    Client *c;
    int n;
} ClientSet;

static bool clients_exact(void *opaque)
{
    ClientSet *s = opaque;

    for (int i = 0; i < s->n; i++) {
        g_assert_false(vnc_connection_has_error(s->c[i].g.conn));
        if (!client_exact(&s->c[i])) {
            return false;
        }
    }
    return true;
}

/* Until each of the @n clients shows exactly what the guest shows */
static void clients_wait_exact(Client *c, int n)
{
    ClientSet s = { c, n };

    gvnc_wait(clients_exact, &s, TIMEOUT_MS,
              "clients did not get the guest's frame");
}

/* The client's entry of query-display-clients */
static QDict *query_client_id(QTestState *qts, int64_t id)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-display-clients' }");
    QListEntry *e;
    QDict *found = NULL;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(resp, "return"), e) {
        QDict *c = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(c, "id") == id) {
            found = c;
            qobject_ref(found);
        }
    }
    qobject_unref(resp);
    g_assert(found);
    return found;
}

typedef struct JobTrace {
    int jobs;           /* vnc_vdi_job_done */
    int threads;        /* distinct threads that ran them */
    int main_thread;    /* ... of them QEMU's main thread */
    int overlaps;       /* pairs of jobs that ran at the same time */
    int drops;          /* vnc_vdi_job_drop */
    int abandoned;      /* vnc_vdi_job_abandon with the job running */
    double main_us;     /* main loop time per submitted job */
    double encode_us;   /* encode time per job */
} JobTrace;

/*
 * Read QEMU's trace log (log backend: "event args" lines, with -msg
 * timestamp=on prefixed with "tid@seconds.micros:").  vnc_vdi_job_done
 * has the thread that ran the job, when it started and how long it took.
 */
static void job_trace_read(Multi *m, pid_t pid, JobTrace *t)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GArray) tids = g_array_new(false, false, sizeof(int));
    g_autoptr(GArray) t0 = g_array_new(false, false, sizeof(int64_t));
    g_autoptr(GArray) t1 = g_array_new(false, false, sizeof(int64_t));
    g_autoptr(GArray) who = g_array_new(false, false, sizeof(int));
    double main_ns = 0;
    int submits = 0;

    memset(t, 0, sizeof(*t));
    g_assert_true(g_file_get_contents(m->log, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        const char *ev = strstr(lines[i], ":vnc_vdi_job_");
        int tid, nrects, known = 0;
        long long client, start, ns, lat;
        unsigned bytes;

        if (!ev) {
            continue;
        }
        ev++;
        if (sscanf(ev, "vnc_vdi_job_done client %lld: %d rects, %u bytes, "
                   "thread %d encoded from %lld us for %lld ns, done %lld",
                   &client, &nrects, &bytes, &tid, &start, &ns, &lat) == 7) {
            int64_t end = start + ns / 1000;

            t->jobs++;
            t->encode_us += ns / 1000.0;
            t->main_thread += tid == pid;
            for (int j = 0; j < tids->len; j++) {
                known |= g_array_index(tids, int, j) == tid;
            }
            if (!known) {
                g_array_append_val(tids, tid);
            }
            for (int j = 0; j < t0->len; j++) {
                if (g_array_index(who, int, j) != tid &&
                    start < g_array_index(t1, int64_t, j) &&
                    g_array_index(t0, int64_t, j) < end) {
                    t->overlaps++;
                }
            }
            g_array_append_val(t0, start);
            g_array_append_val(t1, end);
            g_array_append_val(who, tid);
        } else if (g_str_has_prefix(ev, "vnc_vdi_job_submit")) {
            const char *p = strstr(ev, "bytes, ");

            if (p && sscanf(p, "bytes, %lld ns", &ns) == 1) {
                main_ns += ns;
                submits++;
            }
        } else if (g_str_has_prefix(ev, "vnc_vdi_job_drop")) {
            t->drops++;
        } else if (g_str_has_prefix(ev, "vnc_vdi_job_abandon") &&
                   strstr(ev, "running 1")) {
            t->abandoned++;
        }
    }
    t->threads = tids->len;
    t->main_us = submits ? main_ns / 1000.0 / submits : 0;
    t->encode_us = t->jobs ? t->encode_us / t->jobs : 0;
}

static void job_trace_report(const char *name, const JobTrace *t)
{
    g_test_message("%s: %d encoder jobs on %d worker threads (%d in the "
                   "main thread), %d pairs ran at the same time; per job "
                   "%.0f us in the main loop, %.0f us encoding; %d dropped "
                   "for a stale surface, %d abandoned while running",
                   name, t->jobs, t->threads, t->main_thread, t->overlaps,
                   t->main_us, t->encode_us, t->drops, t->abandoned);
}

/*
 * CPU time of QEMU's main thread and of its other threads, in ms (Linux
 * /proc; 0 elsewhere)
 */
static void qemu_cpu_ms(pid_t pid, double *main_ms, double *other_ms)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/task", (int)pid);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *tid;

    *main_ms = *other_ms = 0;
    while (d && (tid = g_dir_read_name(d))) {
        g_autofree char *path = g_strdup_printf("%s/%s/stat", dir, tid);
        g_autofree char *stat = NULL;
        unsigned long ut, st;
        const char *p;

        if (!g_file_get_contents(path, &stat, NULL, NULL)) {
            continue;
        }
        /* fields 14 and 15, after the ")" that ends the name */
        p = strrchr(stat, ')');
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                         "%*u %lu %lu", &ut, &st) != 2) {
            continue;
        }
        *(atoi(tid) == pid ? main_ms : other_ms) +=
            (ut + st) * 1000.0 / sysconf(_SC_CLK_TCK);
    }
    if (d) {
        g_dir_close(d);
    }
}

/* Stop QEMU and check where the encoder ran */
static void multi_finish(Multi *m, const char *name, JobTrace *t)
{
    pid_t pid = qtest_pid(m->qts);
    double main_ms, other_ms;

    qemu_cpu_ms(pid, &main_ms, &other_ms);
    g_test_message("%s: QEMU CPU time: main thread %.0f ms, other threads "
                   "%.0f ms", name, main_ms, other_ms);
    qtest_quit(m->qts);
    job_trace_read(m, pid, t);
    job_trace_report(name, t);
    if (t->jobs) {
        g_assert_cmpint(t->main_thread, ==, 0);
    } else {
        g_test_message("no vnc_vdi_job_done in the log: tracing backend?");
    }
    unlink(m->log);
    g_free(m->log);
    g_free(m->cur);
    if (m->versions) {
        g_ptr_array_free(m->versions, true);
    }
}

/* Switch @c to @profile */
static void client_set_profile(Client *c, const char *profile)
{
    g_autofree char *args = NULL;

    args = g_strdup_printf("{ 'profile': '%s', 'client': %" PRId64 " }",
                           profile, c->id);
    c->profile = profile;
    set_profile_ok(c->m->qts, args);
}

/*
 * Three clients, lan, wan and lan, read a framebuffer that keeps
 * changing: every update of the lan clients holds only frames the guest
 * showed, and all three end with the last frame, bit-exact (wan after
 * refining its JPEG areas).  Half-way, with updates being encoded, the
 * second client switches to lan and the third to wan.
 */
static void test_multi_client(void)
{
    static const char *const profiles[] = { "lan", "wan", "lan" };
    Multi m = { 0 };
    Client c[ARRAY_SIZE(profiles)];
    JobTrace t;

    multi_init(&m, W, H, "");
    m.versions = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(m.versions, g_memdup2(m.cur, W * H * 4));
    for (int i = 0; i < ARRAY_SIZE(c); i++) {
        client_connect(&m, &c[i], profiles[i]);
    }
    clients_wait_exact(c, ARRAY_SIZE(c));

    for (int k = 1; k <= 16; k++) {
        /* a band changes, and every fourth time the whole photo */
        if (k % 4) {
            multi_show_rows(&m, (k * 72) % (H - 64), 64, k);
        } else {
            multi_show_rows(&m, 0, H, k);
        }
        gvnc_pump(25);
        if (k == 8) {
            /* it may still get lossy updates encoded before the switch */
            client_set_profile(&c[1], "lan");
            c[2].lossless = false;
            client_set_profile(&c[2], "wan");
        }
    }
    clients_wait_exact(c, ARRAY_SIZE(c));

    for (int i = 0; i < ARRAY_SIZE(c); i++) {
        QDict *q = query_client_id(m.qts, c[i].id);
        QDict *tiles = qdict_get_qdict(q, "tiles");

        g_assert_cmpstr(qdict_get_str(q, "profile"), ==, c[i].profile);
        g_assert_cmpint(qdict_get_int(q, "frames-sent"), >, 1);
        /* encode times are still measured, in the worker */
        g_assert_cmpfloat(qdict_get_double(q, "encode-time-mean"), >, 0);
        g_assert_cmpfloat(qdict_get_double(q, "encode-time-p95"), >, 0);
        if (i == 0) {
            g_assert_cmpint(qdict_get_int(tiles, "jpeg"), ==, 0);
        } else if (i == 1) {
            g_assert_cmpint(qdict_get_int(tiles, "jpeg"), >, 0);
        }
        g_test_message("client %" PRId64 " (%s): %" PRId64 " updates, %"
                       PRId64 " bytes, encode mean %.0f us, p95 %.0f us",
                       c[i].id, c[i].profile,
                       qdict_get_int(q, "frames-sent"),
                       qdict_get_int(q, "bytes-sent"),
                       qdict_get_double(q, "encode-time-mean"),
                       qdict_get_double(q, "encode-time-p95"));
        qobject_unref(q);
    }
    for (int i = 0; i < ARRAY_SIZE(c); i++) {
        gvnc_client_close(&c[i].g);
    }
    multi_finish(&m, "multi-client", &t);
    g_assert_cmpint(t.jobs, >=, 3 * 2);
}

/*
 * A wan client connects and goes away again, six times, in the middle of
 * frequent large updates (its jobs may still be running); QEMU carries
 * on, and so does a lan client that stays.
 */
static void test_disconnect(void)
{
    Multi m = { 0 };
    Client keep, churn;
    JobTrace t;
    g_autoptr(GArray) ids = NULL;
    int seed = 0;

    multi_init(&m, 1024, 768, "");
    client_connect(&m, &keep, "lan");
    for (int round = 0; round < 6; round++) {
        client_connect(&m, &churn, "wan");
        for (int k = 0; k < 6; k++) {
            multi_show_rows(&m, 0, m.h, ++seed);
            gvnc_pump(10 + 7 * round);
        }
        multi_show_rows(&m, 0, m.h, ++seed);
        gvnc_pump(5 * round);
        gvnc_client_close(&churn.g);
        multi_show_rows(&m, 0, m.h, ++seed);
        gvnc_pump(20);
    }
    clients_wait_exact(&keep, 1);

    ids = client_ids(m.qts);
    g_assert_cmpint(ids->len, ==, 1);
    g_assert_cmpint(g_array_index(ids, int64_t, 0), ==, keep.id);
    gvnc_client_close(&keep.g);
    multi_finish(&m, "disconnect", &t);
}

/*
 * The guest changes its video mode, down and up, right after large
 * updates that are still being encoded: the clients follow to the new
 * size (no rectangle for the old, larger surface reaches them) and end
 * bit-exact.
 */
static void test_resize(void)
{
    static const char *const profiles[] = { "lan", "wan" };
    Multi m = { 0 };
    Client c[ARRAY_SIZE(profiles)];
    JobTrace t;
    int seed = 0;

    multi_init(&m, 1024, 768, "");
    for (int i = 0; i < ARRAY_SIZE(c); i++) {
        client_connect(&m, &c[i], profiles[i]);
    }
    clients_wait_exact(c, ARRAY_SIZE(c));

    for (int round = 0; round < 4; round++) {
        for (int k = 0; k < 3; k++) {
            multi_show_rows(&m, 0, m.h, ++seed);
            gvnc_pump(10);
        }
        multi_show_rows(&m, 0, m.h, ++seed);
        gvnc_pump(3 * round);
        multi_resize(&m, W, H, ++seed);
        clients_wait_exact(c, ARRAY_SIZE(c));

        multi_show_rows(&m, 0, m.h, ++seed);
        gvnc_pump(3 * round);
        multi_resize(&m, 1024, 768, ++seed);
        clients_wait_exact(c, ARRAY_SIZE(c));
    }
    for (int i = 0; i < ARRAY_SIZE(c); i++) {
        gvnc_client_close(&c[i].g);
    }
    multi_finish(&m, "resize", &t);
}

/*
 * A text console scrolls with a blinking cursor (cells of 8x16, drawn
 * into the std VGA as the VGA's text mode would redraw them) while the
 * display profile switches as an administrator or `auto` would: wan on
 * a slow link (updates cut short), off (stock encoders), lan, off, wan,
 * auto, lan, three times.  Then only the cursor blinks, and the client
 * must end with exactly the guest's frame: an update lost at a switch
 * leaves a stale cell that nothing repairs.
 */
#define CONS_CW 8
#define CONS_CH 16

typedef struct Cons {
    Multi *m;
    int line;               /* first number on screen */
    int cy;                 /* cursor row */
    bool cursor;
} Cons;

static void cons_draw(Cons *k)
{
    Multi *m = k->m;

    for (int y = 0; y < m->h; y++) {
        int r = y / CONS_CH, gy = y % CONS_CH;
        /* a number per row, as "seq" prints */
        g_autofree char *s = g_strdup_printf("%d", k->line + r);
        int len = r < k->cy ? strlen(s) : 0;

        for (int x = 0; x < m->w; x++) {
            int col = x / CONS_CW, gx = x % CONS_CW;
            bool on = col < len && gx < 7 && gy >= 2 && gy < 14 &&
                (s[col] * 7 + gx * 3 + gy * 5) % 4 == 0;

            if (k->cursor && r == k->cy && col == 0 && gy >= 14) {
                on = true;
            }
            m->cur[y * m->w + x] = on ? 0xaaaaaa : 0;
        }
    }
    m->frame++;
    vga_write_rows(m->qts, m->w, 0, m->h, m->cur);
}

/* @n more lines of output; the cursor goes down, then the text scrolls */
static void cons_print(Cons *k, int n)
{
    int rows = k->m->h / CONS_CH;

    for (int i = 0; i < n; i++) {
        if (k->cy < rows - 1) {
            k->cy++;
        } else {
            k->line++;
        }
    }
    cons_draw(k);
}

static void test_profile_switches(void)
{
    static const char *const switches[] = {
        "{ 'profile': 'wan', 'max-bandwidth': 300000 }",
        "{ 'profile': 'off', 'max-bandwidth': 0 }",
        "{ 'profile': 'lan' }", "{ 'profile': 'off' }",
        "{ 'profile': 'wan' }", "{ 'profile': 'auto' }",
        "{ 'profile': 'lan' }",
    };
    Multi m = { 0 };
    Client c;
    Cons k = { .m = &m, .cursor = true };
    JobTrace t;

    multi_init(&m, W, H, "");
    client_connect(&m, &c, "lan");
    c.lossless = false;
    cons_draw(&k);
    clients_wait_exact(&c, 1);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < ARRAY_SIZE(switches); i++) {
            for (int j = 0; j < 8; j++) {
                k.cursor = !k.cursor;
                cons_print(&k, 1 + (i + j) % 3);
                gvnc_pump(15 + 10 * ((i + j + round) % 4));
            }
            set_profile_ok(m.qts, switches[i]);
        }
    }
    for (int j = 0; j < 6; j++) {
        k.cursor = !k.cursor;
        cons_draw(&k);
        gvnc_pump(100);
    }
    clients_wait_exact(&c, 1);
    gvnc_client_close(&c.g);
    multi_finish(&m, "profile-switches", &t);
}

int main(int argc, char **argv)
{
    if (getenv("GTK_VNC_DEBUG")) {
        vnc_util_set_debug(true);
    }
    g_test_init(&argc, &argv, NULL);

    if (qtest_has_machine("pc") && qtest_has_device("VGA")) {
        qtest_add_func("/vdi-display/multi-client", test_multi_client);
        qtest_add_func("/vdi-display/disconnect", test_disconnect);
        qtest_add_func("/vdi-display/resize", test_resize);
        qtest_add_func("/vdi-display/profile-switches",
                       test_profile_switches);
    }
    return g_test_run();
}
