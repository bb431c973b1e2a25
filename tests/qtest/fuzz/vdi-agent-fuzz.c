/*
 * libFuzzer target for the SPICE agent-channel filter (ui/vdi-agent.c)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include <spice/vd_agent.h>
#include "ui/vdi-agent.h"

/*
 * Input: byte 0 the policy (bit 0/1: clipboard guest-to-client /
 * client-to-guest open, bit 2/3: the same for file transfer, bit 4: text
 * only, bit 5: at most 16 bytes), byte 1 the seed of how the rest is cut
 * and which peer each piece comes from: both peers hostile, interleaved.
 *
 * Invariants: what reaches each peer is valid framing as spice-server
 * and spice-vdagent read it (chunks of one message, at most
 * VD_AGENT_MAX_DATA_SIZE, the header whole in a message's first chunk,
 * protocol 1); no clipboard content and no file transfer crosses a
 * closed direction; the content reported is the content that passed;
 * the output stays within the bound vdi_agent_feed() promises.
 */

typedef struct Out {
    size_t len;
    uint32_t left[3];           /* of the message under way per port */
    uint8_t head[3][20];        /* its header, as it comes */
    uint32_t head_len[3];
    uint32_t chunk_left, chunk_port;
    uint8_t chunk_hdr[8];
    uint32_t chunk_hdr_len;
    bool chunk_first;
} Out;

static Out out[VT_FLOW__MAX];
static VtState policy;
static uint64_t content_len[VT_FLOW__MAX];  /* reported of the data under way */

static VtVerdict judge(void *opaque, VtKind kind, VtFlow flow, VtType type,
                       bool size_known, uint64_t size)
{
    VtVerdict v = vt_judge(&policy, kind, flow, type, size_known, size);

    /* allowed data: their content follows (the last may have been cut) */
    if (v == VT_ALLOW && kind == VT_KIND_CLIPBOARD && size_known) {
        content_len[flow] = 0;
    }
    return v;
}

/*
 * A message's header is complete: it may go @flow (the server port is
 * spice-server's own, which reaches no peer)
 */
static void check_msg(VtFlow flow, uint32_t port, const uint8_t *h)
{
    uint32_t type = ldl_le_p(h + 4), size = ldl_le_p(h + 16);

    assert(ldl_le_p(h) == VD_AGENT_PROTOCOL);
    if (port != VDP_CLIENT_PORT) {
        return;
    }
    if (type == VD_AGENT_CLIPBOARD &&
        !policy.rule[VT_KIND_CLIPBOARD].flow[flow]) {
        assert(size <= 8);      /* empty: selection and type only */
    }
    if ((type == VD_AGENT_FILE_XFER_START ||
         type == VD_AGENT_FILE_XFER_DATA) &&
        !policy.rule[VT_KIND_FILE_TRANSFER].flow[flow]) {
        abort();
    }
}

/* The receiving peer's reading of every byte emitted to it */
static void emit(void *opaque, VtFlow flow, const uint8_t *p, size_t len)
{
    Out *o = &out[flow];

    o->len += len;
    while (len) {
        uint32_t n;

        if (o->chunk_hdr_len < 8) {
            n = MIN(8 - o->chunk_hdr_len, len);
            memcpy(o->chunk_hdr + o->chunk_hdr_len, p, n);
            o->chunk_hdr_len += n;
            p += n;
            len -= n;
            if (o->chunk_hdr_len == 8) {
                o->chunk_port = ldl_le_p(o->chunk_hdr);
                o->chunk_left = ldl_le_p(o->chunk_hdr + 4);
                assert(o->chunk_port == VDP_CLIENT_PORT ||
                       o->chunk_port == VDP_SERVER_PORT);
                assert(o->chunk_left > 0 &&
                       o->chunk_left <= VD_AGENT_MAX_DATA_SIZE);
                /* a chunk that starts a message holds its whole header */
                o->chunk_first = !o->left[o->chunk_port];
                assert(!o->chunk_first || o->chunk_left >= 20);
            }
            continue;
        }
        n = MIN(o->chunk_left, len);
        if (o->chunk_first && o->head_len[o->chunk_port] < 20) {
            uint32_t port = o->chunk_port;
            uint32_t k = MIN(20 - o->head_len[port], n);

            memcpy(o->head[port] + o->head_len[port], p, k);
            o->head_len[port] += k;
            p += k;
            len -= k;
            o->chunk_left -= k;
            if (o->head_len[port] == 20) {
                check_msg(flow, port, o->head[port]);
                o->left[port] = ldl_le_p(o->head[port] + 16);
                o->chunk_first = false;
                /* one message per chunk */
                assert(o->chunk_left <= o->left[port]);
                if (!o->left[port]) {
                    o->head_len[port] = 0;
                }
            }
        } else {
            assert(n <= o->left[o->chunk_port]);
            o->left[o->chunk_port] -= n;
            if (!o->left[o->chunk_port]) {
                o->head_len[o->chunk_port] = 0;
            }
            p += n;
            len -= n;
            o->chunk_left -= n;
        }
        if (!o->chunk_left) {
            o->chunk_hdr_len = 0;
        }
    }
}

/* Only for allowed clipboard data, whose size the header gave */
static void content(void *opaque, VtFlow flow, const uint8_t *buf,
                    size_t len, bool end)
{
    assert(policy.rule[VT_KIND_CLIPBOARD].flow[flow]);
    if (end) {
        content_len[flow] = 0;
        return;
    }
    assert(len > 0);
    content_len[flow] += len;
    /* within the message that carries it */
    assert(content_len[flow] <= ldl_le_p(out[flow].head[VDP_CLIENT_PORT] +
                                         16));
}

static const VdiAgentOps ops = {
    .judge = judge, .emit = emit, .content = content,
};

static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static VdiAgentFilter f;
    size_t pos = 2, fed = 0;
    uint32_t seed;
    int k;

    if (size < 2) {
        return 0;
    }
    vt_init(&policy);
    for (k = 0; k < VT_FLOW__MAX; k++) {
        policy.rule[VT_KIND_CLIPBOARD].flow[k] = data[0] & (1 << k);
        policy.rule[VT_KIND_FILE_TRANSFER].flow[k] = data[0] & (4 << k);
    }
    if (data[0] & 16) {
        policy.rule[VT_KIND_CLIPBOARD].types = 1u << VT_TYPE_TEXT;
    }
    if (data[0] & 32) {
        policy.rule[VT_KIND_CLIPBOARD].max_size = 16;
        policy.rule[VT_KIND_FILE_TRANSFER].max_size = 16;
    }
    seed = data[1];
    memset(out, 0, sizeof(out));
    vdi_agent_init(&f, &ops, NULL);

    while (pos < size) {
        VtFlow flow = next_rand(&seed) & 1;
        size_t n = 1 + next_rand(&seed) % (next_rand(&seed) % 4 ? 64 : 8192);
        g_autofree uint8_t *copy = NULL;

        n = MIN(n, size - pos);
        copy = g_memdup2(data + pos, n);
        vdi_agent_feed(&f, flow, copy, n);
        pos += n;
        fed += n;
        for (k = 0; k < VT_FLOW__MAX; k++) {
            assert(out[k].len <= 2 * fed + VDI_AGENT_ANSWERS * 40);
        }
        if (next_rand(&seed) % 64 == 0) {
            vdi_agent_reset(&f);
            memset(out, 0, sizeof(out));
            memset(content_len, 0, sizeof(content_len));
            fed = 0;
        }
    }
    return 0;
}
