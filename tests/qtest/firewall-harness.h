/*
 * Test harness for filter-firewall: frames in and out of a netdev
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_QTEST_FIREWALL_HARNESS_H
#define TESTS_QTEST_FIREWALL_HARNESS_H

#include "libqtest.h"

typedef struct Harness {
    QTestState *qts;
    int backend;        /* test side of the socket netdev */
    int guest;          /* what reached the guest, from filter-mirror */
    int inject;         /* frames the guest sends, into filter-redirector */
} Harness;

/*
 * Start QEMU with the filters @filters (-object options) on netdev bn0,
 * followed by a filter-mirror and a filter-redirector.
 *
 * The socket netdev stands for the network, the hub for the guest's NIC:
 * unlike a NIC without a driver, a hub with a second port always accepts
 * frames, so the socket never stops reading.  Filters on the ingress
 * path run in list order (@filters, then the mirror), on the egress path
 * in reverse order (the redirector, then @filters).
 */
static inline void harness_start_with(Harness *h, const char *filters)
{
    int backend[2], guest[2], inject[2];

    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, backend), ==, 0);
    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, guest), ==, 0);
    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, inject), ==, 0);
    h->qts = qtest_initf(
        "-machine none "
        "-netdev socket,id=bn0,fd=%d "
        "-netdev hubport,id=hp0,hubid=0,netdev=bn0 "
        "-netdev hubport,id=hp1,hubid=0 "
        "-chardev socket,id=guest0,fd=%d "
        "-chardev socket,id=inject0,fd=%d "
        "%s "
        "-object filter-mirror,id=m0,netdev=bn0,queue=tx,outdev=guest0 "
        "-object filter-redirector,id=r0,netdev=bn0,queue=rx,indev=inject0",
        backend[1], guest[1], inject[1], filters);
    close(backend[1]);
    close(guest[1]);
    close(inject[1]);
    h->backend = backend[0];
    h->guest = guest[0];
    h->inject = inject[0];
    /* the chardevs are connected once the monitor answers */
    qtest_qmp_assert_success(h->qts, "{ 'execute': 'query-status' }");
}

static inline void harness_stop(Harness *h)
{
    qtest_quit(h->qts);
    close(h->backend);
    close(h->guest);
    close(h->inject);
}

#endif
