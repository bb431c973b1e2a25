/*
 * VDI clipboard and file-transfer control: QMP, counters and events
 *
 * The policy of the VM (qapi/vdi-transfer.json) and the two checks the
 * clipboard layer (VNC, qemu-vdagent) and the SPICE agent channel call.
 * The decision itself is vt_decide() in vdi-transfer-core.c.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "crypto/hash.h"
#include "hw/vdi/vdi-extension.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-vdi-transfer.h"
#include "qapi/qapi-events-vdi-transfer.h"
#include "qemu/module.h"
#include "ui/vdi-transfer.h"
#include "trace.h"

/* The core's enums follow the QAPI ones */
QEMU_BUILD_BUG_ON((int)VT_KIND_CLIPBOARD != VDI_TRANSFER_KIND_CLIPBOARD ||
                  (int)VT_KIND_FILE_TRANSFER !=
                  VDI_TRANSFER_KIND_FILE_TRANSFER);
QEMU_BUILD_BUG_ON((int)VT_TYPE_TEXT != VDI_TRANSFER_TYPE_TEXT ||
                  (int)VT_TYPE_IMAGE != VDI_TRANSFER_TYPE_IMAGE ||
                  (int)VT_TYPE_FILE != VDI_TRANSFER_TYPE_FILE ||
                  (int)VT_TYPE__MAX != VDI_TRANSFER_TYPE__MAX);

static VtState vt_state;

static const VdiTransferDirection flow_direction[VT_FLOW__MAX] = {
    [VT_FLOW_GUEST_TO_CLIENT] = VDI_TRANSFER_DIRECTION_GUEST_TO_CLIENT,
    [VT_FLOW_CLIENT_TO_GUEST] = VDI_TRANSFER_DIRECTION_CLIENT_TO_GUEST,
};

static const VdiTransferBlockReason block_reason[] = {
    [VT_BLOCK_DIRECTION] = VDI_TRANSFER_BLOCK_REASON_DIRECTION,
    [VT_BLOCK_TYPE] = VDI_TRANSFER_BLOCK_REASON_TYPE,
    [VT_BLOCK_SIZE] = VDI_TRANSFER_BLOCK_REASON_SIZE,
};

static QCryptoHashAlgo digest_alg(void)
{
    return qcrypto_hash_supports(QCRYPTO_HASH_ALGO_SM3) ?
        QCRYPTO_HASH_ALGO_SM3 : QCRYPTO_HASH_ALGO_SHA256;
}

/* With its size if @has_size, and its @digest if any */
static void vdi_transfer_report(VtKind kind, VtFlow flow, VtType type,
                                VtVerdict v, bool has_size, size_t size,
                                const char *digest)
{
    trace_vdi_transfer(kind, flow, type, v, size);
    qapi_event_send_vdi_transfer((VdiTransferKind)kind, flow_direction[flow],
                                 (VdiTransferType)type, v == VT_ALLOW,
                                 v != VT_ALLOW, block_reason[v],
                                 has_size, size, digest,
                                 digest != NULL, digest_alg());
}

VtVerdict vdi_transfer_judge(VtKind kind, VtFlow flow, VtType type,
                             bool size_known, uint64_t size)
{
    VtVerdict v = vt_judge(&vt_state, kind, flow, type, size_known, size);

    if (v != VT_ALLOW) {
        vdi_transfer_report(kind, flow, type, v, size_known, size, NULL);
    }
    return v;
}

struct VdiTransferStream {
    VtKind kind;
    VtFlow flow;
    VtType type;
    uint64_t size;
    QCryptoHash *hash;
};

VdiTransferStream *vdi_transfer_stream_new(VtKind kind, VtFlow flow,
                                           VtType type, uint64_t size,
                                           bool digest)
{
    VdiTransferStream *s = g_new0(VdiTransferStream, 1);

    s->kind = kind;
    s->flow = flow;
    s->type = type;
    s->size = size;
    s->hash = digest ? qcrypto_hash_new(digest_alg(), NULL) : NULL;
    return s;
}

void vdi_transfer_stream_data(VdiTransferStream *s, const void *buf,
                              size_t len)
{
    if (s->hash && qcrypto_hash_update(s->hash, buf, len, NULL) < 0) {
        g_clear_pointer(&s->hash, qcrypto_hash_free);
    }
}

void vdi_transfer_stream_end(VdiTransferStream *s)
{
    g_autofree char *digest = NULL;

    if (s->hash && qcrypto_hash_finalize_digest(s->hash, &digest, NULL) < 0) {
        digest = NULL;
    }
    vdi_transfer_report(s->kind, s->flow, s->type, VT_ALLOW, true, s->size,
                        digest);
    vdi_transfer_stream_free(s);
}

void vdi_transfer_stream_free(VdiTransferStream *s)
{
    if (s) {
        qcrypto_hash_free(s->hash);
        g_free(s);
    }
}

bool vdi_transfer_may_request(VtKind kind, VtFlow flow, VtType type)
{
    return vdi_transfer_judge(kind, flow, type, false, 0) == VT_ALLOW;
}

bool vdi_transfer_check(VtKind kind, VtFlow flow, VtType type,
                        const void *data, size_t size)
{
    VtVerdict v = vt_judge(&vt_state, kind, flow, type, true, size);
    g_autofree char *digest = NULL;

    if (qcrypto_hash_digest(digest_alg(), data ?: "", size, &digest,
                            NULL) < 0) {
        digest = NULL;
    }
    vdi_transfer_report(kind, flow, type, v, true, size, digest);
    return v == VT_ALLOW;
}

static bool rule_from_policy(VtRule *r, VtKind kind, VdiTransferPolicy *p,
                             const char *name, Error **errp)
{
    uint32_t carried = vt_kind_types(kind);
    VdiTransferTypeList *t;

    memset(r, 0, sizeof(*r));
    r->flow[VT_FLOW_GUEST_TO_CLIENT] =
        p->direction == VDI_TRANSFER_DIRECTION_GUEST_TO_CLIENT ||
        p->direction == VDI_TRANSFER_DIRECTION_BOTH;
    r->flow[VT_FLOW_CLIENT_TO_GUEST] =
        p->direction == VDI_TRANSFER_DIRECTION_CLIENT_TO_GUEST ||
        p->direction == VDI_TRANSFER_DIRECTION_BOTH;
    if (p->has_max_size && p->max_size == 0) {
        error_setg(errp, "%s: max-size must be at least 1", name);
        return false;
    }
    r->max_size = p->has_max_size ? p->max_size : 0;
    if (!p->has_types) {
        r->types = carried;
        return true;
    }
    for (t = p->types; t; t = t->next) {
        if (!(carried & (1u << t->value))) {
            error_setg(errp, "%s does not carry type '%s'", name,
                       VdiTransferType_str(t->value));
            return false;
        }
        if (r->types & (1u << t->value)) {
            error_setg(errp, "%s: type '%s' given twice", name,
                       VdiTransferType_str(t->value));
            return false;
        }
        r->types |= 1u << t->value;
    }
    return true;
}

bool vdi_transfer_policy_check(VdiTransferPolicy *clipboard,
                               VdiTransferPolicy *file_transfer,
                               Error **errp)
{
    VtRule r;

    return (!clipboard || rule_from_policy(&r, VT_KIND_CLIPBOARD, clipboard,
                                           "clipboard", errp)) &&
           (!file_transfer ||
            rule_from_policy(&r, VT_KIND_FILE_TRANSFER, file_transfer,
                             "file-transfer", errp));
}

void qmp_vdi_transfer_policy_set(VdiTransferPolicy *clipboard,
                                 VdiTransferPolicy *file_transfer,
                                 Error **errp)
{
    VtRule cb = vt_state.rule[VT_KIND_CLIPBOARD];
    VtRule ft = vt_state.rule[VT_KIND_FILE_TRANSFER];

    if (clipboard && !rule_from_policy(&cb, VT_KIND_CLIPBOARD, clipboard,
                                       "clipboard", errp)) {
        return;
    }
    if (file_transfer &&
        !rule_from_policy(&ft, VT_KIND_FILE_TRANSFER, file_transfer,
                          "file-transfer", errp)) {
        return;
    }
    vt_state.rule[VT_KIND_CLIPBOARD] = cb;
    vt_state.rule[VT_KIND_FILE_TRANSFER] = ft;
}

static VdiTransferPolicy *policy_from_rule(const VtRule *r, VtKind kind)
{
    VdiTransferPolicy *p = g_new0(VdiTransferPolicy, 1);
    bool g2c = r->flow[VT_FLOW_GUEST_TO_CLIENT];
    bool c2g = r->flow[VT_FLOW_CLIENT_TO_GUEST];
    int t;

    p->direction = g2c && c2g ? VDI_TRANSFER_DIRECTION_BOTH :
        g2c ? VDI_TRANSFER_DIRECTION_GUEST_TO_CLIENT :
        c2g ? VDI_TRANSFER_DIRECTION_CLIENT_TO_GUEST :
        VDI_TRANSFER_DIRECTION_NONE;
    p->has_max_size = r->max_size != 0;
    p->max_size = r->max_size;
    p->has_types = r->types != vt_kind_types(kind);
    for (t = VT_TYPE__MAX - 1; p->has_types && t >= 0; t--) {
        if (r->types & (1u << t)) {
            QAPI_LIST_PREPEND(p->types, (VdiTransferType)t);
        }
    }
    return p;
}

VdiTransferPolicyInfo *qmp_query_vdi_transfer_policy(Error **errp)
{
    VdiTransferPolicyInfo *info = g_new0(VdiTransferPolicyInfo, 1);
    VdiTransferCountersList **tail = &info->counters;
    int k, f;

    info->clipboard = policy_from_rule(&vt_state.rule[VT_KIND_CLIPBOARD],
                                       VT_KIND_CLIPBOARD);
    info->file_transfer =
        policy_from_rule(&vt_state.rule[VT_KIND_FILE_TRANSFER],
                         VT_KIND_FILE_TRANSFER);
    for (k = 0; k < VT_KIND__MAX; k++) {
        for (f = 0; f < VT_FLOW__MAX; f++) {
            VdiTransferCounters *c = g_new0(VdiTransferCounters, 1);

            c->kind = k;
            c->direction = flow_direction[f];
            c->allowed = vt_state.count[k][f].allowed;
            c->allowed_bytes = vt_state.count[k][f].allowed_bytes;
            c->blocked = vt_state.count[k][f].blocked;
            QAPI_LIST_APPEND(tail, c);
        }
    }
    return info;
}

static void vdi_transfer_register(void)
{
    vt_init(&vt_state);
    vdi_extension_register("transfer-policy", 1);
}

type_init(vdi_transfer_register);
