/*
 * VDI clipboard and file-transfer control: the decision, free of QEMU
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef UI_VDI_TRANSFER_CORE_H
#define UI_VDI_TRANSFER_CORE_H

#include <stdbool.h>
#include <stdint.h>

/* The channels, the ways and the content types, as in qapi/vdi-transfer.json */
typedef enum {
    VT_KIND_CLIPBOARD,
    VT_KIND_FILE_TRANSFER,
    VT_KIND__MAX,
} VtKind;

typedef enum {
    VT_FLOW_GUEST_TO_CLIENT,
    VT_FLOW_CLIENT_TO_GUEST,
    VT_FLOW__MAX,
} VtFlow;

typedef enum {
    VT_TYPE_TEXT,
    VT_TYPE_IMAGE,
    VT_TYPE_FILE,
    VT_TYPE__MAX,
} VtType;

typedef enum {
    VT_ALLOW,
    VT_BLOCK_DIRECTION,
    VT_BLOCK_TYPE,
    VT_BLOCK_SIZE,
} VtVerdict;

/* What may cross on one channel */
typedef struct {
    bool flow[VT_FLOW__MAX];
    uint64_t max_size;          /* 0: no limit */
    uint32_t types;             /* bit (1 << VtType) per allowed type */
} VtRule;

typedef struct {
    uint64_t allowed, allowed_bytes, blocked;
} VtCount;

typedef struct {
    VtRule rule[VT_KIND__MAX];
    VtCount count[VT_KIND__MAX][VT_FLOW__MAX];
} VtState;

/* Both ways, no limit, every type: stock QEMU's behaviour */
void vt_init(VtState *s);

/* The types @kind carries */
uint32_t vt_kind_types(VtKind kind);

/*
 * Judge one transfer.  @size_known is false when the content has not
 * been fetched yet: the size limit is then left to the judgement made
 * once it has.
 */
VtVerdict vt_decide(const VtRule *r, VtFlow flow, VtType type,
                    bool size_known, uint64_t size);

/*
 * Judge one transfer and count it: a block always, an allowed transfer
 * once its content is at hand (@size_known), so that a request that
 * passes and its answer count once.
 */
VtVerdict vt_judge(VtState *s, VtKind kind, VtFlow flow, VtType type,
                   bool size_known, uint64_t size);

#endif
