/*
 * A fake remote USB stick for tests: the usbredir host side of a USB 2.0
 * Bulk-Only mass storage device backed by an image file
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 *     vdi-usbredir-msd [options] IMAGE
 *
 *   --listen [ADDR:]PORT   wait for usb-redir's chardev to connect
 *                          (default 127.0.0.1:0; the port is printed on
 *                          stdout as "listening on PORT")
 *   --connect ADDR:PORT    connect to a chardev that listens instead
 *   --once                 exit when the first connection ends
 *   --vendor-id N, --product-id N, --serial S   what the device says
 *   --write-protect        report the medium as write-protected
 *   --uas                  also describe a UAS alternate setting (1) like
 *                          many real sticks; selecting it stalls, since
 *                          only Bulk-Only is served
 *   --badusb               the BadUSB attack: show QEMU's own requests
 *                          (packet ids with the top byte 0xff, the USB
 *                          policy's) the stick, but the guest's a HID boot
 *                          keyboard on the same endpoint 0x81, and once the
 *                          guest took the keyboard, answer its IN requests
 *                          with Alt+SysRq+H, over and over
 *   --verbose              log every SCSI command on stderr
 *
 * It plays the role of usbredirhost on a terminal with a stick plugged in:
 * it speaks usbredir as the USB host side (libusbredirparser with
 * usbredirparser_fl_usb_host) and presents one interface 08/06/50 (SCSI
 * transparent, Bulk-Only) with bulk IN 0x81 and bulk OUT 0x02.  The SCSI
 * target behind it serves INQUIRY (with the supported pages and unit serial
 * number VPD pages), TEST UNIT READY, REQUEST SENSE, READ CAPACITY(10) and
 * (16), READ(6/10/12/16), WRITE(6/10/12/16) (written to IMAGE with pwrite,
 * so that a test can tell whether a write got through), VERIFY, MODE
 * SENSE(6/10), READ FORMAT CAPACITIES, PREVENT ALLOW MEDIUM REMOVAL, START
 * STOP UNIT and SYNCHRONIZE CACHE(10/16).  Anything else fails with
 * ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE in the sense data.
 * Control requests: the standard descriptors, GET_STATUS, CLEAR_FEATURE
 * (ENDPOINT_HALT), GET_MAX_LUN and Bulk-Only Mass Storage Reset.  An
 * invalid CBW stalls both bulk endpoints until a Bulk-Only reset, as the
 * Bulk-Only Transport specification says.
 *
 * On SIGUSR1, and when a connection ends, the counters (commands, bytes
 * read and written, write commands, and for --badusb the guest's
 * GET_DESCRIPTOR requests and the keyboard reports sent) are printed on
 * stderr.  A peer that breaks the protocol loses its connection; the
 * program then waits for the next one unless --once was given.
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <netdb.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <usbredirparser.h>
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include "vdi-usb-test.h"

#define EP_IN           0x81
#define EP_OUT          0x02
#define MAX_PACKET      512
#define BLOCK           512
#define CBW_LEN         31
#define CSW_LEN         13
#define CBW_SIG         0x43425355
#define CSW_SIG         0x53425355
/* the largest transfer we stage at once (usb-storage asks for 120 KiB) */
#define MAX_XFER        (4 * 1024 * 1024)
#define MAX_PENDING_IN  16

typedef enum Phase {
    PH_IDLE,            /* waiting for a CBW */
    PH_DATA_IN,         /* data for the host in buf */
    PH_DATA_OUT,        /* receiving data for a WRITE */
    PH_CSW,             /* CSW ready */
    PH_NEED_RESET,      /* invalid CBW: stalled until Bulk-Only reset */
} Phase;

typedef struct PendingIn {
    uint64_t id;
    struct usb_redir_bulk_packet_header hdr;
} PendingIn;

typedef struct Msd {
    /* options */
    const char *image;
    uint16_t vid, pid;
    const char *serial;
    bool write_protect;
    bool uas;           /* also offer a UAS alternate setting */
    bool badusb;        /* show the guest a keyboard */
    bool verbose;
    /* backing image */
    int img_fd;
    uint64_t blocks;
    /* connection */
    int fd;
    struct usbredirparser *parser;
    bool broken;
    bool connected;     /* device_connect sent */
    /* Bulk-Only state */
    Phase phase;
    uint8_t cbw[CBW_LEN];
    uint32_t tag;
    uint32_t xfer_len;
    bool dir_in;
    uint32_t residue;
    uint8_t status;
    uint8_t *buf;
    uint32_t buf_len;   /* data staged for the host */
    uint32_t buf_off;
    /* WRITE in progress */
    uint64_t wr_lba;
    uint32_t wr_left;   /* bytes still to be written to the image */
    uint32_t out_left;  /* data-out bytes still expected from the host */
    bool halted_in, halted_out;
    uint8_t sense[18];
    uint8_t config;
    /* IN requests that arrived before their data */
    PendingIn pending[MAX_PENDING_IN];
    int n_pending;
    /* --badusb: the guest took the keyboard; its pending IN requests */
    bool keyboard;
    PendingIn kbd_pending[MAX_PENDING_IN];
    int n_kbd_pending;
    int64_t next_report_ms;
    unsigned script_pos;
    /* counters */
    uint64_t commands, failed, bytes_read, bytes_written, write_cmds;
    uint64_t resets, bad_cbws, alt_refused, guest_descs, key_reports;
} Msd;

static Msd msd;
static volatile sig_atomic_t want_stats;

#define MPS_LO          (MAX_PACKET & 0xff)
#define MPS_HI          (MAX_PACKET >> 8)

/* With --uas, after the Bulk-Only alternate setting */
static const uint8_t config_desc[] = {
    9, 2, 85, 0, 1, 1, 0, 0x80, 50,
    9, 4, 0, 0, 2, 8, 6, 0x50, 0,          /* SCSI transparent, Bulk-Only */
    7, 5, EP_IN, 2, MPS_LO, MPS_HI, 0,
    7, 5, EP_OUT, 2, MPS_LO, MPS_HI, 0,
    /* alternate setting 1: UAS, as many sticks have; not served */
    9, 4, 0, 1, 4, 8, 6, 0x62, 0,
    7, 5, 0x04, 2, MPS_LO, MPS_HI, 0, 4, 0x24, 1, 0,  /* command pipe */
    7, 5, 0x83, 2, MPS_LO, MPS_HI, 0, 4, 0x24, 2, 0,  /* status pipe */
    7, 5, EP_IN, 2, MPS_LO, MPS_HI, 0, 4, 0x24, 3, 0,  /* data-in pipe */
    7, 5, EP_OUT, 2, MPS_LO, MPS_HI, 0, 4, 0x24, 4, 0,  /* data-out pipe */
};
#define CONFIG_BOT_LEN  32

/* --badusb: what the guest is shown */
static const uint8_t kbd_dev_desc[18] = {
    18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x6d, 0x04, 0x1c, 0xc3, 0x00, 0x01,
    1, 2, 0, 1,
};

static const uint8_t kbd_report_desc[] = {
    0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7,
    0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02, 0x95, 0x01,
    0x75, 0x08, 0x81, 0x01, 0x95, 0x05, 0x75, 0x01, 0x05, 0x08, 0x19, 0x01,
    0x29, 0x05, 0x91, 0x02, 0x95, 0x01, 0x75, 0x03, 0x91, 0x01, 0x95, 0x06,
    0x75, 0x08, 0x15, 0x00, 0x25, 0x65, 0x05, 0x07, 0x19, 0x00, 0x29, 0x65,
    0x81, 0x00, 0xc0,
};

static const uint8_t kbd_config_desc[] = {
    9, 2, 34, 0, 1, 1, 0, 0x80, 50,
    9, 4, 0, 0, 1, 3, 1, 1, 0,              /* HID boot keyboard */
    9, 0x21, 0x11, 0x01, 0, 1, 0x22, sizeof(kbd_report_desc), 0,
    7, 5, EP_IN, 3, 8, 0, 4,                /* interrupt, on 0x81 */
};

/* Boot protocol reports: left Alt, SysRq, H (the kernel's SysRq help) */
static const uint8_t kbd_script[][8] = {
    { 0x04 }, { 0x04, 0, 0x46 }, { 0x04, 0, 0x46, 0x0b }, { 0x04, 0, 0x46 },
    { 0 },
};
#define KBD_GAP_MS      200     /* between reports */
#define KBD_PAUSE_MS    2000    /* between two rounds */

static void print_stats(const char *why)
{
    fprintf(stderr, "vdi-usbredir-msd: %s: %" PRIu64 " commands (%" PRIu64
            " failed), %" PRIu64 " bytes read, %" PRIu64 " write commands, "
            "%" PRIu64 " bytes written, %" PRIu64 " resets, %" PRIu64
            " invalid CBWs, %" PRIu64 " alternate settings refused, %" PRIu64
            " guest GET_DESCRIPTORs, %" PRIu64 " keyboard reports\n", why,
            msd.commands, msd.failed, msd.bytes_read, msd.write_cmds,
            msd.bytes_written, msd.resets, msd.bad_cbws, msd.alt_refused,
            msd.guest_descs, msd.key_reports);
}

static void on_usr1(int sig)
{
    want_stats = 1;
}

/* SCSI */

static void set_sense(uint8_t key, uint8_t asc, uint8_t ascq)
{
    memset(msd.sense, 0, sizeof(msd.sense));
    msd.sense[0] = 0x70;
    msd.sense[2] = key;
    msd.sense[7] = sizeof(msd.sense) - 8;
    msd.sense[12] = asc;
    msd.sense[13] = ascq;
}

/* Stage data-in: the host gets at most xfer_len bytes */
static void reply(const uint8_t *data, uint32_t len)
{
    len = MIN(len, msd.xfer_len);
    if (data != msd.buf && len) {
        memcpy(msd.buf, data, len);
    }
    msd.buf_len = len;
    msd.buf_off = 0;
}

static void fail(uint8_t key, uint8_t asc, uint8_t ascq)
{
    set_sense(key, asc, ascq);
    msd.status = 1;
    msd.failed++;
    msd.buf_len = 0;
}

static bool lba_range_ok(uint64_t lba, uint32_t n)
{
    if (lba > msd.blocks || n > msd.blocks - lba) {
        fail(5, 0x21, 0);       /* LOGICAL BLOCK ADDRESS OUT OF RANGE */
        return false;
    }
    return true;
}

static void scsi_read(uint64_t lba, uint32_t n)
{
    uint64_t len = (uint64_t)n * BLOCK;

    if (!lba_range_ok(lba, n)) {
        return;
    }
    if (!msd.dir_in || len > msd.xfer_len) {
        /* the host expects less (or no) data: case 7 / 10, phase error */
        msd.status = 2;
        len = msd.dir_in ? msd.xfer_len : 0;
    }
    len = MIN(len, MAX_XFER);
    if (len && pread(msd.img_fd, msd.buf, len, lba * BLOCK) != len) {
        fail(3, 0x11, 0);       /* MEDIUM ERROR, UNRECOVERED READ ERROR */
        return;
    }
    msd.bytes_read += len;
    reply(msd.buf, len);
}

static void scsi_write(uint64_t lba, uint32_t n)
{
    uint64_t len = (uint64_t)n * BLOCK;

    msd.write_cmds++;
    if (msd.write_protect) {
        fail(7, 0x27, 0);       /* DATA PROTECT, WRITE PROTECTED */
        msd.out_left = msd.dir_in ? 0 : msd.xfer_len;
        return;
    }
    if (!lba_range_ok(lba, n)) {
        msd.out_left = msd.dir_in ? 0 : msd.xfer_len;
        return;
    }
    if (msd.dir_in || len > msd.xfer_len) {
        msd.status = 2;         /* case 8 / 13: phase error */
        msd.out_left = msd.dir_in ? 0 : msd.xfer_len;
        return;
    }
    msd.wr_lba = lba;
    msd.wr_left = len;
    msd.out_left = msd.xfer_len;
}

static void mode_sense(const uint8_t *cdb, bool ten)
{
    uint8_t d[64] = { 0 };
    uint8_t page = cdb[2] & 0x3f;
    size_t hdr = ten ? 8 : 4, len = hdr;

    if ((cdb[2] >> 6) == 3) {
        fail(5, 0x39, 0);       /* SAVING PARAMETERS NOT SUPPORTED */
        return;
    }
    if (page == 0x08 || page == 0x3f) {
        uint8_t *p = d + len;   /* caching page, write cache off */

        p[0] = 0x08;
        p[1] = 0x12;
        len += 20;
    } else if (page != 0x00) {
        fail(5, 0x24, 0);       /* INVALID FIELD IN CDB */
        return;
    }
    if (ten) {
        d[0] = (len - 2) >> 8;
        d[1] = len - 2;
        d[3] = msd.write_protect ? 0x80 : 0;
    } else {
        d[0] = len - 1;
        d[2] = msd.write_protect ? 0x80 : 0;
    }
    reply(d, len);
}

static void inquiry(const uint8_t *cdb)
{
    uint8_t d[96] = { 0 };
    size_t n;

    if (cdb[1] & 1) {
        d[1] = cdb[2];
        switch (cdb[2]) {
        case 0x00:
            d[3] = 2;
            d[4] = 0x00;
            d[5] = 0x80;
            reply(d, 6);
            return;
        case 0x80:
            n = MIN(strlen(msd.serial), sizeof(d) - 4);
            d[3] = n;
            memcpy(d + 4, msd.serial, n);
            reply(d, 4 + n);
            return;
        default:
            fail(5, 0x24, 0);
            return;
        }
    }
    if (cdb[2]) {
        fail(5, 0x24, 0);
        return;
    }
    d[0] = 0x00;                /* direct access block device */
    d[1] = 0x80;                /* removable */
    d[2] = 0x06;                /* SPC-4 */
    d[3] = 0x02;
    d[4] = 36 - 5;
    memcpy(d + 8, "VDI     ", 8);
    memcpy(d + 16, "Fake USB Stick  ", 16);
    memcpy(d + 32, "1.00", 4);
    reply(d, 36);
}

static void scsi_command(const uint8_t *cdb, uint8_t cdb_len)
{
    uint8_t d[32] = { 0 };
    uint8_t op = cdb[0];
    uint64_t last = msd.blocks ? msd.blocks - 1 : 0;

    msd.commands++;
    msd.status = 0;
    msd.buf_len = msd.buf_off = 0;
    msd.out_left = msd.wr_left = 0;
    if (msd.verbose) {
        fprintf(stderr, "vdi-usbredir-msd: CBW tag %08x op %02x len %u %s\n",
                msd.tag, op, msd.xfer_len, msd.dir_in ? "in" : "out");
    }
    /* everything but REQUEST SENSE reports on itself */
    if (op != 0x03) {
        set_sense(0, 0, 0);
    }
    switch (op) {
    case 0x00:      /* TEST UNIT READY */
    case 0x1b:      /* START STOP UNIT */
    case 0x1e:      /* PREVENT ALLOW MEDIUM REMOVAL */
        break;
    case 0x2f:      /* VERIFY(10), BYTCHK=0 only */
        if (cdb[1] & 0x06) {
            fail(5, 0x24, 0);
        }
        break;
    case 0x35:      /* SYNCHRONIZE CACHE(10) */
    case 0x91:      /* SYNCHRONIZE CACHE(16) */
        if (fdatasync(msd.img_fd) < 0) {
            fail(3, 0x0c, 0);   /* MEDIUM ERROR, WRITE ERROR */
        }
        break;
    case 0x03:      /* REQUEST SENSE */
        memcpy(d, msd.sense, sizeof(msd.sense));
        reply(d, MIN(sizeof(msd.sense), cdb[4]));
        set_sense(0, 0, 0);
        break;
    case 0x12:      /* INQUIRY */
        inquiry(cdb);
        break;
    case 0x1a:      /* MODE SENSE(6) */
        mode_sense(cdb, false);
        break;
    case 0x5a:      /* MODE SENSE(10) */
        mode_sense(cdb, true);
        break;
    case 0x23:      /* READ FORMAT CAPACITIES */
        d[3] = 8;
        stl_be_p(d + 4, MIN(msd.blocks, UINT32_MAX));
        d[8] = 0x02;            /* formatted media */
        d[10] = BLOCK >> 8;
        reply(d, 12);
        break;
    case 0x25:      /* READ CAPACITY(10) */
        stl_be_p(d, MIN(last, UINT32_MAX));
        stl_be_p(d + 4, BLOCK);
        reply(d, 8);
        break;
    case 0x9e:      /* SERVICE ACTION IN(16) */
        if ((cdb[1] & 0x1f) != 0x10) {
            fail(5, 0x24, 0);
            break;
        }
        stq_be_p(d, last);
        stl_be_p(d + 8, BLOCK);
        reply(d, MIN(32, ldl_be_p(cdb + 10)));
        break;
    case 0x08:      /* READ(6) */
        scsi_read(((cdb[1] & 0x1f) << 16) | (cdb[2] << 8) | cdb[3],
                  cdb[4] ? cdb[4] : 256);
        break;
    case 0x28:      /* READ(10) */
        scsi_read(ldl_be_p(cdb + 2), lduw_be_p(cdb + 7));
        break;
    case 0xa8:      /* READ(12) */
        scsi_read(ldl_be_p(cdb + 2), ldl_be_p(cdb + 6));
        break;
    case 0x88:      /* READ(16) */
        scsi_read(ldq_be_p(cdb + 2), ldl_be_p(cdb + 10));
        break;
    case 0x0a:      /* WRITE(6) */
        scsi_write(((cdb[1] & 0x1f) << 16) | (cdb[2] << 8) | cdb[3],
                   cdb[4] ? cdb[4] : 256);
        break;
    case 0x2a:      /* WRITE(10) */
        scsi_write(ldl_be_p(cdb + 2), lduw_be_p(cdb + 7));
        break;
    case 0xaa:      /* WRITE(12) */
        scsi_write(ldl_be_p(cdb + 2), ldl_be_p(cdb + 6));
        break;
    case 0x8a:      /* WRITE(16) */
        scsi_write(ldq_be_p(cdb + 2), ldl_be_p(cdb + 10));
        break;
    default:
        fail(5, 0x20, 0);       /* INVALID COMMAND OPERATION CODE */
        break;
    }
    /* a command with data-out the device does not take: swallow it */
    if (!msd.dir_in && msd.xfer_len && !msd.out_left && op != 0x0a &&
        op != 0x2a && op != 0xaa && op != 0x8a) {
        msd.out_left = msd.xfer_len;
        if (!msd.status) {
            msd.status = 2;     /* case 9 / 11: the host sends, we don't */
        }
    }
}

/* Bulk-Only transport */

static void make_csw(uint8_t *csw)
{
    stl_le_p(csw, CSW_SIG);
    stl_le_p(csw + 4, msd.tag);
    stl_le_p(csw + 8, msd.residue);
    csw[12] = msd.status;
}

static void bot_reset(void)
{
    msd.phase = PH_IDLE;
    msd.buf_len = msd.buf_off = 0;
    msd.out_left = msd.wr_left = 0;
    msd.halted_in = msd.halted_out = false;
}

static void after_command(void)
{
    if (msd.out_left) {
        msd.phase = PH_DATA_OUT;
        msd.residue = msd.xfer_len;
    } else if (msd.dir_in && msd.xfer_len) {
        msd.phase = PH_DATA_IN;
        msd.residue = msd.xfer_len - msd.buf_len;
    } else {
        msd.phase = PH_CSW;
        msd.residue = msd.xfer_len;
    }
}

static void handle_cbw(const uint8_t *data, int len)
{
    const uint8_t *c = data;

    if (len != CBW_LEN || ldl_le_p(c) != CBW_SIG || (c[12] & 0x7f) ||
        c[13] != 0 || c[14] < 1 || c[14] > 16) {
        /* not a meaningful CBW: stall both pipes until reset recovery */
        msd.bad_cbws++;
        msd.phase = PH_NEED_RESET;
        msd.halted_in = msd.halted_out = true;
        fprintf(stderr, "vdi-usbredir-msd: invalid CBW (%d bytes)\n", len);
        return;
    }
    memcpy(msd.cbw, c, CBW_LEN);
    msd.tag = ldl_le_p(c + 4);
    msd.xfer_len = ldl_le_p(c + 8);
    msd.dir_in = c[12] & 0x80;
    scsi_command(c + 15, c[14]);
    after_command();
}

/* Bulk OUT data in the data-out phase of a WRITE */
static void handle_data_out(const uint8_t *data, int len)
{
    uint32_t n = MIN((uint32_t)len, msd.out_left);
    uint32_t w = MIN(n, msd.wr_left);
    /* where this chunk goes: bytes already written from the command */
    uint64_t done = (uint64_t)msd.xfer_len - msd.out_left;

    if (w) {
        if (pwrite(msd.img_fd, data, w, msd.wr_lba * BLOCK + done) != w) {
            fail(3, 0x0c, 0);
            msd.wr_left = 0;
        } else {
            msd.bytes_written += w;
            msd.wr_left -= w;
        }
    }
    msd.out_left -= n;
    if (!msd.out_left) {
        /* a failed command processed nothing */
        msd.residue = msd.status ? msd.xfer_len : msd.wr_left;
        msd.phase = PH_CSW;
    }
}

static void send_bulk(uint64_t id, struct usb_redir_bulk_packet_header *h,
                      uint8_t status, const uint8_t *data, uint32_t len)
{
    h->status = status;
    h->length = len & 0xffff;
    h->length_high = len >> 16;
    usbredirparser_send_bulk_packet(msd.parser, id, h, (uint8_t *)data, len);
}

/* Try to answer an IN request; false if there is nothing to send yet */
static bool answer_in(uint64_t id, struct usb_redir_bulk_packet_header *h)
{
    uint32_t want = h->length | ((uint32_t)h->length_high << 16);
    uint8_t csw[CSW_LEN];
    uint32_t n;

    if (msd.halted_in) {
        send_bulk(id, h, usb_redir_stall, NULL, 0);
        return true;
    }
    switch (msd.phase) {
    case PH_DATA_IN:
        n = MIN(want, msd.buf_len - msd.buf_off);
        send_bulk(id, h, usb_redir_success, msd.buf + msd.buf_off, n);
        msd.buf_off += n;
        /* the data phase ends when all went, or with a short packet */
        if (msd.buf_off == msd.buf_len && (n < want || n % MAX_PACKET ||
                                           msd.buf_len == msd.xfer_len)) {
            msd.phase = PH_CSW;
        }
        return true;
    case PH_CSW:
        make_csw(csw);
        n = MIN(want, CSW_LEN);
        send_bulk(id, h, usb_redir_success, csw, n);
        msd.phase = PH_IDLE;
        return true;
    case PH_NEED_RESET:
        send_bulk(id, h, usb_redir_stall, NULL, 0);
        return true;
    default:
        return false;
    }
}

static void flush_pending(void)
{
    while (msd.n_pending && answer_in(msd.pending[0].id,
                                      &msd.pending[0].hdr)) {
        msd.n_pending--;
        memmove(msd.pending, msd.pending + 1,
                msd.n_pending * sizeof(msd.pending[0]));
    }
}

static void cancel_pending(uint8_t status)
{
    int i;

    for (i = 0; i < msd.n_pending; i++) {
        send_bulk(msd.pending[i].id, &msd.pending[i].hdr, status, NULL, 0);
    }
    msd.n_pending = 0;
}

static int64_t now_ms(void)
{
    return g_get_monotonic_time() / 1000;
}

/*
 * --badusb, once the guest took the keyboard: answer its pending IN
 * request with the next report when it is due.  Returns the milliseconds
 * until the next one (-1: none pending).
 */
static int keyboard_tick(void)
{
    struct usb_redir_bulk_packet_header h;
    uint64_t id;
    int64_t now = now_ms();

    if (!msd.n_kbd_pending) {
        return -1;
    }
    if (now < msd.next_report_ms) {
        return msd.next_report_ms - now;
    }
    id = msd.kbd_pending[0].id;
    h = msd.kbd_pending[0].hdr;
    msd.n_kbd_pending--;
    memmove(msd.kbd_pending, msd.kbd_pending + 1,
            msd.n_kbd_pending * sizeof(msd.kbd_pending[0]));
    send_bulk(id, &h, usb_redir_success, kbd_script[msd.script_pos],
              MIN(8, h.length));
    msd.key_reports++;
    msd.script_pos = (msd.script_pos + 1) % ARRAY_SIZE(kbd_script);
    msd.next_report_ms = now + (msd.script_pos ? KBD_GAP_MS : KBD_PAUSE_MS);
    return msd.n_kbd_pending ? KBD_GAP_MS : -1;
}

/* Cancel the keyboard's pending IN request @id, or all of them */
static void keyboard_cancel(uint64_t id, bool all)
{
    int i = 0;

    while (i < msd.n_kbd_pending) {
        if (!all && msd.kbd_pending[i].id != id) {
            i++;
            continue;
        }
        send_bulk(msd.kbd_pending[i].id, &msd.kbd_pending[i].hdr,
                  usb_redir_cancelled, NULL, 0);
        msd.n_kbd_pending--;
        memmove(msd.kbd_pending + i, msd.kbd_pending + i + 1,
                (msd.n_kbd_pending - i) * sizeof(msd.kbd_pending[0]));
    }
}

/* usbredir callbacks (we are the USB host side) */

static int cb_read(void *priv, uint8_t *data, int count)
{
    ssize_t n = recv(msd.fd, data, count, MSG_DONTWAIT);

    if (n == 0) {
        msd.broken = true;
        return -1;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return 0;
        }
        msd.broken = true;
        return -1;
    }
    return n;
}

static int cb_write(void *priv, uint8_t *data, int count)
{
    ssize_t n = send(msd.fd, data, count, MSG_NOSIGNAL | MSG_DONTWAIT);

    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return 0;
        }
        msd.broken = true;
        return -1;
    }
    return n;
}

static void cb_log(void *priv, int level, const char *msg)
{
    if (level <= usbredirparser_warning || msd.verbose) {
        fprintf(stderr, "vdi-usbredir-msd: usbredir: %s\n", msg);
    }
}

static void cb_hello(void *priv, struct usb_redir_hello_header *h)
{
    struct usb_redir_ep_info_header ep = { 0 };
    struct usb_redir_interface_info_header ii = { 0 };
    struct usb_redir_device_connect_header dc = {
        .speed = usb_redir_speed_high,
        .device_class = 0,
        .vendor_id = msd.vid,
        .product_id = msd.pid,
        .device_version_bcd = 0x0100,
    };

    memset(ep.type, usb_redir_type_invalid, sizeof(ep.type));
    ep.type[0] = ep.type[16] = usb_redir_type_control;
    ep.max_packet_size[0] = ep.max_packet_size[16] = 64;
    /* usbredir numbers endpoints (address & 0x0f) + 16 * direction in */
    ep.type[EP_OUT & 0x0f] = usb_redir_type_bulk;
    ep.max_packet_size[EP_OUT & 0x0f] = MAX_PACKET;
    ep.type[16 + (EP_IN & 0x0f)] = usb_redir_type_bulk;
    ep.max_packet_size[16 + (EP_IN & 0x0f)] = MAX_PACKET;
    ii.interface_count = 1;
    ii.interface[0] = 0;
    ii.interface_class[0] = 8;
    ii.interface_subclass[0] = 6;
    ii.interface_protocol[0] = 0x50;
    usbredirparser_send_ep_info(msd.parser, &ep);
    usbredirparser_send_interface_info(msd.parser, &ii);
    usbredirparser_send_device_connect(msd.parser, &dc);
    msd.connected = true;
    fprintf(stderr, "vdi-usbredir-msd: peer \"%s\", device connected\n",
            h->version);
}

static size_t string_desc(uint8_t index, uint8_t *d, size_t max)
{
    const char *s;

    switch (index) {
    case 0:
        memcpy(d, "\x04\x03\x09\x04", 4);
        return 4;
    case 1:
        s = "VDI";
        break;
    case 2:
        s = "Fake USB Stick";
        break;
    case 3:
        s = msd.serial;
        break;
    default:
        return 0;
    }
    return usb_test_string_desc(s, d, max);
}

/*
 * --badusb: a descriptor for the guest, whose requests never carry the
 * policy's packet ids (VDI_USB_GUARD_ID_BASE): the keyboard's.  Returns
 * false if there is no such descriptor.
 */
static bool keyboard_desc(const struct usb_redir_control_packet_header *c,
                          uint8_t *buf, size_t *len)
{
    switch (c->value >> 8) {
    case 1:
        memcpy(buf, kbd_dev_desc, sizeof(kbd_dev_desc));
        *len = sizeof(kbd_dev_desc);
        return true;
    case 2:
        memcpy(buf, kbd_config_desc, sizeof(kbd_config_desc));
        *len = sizeof(kbd_config_desc);
        /* the guest read all of it: it is about to take the keyboard */
        msd.keyboard |= c->length >= sizeof(kbd_config_desc);
        return true;
    case 3:
        *len = string_desc(c->value & 0xff, buf, 256);
        return *len > 0;
    case 0x22:
        memcpy(buf, kbd_report_desc, sizeof(kbd_report_desc));
        *len = sizeof(kbd_report_desc);
        return true;
    default:
        return false;
    }
}

/* The stick's answer to a control request (buf has 256 bytes) */
static bool stick_control(const struct usb_redir_control_packet_header *c,
                          uint8_t *buf, size_t *plen)
{
    size_t len = 0;
    bool ok = true;
    uint16_t req = (c->requesttype << 8) | c->request;
    const uint8_t dev_desc[18] = {
        18, 1, 0x00, 0x02, 0, 0, 0, 64,
        msd.vid & 0xff, msd.vid >> 8, msd.pid & 0xff, msd.pid >> 8,
        0x00, 0x01, 1, 2, 3, 1,
    };

    switch (req) {
    case 0x2109:    /* HID SET_REPORT (the keyboard's LEDs) */
    case 0x210a:    /* HID SET_IDLE */
    case 0x210b:    /* HID SET_PROTOCOL */
        ok = msd.badusb;
        break;
    case 0x8006:    /* GET_DESCRIPTOR */
        switch (c->value >> 8) {
        case 1:
            memcpy(buf, dev_desc, sizeof(dev_desc));
            len = sizeof(dev_desc);
            break;
        case 2:
            if ((c->value & 0xff) != 0) {
                ok = false;
                break;
            }
            len = msd.uas ? sizeof(config_desc) : CONFIG_BOT_LEN;
            memcpy(buf, config_desc, len);
            buf[2] = len;
            break;
        case 3:
            len = string_desc(c->value & 0xff, buf, 256);
            ok = len > 0;
            break;
        case 6:     /* DEVICE_QUALIFIER: we are high speed only */
        default:
            ok = false;
        }
        break;
    case 0x8000:    /* GET_STATUS device */
        len = 2;
        break;
    case 0x8100:    /* GET_STATUS interface */
        len = 2;
        break;
    case 0x8200:    /* GET_STATUS endpoint */
        buf[0] = (c->index & 0xff) == EP_IN ? msd.halted_in :
                 (c->index & 0xff) == EP_OUT ? msd.halted_out : 0;
        len = 2;
        break;
    case 0x0201:    /* CLEAR_FEATURE(ENDPOINT_HALT) */
        if (c->value != 0) {
            ok = false;
        } else if ((c->index & 0xff) == EP_IN) {
            msd.halted_in = msd.phase == PH_NEED_RESET;
        } else if ((c->index & 0xff) == EP_OUT) {
            msd.halted_out = msd.phase == PH_NEED_RESET;
        }
        break;
    case 0x0001:    /* CLEAR_FEATURE device (remote wakeup) */
    case 0x0003:    /* SET_FEATURE device */
        break;
    case 0xa1fe:    /* GET_MAX_LUN */
        len = 1;
        ok = c->index == 0 && c->value == 0;
        break;
    case 0x21ff:    /* Bulk-Only Mass Storage Reset */
        if (c->index != 0 || c->value != 0 || c->length != 0) {
            ok = false;
            break;
        }
        msd.resets++;
        cancel_pending(usb_redir_cancelled);
        bot_reset();
        break;
    default:
        ok = false;
    }
    *plen = len;
    return ok;
}

static void cb_control(void *priv, uint64_t id,
                       struct usb_redir_control_packet_header *c,
                       uint8_t *data, int data_len)
{
    uint8_t buf[256] = { 0 };
    size_t len = 0;
    uint16_t req = (c->requesttype << 8) | c->request;
    bool ok;

    if (msd.badusb && (id >> 56) != 0xff &&
        (req == 0x8006 || req == 0x8106)) {
        msd.guest_descs++;
        ok = keyboard_desc(c, buf, &len);
    } else {
        ok = stick_control(c, buf, &len);
    }
    if (!(c->requesttype & 0x80)) {
        len = 0;
    }
    len = MIN(len, c->length);
    c->status = ok ? usb_redir_success : usb_redir_stall;
    c->length = ok ? len : 0;
    usbredirparser_send_control_packet(msd.parser, id, c,
                                       ok && len ? buf : NULL,
                                       ok ? len : 0);
    free(data);
}

static void cb_bulk(void *priv, uint64_t id,
                    struct usb_redir_bulk_packet_header *h,
                    uint8_t *data, int data_len)
{
    uint32_t len = h->length | ((uint32_t)h->length_high << 16);

    if (h->stream_id) {
        send_bulk(id, h, usb_redir_inval, NULL, 0);
    } else if (h->endpoint == EP_IN && msd.keyboard) {
        if (msd.n_kbd_pending == MAX_PENDING_IN) {
            send_bulk(id, h, usb_redir_inval, NULL, 0);
        } else {
            msd.kbd_pending[msd.n_kbd_pending].id = id;
            msd.kbd_pending[msd.n_kbd_pending].hdr = *h;
            msd.n_kbd_pending++;
        }
    } else if (h->endpoint == EP_IN) {
        if (len > MAX_XFER) {
            send_bulk(id, h, usb_redir_inval, NULL, 0);
        } else if (msd.n_pending || !answer_in(id, h)) {
            if (msd.n_pending == MAX_PENDING_IN) {
                send_bulk(id, h, usb_redir_inval, NULL, 0);
            } else {
                msd.pending[msd.n_pending].id = id;
                msd.pending[msd.n_pending].hdr = *h;
                msd.n_pending++;
            }
        }
    } else if (h->endpoint == EP_OUT) {
        uint8_t status = usb_redir_success;

        if (msd.halted_out) {
            status = usb_redir_stall;
        } else if (msd.phase == PH_IDLE) {
            handle_cbw(data, data_len);
            if (msd.phase == PH_NEED_RESET) {
                status = usb_redir_stall;
            }
        } else if (msd.phase == PH_DATA_OUT) {
            handle_data_out(data, data_len);
        } else {
            /*
             * OUT while we wait for the host to read: the host lost
             * track; like a real device, stall until reset recovery
             */
            msd.bad_cbws++;
            msd.phase = PH_NEED_RESET;
            msd.halted_in = msd.halted_out = true;
            status = usb_redir_stall;
        }
        h->status = status;
        h->length = data_len & 0xffff;
        h->length_high = data_len >> 16;
        usbredirparser_send_bulk_packet(msd.parser, id, h, NULL, 0);
        flush_pending();
    } else {
        send_bulk(id, h, usb_redir_stall, NULL, 0);
    }
    free(data);
}

static void cb_cancel(void *priv, uint64_t id)
{
    int i;

    keyboard_cancel(id, false);
    for (i = 0; i < msd.n_pending; i++) {
        if (msd.pending[i].id == id) {
            send_bulk(id, &msd.pending[i].hdr, usb_redir_cancelled, NULL, 0);
            msd.n_pending--;
            memmove(msd.pending + i, msd.pending + i + 1,
                    (msd.n_pending - i) * sizeof(msd.pending[0]));
            return;
        }
    }
    /* everything else was answered already */
}

static void cb_reset(void *priv)
{
    msd.resets++;
    keyboard_cancel(0, true);
    cancel_pending(usb_redir_cancelled);
    bot_reset();
    msd.config = 1;
}

static void cb_set_config(void *priv, uint64_t id,
                          struct usb_redir_set_configuration_header *h)
{
    struct usb_redir_configuration_status_header st = {
        h->configuration <= 1 ? usb_redir_success : usb_redir_stall,
        h->configuration,
    };

    if (st.status == usb_redir_success) {
        msd.config = h->configuration;
        cancel_pending(usb_redir_cancelled);
        bot_reset();
    }
    usbredirparser_send_configuration_status(msd.parser, id, &st);
}

static void cb_get_config(void *priv, uint64_t id)
{
    struct usb_redir_configuration_status_header st = {
        usb_redir_success, msd.config
    };

    usbredirparser_send_configuration_status(msd.parser, id, &st);
}

static void cb_set_alt(void *priv, uint64_t id,
                       struct usb_redir_set_alt_setting_header *h)
{
    struct usb_redir_alt_setting_status_header st = {
        h->interface == 0 && h->alt == 0 ? usb_redir_success :
        usb_redir_stall, h->interface, h->alt
    };

    if (st.status == usb_redir_success) {
        cancel_pending(usb_redir_cancelled);
        bot_reset();
    } else {
        msd.alt_refused++;
    }
    usbredirparser_send_alt_setting_status(msd.parser, id, &st);
}

static void cb_get_alt(void *priv, uint64_t id,
                       struct usb_redir_get_alt_setting_header *h)
{
    struct usb_redir_alt_setting_status_header st = {
        h->interface == 0 ? usb_redir_success : usb_redir_inval,
        h->interface, 0
    };

    usbredirparser_send_alt_setting_status(msd.parser, id, &st);
}

static void cb_filter_reject(void *priv)
{
    fprintf(stderr, "vdi-usbredir-msd: the guest side rejected the "
            "device\n");
}

static void cb_filter_filter(void *priv, struct usbredirfilter_rule *r,
                             int n)
{
    free(r);
}

static void cb_disconnect_ack(void *priv)
{
}

/* Requests for transfer types this device does not have */
static void cb_no_iso(void *priv, uint64_t id,
                      struct usb_redir_start_iso_stream_header *h)
{
    struct usb_redir_iso_stream_status_header st = {
        usb_redir_stall, h->endpoint
    };

    usbredirparser_send_iso_stream_status(msd.parser, id, &st);
}

static void cb_no_stop_iso(void *priv, uint64_t id,
                           struct usb_redir_stop_iso_stream_header *h)
{
    struct usb_redir_iso_stream_status_header st = {
        usb_redir_stall, h->endpoint
    };

    usbredirparser_send_iso_stream_status(msd.parser, id, &st);
}

static void cb_no_intr(void *priv, uint64_t id,
                       struct usb_redir_start_interrupt_receiving_header *h)
{
    struct usb_redir_interrupt_receiving_status_header st = {
        usb_redir_stall, h->endpoint
    };

    usbredirparser_send_interrupt_receiving_status(msd.parser, id, &st);
}

static void cb_no_stop_intr(void *priv, uint64_t id,
                            struct usb_redir_stop_interrupt_receiving_header *h)
{
    struct usb_redir_interrupt_receiving_status_header st = {
        usb_redir_stall, h->endpoint
    };

    usbredirparser_send_interrupt_receiving_status(msd.parser, id, &st);
}

static void cb_no_streams(void *priv, uint64_t id,
                          struct usb_redir_alloc_bulk_streams_header *h)
{
    struct usb_redir_bulk_streams_status_header st = {
        .endpoints = h->endpoints, .no_streams = 0,
        .status = usb_redir_stall,
    };

    usbredirparser_send_bulk_streams_status(msd.parser, id, &st);
}

static void cb_no_free_streams(void *priv, uint64_t id,
                               struct usb_redir_free_bulk_streams_header *h)
{
    struct usb_redir_bulk_streams_status_header st = {
        .endpoints = h->endpoints, .no_streams = 0,
        .status = usb_redir_stall,
    };

    usbredirparser_send_bulk_streams_status(msd.parser, id, &st);
}

static void cb_no_bulk_recv(void *priv, uint64_t id,
                            struct usb_redir_start_bulk_receiving_header *h)
{
    struct usb_redir_bulk_receiving_status_header st = {
        usb_redir_stall, h->endpoint
    };

    usbredirparser_send_bulk_receiving_status(msd.parser, id, &st);
}

static void cb_no_stop_bulk_recv(void *priv, uint64_t id,
                                 struct usb_redir_stop_bulk_receiving_header *h)
{
    struct usb_redir_bulk_receiving_status_header st = {
        usb_redir_stall, h->endpoint
    };

    usbredirparser_send_bulk_receiving_status(msd.parser, id, &st);
}

static void cb_drop_data(void *priv, uint64_t id, void *h, uint8_t *data,
                         int data_len)
{
    free(data);
}

static struct usbredirparser *parser_new(void)
{
    uint32_t caps[USB_REDIR_CAPS_SIZE] = { 0 };
    struct usbredirparser *p = usbredirparser_create();

    if (!p) {
        return NULL;
    }
    p->log_func = cb_log;
    p->read_func = cb_read;
    p->write_func = cb_write;
    p->hello_func = cb_hello;
    p->reset_func = cb_reset;
    p->set_configuration_func = cb_set_config;
    p->get_configuration_func = cb_get_config;
    p->set_alt_setting_func = cb_set_alt;
    p->get_alt_setting_func = cb_get_alt;
    p->start_iso_stream_func = cb_no_iso;
    p->stop_iso_stream_func = cb_no_stop_iso;
    p->start_interrupt_receiving_func = cb_no_intr;
    p->stop_interrupt_receiving_func = cb_no_stop_intr;
    p->alloc_bulk_streams_func = cb_no_streams;
    p->free_bulk_streams_func = cb_no_free_streams;
    p->start_bulk_receiving_func = cb_no_bulk_recv;
    p->stop_bulk_receiving_func = cb_no_stop_bulk_recv;
    p->cancel_data_packet_func = cb_cancel;
    p->control_packet_func = cb_control;
    p->bulk_packet_func = cb_bulk;
    p->iso_packet_func = (usbredirparser_iso_packet)cb_drop_data;
    p->interrupt_packet_func = (usbredirparser_interrupt_packet)cb_drop_data;
    p->filter_reject_func = cb_filter_reject;
    p->filter_filter_func = cb_filter_filter;
    p->device_disconnect_ack_func = cb_disconnect_ack;

    usbredirparser_caps_set_cap(caps, usb_redir_cap_connect_device_version);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_filter);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_device_disconnect_ack);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_ep_info_max_packet_size);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_64bits_ids);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_32bits_bulk_length);
    usbredirparser_init(p, "vdi-usbredir-msd", caps, USB_REDIR_CAPS_SIZE,
                        usbredirparser_fl_usb_host);
    return p;
}

/* Serve one connection until it ends */
static void serve(int fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    msd.fd = fd;
    msd.broken = false;
    msd.connected = false;
    msd.n_pending = 0;
    msd.keyboard = false;
    msd.n_kbd_pending = 0;
    msd.script_pos = 0;
    msd.config = 1;
    bot_reset();
    set_sense(0, 0, 0);
    msd.parser = parser_new();
    if (!msd.parser) {
        fprintf(stderr, "vdi-usbredir-msd: out of memory\n");
        return;
    }
    while (!msd.broken) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int r, wait = keyboard_tick();

        if (usbredirparser_has_data_to_write(msd.parser)) {
            pfd.events |= POLLOUT;
        }
        if (want_stats) {
            want_stats = 0;
            print_stats("stats");
        }
        r = poll(&pfd, 1, wait >= 0 ? MIN(wait, 1000) : 1000);
        if (r < 0 && errno != EINTR) {
            break;
        }
        if (r <= 0) {
            continue;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            r = usbredirparser_do_read(msd.parser);
            if (r == usbredirparser_read_parse_error) {
                fprintf(stderr, "vdi-usbredir-msd: protocol error from the "
                        "peer, disconnecting\n");
                break;
            }
            if (r < 0) {
                break;
            }
        }
        while (!msd.broken && usbredirparser_has_data_to_write(msd.parser)) {
            if (usbredirparser_do_write(msd.parser) < 0) {
                break;
            }
            /* stop if the socket is full; poll tells when it drains */
            if (usbredirparser_has_data_to_write(msd.parser)) {
                struct pollfd w = { .fd = fd, .events = POLLOUT };

                if (poll(&w, 1, 0) <= 0) {
                    break;
                }
            }
        }
    }
    usbredirparser_destroy(msd.parser);
    msd.parser = NULL;
    close(fd);
    print_stats("connection closed");
}

static bool split_addr(const char *arg, char **host, char **port)
{
    const char *colon = strrchr(arg, ':');

    if (!colon) {
        *host = g_strdup("127.0.0.1");
        *port = g_strdup(arg);
    } else {
        *host = g_strndup(arg, colon - arg);
        *port = g_strdup(colon + 1);
    }
    return **port != '\0';
}

static int open_socket(const char *arg, bool listening)
{
    g_autofree char *host = NULL, *port = NULL;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
        .ai_flags = listening ? AI_PASSIVE : 0,
    };
    struct addrinfo *res, *ai;
    int fd = -1, one = 1, e;

    if (!split_addr(arg, &host, &port)) {
        fprintf(stderr, "vdi-usbredir-msd: bad address %s\n", arg);
        return -1;
    }
    e = getaddrinfo(host, port, &hints, &res);
    if (e) {
        fprintf(stderr, "vdi-usbredir-msd: %s: %s\n", arg, gai_strerror(e));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        if (listening) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
                listen(fd, 1) == 0) {
                break;
            }
        } else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "vdi-usbredir-msd: %s: %s\n", arg, strerror(errno));
    }
    return fd;
}

static void usage(void);

static uint16_t parse_id(const char *s)
{
    unsigned long v;

    if (qemu_strtoul(s, NULL, 0, &v) < 0 || v > 0xffff) {
        usage();
    }
    return v;
}

static void usage(void)
{
    fprintf(stderr, "usage: vdi-usbredir-msd [--listen [ADDR:]PORT | "
            "--connect ADDR:PORT] [--once]\n"
            "       [--vendor-id N] [--product-id N] [--serial S] "
            "[--write-protect] [--uas] [--badusb] [--verbose]\n"
            "       IMAGE\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *listen_addr = "127.0.0.1:0", *connect_addr = NULL;
    bool once = false;
    struct stat st;
    struct sigaction sa = { .sa_handler = on_usr1 };
    int i;

    msd.vid = 0x46f4;
    msd.pid = 0x5ba0;
    msd.serial = "VDIMSD000001";
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--once")) {
            once = true;
        } else if (!strcmp(a, "--uas")) {
            msd.uas = true;
        } else if (!strcmp(a, "--badusb")) {
            msd.badusb = true;
        } else if (!strcmp(a, "--write-protect")) {
            msd.write_protect = true;
        } else if (!strcmp(a, "--verbose")) {
            msd.verbose = true;
        } else if (!strcmp(a, "--listen") && v) {
            listen_addr = v;
            i++;
        } else if (!strcmp(a, "--connect") && v) {
            connect_addr = v;
            i++;
        } else if (!strcmp(a, "--vendor-id") && v) {
            msd.vid = parse_id(v);
            i++;
        } else if (!strcmp(a, "--product-id") && v) {
            msd.pid = parse_id(v);
            i++;
        } else if (!strcmp(a, "--serial") && v && *v) {
            msd.serial = v;
            i++;
        } else if (a[0] == '-' || msd.image) {
            usage();
        } else {
            msd.image = a;
        }
    }
    if (!msd.image) {
        usage();
    }
    msd.img_fd = open(msd.image, O_RDWR);
    if (msd.img_fd < 0 || fstat(msd.img_fd, &st) < 0) {
        fprintf(stderr, "vdi-usbredir-msd: %s: %s\n", msd.image,
                strerror(errno));
        return 1;
    }
    msd.blocks = st.st_size / BLOCK;
    if (!msd.blocks) {
        fprintf(stderr, "vdi-usbredir-msd: %s: smaller than one block\n",
                msd.image);
        return 1;
    }
    msd.buf = g_malloc(MAX_XFER);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (connect_addr) {
        do {
            int fd = open_socket(connect_addr, false);

            if (fd < 0) {
                if (once) {
                    return 1;
                }
                sleep(1);
                continue;
            }
            serve(fd);
        } while (!once);
    } else {
        int lfd = open_socket(listen_addr, true);
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char port[16];

        if (lfd < 0 || getsockname(lfd, (struct sockaddr *)&ss, &sl) < 0 ||
            getnameinfo((struct sockaddr *)&ss, sl, NULL, 0, port,
                        sizeof(port), NI_NUMERICSERV)) {
            return 1;
        }
        printf("listening on %s\n", port);
        fflush(stdout);
        do {
            int fd = accept(lfd, NULL, NULL);

            if (fd < 0) {
                if (errno == EINTR) {
                    continue;
                }
                fprintf(stderr, "vdi-usbredir-msd: accept: %s\n",
                        strerror(errno));
                return 1;
            }
            serve(fd);
        } while (!once);
    }
    return 0;
}
