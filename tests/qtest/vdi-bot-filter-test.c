/*
 * Unit tests for the VDI read-only filter of USB Bulk-Only mass storage
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Expected values are written out by hand from the BOT and SCSI
 * specifications, never computed with the code under test.
 */

#include "qemu/osdep.h"
#include "hw/usb/vdi-bot-filter.h"

/* BOT filter */

static const uint8_t bot_allowlist[] = {
    0x00, 0x03, 0x08, 0x12, 0x1a, 0x1b, 0x1e, 0x23, 0x25, 0x28, 0x2f, 0x35,
    0x43, 0x46, 0x4a, 0x52, 0x5a, 0x88, 0x8f, 0x91, 0xa0, 0xa8, 0xad, 0xaf,
    0xb9, 0xbd, 0xbe,
};

static const struct {
    uint8_t op;
    uint8_t sa;
    const char *name;
} write_ops[] = {
    { 0x0a, 0, "WRITE(6)" }, { 0x2a, 0, "WRITE(10)" },
    { 0xaa, 0, "WRITE(12)" }, { 0x8a, 0, "WRITE(16)" },
    { 0x2e, 0, "WRITE AND VERIFY(10)" }, { 0xae, 0, "WRITE AND VERIFY(12)" },
    { 0x8e, 0, "WRITE AND VERIFY(16)" }, { 0x41, 0, "WRITE SAME(10)" },
    { 0x93, 0, "WRITE SAME(16)" }, { 0x42, 0, "UNMAP" },
    { 0x04, 0, "FORMAT UNIT" }, { 0x15, 0, "MODE SELECT(6)" },
    { 0x55, 0, "MODE SELECT(10)" }, { 0x3b, 0, "WRITE BUFFER" },
    { 0x3f, 0, "WRITE LONG(10)" }, { 0x9f, 0x11, "WRITE LONG(16)" },
    { 0x89, 0, "COMPARE AND WRITE" }, { 0x50, 0, "XDWRITE(10)" },
    { 0x51, 0, "XPWRITE(10)" }, { 0x53, 0, "XDWRITEREAD(10)" },
    { 0x80, 0, "XDWRITE EXTENDED(16)" }, { 0xa1, 0, "ATA PASS-THROUGH(12)" },
    { 0x85, 0, "ATA PASS-THROUGH(16)" }, { 0xb5, 0, "SECURITY PROTOCOL OUT" },
    { 0x5f, 0, "PERSISTENT RESERVE OUT" }, { 0x9e, 0x12, "GET LBA STATUS" },
    { 0xc0, 0, "vendor" }, { 0xd5, 0, "vendor" }, { 0xff, 0, "vendor" },
};

static void mk_cbw(uint8_t *c, uint32_t tag, uint32_t len, bool in,
                   uint8_t lun, const uint8_t *cdb, uint8_t cblen)
{
    memset(c, 0, 31);
    c[0] = 'U';
    c[1] = 'S';
    c[2] = 'B';
    c[3] = 'C';
    c[4] = tag;
    c[5] = tag >> 8;
    c[6] = tag >> 16;
    c[7] = tag >> 24;
    c[8] = len;
    c[9] = len >> 8;
    c[10] = len >> 16;
    c[11] = len >> 24;
    c[12] = in ? 0x80 : 0x00;
    c[13] = lun;
    c[14] = cblen;
    memcpy(c + 15, cdb, cblen);
}

static void mk_csw(uint8_t *c, uint32_t tag, uint32_t residue,
                   uint8_t status)
{
    const uint8_t csw[13] = {
        'U', 'S', 'B', 'S', tag, tag >> 8, tag >> 16, tag >> 24,
        residue, residue >> 8, residue >> 16, residue >> 24, status
    };
    memcpy(c, csw, 13);
}

/* Send one whole OUT packet; returns the action */
static VdiBotAction out1(VdiBotFilter *f, const uint8_t *p, size_t n,
                         const uint8_t **fwd, size_t *fwd_len)
{
    const uint8_t *dummy;
    size_t dummy_len;

    return vdi_bot_filter_host_out(f, p, n, fwd ? fwd : &dummy,
                                   fwd_len ? fwd_len : &dummy_len, NULL);
}

/* Expect a synthetic CSW on the next IN */
static void expect_syn_csw(VdiBotFilter *f, uint32_t tag, uint32_t residue,
                           uint8_t status)
{
    uint8_t buf[64], want[13];
    size_t n;

    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, sizeof(buf), &n), ==,
                    VDI_BOT_IN_SYNTH);
    mk_csw(want, tag, residue, status);
    g_assert_cmpmem(buf, n, want, 13);
    /* and then the filter is idle: IN is not the device's turn */
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, sizeof(buf), &n), ==,
                    VDI_BOT_IN_WAIT);
}

/* REQUEST SENSE on lun must be answered by the filter: DATA PROTECT */
static void expect_write_protect_sense(VdiBotFilter *f, uint8_t lun,
                                       uint32_t tag)
{
    static const uint8_t want[18] = {
        0x70, 0, 0x07, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x27, 0x00, 0, 0, 0, 0
    };
    const uint8_t cdb[6] = { 0x03, 0, 0, 0, 18, 0 };
    uint8_t cbw[31], buf[512];
    size_t n;

    mk_cbw(cbw, tag, 18, true, lun, cdb, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 512, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpmem(buf, n, want, 18);
    expect_syn_csw(f, tag, 0, 0);
}

static void test_bot_read_passthrough(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 0x10, 0, 0, 8, 0 };
    const uint8_t tur[6] = { 0 };
    uint8_t cbw[31], data[512], ref[512], csw[13];
    const uint8_t *fwd;
    size_t fwd_len, n;
    VdiBotStats st;
    int i;

    mk_cbw(cbw, 0x1234, 4096, true, 0, cdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, &fwd, &fwd_len), ==, VDI_BOT_PASS);
    g_assert_cmpmem(fwd, fwd_len, cbw, 31);
    for (i = 0; i < 8; i++) {
        g_assert_cmpint(vdi_bot_filter_pending_in(f, data, 512, &n), ==,
                        VDI_BOT_IN_DEVICE);
        memset(data, 0xa5 ^ i, 512);
        memcpy(ref, data, 512);
        g_assert_cmpint(vdi_bot_filter_device_in(f, data, 512, 512, NULL),
                        ==, VDI_BOT_PASS);
        g_assert_cmpmem(data, 512, ref, 512);
    }
    /* an OUT packet now is a protocol error */
    g_assert_cmpint(vdi_bot_filter_pending_in(f, data, 512, &n), ==,
                    VDI_BOT_IN_DEVICE);
    mk_csw(csw, 0x1234, 0, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, NULL), ==,
                    VDI_BOT_PASS);
    /* idle again: the next CBW is accepted */
    g_assert_cmpint(vdi_bot_filter_pending_in(f, data, 512, &n), ==,
                    VDI_BOT_IN_WAIT);
    mk_cbw(cbw, 0x1235, 0, false, 0, tur, 6);
    g_assert_cmpint(out1(f, cbw, 31, &fwd, &fwd_len), ==, VDI_BOT_PASS);
    mk_csw(csw, 0x1235, 0, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, NULL), ==,
                    VDI_BOT_PASS);

    vdi_bot_filter_get_stats(f, &st);
    g_assert_cmpint(st.commands, ==, 2);
    g_assert_cmpint(st.passed, ==, 2);
    g_assert_cmpint(st.blocked, ==, 0);
    g_assert_cmpint(st.bytes_swallowed, ==, 0);
    g_assert_cmpint(st.protocol_errors, ==, 0);
    vdi_bot_filter_free(f);
}

static void test_bot_write_blocked(void)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(write_ops); i++) {
        VdiBotFilter *f = vdi_bot_filter_new();
        uint8_t cdb[16] = { write_ops[i].op, write_ops[i].sa };
        const uint8_t rs[6] = { 0x03, 0, 0, 0, 18, 0 };
        uint8_t cbw[31], data[512], buf[64];
        size_t n, k;
        uint32_t tag = 0xdead0000 + i;
        VdiBotStats st;

        g_test_message("%s (%02x)", write_ops[i].name, write_ops[i].op);
        g_assert_false(vdi_bot_cdb_allowed(cdb, 16));
        mk_cbw(cbw, tag, 1536, false, 0, cdb, 16);
        g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
        for (k = 0; k < 3; k++) {
            /* the guest does not get the CSW before the data went out */
            g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 64, &n), ==,
                            VDI_BOT_IN_WAIT);
            memset(data, 0x5a, sizeof(data));
            g_assert_cmpint(out1(f, data, 512, NULL, NULL), ==,
                            VDI_BOT_SWALLOW);
        }
        expect_syn_csw(f, tag, 1536, 1);
        expect_write_protect_sense(f, 0, tag + 1);
        /* the sense was consumed: the next REQUEST SENSE goes out */
        mk_cbw(cbw, tag + 2, 18, true, 0, rs, 6);
        g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);

        vdi_bot_filter_get_stats(f, &st);
        g_assert_cmpint(st.commands, ==, 3);
        g_assert_cmpint(st.blocked, ==, 1);
        g_assert_cmpint(st.passed, ==, 1);
        g_assert_cmpint(st.sense_answered, ==, 1);
        g_assert_cmpint(st.bytes_swallowed, ==, 1536);
        vdi_bot_filter_free(f);
    }
}

static void test_bot_blocked_no_data(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t fmt[6] = { 0x04, 0, 0, 0, 0, 0 };
    const uint8_t sync[10] = { 0x35, 0 };
    uint8_t cbw[31];

    mk_cbw(cbw, 7, 0, false, 0, fmt, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 7, 0, 1);
    expect_write_protect_sense(f, 0, 8);
    /* SYNCHRONIZE CACHE is harmless and passes */
    mk_cbw(cbw, 9, 0, false, 0, sync, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    vdi_bot_filter_free(f);
}

static void test_bot_blocked_in(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    /* ATA PASS-THROUGH(16) IDENTIFY DEVICE, data-in */
    const uint8_t ata[16] = { 0x85, 0x08, 0x0e, 0, 0, 0, 1, 0, 0, 0, 0,
                              0, 0, 0, 0xec, 0 };
    const uint8_t vendor[10] = { 0xc5, 1, 2, 3 };
    uint8_t cbw[31], buf[512];
    size_t n;

    mk_cbw(cbw, 1, 512, true, 0, ata, 16);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    /* data-in ends at once with a zero-length packet */
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 512, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 0);
    expect_syn_csw(f, 1, 512, 1);
    expect_write_protect_sense(f, 0, 2);

    mk_cbw(cbw, 3, 64, true, 0, vendor, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 64, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 0);
    expect_syn_csw(f, 3, 64, 1);
    vdi_bot_filter_free(f);
}

static void test_bot_allowlist(void)
{
    unsigned op;
    uint8_t cdb[16] = { 0 };

    for (op = 0; op < 256; op++) {
        bool expect = memchr(bot_allowlist, op, sizeof(bot_allowlist));

        cdb[0] = op;
        cdb[1] = 0;
        if (op == 0x9e) {
            expect = false;     /* needs service action 10h */
        }
        if (op >= 0xc0) {
            g_assert_false(expect);
        }
        if (vdi_bot_cdb_allowed(cdb, 16) != expect) {
            g_error("opcode %02x: allowed should be %d", op, expect);
        }
    }
    cdb[0] = 0x9e;
    cdb[1] = 0x10;
    g_assert_true(vdi_bot_cdb_allowed(cdb, 16));
    g_assert_false(vdi_bot_cdb_allowed(cdb, 1));
    cdb[1] = 0x12;
    g_assert_false(vdi_bot_cdb_allowed(cdb, 16));
    g_assert_false(vdi_bot_cdb_allowed(cdb, 0));
}

static void test_bot_vendor_unknown(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    uint8_t cdb[12] = { 0 };
    uint8_t cbw[31];
    unsigned op;
    uint32_t tag = 100;
    VdiBotStats st;

    /* every opcode off the allowlist is blocked in the stream, too */
    for (op = 0; op < 256; op++) {
        if (memchr(bot_allowlist, op, sizeof(bot_allowlist))) {
            continue;
        }
        cdb[0] = op;
        mk_cbw(cbw, tag, 0, false, 0, cdb, 12);
        g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
        expect_syn_csw(f, tag, 0, 1);
        tag++;
    }
    vdi_bot_filter_get_stats(f, &st);
    g_assert_cmpint(st.blocked, ==, 256 - sizeof(bot_allowlist));
    vdi_bot_filter_free(f);
}

static void mode_sense_case(uint8_t op, size_t wp_byte, size_t split)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    uint8_t cdb[10] = { op, 0, 0x3f, 0, 192 };
    uint8_t cbw[31], data[24], csw[13];
    size_t n;
    VdiBotStats st;

    mk_cbw(cbw, 5, 192, true, 0, cdb, op == 0x1a ? 6 : 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    memset(data, 0x11, sizeof(data));
    data[wp_byte] = 0x10;
    g_assert_cmpint(vdi_bot_filter_pending_in(f, data, 512, &n), ==,
                    VDI_BOT_IN_DEVICE);
    /* first part full, second part short: end of data phase */
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, split, split, NULL),
                    ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data + split,
                                             sizeof(data) - split, 512,
                                             NULL), ==, VDI_BOT_PASS);
    g_assert_cmphex(data[wp_byte], ==, 0x90);
    for (n = 0; n < sizeof(data); n++) {
        if (n != wp_byte) {
            g_assert_cmphex(data[n], ==, 0x11);
        }
    }
    mk_csw(csw, 5, 192 - 24, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, NULL), ==,
                    VDI_BOT_PASS);
    vdi_bot_filter_get_stats(f, &st);
    g_assert_cmpint(st.mode_sense_wp, ==, 1);
    vdi_bot_filter_free(f);
}

static void test_bot_mode_sense(void)
{
    mode_sense_case(0x1a, 2, 8);    /* in the first packet */
    mode_sense_case(0x1a, 2, 2);    /* first byte of the second */
    mode_sense_case(0x5a, 3, 3);
    mode_sense_case(0x5a, 3, 1);
    mode_sense_case(0x5a, 3, 16);
}

static void test_bot_split_cbw(void)
{
    const uint8_t cdb[10] = { 0x28 };
    const uint8_t wcdb[10] = { 0x2a };
    uint8_t cbw[31];
    size_t chunk;

    for (chunk = 1; chunk <= 31; chunk++) {
        VdiBotFilter *f = vdi_bot_filter_new();
        const uint8_t *fwd = NULL;
        size_t off, fwd_len = 0;

        mk_cbw(cbw, chunk, 0, true, 0, cdb, 10);
        for (off = 0; off < 31; off += chunk) {
            size_t n = MIN(chunk, 31 - off);
            VdiBotAction a = out1(f, cbw + off, n, &fwd, &fwd_len);

            g_assert_cmpint(a, ==, off + n < 31 ? VDI_BOT_SWALLOW :
                            VDI_BOT_PASS);
        }
        g_assert_cmpmem(fwd, fwd_len, cbw, 31);

        /* a split write CBW is still blocked */
        vdi_bot_filter_reset(f);
        mk_cbw(cbw, chunk, 0, false, 0, wcdb, 10);
        for (off = 0; off < 31; off += chunk) {
            size_t n = MIN(chunk, 31 - off);

            g_assert_cmpint(out1(f, cbw + off, n, &fwd, &fwd_len), ==,
                            VDI_BOT_SWALLOW);
            g_assert_null(fwd);
        }
        expect_syn_csw(f, chunk, 0, 1);
        vdi_bot_filter_free(f);
    }
}

static void test_bot_split_csw(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t wcdb[10] = { 0x2a };
    const uint8_t tur[6] = { 0 };
    uint8_t cbw[31], buf[16], want[13], csw[13];
    size_t n;

    /* synthetic CSW read in 8-byte packets */
    mk_cbw(cbw, 77, 0, false, 0, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    mk_csw(want, 77, 0, 1);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 8, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpmem(buf, n, want, 8);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 8, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpmem(buf, n, want + 8, 5);

    /* device CSW in 8 + 5 */
    mk_cbw(cbw, 78, 0, false, 0, tur, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    mk_csw(csw, 78, 0, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 8, 8, NULL), ==,
                    VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw + 8, 5, 8, NULL), ==,
                    VDI_BOT_PASS);
    g_assert_false(vdi_bot_filter_in_error(f));
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 8, &n), ==,
                    VDI_BOT_IN_WAIT);

    /* a CSW cut short by a short packet is an error */
    mk_cbw(cbw, 79, 0, false, 0, tur, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 8, 13, NULL), ==,
                    VDI_BOT_ERROR);
    vdi_bot_filter_free(f);
}

static void expect_cbw_error(const uint8_t *p, size_t n, const char *msg)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t *fwd;
    size_t fwd_len;
    g_autofree char *err = NULL;
    uint8_t buf[16];
    VdiBotStats st;

    g_assert_cmpint(vdi_bot_filter_host_out(f, p, n, &fwd, &fwd_len, &err),
                    ==, VDI_BOT_ERROR);
    g_assert_null(fwd);
    if (!err || !strstr(err, msg)) {
        g_error("error '%s' does not contain '%s'", err, msg);
    }
    g_assert_true(vdi_bot_filter_in_error(f));
    /* stays refused until reset */
    g_assert_cmpint(out1(f, p, n, NULL, NULL), ==, VDI_BOT_ERROR);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 16, &n), ==,
                    VDI_BOT_IN_STALL);
    g_assert_cmpint(vdi_bot_filter_device_in(f, buf, 0, 16, NULL), ==,
                    VDI_BOT_ERROR);
    vdi_bot_filter_get_stats(f, &st);
    g_assert_cmpint(st.protocol_errors, ==, 1);
    g_assert_cmpint(st.passed, ==, 0);
    vdi_bot_filter_reset(f);
    g_assert_false(vdi_bot_filter_in_error(f));
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 16, &n), ==,
                    VDI_BOT_IN_WAIT);
    vdi_bot_filter_free(f);
}

static void test_bot_invalid_cbw(void)
{
    const uint8_t cdb[10] = { 0x28 };
    uint8_t cbw[40], bad[40];

    mk_cbw(cbw, 1, 512, true, 0, cdb, 10);
    memcpy(bad, cbw, 31);
    bad[3] = 'D';
    expect_cbw_error(bad, 31, "bad CBW signature 0x44425355");
    memcpy(bad, cbw, 31);
    bad[14] = 0;
    expect_cbw_error(bad, 31, "bad CBW command block length 0");
    bad[14] = 17;
    expect_cbw_error(bad, 31, "bad CBW command block length 17");
    bad[14] = 0x2a;
    expect_cbw_error(bad, 31, "bad CBW command block length 42");
    memcpy(bad, cbw, 31);
    bad[12] = 0x81;
    expect_cbw_error(bad, 31, "reserved bits set in CBW flags 0x81");
    memcpy(bad, cbw, 31);
    bad[13] = 0x10;
    expect_cbw_error(bad, 31, "reserved bits set in CBW LUN 0x10");
    memcpy(bad, cbw, 31);
    bad[31] = 0;
    expect_cbw_error(bad, 32, "CBW longer than 31 bytes");
    expect_cbw_error(bad, 0, "zero-length packet");

    /* 30 bytes then 2: the second packet overruns the CBW */
    {
        VdiBotFilter *f = vdi_bot_filter_new();

        g_assert_cmpint(out1(f, cbw, 30, NULL, NULL), ==, VDI_BOT_SWALLOW);
        g_assert_cmpint(out1(f, cbw, 2, NULL, NULL), ==, VDI_BOT_ERROR);
        vdi_bot_filter_free(f);
    }
}

static void test_bot_lun(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t wcdb[10] = { 0x2a };
    const uint8_t rs[6] = { 0x03, 0, 0, 0, 18, 0 };
    const uint8_t tur[6] = { 0 };
    uint8_t cbw[31], csw[13], sense[18] = { 0x70, 0, 0x06 };

    /* write on LUN 1 */
    mk_cbw(cbw, 1, 0, false, 1, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 1, 0, 1);

    /* REQUEST SENSE on LUN 0 is the device's business */
    mk_cbw(cbw, 2, 18, true, 0, rs, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, sense, 18, 18, NULL), ==,
                    VDI_BOT_PASS);
    g_assert_cmphex(sense[2], ==, 0x06);
    mk_csw(csw, 2, 0, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, NULL), ==,
                    VDI_BOT_PASS);

    /* LUN 1 gets DATA PROTECT */
    expect_write_protect_sense(f, 1, 3);

    /* another command on LUN 2 in between discards that LUN's sense */
    mk_cbw(cbw, 4, 0, false, 2, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 4, 0, 1);
    mk_cbw(cbw, 5, 0, false, 2, tur, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    mk_csw(csw, 5, 0, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, NULL), ==,
                    VDI_BOT_PASS);
    mk_cbw(cbw, 6, 18, true, 2, rs, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);

    /* LUN 15 is valid */
    vdi_bot_filter_reset(f);
    mk_cbw(cbw, 7, 0, false, 15, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 7, 0, 1);
    expect_write_protect_sense(f, 15, 8);
    vdi_bot_filter_free(f);
}

static void test_bot_data_not_cbw(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t wcdb[10] = { 0x2a };
    const uint8_t rcdb[10] = { 0x28 };
    uint8_t cbw[31], data[93];
    const uint8_t *fwd;
    size_t fwd_len, off;
    VdiBotStats st;

    /* data-out made of valid READ CBWs, sent in odd-sized pieces */
    mk_cbw(cbw, 1, sizeof(data), false, 0, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    for (off = 0; off < sizeof(data); off += 31) {
        mk_cbw(data + off, 50 + off, 0, true, 0, rcdb, 10);
    }
    for (off = 0; off < sizeof(data); off += 7) {
        size_t n = MIN(7, sizeof(data) - off);

        g_assert_cmpint(out1(f, data + off, n, &fwd, &fwd_len), ==,
                        VDI_BOT_SWALLOW);
        g_assert_null(fwd);
    }
    expect_syn_csw(f, 1, sizeof(data), 1);
    vdi_bot_filter_get_stats(f, &st);
    g_assert_cmpint(st.commands, ==, 1);
    g_assert_cmpint(st.passed, ==, 0);
    g_assert_cmpint(st.bytes_swallowed, ==, 93);

    /* a data-out packet running past dCBWDataTransferLength */
    mk_cbw(cbw, 2, 100, false, 0, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(out1(f, data, 70, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(out1(f, data, 31, NULL, NULL), ==, VDI_BOT_ERROR);
    vdi_bot_filter_free(f);
}

static void test_bot_out_direction(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t rcdb[10] = { 0x28 };
    const uint8_t vcdb[10] = { 0x2f, 0x02 };    /* VERIFY, BYTCHK=1 */
    uint8_t cbw[31], data[512];

    /* an allowed opcode with host-to-device data is blocked */
    mk_cbw(cbw, 1, 512, false, 0, rcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(out1(f, data, 512, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 1, 512, 1);
    mk_cbw(cbw, 2, 512, false, 0, vcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(out1(f, data, 512, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 2, 512, 1);
    expect_write_protect_sense(f, 0, 3);
    vdi_bot_filter_free(f);
}

static void test_bot_device_errors(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t rcdb[10] = { 0x28 };
    uint8_t cbw[31], data[64], csw[13];
    g_autofree char *err = NULL;

    /* IN data while idle */
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 13, 13, &err), ==,
                    VDI_BOT_ERROR);
    g_assert_cmpstr(err, ==, "unexpected bulk IN data from the device "
                    "during the command phase");
    vdi_bot_filter_reset(f);

    /* more data than the command asked for */
    mk_cbw(cbw, 1, 32, true, 0, rcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 64, 64, NULL), ==,
                    VDI_BOT_ERROR);
    vdi_bot_filter_reset(f);

    /* more than requested */
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 16, 8, NULL), ==,
                    VDI_BOT_ERROR);
    vdi_bot_filter_reset(f);

    /* OUT during data-in */
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_host_out(f, cbw, 31,
                                            &(const uint8_t *){ NULL },
                                            &(size_t){ 0 }, &err), ==,
                    VDI_BOT_ERROR);
    g_assert_cmpstr(err, ==, "bulk OUT packet during the data-in phase");
    vdi_bot_filter_reset(f);

    /* bad CSWs */
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 32, 32, NULL), ==,
                    VDI_BOT_PASS);
    mk_csw(csw, 2, 0, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, &err), ==,
                    VDI_BOT_ERROR);
    g_assert_cmpstr(err, ==, "device CSW tag 0x00000002 does not match CBW "
                    "tag 0x00000001");
    vdi_bot_filter_reset(f);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    vdi_bot_filter_device_in_stalled(f);    /* data phase stalled */
    mk_csw(csw, 1, 32, 3);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, &err), ==,
                    VDI_BOT_ERROR);
    g_assert_cmpstr(err, ==, "bad CSW status 3 from the device");
    vdi_bot_filter_reset(f);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    vdi_bot_filter_device_in_stalled(f);
    mk_csw(csw, 1, 32, 1);
    csw[0] = 'X';
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, &err), ==,
                    VDI_BOT_ERROR);
    g_assert_cmpstr(err, ==, "bad CSW signature 0x53425358 from the device");
    vdi_bot_filter_reset(f);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    vdi_bot_filter_device_in_stalled(f);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 20, 64, NULL), ==,
                    VDI_BOT_ERROR);
    vdi_bot_filter_free(f);
}

static void test_bot_short_data(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t inq[6] = { 0x12, 0, 0, 0, 0xff, 0 };
    uint8_t cbw[31], data[512], csw[13];
    size_t n;

    /* INQUIRY for 255 bytes, device answers 36: short packet */
    mk_cbw(cbw, 1, 255, true, 0, inq, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 36, 255, NULL), ==,
                    VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, data, 512, &n), ==,
                    VDI_BOT_IN_DEVICE);
    mk_csw(csw, 1, 255 - 36, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 512, NULL), ==,
                    VDI_BOT_PASS);

    /* device stalls the data phase, host clears it and reads the CSW */
    mk_cbw(cbw, 2, 255, true, 0, inq, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    vdi_bot_filter_device_in_stalled(f);
    /* a zero-length CSW read is retried by hosts */
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 0, 13, NULL), ==,
                    VDI_BOT_PASS);
    mk_csw(csw, 2, 255, 1);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, NULL), ==,
                    VDI_BOT_PASS);
    g_assert_false(vdi_bot_filter_in_error(f));

    /* zero-length packet ends a data phase */
    mk_cbw(cbw, 3, 4096, true, 0, inq, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 512, 512, NULL), ==,
                    VDI_BOT_PASS);
    g_assert_cmpint(vdi_bot_filter_device_in(f, data, 0, 512, NULL), ==,
                    VDI_BOT_PASS);
    mk_csw(csw, 3, 4096 - 512, 0);
    g_assert_cmpint(vdi_bot_filter_device_in(f, csw, 13, 13, NULL), ==,
                    VDI_BOT_PASS);
    g_assert_false(vdi_bot_filter_in_error(f));
    vdi_bot_filter_free(f);
}

static void test_bot_sense_alloc(void)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    const uint8_t wcdb[10] = { 0x2a };
    uint8_t rs[6] = { 0x03, 0, 0, 0, 8, 0 };
    uint8_t cbw[31], buf[64];
    size_t n;

    /* allocation length 8 truncates the sense data */
    mk_cbw(cbw, 1, 0, false, 0, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 1, 0, 1);
    mk_cbw(cbw, 2, 18, true, 0, rs, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 64, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 8);
    g_assert_cmphex(buf[0], ==, 0x70);
    g_assert_cmphex(buf[2], ==, 0x07);
    expect_syn_csw(f, 2, 10, 0);

    /* transfer of 252 read in 18-byte packets: a ZLP ends the data */
    mk_cbw(cbw, 3, 0, false, 0, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 3, 0, 1);
    rs[4] = 252;
    mk_cbw(cbw, 4, 252, true, 0, rs, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 18, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 18);
    g_assert_cmphex(buf[12], ==, 0x27);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 18, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 0);
    expect_syn_csw(f, 4, 234, 0);

    /* read in 8-byte packets */
    mk_cbw(cbw, 5, 0, false, 0, wcdb, 10);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    expect_syn_csw(f, 5, 0, 1);
    rs[4] = 18;
    mk_cbw(cbw, 6, 18, true, 0, rs, 6);
    g_assert_cmpint(out1(f, cbw, 31, NULL, NULL), ==, VDI_BOT_SWALLOW);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 8, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 8);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 8, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 8);
    g_assert_cmphex(buf[4], ==, 0x27);
    g_assert_cmpint(vdi_bot_filter_pending_in(f, buf, 8, &n), ==,
                    VDI_BOT_IN_SYNTH);
    g_assert_cmpint(n, ==, 2);
    expect_syn_csw(f, 6, 0, 0);
    vdi_bot_filter_free(f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/vdi-usb/bot/read-passthrough",
                    test_bot_read_passthrough);
    g_test_add_func("/vdi-usb/bot/write-blocked", test_bot_write_blocked);
    g_test_add_func("/vdi-usb/bot/blocked-no-data", test_bot_blocked_no_data);
    g_test_add_func("/vdi-usb/bot/blocked-in", test_bot_blocked_in);
    g_test_add_func("/vdi-usb/bot/allowlist", test_bot_allowlist);
    g_test_add_func("/vdi-usb/bot/vendor-unknown", test_bot_vendor_unknown);
    g_test_add_func("/vdi-usb/bot/mode-sense", test_bot_mode_sense);
    g_test_add_func("/vdi-usb/bot/split-cbw", test_bot_split_cbw);
    g_test_add_func("/vdi-usb/bot/split-csw", test_bot_split_csw);
    g_test_add_func("/vdi-usb/bot/invalid-cbw", test_bot_invalid_cbw);
    g_test_add_func("/vdi-usb/bot/lun", test_bot_lun);
    g_test_add_func("/vdi-usb/bot/data-not-cbw", test_bot_data_not_cbw);
    g_test_add_func("/vdi-usb/bot/out-direction", test_bot_out_direction);
    g_test_add_func("/vdi-usb/bot/device-errors", test_bot_device_errors);
    g_test_add_func("/vdi-usb/bot/short-data", test_bot_short_data);
    g_test_add_func("/vdi-usb/bot/sense-alloc", test_bot_sense_alloc);

    return g_test_run();
}
