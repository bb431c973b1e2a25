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
 * channel, ui/vdi-agent.c): as vt_judge().  A refusal is reported at
 * once, with the size when it is known; an allowed transfer of known
 * size is reported by the caller through a stream, at its end.
 */
VtVerdict vdi_transfer_judge(VtKind kind, VtFlow flow, VtType type,
                             bool size_known, uint64_t size);

/* An allowed transfer; with @digest, its content hashed as it passes */
typedef struct VdiTransferStream VdiTransferStream;
VdiTransferStream *vdi_transfer_stream_new(VtKind kind, VtFlow flow,
                                           VtType type, uint64_t size,
                                           bool digest);
void vdi_transfer_stream_data(VdiTransferStream *s, const void *buf,
                              size_t len);
/* Reported with VDI_TRANSFER (size and digest), and freed */
void vdi_transfer_stream_end(VdiTransferStream *s);
/* Abandoned before its end: freed, not reported */
void vdi_transfer_stream_free(VdiTransferStream *s);

/* Would vdi-transfer-policy-set take these?  (hw/vdi/vdi-zone.c) */
bool vdi_transfer_policy_check(VdiTransferPolicy *clipboard,
                               VdiTransferPolicy *file_transfer,
                               Error **errp);

#endif
