/*
 * VDI clipboard and file-transfer control
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef UI_VDI_TRANSFER_H
#define UI_VDI_TRANSFER_H

#include "qapi/qapi-types-vdi-transfer.h"
#include "ui/vdi-transfer-core.h"

/*
 * May content of @type go @flow on @kind before it is fetched?  A
 * refusal is counted and reported without size or digest; the caller
 * answers its requester with empty content.  An allowed request is
 * judged again, with its content, by vdi_transfer_check().
 */
bool vdi_transfer_may_request(VtKind kind, VtFlow flow, VtType type);

/*
 * May this content cross?  Counted and reported with VDI_TRANSFER (the
 * content's size and digest, never the content) either way.
 */
bool vdi_transfer_check(VtKind kind, VtFlow flow, VtType type,
                        const void *data, size_t size);

/*
 * Judge content that streams by without being held (the SPICE agent
 * channel, ui/vdi-agent.c): as vt_judge(), reported like the checks
 * above, with the size when it is known and without a digest.
 */
VtVerdict vdi_transfer_judge(VtKind kind, VtFlow flow, VtType type,
                             bool size_known, uint64_t size);

/* Would vdi-transfer-policy-set take these?  (hw/vdi/vdi-zone.c) */
bool vdi_transfer_policy_check(VdiTransferPolicy *clipboard,
                               VdiTransferPolicy *file_transfer,
                               Error **errp);

#endif
