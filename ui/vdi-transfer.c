/*
 * VDI clipboard and file-transfer control: QMP, counters and events
 *
 * The policy of the VM (qapi/vdi-transfer.json) and the two checks the
 * clipboard layer (VNC, qemu-vdagent) and the SPICE agent channel call.
 * The decision itself is vt_decide() in vdi-transfer-core.c.  The
 * policy and its counters are the VM's vdi-transfer-policy object; the
 * first transfer or command makes it, with stock QEMU's policy, when
 * -object or object-add did not.
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
#include "qapi/qapi-visit-vdi-transfer.h"
#include "qemu/module.h"
#include "qom/object_interfaces.h"
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

#define TYPE_VDI_TRANSFER_POLICY "vdi-transfer-policy"
OBJECT_DECLARE_SIMPLE_TYPE(VdiTransferPolicyObject, VDI_TRANSFER_POLICY)

/* The name of the object a transfer or command makes */
#define DEFAULT_TRANSFER_POLICY_ID "transfer-policy"

struct VdiTransferPolicyObject {
    Object parent_obj;
    bool complete;
    VtState state;
};

static bool transfer_policy_is_complete(Object *obj)
{
    return VDI_TRANSFER_POLICY(obj)->complete;
}

/*
 * The VM's policy and counters, made if it has none; NULL only if that
 * fails (the id is taken), with @errp set
 */
static VtState *vt_state(Error **errp)
{
    Object *obj = vdi_vm_object_get(TYPE_VDI_TRANSFER_POLICY,
                                    DEFAULT_TRANSFER_POLICY_ID,
                                    transfer_policy_is_complete, errp);

    return obj ? &VDI_TRANSFER_POLICY(obj)->state : NULL;
}

/* Judge by the VM's policy; without one, block: never let data out */
static VtVerdict vt_state_judge(VtKind kind, VtFlow flow, VtType type,
                                bool size_known, uint64_t size)
{
    Error *err = NULL;
    VtState *s = vt_state(&err);

    if (!s) {
        error_append_hint(&err, "Transfers are blocked until the VM has "
                          "a vdi-transfer-policy object.\n");
        warn_report_err_once(err);
        return VT_BLOCK_DIRECTION;
    }
    return vt_judge(s, kind, flow, type, size_known, size);
}

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
    VtVerdict v = vt_state_judge(kind, flow, type, size_known, size);

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
    VtVerdict v = vt_state_judge(kind, flow, type, true, size);
    g_autofree char *digest = NULL;

    if (qcrypto_hash_digest(digest_alg(), data ?: "", size, &digest,
                            NULL) < 0) {
        digest = NULL;
    }
    vdi_transfer_report(kind, flow, type, v, true, size, digest);
    return v == VT_ALLOW;
}

/* The channels' names in the QMP arguments and the errors */
static const char *const kind_name[VT_KIND__MAX] = {
    [VT_KIND_CLIPBOARD] = "clipboard",
    [VT_KIND_FILE_TRANSFER] = "file-transfer",
};

static bool rule_from_policy(VtRule *r, VtKind kind, VdiTransferPolicy *p,
                             Error **errp)
{
    const char *name = kind_name[kind];
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

    return (!clipboard ||
            rule_from_policy(&r, VT_KIND_CLIPBOARD, clipboard, errp)) &&
           (!file_transfer ||
            rule_from_policy(&r, VT_KIND_FILE_TRANSFER, file_transfer, errp));
}

/* Set @s's policy for @kind to @p; nothing changes on an error */
static bool vt_state_set(VtState *s, VtKind kind, VdiTransferPolicy *p,
                         Error **errp)
{
    VtRule r;

    if (!rule_from_policy(&r, kind, p, errp)) {
        return false;
    }
    s->rule[kind] = r;
    return true;
}

void qmp_vdi_transfer_policy_set(VdiTransferPolicy *clipboard,
                                 VdiTransferPolicy *file_transfer,
                                 Error **errp)
{
    VtRule cb, ft;
    VtState *s;

    /* both checked before either is applied */
    if ((clipboard &&
         !rule_from_policy(&cb, VT_KIND_CLIPBOARD, clipboard, errp)) ||
        (file_transfer &&
         !rule_from_policy(&ft, VT_KIND_FILE_TRANSFER, file_transfer, errp))) {
        return;
    }
    s = vt_state(errp);
    if (!s) {
        return;
    }
    if (clipboard) {
        s->rule[VT_KIND_CLIPBOARD] = cb;
    }
    if (file_transfer) {
        s->rule[VT_KIND_FILE_TRANSFER] = ft;
    }
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

static VdiTransferCountersList *counters_of(const VtState *s)
{
    VdiTransferCountersList *list = NULL, **tail = &list;

    for (int k = 0; k < VT_KIND__MAX; k++) {
        for (int f = 0; f < VT_FLOW__MAX; f++) {
            VdiTransferCounters *c = g_new0(VdiTransferCounters, 1);

            c->kind = k;
            c->direction = flow_direction[f];
            c->allowed = s->count[k][f].allowed;
            c->allowed_bytes = s->count[k][f].allowed_bytes;
            c->blocked = s->count[k][f].blocked;
            QAPI_LIST_APPEND(tail, c);
        }
    }
    return list;
}

VdiTransferPolicyInfo *qmp_query_vdi_transfer_policy(Error **errp)
{
    VtState *s = vt_state(errp);
    VdiTransferPolicyInfo *info;

    if (!s) {
        return NULL;
    }
    info = g_new0(VdiTransferPolicyInfo, 1);
    info->clipboard = policy_from_rule(&s->rule[VT_KIND_CLIPBOARD],
                                       VT_KIND_CLIPBOARD);
    info->file_transfer =
        policy_from_rule(&s->rule[VT_KIND_FILE_TRANSFER],
                         VT_KIND_FILE_TRANSFER);
    info->counters = counters_of(s);
    return info;
}

/* The properties clipboard and file-transfer: opaque is the VtKind */
static void transfer_policy_get_rule(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    VtKind kind = (uintptr_t)opaque;
    VdiTransferPolicy *p =
        policy_from_rule(&VDI_TRANSFER_POLICY(obj)->state.rule[kind], kind);

    visit_type_VdiTransferPolicy(v, name, &p, errp);
    qapi_free_VdiTransferPolicy(p);
}

static void transfer_policy_set_rule(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    VdiTransferPolicy *p = NULL;

    if (visit_type_VdiTransferPolicy(v, name, &p, errp)) {
        vt_state_set(&VDI_TRANSFER_POLICY(obj)->state, (uintptr_t)opaque, p,
                     errp);
    }
    qapi_free_VdiTransferPolicy(p);
}

static void transfer_policy_get_counters(Object *obj, Visitor *v,
                                         const char *name, void *opaque,
                                         Error **errp)
{
    VdiTransferCountersList *l =
        counters_of(&VDI_TRANSFER_POLICY(obj)->state);

    visit_type_VdiTransferCountersList(v, name, &l, errp);
    qapi_free_VdiTransferCountersList(l);
}

static void transfer_policy_complete(UserCreatable *uc, Error **errp)
{
    if (vdi_vm_object_first(OBJECT(uc), transfer_policy_is_complete,
                            "a transfer policy", errp)) {
        VDI_TRANSFER_POLICY(uc)->complete = true;
    }
}

static void transfer_policy_init(Object *obj)
{
    vt_init(&VDI_TRANSFER_POLICY(obj)->state);
}

static void transfer_policy_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = transfer_policy_complete;
    object_class_property_add(oc, "clipboard", "VdiTransferPolicy",
                              transfer_policy_get_rule,
                              transfer_policy_set_rule, NULL,
                              (void *)(uintptr_t)VT_KIND_CLIPBOARD);
    object_class_property_set_description(oc, "clipboard",
        "what may cross by copy and paste");
    object_class_property_add(oc, "file-transfer", "VdiTransferPolicy",
                              transfer_policy_get_rule,
                              transfer_policy_set_rule, NULL,
                              (void *)(uintptr_t)VT_KIND_FILE_TRANSFER);
    object_class_property_set_description(oc, "file-transfer",
        "what files may cross");
    object_class_property_add(oc, "counters", "VdiTransferCountersList",
                              transfer_policy_get_counters, NULL, NULL,
                              NULL);
    object_class_property_set_description(oc, "counters",
        "transfers allowed and blocked, per channel and direction");
}

static const TypeInfo transfer_policy_info = {
    .name = TYPE_VDI_TRANSFER_POLICY,
    .parent = TYPE_OBJECT,
    .class_init = transfer_policy_class_init,
    .instance_size = sizeof(VdiTransferPolicyObject),
    .instance_init = transfer_policy_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

static void vdi_transfer_register(void)
{
    type_register_static(&transfer_policy_info);
    vdi_extension_register("transfer-policy", 2);
}

type_init(vdi_transfer_register);
