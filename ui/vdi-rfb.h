/*
 * RFB client-message reader
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Given the bytes received so far from an RFB client in the normal
 * protocol phase, vdi_rfb_read() says whether they start with a whole
 * message, need more bytes, or cannot be a valid message.  It covers
 * every client message QEMU's VNC server accepts: SetPixelFormat,
 * SetEncodings, FramebufferUpdateRequest, KeyEvent, PointerEvent,
 * ClientCutText (also the extended-clipboard form), EnableContinuousUpdates,
 * ClientFence, xvp, SetDesktopSize and QEMU's message 255 (extended key
 * event, audio).  It keeps no state, reads nothing past the length it is
 * given, and uses nothing of QEMU but its basic headers, so it can be
 * unit-tested and fuzzed on its own.
 *
 * Contract of VDI_RFB_NEED_MORE: if @len bytes are a proper prefix of a
 * message of M bytes, then len < need <= M.  A caller that reads exactly
 * @need bytes before calling again therefore always ends on a message
 * boundary.
 */

#ifndef UI_VDI_RFB_H
#define UI_VDI_RFB_H

/* Limits */
#define VDI_RFB_MAX_ENCODINGS 1024     /* SetEncodings count */
#define VDI_RFB_MAX_CUT_TEXT (1 << 20) /* ClientCutText, as QEMU always had */
#define VDI_RFB_MAX_FENCE_PAYLOAD 64   /* ClientFence, per the RFB spec */

/* Client message types */
#define VDI_RFB_SET_PIXEL_FORMAT 0
#define VDI_RFB_SET_ENCODINGS 2
#define VDI_RFB_FB_UPDATE_REQUEST 3
#define VDI_RFB_KEY_EVENT 4
#define VDI_RFB_POINTER_EVENT 5
#define VDI_RFB_CUT_TEXT 6
#define VDI_RFB_ENABLE_CU 150
#define VDI_RFB_FENCE 248
#define VDI_RFB_XVP 250
#define VDI_RFB_SET_DESKTOP_SIZE 251
#define VDI_RFB_QEMU 255

/* QEMU message 255 sub-types and audio operations */
#define VDI_RFB_QEMU_EXT_KEY_EVENT 0
#define VDI_RFB_QEMU_AUDIO 1
#define VDI_RFB_QEMU_AUDIO_ENABLE 0
#define VDI_RFB_QEMU_AUDIO_DISABLE 1
#define VDI_RFB_QEMU_AUDIO_SET_FORMAT 2

/* Fence flags */
#define VDI_RFB_FENCE_BLOCK_BEFORE (1u << 0)
#define VDI_RFB_FENCE_BLOCK_AFTER (1u << 1)
#define VDI_RFB_FENCE_SYNC_NEXT (1u << 2)
#define VDI_RFB_FENCE_REQUEST (1u << 31)
#define VDI_RFB_FENCE_KNOWN (VDI_RFB_FENCE_BLOCK_BEFORE | \
                             VDI_RFB_FENCE_BLOCK_AFTER | \
                             VDI_RFB_FENCE_SYNC_NEXT | VDI_RFB_FENCE_REQUEST)

/* Optional messages, allowed only once negotiated (the @allow mask) */
#define VDI_RFB_ALLOW_CLIPBOARD_EXT (1u << 0)  /* negative cut text length */
#define VDI_RFB_ALLOW_XVP (1u << 1)
#define VDI_RFB_ALLOW_AUDIO (1u << 2)
#define VDI_RFB_ALLOW_FENCE (1u << 3)
#define VDI_RFB_ALLOW_CU (1u << 4)

typedef enum VdiRfbStatus {
    VDI_RFB_ERROR = -1,         /* not a valid message: see msg->reason */
    VDI_RFB_NEED_MORE = 0,      /* see msg->need */
    VDI_RFB_MSG = 1,            /* msg is filled in, msg->len bytes long */
} VdiRfbStatus;

/*
 * A parsed message.  Pointers point into the buffer that was parsed and
 * stay valid as long as it does.
 */
typedef struct VdiRfbMsg {
    uint8_t type;
    size_t len;                 /* bytes the message takes */
    size_t need;                /* VDI_RFB_NEED_MORE: bytes to wait for */
    const char *reason;         /* VDI_RFB_ERROR: why, a constant string */
    union {
        struct {
            uint8_t bits_per_pixel, depth, big_endian, true_colour;
            uint16_t red_max, green_max, blue_max;
            uint8_t red_shift, green_shift, blue_shift;
        } pf;
        struct {
            uint16_t count;
            const uint8_t *list;        /* count big-endian S32 */
        } enc;
        struct {
            uint8_t incremental;
            uint16_t x, y, w, h;
        } fur;
        struct {
            uint8_t down;
            uint32_t keysym;
        } key;
        struct {
            uint8_t buttons;
            uint16_t x, y;
        } ptr;
        struct {
            bool ext;                   /* extended clipboard */
            uint32_t len;               /* bytes at data */
            uint32_t flags;             /* ext: its flags */
            const uint8_t *data;        /* ext: after the flags */
        } cut;
        struct {
            uint8_t enable;
            uint16_t x, y, w, h;
        } cu;
        struct {
            uint32_t flags;             /* as sent, unknown bits too */
            uint8_t len;
            const uint8_t *payload;
        } fence;
        struct {
            uint8_t version, action;
        } xvp;
        struct {
            uint16_t w, h;
            uint8_t screens;
            const uint8_t *layout;      /* screens * 16 bytes */
        } ds;
        struct {
            uint8_t sub;
            uint16_t down;              /* EXT_KEY_EVENT */
            uint32_t keysym, keycode;
            uint16_t op;                /* AUDIO */
            uint8_t fmt, nchannels;     /* AUDIO_SET_FORMAT */
            uint32_t freq;
        } qemu;
    };
} VdiRfbMsg;

/*
 * Read the message at the start of @buf (@len bytes, may be 0).
 * @allow: VDI_RFB_ALLOW_* for the optional messages this client may send.
 */
VdiRfbStatus vdi_rfb_read(const uint8_t *buf, size_t len, uint32_t allow,
                          VdiRfbMsg *msg);

/* Same message?  Payloads are compared by content. */
bool vdi_rfb_msg_equal(const VdiRfbMsg *a, const VdiRfbMsg *b);

#endif
