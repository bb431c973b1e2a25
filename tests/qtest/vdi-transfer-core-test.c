/*
 * Unit tests of the VDI clipboard and file-transfer decision
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "ui/vdi-transfer-core.h"

/* Never set: both ways, any size, every type, as stock QEMU */
static void test_default(void)
{
    VtState s;
    int k, f, t;

    vt_init(&s);
    for (k = 0; k < VT_KIND__MAX; k++) {
        for (f = 0; f < VT_FLOW__MAX; f++) {
            for (t = 0; t < VT_TYPE__MAX; t++) {
                bool carried = vt_kind_types(k) & (1u << t);

                g_assert_cmpint(vt_decide(&s.rule[k], f, t, true, 1 << 30),
                                ==, carried ? VT_ALLOW : VT_BLOCK_TYPE);
            }
        }
    }
}

static void test_direction(void)
{
    VtState s;
    VtRule *r = &s.rule[VT_KIND_CLIPBOARD];

    vt_init(&s);
    r->flow[VT_FLOW_GUEST_TO_CLIENT] = false;
    g_assert_cmpint(vt_decide(r, VT_FLOW_GUEST_TO_CLIENT, VT_TYPE_TEXT,
                              true, 5), ==, VT_BLOCK_DIRECTION);
    /* refused before the content is fetched */
    g_assert_cmpint(vt_decide(r, VT_FLOW_GUEST_TO_CLIENT, VT_TYPE_TEXT,
                              false, 0), ==, VT_BLOCK_DIRECTION);
    g_assert_cmpint(vt_decide(r, VT_FLOW_CLIENT_TO_GUEST, VT_TYPE_TEXT,
                              true, 5), ==, VT_ALLOW);
    /* the other channel keeps its own rule */
    g_assert_cmpint(vt_decide(&s.rule[VT_KIND_FILE_TRANSFER],
                              VT_FLOW_GUEST_TO_CLIENT, VT_TYPE_FILE,
                              true, 5), ==, VT_ALLOW);
}

static void test_type_and_size(void)
{
    VtState s;
    VtRule *r = &s.rule[VT_KIND_CLIPBOARD];

    vt_init(&s);
    r->types = 1u << VT_TYPE_TEXT;
    r->max_size = 10;
    g_assert_cmpint(vt_decide(r, VT_FLOW_CLIENT_TO_GUEST, VT_TYPE_IMAGE,
                              true, 1), ==, VT_BLOCK_TYPE);
    g_assert_cmpint(vt_decide(r, VT_FLOW_CLIENT_TO_GUEST, VT_TYPE_TEXT,
                              true, 10), ==, VT_ALLOW);
    g_assert_cmpint(vt_decide(r, VT_FLOW_CLIENT_TO_GUEST, VT_TYPE_TEXT,
                              true, 11), ==, VT_BLOCK_SIZE);
    /* the size is judged once the content is at hand */
    g_assert_cmpint(vt_decide(r, VT_FLOW_CLIENT_TO_GUEST, VT_TYPE_TEXT,
                              false, 0), ==, VT_ALLOW);
    /* direction comes first, type before size */
    r->flow[VT_FLOW_CLIENT_TO_GUEST] = false;
    g_assert_cmpint(vt_decide(r, VT_FLOW_CLIENT_TO_GUEST, VT_TYPE_IMAGE,
                              true, 100), ==, VT_BLOCK_DIRECTION);
    r->flow[VT_FLOW_CLIENT_TO_GUEST] = true;
    g_assert_cmpint(vt_decide(r, VT_FLOW_CLIENT_TO_GUEST, VT_TYPE_IMAGE,
                              true, 100), ==, VT_BLOCK_TYPE);
}

static void test_counts(void)
{
    VtState s;
    VtCount *c2g = &s.count[VT_KIND_CLIPBOARD][VT_FLOW_CLIENT_TO_GUEST];
    VtCount *g2c = &s.count[VT_KIND_CLIPBOARD][VT_FLOW_GUEST_TO_CLIENT];

    vt_init(&s);
    s.rule[VT_KIND_CLIPBOARD].flow[VT_FLOW_GUEST_TO_CLIENT] = false;

    /* a request that passes, then its answer: one transfer */
    g_assert_cmpint(vt_judge(&s, VT_KIND_CLIPBOARD, VT_FLOW_CLIENT_TO_GUEST,
                             VT_TYPE_TEXT, false, 0), ==, VT_ALLOW);
    g_assert_cmpint(c2g->allowed, ==, 0);
    g_assert_cmpint(vt_judge(&s, VT_KIND_CLIPBOARD, VT_FLOW_CLIENT_TO_GUEST,
                             VT_TYPE_TEXT, true, 42), ==, VT_ALLOW);
    g_assert_cmpint(c2g->allowed, ==, 1);
    g_assert_cmpint(c2g->allowed_bytes, ==, 42);
    g_assert_cmpint(c2g->blocked, ==, 0);

    /* a refused request counts as blocked */
    g_assert_cmpint(vt_judge(&s, VT_KIND_CLIPBOARD, VT_FLOW_GUEST_TO_CLIENT,
                             VT_TYPE_TEXT, false, 0), ==, VT_BLOCK_DIRECTION);
    g_assert_cmpint(g2c->blocked, ==, 1);
    g_assert_cmpint(g2c->allowed, ==, 0);
    g_assert_cmpint(s.count[VT_KIND_FILE_TRANSFER][VT_FLOW_GUEST_TO_CLIENT]
                    .blocked, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vdi-transfer/default", test_default);
    g_test_add_func("/vdi-transfer/direction", test_direction);
    g_test_add_func("/vdi-transfer/type-and-size", test_type_and_size);
    g_test_add_func("/vdi-transfer/counts", test_counts);
    return g_test_run();
}
