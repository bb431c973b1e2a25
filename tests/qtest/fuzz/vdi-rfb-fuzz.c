/*
 * libFuzzer target for the RFB client-message reader (ui/vdi-rfb.c)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "ui/vdi-rfb.h"

/*
 * Input: byte 0 the VDI_RFB_ALLOW_* mask, byte 1 the seed of the chunk
 * sizes, the rest a stream of client messages.  The stream is read once
 * whole, message after message, and once as it would arrive in chunks,
 * the way the VNC server reads it: wait for the bytes the reader asked
 * for, then call it with exactly those.  Every call gets a buffer of
 * exactly the length it is told, so that ASan sees any read past it.
 *
 * Invariants: a message never takes more bytes than given, nor none;
 * "need more" always asks for more than given; both readings see the
 * same messages, the same error at the same place, or wait at the same
 * place.
 */

#define MAX_MSGS 4096

typedef struct Ref {
    VdiRfbMsg msg[MAX_MSGS];
    size_t off[MAX_MSGS];
    int n;
    VdiRfbStatus end;           /* ERROR or NEED_MORE after n messages */
    const char *reason;
} Ref;

static Ref ref;

/* vdi_rfb_read() on a private copy of exactly @len bytes */
static VdiRfbStatus read_exact(const uint8_t *p, size_t len, uint32_t allow,
                               VdiRfbMsg *m, uint8_t **copy)
{
    VdiRfbStatus r;

    *copy = len ? g_memdup2(p, len) : NULL;
    r = vdi_rfb_read(*copy, len, allow, m);
    switch (r) {
    case VDI_RFB_MSG:
        assert(m->len > 0 && m->len <= len);
        break;
    case VDI_RFB_NEED_MORE:
        assert(m->need > len);
        break;
    case VDI_RFB_ERROR:
        assert(m->reason && *m->reason);
        break;
    default:
        abort();
    }
    return r;
}

static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree uint8_t *acc = NULL;
    const uint8_t *s;
    uint32_t allow, seed;
    size_t n, pos = 0, have = 0, expect = 1, fed = 0;
    int k = 0;
    VdiRfbMsg m;
    uint8_t *copies[MAX_MSGS];
    int ncopies = 0;
    bool stopped = false;

    if (size < 2) {
        return 0;
    }
    allow = data[0];
    seed = data[1];
    s = data + 2;
    n = size - 2;

    /* whole */
    ref.n = 0;
    for (;;) {
        uint8_t *c;
        VdiRfbStatus r = read_exact(s + pos, n - pos, allow, &m, &c);

        if (r != VDI_RFB_MSG || ref.n == MAX_MSGS) {
            ref.end = r == VDI_RFB_MSG ? VDI_RFB_NEED_MORE : r;
            ref.reason = m.reason;
            if (r == VDI_RFB_NEED_MORE) {
                /* need counts from the message start */
                assert(m.need > n - pos);
            }
            g_free(c);
            break;
        }
        copies[ncopies++] = c;
        ref.msg[ref.n] = m;
        ref.off[ref.n++] = pos;
        pos += m.len;
    }

    /* in chunks, the way vnc_client_read() feeds protocol_client_msg() */
    acc = g_malloc(n + 1);
    while (!stopped && k < ref.n + 1) {
        size_t chunk;

        if (fed == n) {
            break;
        }
        chunk = 1 + next_rand(&seed) % (next_rand(&seed) % 8 ? 16 : 4096);
        chunk = MIN(chunk, n - fed);
        memcpy(acc + have, s + fed, chunk);
        have += chunk;
        fed += chunk;

        while (have >= expect) {
            uint8_t *c1, *c2;
            VdiRfbMsg whole;
            VdiRfbStatus r = read_exact(acc, expect, allow, &m, &c1);
            VdiRfbStatus r2 = read_exact(acc, have, allow, &whole, &c2);

            if (r == VDI_RFB_NEED_MORE) {
                /* asking again with more bytes gives no other answer */
                assert(r2 != VDI_RFB_MSG || whole.len >= m.need);
                assert(r2 != VDI_RFB_NEED_MORE || whole.need >= m.need);
                expect = m.need;
                g_free(c1);
                g_free(c2);
                continue;
            }
            if (r == VDI_RFB_ERROR) {
                assert(k == ref.n && ref.end == VDI_RFB_ERROR);
                assert(!strcmp(m.reason, ref.reason));
                assert(r2 == VDI_RFB_ERROR && !strcmp(whole.reason, m.reason));
                g_free(c1);
                g_free(c2);
                stopped = true;
                break;
            }
            /* a message: exactly the bytes asked for, as read whole */
            assert(m.len == expect);
            assert(k < ref.n);
            assert(vdi_rfb_msg_equal(&m, &ref.msg[k]));
            assert(r2 == VDI_RFB_MSG && vdi_rfb_msg_equal(&whole, &m));
            g_free(c1);
            g_free(c2);
            memmove(acc, acc + m.len, have - m.len);
            have -= m.len;
            expect = 1;
            k++;
            if (k == MAX_MSGS) {
                stopped = true;
                break;
            }
        }
    }
    if (!stopped) {
        /* everything fed: waiting where the whole reading stopped */
        assert(fed == n && k == ref.n && ref.end == VDI_RFB_NEED_MORE);
    }
    for (int i = 0; i < ncopies; i++) {
        g_free(copies[i]);
    }
    return 0;
}
