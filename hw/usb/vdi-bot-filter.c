/*
 * VDI host: read-only enforcement on a USB mass storage Bulk-Only stream
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Invariants (the guest and the remote device are both untrusted):
 *  - Bytes reach the device's bulk OUT endpoint only as one complete,
 *    valid 31-byte CBW whose CDB is on the read-only allowlist and whose
 *    data phase is empty or device-to-host.  No allowed command has a
 *    data-out phase, so no other OUT byte is ever forwarded: data-out of
 *    blocked commands is counted and swallowed, and an OUT packet in any
 *    other phase is a protocol error.
 *  - Unknown opcodes are blocked (allowlist); vendor opcodes C0h-FFh and
 *    ATA PASS-THROUGH are never on it.
 *  - A CBW starts on a packet boundary: bytes are collected as a CBW only
 *    in the idle phase, never from a data phase, and a packet that runs
 *    past 31 CBW bytes or past the data-out length is a protocol error.
 *  - IN requests go to the device only while an allowed command is in its
 *    data-in or status phase; otherwise the filter answers (synthetic
 *    data, CSW) or the caller NAKs.  IN completions are only accepted in
 *    those phases and never beyond the number of bytes requested.
 *  - After a protocol error everything is refused until reset.
 *  - All work per call is bounded by the packet length; no allocation
 *    after vdi_bot_filter_new().
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "scsi/constants.h"
#include "vdi-bot-filter.h"

/* MMC opcodes that scsi/constants.h does not name */
#define READ_FORMAT_CAPACITIES 0x23
#define READ_TRACK_INFORMATION 0x52
#define READ_CD_MSF 0xb9

typedef enum BotState {
    BOT_IDLE,           /* waiting for a CBW on bulk OUT */
    BOT_DEV_DATA_IN,    /* allowed command: the device sends data */
    BOT_DEV_CSW,        /* allowed command: the device sends its CSW */
    BOT_SYN_DATA_OUT,   /* blocked command: data-out being swallowed */
    BOT_SYN_DATA_IN,    /* filter's command: synthetic data-in */
    BOT_SYN_CSW,        /* filter's command: synthetic CSW */
    BOT_ERROR,
} BotState;

static const char *const state_names[] = {
    [BOT_IDLE] = "command",
    [BOT_DEV_DATA_IN] = "data-in",
    [BOT_DEV_CSW] = "status",
    [BOT_SYN_DATA_OUT] = "data-out",
    [BOT_SYN_DATA_IN] = "data-in",
    [BOT_SYN_CSW] = "status",
    [BOT_ERROR] = "error",
};

struct VdiBotFilter {
    BotState state;
    uint8_t cbw[VDI_BOT_CBW_LEN];
    size_t cbw_fill;
    /* current command */
    uint32_t tag;
    uint32_t xfer_len;
    uint8_t lun;
    uint8_t opcode;
    uint32_t remaining;         /* data phase bytes still to come */
    uint32_t data_off;          /* device data-in bytes seen */
    /* synthetic answer */
    uint8_t syn_data[VDI_BOT_SENSE_LEN];
    size_t syn_len;
    size_t syn_off;
    uint8_t csw[VDI_BOT_CSW_LEN];
    size_t csw_off;
    /* device's CSW, collected */
    uint8_t dev_csw[VDI_BOT_CSW_LEN];
    size_t dev_csw_fill;
    bool sense_pending[VDI_BOT_MAX_LUNS];
    VdiBotStats stats;
};

static VdiBotAction proto_error(VdiBotFilter *f, char **errmsg,
                                const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static VdiBotAction proto_error(VdiBotFilter *f, char **errmsg,
                                const char *fmt, ...)
{
    va_list ap;

    if (f->state != BOT_ERROR) {
        f->stats.protocol_errors++;
        f->state = BOT_ERROR;
    }
    if (errmsg) {
        g_free(*errmsg);
        va_start(ap, fmt);
        *errmsg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
    }
    return VDI_BOT_ERROR;
}

/*
 * The read-only allowlist.  Everything else, including every opcode not
 * listed here, is blocked.  Notes:
 *  - SYNCHRONIZE CACHE only flushes data the device already accepted, and
 *    no write ever gets through, so it is harmless; some guests fail to
 *    unmount if it errors.
 *  - VERIFY with BYTCHK=1 carries data-out and is blocked by the rule
 *    that allowed commands have no data-out phase.
 *  - Opcodes that mean a read in one command set and a write in another
 *    are blocked: 42h (UNMAP / MMC READ SUB-CHANNEL), 51h (XPWRITE / MMC
 *    READ DISC INFORMATION), A1h (ATA PASS-THROUGH(12) / MMC BLANK).
 *  - SERVICE ACTION IN(16) 9Eh only with READ CAPACITY(16), SA 10h.
 */
bool vdi_bot_cdb_allowed(const uint8_t *cdb, size_t cdb_len)
{
    if (cdb_len < 1) {
        return false;
    }
    switch (cdb[0]) {
    case TEST_UNIT_READY:
    case REQUEST_SENSE:
    case READ_6:
    case INQUIRY:
    case MODE_SENSE:
    case START_STOP:
    case ALLOW_MEDIUM_REMOVAL:
    case READ_FORMAT_CAPACITIES:
    case READ_CAPACITY_10:
    case READ_10:
    case VERIFY_10:
    case SYNCHRONIZE_CACHE:
    case READ_TOC:
    case GET_CONFIGURATION:
    case GET_EVENT_STATUS_NOTIFICATION:
    case READ_TRACK_INFORMATION:
    case MODE_SENSE_10:
    case READ_16:
    case VERIFY_16:
    case SYNCHRONIZE_CACHE_16:
    case REPORT_LUNS:
    case READ_12:
    case READ_DVD_STRUCTURE:
    case VERIFY_12:
    case READ_CD_MSF:
    case MECHANISM_STATUS:
    case READ_CD:
        return true;
    case SERVICE_ACTION_IN_16:
        return cdb_len >= 2 && (cdb[1] & 0x1f) == SAI_READ_CAPACITY_16;
    default:
        return false;
    }
}

static void clear_command(VdiBotFilter *f)
{
    f->cbw_fill = 0;
    f->remaining = 0;
    f->data_off = 0;
    f->syn_len = 0;
    f->syn_off = 0;
    f->csw_off = 0;
    f->dev_csw_fill = 0;
}

VdiBotFilter *vdi_bot_filter_new(void)
{
    VdiBotFilter *f = g_new0(VdiBotFilter, 1);

    f->state = BOT_IDLE;
    return f;
}

void vdi_bot_filter_free(VdiBotFilter *f)
{
    g_free(f);
}

/* Back to waiting for a CBW; pending sense is dropped, stats are kept */
void vdi_bot_filter_reset(VdiBotFilter *f)
{
    clear_command(f);
    memset(f->sense_pending, 0, sizeof(f->sense_pending));
    f->state = BOT_IDLE;
}

void vdi_bot_filter_get_stats(const VdiBotFilter *f, VdiBotStats *stats)
{
    *stats = f->stats;
}

bool vdi_bot_filter_in_error(const VdiBotFilter *f)
{
    return f->state == BOT_ERROR;
}

/* Prepare the filter's own CSW for the current command */
static void make_csw(VdiBotFilter *f, uint8_t status, uint32_t residue)
{
    stl_le_p(f->csw, VDI_BOT_CSW_SIGNATURE);
    stl_le_p(f->csw + 4, f->tag);
    stl_le_p(f->csw + 8, residue);
    f->csw[12] = status;
    f->csw_off = 0;
}

/* Fixed-format sense data: DATA PROTECT, WRITE PROTECTED */
static void make_write_protect_sense(uint8_t *s)
{
    memset(s, 0, VDI_BOT_SENSE_LEN);
    s[0] = 0x70;        /* current error, fixed format */
    s[2] = DATA_PROTECT;
    s[7] = VDI_BOT_SENSE_LEN - 8;
    s[12] = 0x27;       /* WRITE PROTECTED */
    s[13] = 0x00;
}

static VdiBotAction handle_cbw(VdiBotFilter *f, const uint8_t **fwd,
                               size_t *fwd_len, char **errmsg)
{
    const uint8_t *cbw = f->cbw, *cdb = f->cbw + 15;
    uint32_t sig = ldl_le_p(cbw);
    uint8_t flags = cbw[12], cblen = cbw[14];
    bool dir_in = flags & 0x80;

    f->cbw_fill = 0;
    if (sig != VDI_BOT_CBW_SIGNATURE) {
        return proto_error(f, errmsg, "bad CBW signature 0x%08x", sig);
    }
    if (flags & 0x7f) {
        return proto_error(f, errmsg, "reserved bits set in CBW flags "
                           "0x%02x", flags);
    }
    if (cbw[13] & 0xf0) {
        return proto_error(f, errmsg, "reserved bits set in CBW LUN "
                           "0x%02x", cbw[13]);
    }
    if (cblen < 1 || cblen > 16) {
        return proto_error(f, errmsg, "bad CBW command block length %u",
                           cblen);
    }

    f->stats.commands++;
    f->tag = ldl_le_p(cbw + 4);
    f->xfer_len = ldl_le_p(cbw + 8);
    f->lun = cbw[13];
    f->opcode = cdb[0];
    f->data_off = 0;
    f->dev_csw_fill = 0;

    /* REQUEST SENSE after a blocked command: answer DATA PROTECT */
    if (f->opcode == REQUEST_SENSE && f->sense_pending[f->lun] &&
        (dir_in || f->xfer_len == 0)) {
        uint32_t n = MIN(VDI_BOT_SENSE_LEN, f->xfer_len);

        if (cblen >= 5) {
            n = MIN(n, cdb[4]);
        }
        f->sense_pending[f->lun] = false;
        f->stats.sense_answered++;
        make_write_protect_sense(f->syn_data);
        f->syn_len = n;
        f->syn_off = 0;
        make_csw(f, 0, f->xfer_len - n);
        f->state = f->xfer_len ? BOT_SYN_DATA_IN : BOT_SYN_CSW;
        return VDI_BOT_SWALLOW;
    }

    if (!vdi_bot_cdb_allowed(cdb, cblen) || (!dir_in && f->xfer_len)) {
        f->stats.blocked++;
        f->sense_pending[f->lun] = true;
        make_csw(f, 1, f->xfer_len);
        f->syn_len = 0;
        f->syn_off = 0;
        f->remaining = f->xfer_len;
        if (f->xfer_len == 0) {
            f->state = BOT_SYN_CSW;
        } else if (dir_in) {
            f->state = BOT_SYN_DATA_IN;     /* a zero-length packet */
        } else {
            f->state = BOT_SYN_DATA_OUT;
        }
        return VDI_BOT_SWALLOW;
    }

    /* Allowed: the device's sense data is current again */
    f->sense_pending[f->lun] = false;
    f->stats.passed++;
    f->remaining = f->xfer_len;
    f->state = f->xfer_len ? BOT_DEV_DATA_IN : BOT_DEV_CSW;
    *fwd = f->cbw;
    *fwd_len = VDI_BOT_CBW_LEN;
    return VDI_BOT_PASS;
}

VdiBotAction vdi_bot_filter_host_out(VdiBotFilter *f, const uint8_t *data,
                                     size_t len, const uint8_t **fwd,
                                     size_t *fwd_len, char **errmsg)
{
    *fwd = NULL;
    *fwd_len = 0;
    if (len && !data) {
        return proto_error(f, errmsg, "no data");
    }

    switch (f->state) {
    case BOT_IDLE:
        if (len == 0) {
            return proto_error(f, errmsg, "zero-length packet where a CBW "
                               "was expected");
        }
        if (len > VDI_BOT_CBW_LEN - f->cbw_fill) {
            return proto_error(f, errmsg, "CBW longer than %d bytes "
                               "(%zu + %zu)", VDI_BOT_CBW_LEN, f->cbw_fill,
                               len);
        }
        memcpy(f->cbw + f->cbw_fill, data, len);
        f->cbw_fill += len;
        if (f->cbw_fill < VDI_BOT_CBW_LEN) {
            return VDI_BOT_SWALLOW;     /* rest of the CBW to come */
        }
        return handle_cbw(f, fwd, fwd_len, errmsg);

    case BOT_SYN_DATA_OUT:
        if (len > f->remaining) {
            return proto_error(f, errmsg, "data-out packet of %zu bytes "
                               "but only %" PRIu32 " left", len,
                               f->remaining);
        }
        f->remaining -= len;
        f->stats.bytes_swallowed += len;
        if (f->remaining == 0) {
            f->state = BOT_SYN_CSW;
        }
        return VDI_BOT_SWALLOW;

    case BOT_ERROR:
        if (errmsg) {
            g_free(*errmsg);
            *errmsg = g_strdup("mass storage filter needs a reset");
        }
        return VDI_BOT_ERROR;

    default:
        return proto_error(f, errmsg, "bulk OUT packet during the %s phase",
                           state_names[f->state]);
    }
}

VdiBotInAction vdi_bot_filter_pending_in(VdiBotFilter *f, uint8_t *buf,
                                         size_t maxlen, size_t *len)
{
    size_t n;

    *len = 0;
    switch (f->state) {
    case BOT_IDLE:
    case BOT_SYN_DATA_OUT:
        return VDI_BOT_IN_WAIT;

    case BOT_DEV_DATA_IN:
    case BOT_DEV_CSW:
        return VDI_BOT_IN_DEVICE;

    case BOT_SYN_DATA_IN:
        n = MIN(maxlen, f->syn_len - f->syn_off);
        if (n) {
            memcpy(buf, f->syn_data + f->syn_off, n);
        }
        f->syn_off += n;
        *len = n;
        /*
         * The data phase ends when all xfer_len bytes went, or with a
         * short packet; if the last chunk filled the request, a
         * zero-length packet follows.
         */
        if (f->syn_off == f->syn_len &&
            (n < maxlen || f->syn_len == f->xfer_len)) {
            f->state = BOT_SYN_CSW;
            f->csw_off = 0;
        }
        return VDI_BOT_IN_SYNTH;

    case BOT_SYN_CSW:
        n = MIN(maxlen, VDI_BOT_CSW_LEN - f->csw_off);
        if (n) {
            memcpy(buf, f->csw + f->csw_off, n);
        }
        f->csw_off += n;
        *len = n;
        if (f->csw_off == VDI_BOT_CSW_LEN) {
            clear_command(f);
            f->state = BOT_IDLE;
        }
        return VDI_BOT_IN_SYNTH;

    case BOT_ERROR:
    default:
        return VDI_BOT_IN_STALL;
    }
}

VdiBotAction vdi_bot_filter_device_in(VdiBotFilter *f, uint8_t *data,
                                      size_t len, size_t requested,
                                      char **errmsg)
{
    if (f->state == BOT_ERROR) {
        return proto_error(f, errmsg, "mass storage filter needs a reset");
    }
    if (len > requested) {
        return proto_error(f, errmsg, "device returned %zu bytes for a "
                           "%zu byte request", len, requested);
    }
    if (len && !data) {
        return proto_error(f, errmsg, "no data");
    }

    switch (f->state) {
    case BOT_DEV_DATA_IN: {
        uint32_t wp = f->opcode == MODE_SENSE ? 2 :
                      f->opcode == MODE_SENSE_10 ? 3 : 0;

        if (len > f->remaining) {
            return proto_error(f, errmsg, "device sent %zu bytes with only "
                               "%" PRIu32 " left in the data phase", len,
                               f->remaining);
        }
        /* MODE SENSE: set WP in the device-specific parameter byte */
        if (wp && wp >= f->data_off && wp - f->data_off < len) {
            data[wp - f->data_off] |= 0x80;
            f->stats.mode_sense_wp++;
        }
        f->data_off += len;
        f->remaining -= len;
        if (f->remaining == 0 || len < requested) {
            f->state = BOT_DEV_CSW;
            f->dev_csw_fill = 0;
        }
        return VDI_BOT_PASS;
    }

    case BOT_DEV_CSW: {
        const uint8_t *c = f->dev_csw;

        if (len == 0) {
            return VDI_BOT_PASS;        /* hosts retry the CSW read */
        }
        if (len > VDI_BOT_CSW_LEN - f->dev_csw_fill) {
            return proto_error(f, errmsg, "device CSW longer than %d bytes",
                               VDI_BOT_CSW_LEN);
        }
        memcpy(f->dev_csw + f->dev_csw_fill, data, len);
        f->dev_csw_fill += len;
        if (f->dev_csw_fill < VDI_BOT_CSW_LEN) {
            if (len < requested) {
                return proto_error(f, errmsg, "device CSW truncated to %zu "
                                   "bytes", f->dev_csw_fill);
            }
            return VDI_BOT_PASS;
        }
        if (ldl_le_p(c) != VDI_BOT_CSW_SIGNATURE) {
            return proto_error(f, errmsg, "bad CSW signature 0x%08x from "
                               "the device", ldl_le_p(c));
        }
        if (ldl_le_p(c + 4) != f->tag) {
            return proto_error(f, errmsg, "device CSW tag 0x%08x does not "
                               "match CBW tag 0x%08x", ldl_le_p(c + 4), f->tag);
        }
        if (c[12] > 2) {
            return proto_error(f, errmsg, "bad CSW status %u from the "
                               "device", c[12]);
        }
        clear_command(f);
        f->state = BOT_IDLE;
        return VDI_BOT_PASS;
    }

    default:
        return proto_error(f, errmsg, "unexpected bulk IN data from the "
                           "device during the %s phase",
                           state_names[f->state]);
    }
}

/* The device stalled bulk IN; the host will clear it and read the CSW */
void vdi_bot_filter_device_in_stalled(VdiBotFilter *f)
{
    if (f->state == BOT_DEV_DATA_IN) {
        f->state = BOT_DEV_CSW;
        f->dev_csw_fill = 0;
    } else if (f->state == BOT_DEV_CSW) {
        f->dev_csw_fill = 0;
    }
}
