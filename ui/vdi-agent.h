/*
 * VDI transfer control on the SPICE agent channel: a bounded filter of
 * the vdagent stream, free of QEMU
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef UI_VDI_AGENT_H
#define UI_VDI_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vdi-transfer-core.h"

/* Bytes of a message's body held to judge it (a file-transfer start) */
#define VDI_AGENT_PEEK_MAX 4096
/* Answers waiting for the end of a message on their way */
#define VDI_AGENT_ANSWERS 8
/* File transfers under way per direction */
#define VDI_AGENT_XFERS 32

/* The filter's surroundings: the policy and the two outputs */
typedef struct VdiAgentOps {
    /* Judge a transfer, count and report it (vt_judge's contract) */
    VtVerdict (*judge)(void *opaque, VtKind kind, VtFlow flow, VtType type,
                       bool size_known, uint64_t size);
    /* Bytes for the peer @flow leads to, in order */
    void (*emit)(void *opaque, VtFlow flow, const uint8_t *buf, size_t len);
    /*
     * The content of the clipboard data judge() just allowed going @flow,
     * piece by piece as it passes, then its @end (never, if the stream
     * is cut short); may be NULL
     */
    void (*content)(void *opaque, VtFlow flow, const uint8_t *buf,
                    size_t len, bool end);
} VdiAgentOps;

typedef struct VdiAgentStats {
    uint64_t malformed;         /* chunks and messages dropped as malformed */
    uint64_t dropped;           /* messages dropped by the policy */
    uint64_t answered;          /* answers sent in place of dropped ones */
    uint64_t answers_lost;      /* answers dropped: too many waiting */
} VdiAgentStats;

/* One port's message in one direction */
typedef struct VdiAgentMsg {
    uint8_t hold[20 + VDI_AGENT_PEEK_MAX];  /* header, then peeked body */
    uint32_t held, need;        /* held so far, to hold before judging */
    uint32_t left;              /* body not yet seen once judged */
    uint8_t state;
    bool content;               /* passing clipboard data: ops->content */
} VdiAgentMsg;

/* The stream from one peer, and the answers waiting to go to it */
typedef struct VdiAgentDir {
    uint8_t chunk_hdr[8];
    uint32_t chunk_hdr_len;
    uint32_t chunk_port;        /* 0: skipping a malformed chunk */
    uint32_t chunk_left;
    VdiAgentMsg msg[2];         /* VDP_CLIENT_PORT, VDP_SERVER_PORT */
    uint32_t caps;              /* the sender's first capability word */
    uint32_t xfer[VDI_AGENT_XFERS];  /* file transfers whose start passed */
    uint32_t nxfer;
    uint8_t answer[VDI_AGENT_ANSWERS][40];
    uint8_t answer_len[VDI_AGENT_ANSWERS];
    uint32_t nanswer;
} VdiAgentDir;

typedef struct VdiAgentFilter {
    const VdiAgentOps *ops;
    void *opaque;
    VdiAgentDir dir[VT_FLOW__MAX];  /* by the flow its input goes */
    VdiAgentStats stats;
} VdiAgentFilter;

void vdi_agent_init(VdiAgentFilter *f, const VdiAgentOps *ops, void *opaque);

/* Forget both streams (an agent or client went away); keep the counts */
void vdi_agent_reset(VdiAgentFilter *f);

/*
 * Take @len bytes that go @flow (VT_FLOW_CLIENT_TO_GUEST: from the
 * client).  All of them are consumed; what may pass, re-chunked, and the
 * answers to dropped messages come out through ops->emit, for either
 * peer: at most twice the bytes fed, plus the VDI_AGENT_ANSWERS answers
 * of 40 bytes that may wait.  Nothing is held but the start of one
 * message per port and direction.
 */
void vdi_agent_feed(VdiAgentFilter *f, VtFlow flow,
                    const uint8_t *buf, size_t len);

#endif
