/*
 * RFB client-message reader
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "vdi-rfb.h"

static VdiRfbStatus need(VdiRfbMsg *msg, size_t n)
{
    msg->need = n;
    return VDI_RFB_NEED_MORE;
}

static VdiRfbStatus bad(VdiRfbMsg *msg, const char *reason)
{
    msg->reason = reason;
    return VDI_RFB_ERROR;
}

static VdiRfbStatus done(VdiRfbMsg *msg, size_t n)
{
    msg->len = n;
    return VDI_RFB_MSG;
}

static VdiRfbStatus read_pixel_format(const uint8_t *b, VdiRfbMsg *msg)
{
    /* 3 bytes padding, then the 16-byte PIXEL_FORMAT */
    msg->pf.bits_per_pixel = b[4];
    msg->pf.depth = b[5];
    msg->pf.big_endian = b[6];
    msg->pf.true_colour = b[7];
    msg->pf.red_max = lduw_be_p(b + 8);
    msg->pf.green_max = lduw_be_p(b + 10);
    msg->pf.blue_max = lduw_be_p(b + 12);
    msg->pf.red_shift = b[14];
    msg->pf.green_shift = b[15];
    msg->pf.blue_shift = b[16];
    if (!msg->pf.true_colour) {
        /* QEMU serves a fixed colour map then; the rest is ignored */
        return done(msg, 20);
    }
    if (msg->pf.bits_per_pixel != 8 && msg->pf.bits_per_pixel != 16 &&
        msg->pf.bits_per_pixel != 32) {
        return bad(msg, "SetPixelFormat: bits-per-pixel is not 8, 16 or 32");
    }
    if (msg->pf.red_max > 255 || msg->pf.green_max > 255 ||
        msg->pf.blue_max > 255) {
        return bad(msg, "SetPixelFormat: a colour maximum is above 255");
    }
    if (msg->pf.red_shift > 31 || msg->pf.green_shift > 31 ||
        msg->pf.blue_shift > 31) {
        return bad(msg, "SetPixelFormat: a colour shift is above 31");
    }
    return done(msg, 20);
}

static VdiRfbStatus read_cut_text(const uint8_t *b, size_t len,
                                  uint32_t allow, VdiRfbMsg *msg)
{
    int32_t s = (int32_t)ldl_be_p(b + 4);
    uint64_t n = s < 0 ? -(int64_t)s : s;

    if (n > VDI_RFB_MAX_CUT_TEXT) {
        return bad(msg, "ClientCutText: text longer than 1 MiB");
    }
    msg->cut.ext = s < 0;
    if (msg->cut.ext) {
        if (!(allow & VDI_RFB_ALLOW_CLIPBOARD_EXT)) {
            return bad(msg, "ClientCutText: extended clipboard message "
                       "without the extended clipboard extension");
        }
        if (n < 4) {
            return bad(msg, "ClientCutText: extended clipboard message "
                       "shorter than its flags");
        }
    }
    if (len < 8 + n) {
        return need(msg, 8 + n);
    }
    if (msg->cut.ext) {
        msg->cut.flags = ldl_be_p(b + 8);
        msg->cut.len = n - 4;
        msg->cut.data = b + 12;
    } else {
        msg->cut.flags = 0;
        msg->cut.len = n;
        msg->cut.data = b + 8;
    }
    return done(msg, 8 + n);
}

static VdiRfbStatus read_qemu(const uint8_t *b, size_t len, uint32_t allow,
                              VdiRfbMsg *msg)
{
    msg->qemu.sub = b[1];
    switch (msg->qemu.sub) {
    case VDI_RFB_QEMU_EXT_KEY_EVENT:
        if (len < 12) {
            return need(msg, 12);
        }
        msg->qemu.down = lduw_be_p(b + 2);
        msg->qemu.keysym = ldl_be_p(b + 4);
        msg->qemu.keycode = ldl_be_p(b + 8);
        return done(msg, 12);
    case VDI_RFB_QEMU_AUDIO:
        if (!(allow & VDI_RFB_ALLOW_AUDIO)) {
            return bad(msg, "QEMU audio message without the audio extension");
        }
        if (len < 4) {
            return need(msg, 4);
        }
        msg->qemu.op = lduw_be_p(b + 2);
        switch (msg->qemu.op) {
        case VDI_RFB_QEMU_AUDIO_ENABLE:
        case VDI_RFB_QEMU_AUDIO_DISABLE:
            return done(msg, 4);
        case VDI_RFB_QEMU_AUDIO_SET_FORMAT:
            if (len < 10) {
                return need(msg, 10);
            }
            msg->qemu.fmt = b[4];
            msg->qemu.nchannels = b[5];
            msg->qemu.freq = ldl_be_p(b + 6);
            if (msg->qemu.fmt > 5) {
                return bad(msg, "QEMU audio: unknown sample format");
            }
            if (msg->qemu.nchannels != 1 && msg->qemu.nchannels != 2) {
                return bad(msg, "QEMU audio: channel count is not 1 or 2");
            }
            if (msg->qemu.freq > 48000) {
                return bad(msg, "QEMU audio: frequency above 48000 Hz");
            }
            return done(msg, 10);
        default:
            return bad(msg, "QEMU audio: unknown operation");
        }
    default:
        return bad(msg, "QEMU message: unknown sub-type");
    }
}

VdiRfbStatus vdi_rfb_read(const uint8_t *b, size_t len, uint32_t allow,
                          VdiRfbMsg *msg)
{
    size_t n;

    memset(msg, 0, sizeof(*msg));
    if (!len) {
        return need(msg, 1);
    }
    msg->type = b[0];
    switch (b[0]) {
    case VDI_RFB_SET_PIXEL_FORMAT:
        if (len < 20) {
            return need(msg, 20);
        }
        return read_pixel_format(b, msg);
    case VDI_RFB_SET_ENCODINGS:
        if (len < 4) {
            return need(msg, 4);
        }
        msg->enc.count = lduw_be_p(b + 2);
        if (msg->enc.count > VDI_RFB_MAX_ENCODINGS) {
            return bad(msg, "SetEncodings: more than 1024 encodings");
        }
        n = 4 + 4 * (size_t)msg->enc.count;
        if (len < n) {
            return need(msg, n);
        }
        msg->enc.list = b + 4;
        return done(msg, n);
    case VDI_RFB_FB_UPDATE_REQUEST:
        if (len < 10) {
            return need(msg, 10);
        }
        msg->fur.incremental = b[1];
        msg->fur.x = lduw_be_p(b + 2);
        msg->fur.y = lduw_be_p(b + 4);
        msg->fur.w = lduw_be_p(b + 6);
        msg->fur.h = lduw_be_p(b + 8);
        return done(msg, 10);
    case VDI_RFB_KEY_EVENT:
        if (len < 8) {
            return need(msg, 8);
        }
        msg->key.down = b[1];
        msg->key.keysym = ldl_be_p(b + 4);
        return done(msg, 8);
    case VDI_RFB_POINTER_EVENT:
        if (len < 6) {
            return need(msg, 6);
        }
        msg->ptr.buttons = b[1];
        msg->ptr.x = lduw_be_p(b + 2);
        msg->ptr.y = lduw_be_p(b + 4);
        return done(msg, 6);
    case VDI_RFB_CUT_TEXT:
        if (len < 8) {
            return need(msg, 8);
        }
        return read_cut_text(b, len, allow, msg);
    case VDI_RFB_ENABLE_CU:
        if (!(allow & VDI_RFB_ALLOW_CU)) {
            return bad(msg, "EnableContinuousUpdates without the "
                       "ContinuousUpdates extension");
        }
        if (len < 10) {
            return need(msg, 10);
        }
        msg->cu.enable = b[1];
        msg->cu.x = lduw_be_p(b + 2);
        msg->cu.y = lduw_be_p(b + 4);
        msg->cu.w = lduw_be_p(b + 6);
        msg->cu.h = lduw_be_p(b + 8);
        return done(msg, 10);
    case VDI_RFB_FENCE:
        if (!(allow & VDI_RFB_ALLOW_FENCE)) {
            return bad(msg, "ClientFence without the Fence extension");
        }
        if (len < 9) {
            return need(msg, 9);
        }
        msg->fence.flags = ldl_be_p(b + 4);
        msg->fence.len = b[8];
        if (msg->fence.len > VDI_RFB_MAX_FENCE_PAYLOAD) {
            return bad(msg, "ClientFence: payload longer than 64 bytes");
        }
        if (len < 9u + msg->fence.len) {
            return need(msg, 9 + msg->fence.len);
        }
        msg->fence.payload = b + 9;
        return done(msg, 9 + msg->fence.len);
    case VDI_RFB_XVP:
        if (!(allow & VDI_RFB_ALLOW_XVP)) {
            return bad(msg, "xvp message without the xvp extension");
        }
        if (len < 4) {
            return need(msg, 4);
        }
        msg->xvp.version = b[2];
        msg->xvp.action = b[3];
        if (msg->xvp.version != 1) {
            return bad(msg, "xvp message: version is not 1");
        }
        return done(msg, 4);
    case VDI_RFB_SET_DESKTOP_SIZE:
        if (len < 8) {
            return need(msg, 8);
        }
        msg->ds.w = lduw_be_p(b + 2);
        msg->ds.h = lduw_be_p(b + 4);
        msg->ds.screens = b[6];
        n = 8 + 16 * (size_t)msg->ds.screens;
        if (len < n) {
            return need(msg, n);
        }
        msg->ds.layout = b + 8;
        return done(msg, n);
    case VDI_RFB_QEMU:
        if (len < 2) {
            return need(msg, 2);
        }
        return read_qemu(b, len, allow, msg);
    default:
        return bad(msg, "unknown message type");
    }
}

static bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
    return !n || (a && b && !memcmp(a, b, n));
}

bool vdi_rfb_msg_equal(const VdiRfbMsg *a, const VdiRfbMsg *b)
{
    VdiRfbMsg x, y;

    /* byte copies: vdi_rfb_read() zeroes the whole message, padding too */
    memcpy(&x, a, sizeof(x));
    memcpy(&y, b, sizeof(y));

    if (x.type != y.type || x.len != y.len) {
        return false;
    }
    /* compare what pointers point to, and the rest as plain values */
    switch (x.type) {
    case VDI_RFB_SET_ENCODINGS:
        if (!same_bytes(x.enc.list, y.enc.list, 4 * (size_t)x.enc.count)) {
            return false;
        }
        x.enc.list = y.enc.list = NULL;
        break;
    case VDI_RFB_CUT_TEXT:
        if (x.cut.len != y.cut.len ||
            !same_bytes(x.cut.data, y.cut.data, x.cut.len)) {
            return false;
        }
        x.cut.data = y.cut.data = NULL;
        break;
    case VDI_RFB_FENCE:
        if (x.fence.len != y.fence.len ||
            !same_bytes(x.fence.payload, y.fence.payload, x.fence.len)) {
            return false;
        }
        x.fence.payload = y.fence.payload = NULL;
        break;
    case VDI_RFB_SET_DESKTOP_SIZE:
        if (x.ds.screens != y.ds.screens ||
            !same_bytes(x.ds.layout, y.ds.layout, 16 * (size_t)x.ds.screens)) {
            return false;
        }
        x.ds.layout = y.ds.layout = NULL;
        break;
    }
    x.need = y.need = 0;
    x.reason = y.reason = NULL;
    return !memcmp(&x, &y, sizeof(x));
}
