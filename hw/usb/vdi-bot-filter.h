/*
 * VDI host: read-only enforcement on a USB mass storage Bulk-Only stream
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One VdiBotFilter guards one Bulk-Only (BOT) mass storage interface: the
 * caller hands it every bulk OUT packet from the guest before sending it,
 * asks it before sending every bulk IN request to the device, and hands it
 * every bulk IN completion from the device before giving it to the guest.
 *
 * Only complete, valid CBWs whose SCSI opcode is on a read-only allowlist
 * (and that carry no host-to-device data) ever reach the device.  Every
 * other command is answered by the filter itself: its data-out phase is
 * swallowed, a zero-length packet ends any data-in phase, a CSW with
 * status 1 (failed) and residue = dCBWDataTransferLength follows, and the
 * next REQUEST SENSE on that LUN is answered with DATA PROTECT / WRITE
 * PROTECTED (sense key 7h, ASC 27h, ASCQ 00h).  MODE SENSE(6/10) answers
 * get their write-protect bit set so the guest mounts read-only.
 */

#ifndef HW_USB_VDI_BOT_FILTER_H
#define HW_USB_VDI_BOT_FILTER_H

#define VDI_BOT_CBW_LEN         31
#define VDI_BOT_CSW_LEN         13
#define VDI_BOT_CBW_SIGNATURE   0x43425355  /* "USBC" little endian */
#define VDI_BOT_CSW_SIGNATURE   0x53425355  /* "USBS" little endian */
#define VDI_BOT_MAX_LUNS        16
#define VDI_BOT_SENSE_LEN       18

typedef struct VdiBotFilter VdiBotFilter;

/* Result of vdi_bot_filter_host_out() and vdi_bot_filter_device_in() */
typedef enum VdiBotAction {
    /*
     * host_out: send *fwd / *fwd_len (a whole CBW) to the device instead
     * of the packet's own bytes; complete the guest packet with its own
     * length once the device accepted it.
     * device_in: give the (possibly rewritten) data to the guest.
     */
    VDI_BOT_PASS,
    /* host_out: do not send anything; complete the packet as successful */
    VDI_BOT_SWALLOW,
    /*
     * Protocol error: stall the endpoint towards the guest.  The filter
     * refuses everything until vdi_bot_filter_reset() (Bulk-Only Mass
     * Storage Reset, port reset, SET_CONFIGURATION or SET_INTERFACE).
     */
    VDI_BOT_ERROR,
} VdiBotAction;

/* Result of vdi_bot_filter_pending_in() */
typedef enum VdiBotInAction {
    VDI_BOT_IN_DEVICE,  /* forward the IN request to the device */
    VDI_BOT_IN_SYNTH,   /* complete it with the *len bytes put in buf */
    VDI_BOT_IN_WAIT,    /* nothing yet and not the device's turn: NAK */
    VDI_BOT_IN_STALL,   /* protocol error state: stall */
} VdiBotInAction;

typedef struct VdiBotStats {
    uint64_t commands;          /* valid CBWs seen */
    uint64_t passed;            /* CBWs forwarded to the device */
    uint64_t blocked;           /* CBWs answered with DATA PROTECT */
    uint64_t bytes_swallowed;   /* data-out bytes of blocked commands */
    uint64_t sense_answered;    /* REQUEST SENSEs answered by the filter */
    uint64_t mode_sense_wp;     /* MODE SENSE replies given the WP bit */
    uint64_t protocol_errors;
} VdiBotStats;

VdiBotFilter *vdi_bot_filter_new(void);
void vdi_bot_filter_free(VdiBotFilter *f);
void vdi_bot_filter_reset(VdiBotFilter *f);

VdiBotAction vdi_bot_filter_host_out(VdiBotFilter *f, const uint8_t *data,
                                     size_t len, const uint8_t **fwd,
                                     size_t *fwd_len, char **errmsg);
VdiBotInAction vdi_bot_filter_pending_in(VdiBotFilter *f, uint8_t *buf,
                                         size_t maxlen, size_t *len);
VdiBotAction vdi_bot_filter_device_in(VdiBotFilter *f, uint8_t *data,
                                      size_t len, size_t requested,
                                      char **errmsg);
void vdi_bot_filter_device_in_stalled(VdiBotFilter *f);

void vdi_bot_filter_get_stats(const VdiBotFilter *f, VdiBotStats *stats);
bool vdi_bot_filter_in_error(const VdiBotFilter *f);

/* Classification, exported for tests */
bool vdi_bot_cdb_allowed(const uint8_t *cdb, size_t cdb_len);

#endif
