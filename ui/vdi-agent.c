/*
 * VDI transfer control on the SPICE agent channel: a bounded filter of
 * the vdagent stream, free of QEMU
 *
 * The spicevmc chardev named vdagent carries, both ways, chunks
 * (VDIChunkHeader: port, size) whose bodies make up, per port, a stream
 * of VDAgentMessages that may be split anywhere.  Both peers are taken
 * as hostile.  The filter holds only the header and the first bytes of a
 * message, judges it, then streams or skips its body; what passes is
 * re-chunked so that the receivers' own parsers (spice-server's and the
 * guest agent's want one message per chunk, its header whole in the
 * first, at most VD_AGENT_MAX_DATA_SIZE bytes) always get valid framing.
 *
 * Clipboard: grabs and releases pass (they carry only type lists); a
 * request for content of a closed direction is answered with an empty
 * VD_AGENT_CLIPBOARD of that type and never reaches the owner; content
 * (VD_AGENT_CLIPBOARD) is judged with its size and, if refused, replaced
 * by an empty one.  File transfer: a start is judged with the size its
 * key file gives; a refused one is answered with
 * VD_AGENT_FILE_XFER_STATUS_CANCELLED, and data passes only for a
 * transfer whose start passed and has not ended.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdlib.h>
#include <string.h>
#include <spice/vd_agent.h>

#include "vdi-agent.h"

#define HDR_SIZE 20             /* sizeof(VDAgentMessage) */
/* The selection and 3 reserved bytes, with VD_AGENT_CAP_CLIPBOARD_SELECTION */
#define SEL_SIZE 4

enum { MSG_HEAD, MSG_PEEK, MSG_PASS, MSG_DROP };

/* What becomes of a message */
typedef enum { FATE_PASS, FATE_DROP, FATE_MALFORMED } Fate;

static uint32_t rd32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = v;
    p[1] = v >> 8;
    p[2] = v >> 16;
    p[3] = v >> 24;
}

static VtFlow other(VtFlow flow)
{
    return flow == VT_FLOW_CLIENT_TO_GUEST ? VT_FLOW_GUEST_TO_CLIENT
                                           : VT_FLOW_CLIENT_TO_GUEST;
}

static VtType clipboard_type(uint32_t t)
{
    /* anything but text (images, file lists, unknown) is not text */
    return t == VD_AGENT_CLIPBOARD_UTF8_TEXT ? VT_TYPE_TEXT : VT_TYPE_IMAGE;
}

/* Both ends announced the selection byte */
static uint32_t sel_size(VdiAgentFilter *f)
{
    uint32_t bit = 1u << VD_AGENT_CAP_CLIPBOARD_SELECTION;

    return f->dir[0].caps & f->dir[1].caps & bit ? SEL_SIZE : 0;
}

/* Output going @flow is between messages on the client port */
static bool at_boundary(VdiAgentFilter *f, VtFlow flow)
{
    return f->dir[flow].msg[VDP_CLIENT_PORT - 1].state != MSG_PASS;
}

/* Part of one message, as chunks of at most VD_AGENT_MAX_DATA_SIZE */
static void emit_piece(VdiAgentFilter *f, VtFlow flow, uint32_t port,
                       const uint8_t *p, size_t len)
{
    while (len) {
        size_t n = len < VD_AGENT_MAX_DATA_SIZE ? len : VD_AGENT_MAX_DATA_SIZE;
        uint8_t hdr[8];

        wr32(hdr, port);
        wr32(hdr + 4, n);
        f->ops->emit(f->opaque, flow, hdr, sizeof(hdr));
        f->ops->emit(f->opaque, flow, p, n);
        p += n;
        len -= n;
    }
}

static void flush_answers(VdiAgentFilter *f, VtFlow flow)
{
    VdiAgentDir *d = &f->dir[flow];
    uint32_t i;

    if (!at_boundary(f, flow)) {
        return;
    }
    for (i = 0; i < d->nanswer; i++) {
        f->ops->emit(f->opaque, flow, d->answer[i], d->answer_len[i]);
    }
    d->nanswer = 0;
}

/* An answer on the client port going @flow, once it is between messages */
static void answer(VdiAgentFilter *f, VtFlow flow, uint32_t type,
                   const uint8_t *body, uint32_t len)
{
    VdiAgentDir *d = &f->dir[flow];
    uint8_t *a;

    if (d->nanswer == VDI_AGENT_ANSWERS) {
        f->stats.answers_lost++;
        return;
    }
    a = d->answer[d->nanswer];
    memset(a, 0, 8 + HDR_SIZE);
    wr32(a, VDP_CLIENT_PORT);
    wr32(a + 4, HDR_SIZE + len);
    wr32(a + 8, VD_AGENT_PROTOCOL);
    wr32(a + 12, type);
    wr32(a + 24, len);
    memcpy(a + 8 + HDR_SIZE, body, len);
    d->answer_len[d->nanswer++] = 8 + HDR_SIZE + len;
    f->stats.answered++;
    flush_answers(f, flow);
}

/* An empty clipboard of the selection and type @ref names */
static void answer_empty_clipboard(VdiAgentFilter *f, VtFlow flow,
                                   const uint8_t *ref, uint32_t sel)
{
    uint8_t body[SEL_SIZE + 4];

    memcpy(body, ref, sel + 4);
    answer(f, flow, VD_AGENT_CLIPBOARD, body, sel + 4);
}

static int xfer_find(VdiAgentDir *d, uint32_t id)
{
    uint32_t i;

    for (i = 0; i < d->nxfer; i++) {
        if (d->xfer[i] == id) {
            return i;
        }
    }
    return -1;
}

static void xfer_end(VdiAgentDir *d, uint32_t id)
{
    int i = xfer_find(d, id);

    if (i >= 0) {
        d->xfer[i] = d->xfer[--d->nxfer];
    }
}

/* The size= of a file-transfer start's key file, if it gives one */
static bool keyfile_size(const uint8_t *p, uint32_t len, uint64_t *size)
{
    uint32_t i = 0;

    while (i < len) {
        uint32_t e = i;
        uint64_t v = 0;
        uint32_t k;

        while (e < len && p[e] != '\n') {
            e++;
        }
        if (e - i > 5 && !memcmp(p + i, "size=", 5)) {
            for (k = i + 5; k < e && p[k] >= '0' && p[k] <= '9'; k++) {
                if (v > (UINT64_MAX - 9) / 10) {
                    return false;
                }
                v = v * 10 + (p[k] - '0');
            }
            if (k == e) {
                *size = v;
                return true;
            }
            return false;
        }
        i = e + 1;
    }
    return false;
}

/* Bytes of the body to hold before judging, or -1: malformed */
static int64_t peek_size(VdiAgentFilter *f, uint32_t type, uint32_t size)
{
    int64_t need;

    switch (type) {
    case VD_AGENT_CLIPBOARD:
    case VD_AGENT_CLIPBOARD_REQUEST:
        need = sel_size(f) + 4;
        break;
    case VD_AGENT_FILE_XFER_START:
        /* the id at least, so that an oversized start can be answered */
        return size < 4 ? -1 : size <= VDI_AGENT_PEEK_MAX ? (int64_t)size : 4;
    case VD_AGENT_FILE_XFER_DATA:
        /* the id; the body has the data's size too */
        return size < 12 ? -1 : 4;
    case VD_AGENT_FILE_XFER_STATUS:
    case VD_AGENT_ANNOUNCE_CAPABILITIES:
        need = 8;
        break;
    default:
        return 0;
    }
    return size < need ? -1 : need;
}

/* The message's head is held: pass it on or drop it */
static Fate judge(VdiAgentFilter *f, VtFlow flow, VdiAgentMsg *m)
{
    VdiAgentDir *d = &f->dir[flow];
    uint32_t type = rd32(m->hold + 4);
    uint32_t size = rd32(m->hold + 16);
    const uint8_t *body = m->hold + HDR_SIZE;
    uint32_t sel = sel_size(f);
    uint64_t fsize = 0;
    bool known;
    uint8_t status[8];

    switch (type) {
    case VD_AGENT_CLIPBOARD_REQUEST:
        /* content would come the other way, from the clipboard's owner */
        if (f->ops->judge(f->opaque, VT_KIND_CLIPBOARD, other(flow),
                          clipboard_type(rd32(body + sel)), false, 0) ==
            VT_ALLOW) {
            return FATE_PASS;
        }
        answer_empty_clipboard(f, other(flow), body, sel);
        return FATE_DROP;
    case VD_AGENT_CLIPBOARD:
        if (f->ops->judge(f->opaque, VT_KIND_CLIPBOARD, flow,
                          clipboard_type(rd32(body + sel)), true,
                          size - sel - 4) == VT_ALLOW) {
            m->content = f->ops->content != NULL;
            return FATE_PASS;
        }
        answer_empty_clipboard(f, flow, body, sel);
        return FATE_DROP;
    case VD_AGENT_FILE_XFER_START:
        wr32(status, rd32(body));
        wr32(status + 4, VD_AGENT_FILE_XFER_STATUS_CANCELLED);
        if (size > VDI_AGENT_PEEK_MAX) {
            answer(f, other(flow), VD_AGENT_FILE_XFER_STATUS, status, 8);
            return FATE_MALFORMED;
        }
        known = keyfile_size(body + 4, size - 4, &fsize);
        if (d->nxfer == VDI_AGENT_XFERS || xfer_find(d, rd32(body)) >= 0 ||
            f->ops->judge(f->opaque, VT_KIND_FILE_TRANSFER, flow,
                          VT_TYPE_FILE, known, fsize) != VT_ALLOW) {
            answer(f, other(flow), VD_AGENT_FILE_XFER_STATUS, status, 8);
            return FATE_DROP;
        }
        d->xfer[d->nxfer++] = rd32(body);
        return FATE_PASS;
    case VD_AGENT_FILE_XFER_DATA:
        return xfer_find(d, rd32(body)) >= 0 ? FATE_PASS : FATE_DROP;
    case VD_AGENT_FILE_XFER_STATUS:
        /* the receiver's word on a transfer going the other way */
        if (rd32(body + 4) != VD_AGENT_FILE_XFER_STATUS_CAN_SEND_DATA) {
            xfer_end(&f->dir[other(flow)], rd32(body));
        }
        return FATE_PASS;
    case VD_AGENT_ANNOUNCE_CAPABILITIES:
        d->caps = rd32(body + 4);
        return FATE_PASS;
    default:
        return FATE_PASS;
    }
}

/*
 * spice-server tells the guest agent that the client went away, which
 * then drops the client's message under way: so does the filter.
 */
static void client_gone(VdiAgentFilter *f)
{
    VdiAgentDir *d = &f->dir[VT_FLOW_CLIENT_TO_GUEST];

    d->msg[VDP_CLIENT_PORT - 1].state = MSG_HEAD;
    d->msg[VDP_CLIENT_PORT - 1].held = 0;
    d->msg[VDP_CLIENT_PORT - 1].content = false;
    d->caps = 0;
    d->nxfer = 0;
    f->dir[VT_FLOW_GUEST_TO_CLIENT].nxfer = 0;
}

static void msg_done(VdiAgentFilter *f, VtFlow flow, VdiAgentMsg *m)
{
    if (m->content) {
        f->ops->content(f->opaque, flow, NULL, 0, true);
    }
    m->content = false;
    m->state = MSG_HEAD;
    m->held = 0;
    flush_answers(f, flow);
}

/* The head is complete: judge, then pass what is held or drop it */
static void msg_judged(VdiAgentFilter *f, VtFlow flow, uint32_t port,
                       VdiAgentMsg *m)
{
    uint32_t size = rd32(m->hold + 16);

    /* the server port is spice-server's own: it never reaches a peer */
    Fate fate = port == VDP_CLIENT_PORT ? judge(f, flow, m) : FATE_PASS;

    if (port == VDP_SERVER_PORT && flow == VT_FLOW_CLIENT_TO_GUEST &&
        rd32(m->hold + 4) == VD_AGENT_CLIENT_DISCONNECTED) {
        client_gone(f);
    }
    m->left = size - m->need;
    if (fate == FATE_PASS) {
        m->state = MSG_PASS;
        emit_piece(f, flow, port, m->hold, m->held);
    } else {
        f->stats.malformed += fate == FATE_MALFORMED;
        f->stats.dropped += fate == FATE_DROP;
        m->state = MSG_DROP;
    }
    if (!m->left) {
        msg_done(f, flow, m);
    }
}

/* @len bytes of the message stream on @port going @flow */
static void msg_feed(VdiAgentFilter *f, VtFlow flow, uint32_t port,
                     const uint8_t *p, uint32_t len)
{
    VdiAgentMsg *m = &f->dir[flow].msg[port - 1];

    while (len) {
        uint32_t n;
        int64_t need;

        switch (m->state) {
        case MSG_HEAD:
        case MSG_PEEK:
            n = (m->state == MSG_HEAD ? HDR_SIZE : HDR_SIZE + m->need) -
                m->held;
            n = n < len ? n : len;
            memcpy(m->hold + m->held, p, n);
            m->held += n;
            p += n;
            len -= n;
            if (m->state == MSG_HEAD && m->held == HDR_SIZE) {
                need = rd32(m->hold) == VD_AGENT_PROTOCOL ?
                    peek_size(f, rd32(m->hold + 4), rd32(m->hold + 16)) : -1;
                if (need < 0) {
                    f->stats.malformed++;
                    m->need = 0;
                    m->left = rd32(m->hold + 16);
                    m->state = MSG_DROP;
                    if (!m->left) {
                        msg_done(f, flow, m);
                    }
                    continue;
                }
                m->need = need;
                m->state = MSG_PEEK;
            }
            if (m->state == MSG_PEEK && m->held == HDR_SIZE + m->need) {
                msg_judged(f, flow, port, m);
            }
            break;
        case MSG_PASS:
        case MSG_DROP:
            n = m->left < len ? m->left : len;
            if (m->state == MSG_PASS) {
                emit_piece(f, flow, port, p, n);
                if (m->content) {
                    f->ops->content(f->opaque, flow, p, n, false);
                }
            }
            m->left -= n;
            p += n;
            len -= n;
            if (!m->left) {
                msg_done(f, flow, m);
            }
            break;
        }
    }
}

void vdi_agent_feed(VdiAgentFilter *f, VtFlow flow,
                    const uint8_t *buf, size_t len)
{
    VdiAgentDir *d = &f->dir[flow];

    while (len) {
        uint32_t n;

        if (d->chunk_hdr_len < sizeof(d->chunk_hdr)) {
            n = sizeof(d->chunk_hdr) - d->chunk_hdr_len;
            n = n < len ? n : len;
            memcpy(d->chunk_hdr + d->chunk_hdr_len, buf, n);
            d->chunk_hdr_len += n;
            buf += n;
            len -= n;
            if (d->chunk_hdr_len < sizeof(d->chunk_hdr)) {
                break;
            }
            d->chunk_port = rd32(d->chunk_hdr);
            d->chunk_left = rd32(d->chunk_hdr + 4);
            if (d->chunk_port != VDP_CLIENT_PORT &&
                d->chunk_port != VDP_SERVER_PORT) {
                f->stats.malformed++;
                d->chunk_port = 0;
            }
        }
        n = d->chunk_left < len ? d->chunk_left : len;
        if (d->chunk_port) {
            msg_feed(f, flow, d->chunk_port, buf, n);
        }
        buf += n;
        len -= n;
        d->chunk_left -= n;
        if (!d->chunk_left) {
            d->chunk_hdr_len = 0;
        }
    }
}

void vdi_agent_reset(VdiAgentFilter *f)
{
    VdiAgentStats stats = f->stats;

    vdi_agent_init(f, f->ops, f->opaque);
    f->stats = stats;
}

void vdi_agent_init(VdiAgentFilter *f, const VdiAgentOps *ops, void *opaque)
{
    memset(f, 0, sizeof(*f));
    f->ops = ops;
    f->opaque = opaque;
}
