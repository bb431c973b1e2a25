/*
 * VDI host: what the QTests of the VNC display encoder share
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Known pixels put into the framebuffer of a std VGA (bochs VBE, 32 bpp,
 * linear framebuffer programmed from qtest), and a gvnc client
 * (vdi-gvnc-client.h) that reads them back and follows how exact its
 * copy is (Test).
 */

#ifndef TESTS_QTEST_VDI_DISPLAY_TEST_H
#define TESTS_QTEST_VDI_DISPLAY_TEST_H

#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "vdi-display-util.h"
#include "vdi-display-qmp.h"
#include "vdi-gvnc-client.h"

#define TIMEOUT_MS 30000

typedef enum Phase {
    PHASE_WAIT,         /* until the client has everything once */
    PHASE_REFINE,       /* wan: until the lossy part is exact */
    PHASE_DONE,
} Phase;

typedef struct Test {
    QTestState *qts;
    GvncClient c;
    GMainLoop *loop;
    bool wan;
    uint32_t *expect;
    Phase phase;
    double psnr;
    bool photo_lossy;
    guint timeout;
    int64_t t0, t_first, t_exact;
} Test;

static inline void check_progress(Test *t)
{
    GvncClient *c = &t->c;

    if (!gvnc_client_is(c, W, H) || t->phase == PHASE_DONE) {
        return;
    }
    if (t->phase == PHASE_WAIT) {
        if (!gvnc_client_covered(c, 0, 0, W, H)) {
            return;
        }
        t->t_first = g_get_monotonic_time();
        /* text-like content is never sent lossily */
        g_assert_true(gvnc_client_exact(c, t->expect, 0, 0, SPLIT, H));
        if (!t->wan) {
            g_assert_true(gvnc_client_exact(c, t->expect, SPLIT, 0, W, H));
            t->psnr = INFINITY;
            t->t_exact = t->t_first;
            t->phase = PHASE_DONE;
            g_main_loop_quit(t->loop);
            return;
        }
        t->psnr = gvnc_client_psnr(c, t->expect, SPLIT, 0, W, H);
        t->photo_lossy = !isinf(t->psnr);
        g_assert_cmpfloat(t->psnr, >, 30.0);
        t->phase = PHASE_REFINE;
    }
    if (t->phase == PHASE_REFINE &&
        gvnc_client_exact(c, t->expect, 0, 0, W, H)) {
        t->t_exact = g_get_monotonic_time();
        t->phase = PHASE_DONE;
        g_main_loop_quit(t->loop);
    }
}

static inline void test_on_update(GvncClient *c, int x, int y, int w, int h)
{
    check_progress(c->opaque);
}

static inline void test_on_initialized(GvncClient *c)
{
    g_main_loop_quit(((Test *)c->opaque)->loop);
}

static inline gboolean on_timeout(gpointer opaque)
{
    Test *t = opaque;

    g_error("timeout in phase %d (framebuffer %dx%d)", t->phase,
            t->c.fbw, t->c.fbh);
    return G_SOURCE_REMOVE;
}

static inline void test_connect(Test *t)
{
    t->c.opaque = t;
    t->c.on_update = test_on_update;
    t->c.on_initialized = test_on_initialized;
    gvnc_client_open_fd(&t->c, gvnc_client_socket(t->qts));

    t->loop = g_main_loop_new(NULL, FALSE);
    t->timeout = g_timeout_add(TIMEOUT_MS, on_timeout, t);
    g_main_loop_run(t->loop);       /* until initialized */
}

static inline void test_cleanup(Test *t)
{
    g_source_remove(t->timeout);
    gvnc_client_close(&t->c);
    qtest_quit(t->qts);
    g_main_loop_unref(t->loop);
    g_free(t->expect);
}

#endif
