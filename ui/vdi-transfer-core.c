/*
 * VDI clipboard and file-transfer control: the decision, free of QEMU
 *
 * Every clipboard and file transfer between the guest and a client, over
 * VNC or SPICE, is judged here, so the policy has one meaning.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "vdi-transfer-core.h"

uint32_t vt_kind_types(VtKind kind)
{
    return kind == VT_KIND_CLIPBOARD ?
        (1u << VT_TYPE_TEXT) | (1u << VT_TYPE_IMAGE) : 1u << VT_TYPE_FILE;
}

void vt_init(VtState *s)
{
    int k;

    memset(s, 0, sizeof(*s));
    for (k = 0; k < VT_KIND__MAX; k++) {
        s->rule[k].flow[VT_FLOW_GUEST_TO_CLIENT] = true;
        s->rule[k].flow[VT_FLOW_CLIENT_TO_GUEST] = true;
        s->rule[k].types = vt_kind_types(k);
    }
}

VtVerdict vt_decide(const VtRule *r, VtFlow flow, VtType type,
                    bool size_known, uint64_t size)
{
    if (!r->flow[flow]) {
        return VT_BLOCK_DIRECTION;
    }
    if (!(r->types & (1u << type))) {
        return VT_BLOCK_TYPE;
    }
    if (size_known && r->max_size && size > r->max_size) {
        return VT_BLOCK_SIZE;
    }
    return VT_ALLOW;
}

VtVerdict vt_judge(VtState *s, VtKind kind, VtFlow flow, VtType type,
                   bool size_known, uint64_t size)
{
    VtVerdict v = vt_decide(&s->rule[kind], flow, type, size_known, size);
    VtCount *c = &s->count[kind][flow];

    if (v != VT_ALLOW) {
        c->blocked++;
    } else if (size_known) {
        c->allowed++;
        c->allowed_bytes += size;
    }
    return v;
}
