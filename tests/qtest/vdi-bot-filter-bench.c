/*
 * The cost of the read-only Bulk-Only filter on a mass storage read
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Replays, on the filter core and the policy helpers, what usb-redir does
 * per packet for a read-only stick while a guest reads with READ(10) of
 * 120 KiB (Linux usb-storage's largest): per command a CBW on bulk OUT
 * (endpoint checks, vdi_bot_filter_host_out, the copy of the CBW), the
 * data on bulk IN (endpoint checks, vdi_bot_filter_pending_in, then
 * vdi_bot_filter_device_in on the completion) and the CSW likewise.  The
 * baseline, measured in the same run, is one memcpy of the same payload:
 * less than any usb-redir read costs without the filter (the payload is
 * copied at least from the parser's buffer into guest memory).  Under
 * valgrind --tool=callgrind the instruction counts of the two loops give
 * the same comparison without timing noise.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hw/usb/vdi-usb-verdict.h"
#include "hw/usb/vdi-bot-filter.h"
#include "vdi-usb-test.h"

#define XFER        (240 * 512)
#define MIB         64

static const uint8_t storage_config[] = {
    9, 2, 32, 0, 1, 1, 0, 0x80, 100,
    9, 4, 0, 0, 2, 8, 6, 0x50, 0,
    7, 5, 0x81, 2, 0x00, 0x02, 0,
    7, 5, 0x02, 2, 0x00, 0x02, 0,
};

static VdiUsbConfig cfg;
static VdiUsbVerdict verdict;
static uint8_t *payload, *guest;
/* results go here, so that the compiler keeps the work being timed */
static volatile int sink;

static void setup(void)
{
    VdiUsbPolicy *p = USB_POLICY(DENY,
                                 USB_RULE(READ_ONLY, "sticks",
                                          VDI_USB_MATCH_IFACE_CLASS,
                                          .iface_class = 0x08));
    VdiUsbDeviceDesc dev = { .bcd_usb = 0x200, .vid = 0x46f4,
                             .pid = 0x5ba0, .num_configurations = 1 };
    char *err = NULL;

    if (!vdi_usb_parse_config_desc(storage_config, sizeof(storage_config),
                                   &cfg, &err)) {
        fprintf(stderr, "vdi-bot-filter-bench: %s\n", err);
        exit(1);
    }
    vdi_usb_policy_evaluate(p, &dev, &cfg, NULL, &verdict);
    if (verdict.action != VDI_USB_ACTION_READ_ONLY) {
        fprintf(stderr, "vdi-bot-filter-bench: not read-only: %s\n",
                verdict.reason);
        exit(1);
    }
    vdi_usb_policy_free(p);
    payload = g_malloc(XFER);
    guest = g_malloc(XFER);
    memset(payload, 0xa5, XFER);
}

/* What usb-redir asks the guard per packet: endpoint allowed, filter */
static void guard_lookups(uint8_t ep, int n)
{
    while (n--) {
        sink += vdi_usb_verdict_endpoint_iface(&verdict, &cfg, ep);
    }
}

static void make_cbw(uint8_t *cbw, uint32_t tag, uint32_t lba)
{
    memset(cbw, 0, VDI_BOT_CBW_LEN);
    stl_le_p(cbw, VDI_BOT_CBW_SIGNATURE);
    stl_le_p(cbw + 4, tag);
    stl_le_p(cbw + 8, XFER);
    cbw[12] = 0x80;
    cbw[14] = 10;
    cbw[15] = 0x28;
    stl_be_p(cbw + 17, lba);
    stw_be_p(cbw + 22, XFER / 512);
}

/* The filter's work for one READ(10) */
static void filtered_command(VdiBotFilter *f, uint32_t tag)
{
    uint8_t cbw[VDI_BOT_CBW_LEN], csw[VDI_BOT_CSW_LEN], in[64];
    const uint8_t *fwd;
    size_t fwd_len, len;
    g_autofree char *err = NULL;
    uint8_t *copy;

    make_cbw(cbw, tag, tag * (XFER / 512));
    /* bulk OUT: the CBW */
    guard_lookups(0x02, 3);
    if (vdi_bot_filter_host_out(f, cbw, sizeof(cbw), &fwd, &fwd_len,
                                &err) != VDI_BOT_PASS) {
        abort();
    }
    copy = g_memdup2(fwd, fwd_len);
    sink += copy[0];
    g_free(copy);
    /* bulk IN: the data, then the CSW */
    guard_lookups(0x81, 3);
    if (vdi_bot_filter_pending_in(f, in, sizeof(in), &len) !=
        VDI_BOT_IN_DEVICE ||
        vdi_bot_filter_device_in(f, payload, XFER, XFER, &err) !=
        VDI_BOT_PASS) {
        abort();
    }
    stl_le_p(csw, VDI_BOT_CSW_SIGNATURE);
    stl_le_p(csw + 4, tag);
    stl_le_p(csw + 8, 0);
    csw[12] = 0;
    guard_lookups(0x81, 3);
    if (vdi_bot_filter_pending_in(f, in, sizeof(in), &len) !=
        VDI_BOT_IN_DEVICE ||
        vdi_bot_filter_device_in(f, csw, sizeof(csw), sizeof(in), &err) !=
        VDI_BOT_PASS) {
        abort();
    }
}

static double now(void)
{
    return g_get_monotonic_time() / 1e6;
}

int main(int argc, char **argv)
{
    unsigned n = (unsigned)((uint64_t)MIB * 1048576 / XFER);
    unsigned reps = argc > 1 ? atoi(argv[1]) : 20;
    double t_filter = 1e9, t_copy = 1e9;
    VdiBotFilter *f;
    VdiBotStats st;
    unsigned r, i;

    setup();
    f = vdi_bot_filter_new();
    for (r = 0; r < reps; r++) {
        double t0 = now(), t1, t2;

        for (i = 0; i < n; i++) {
            filtered_command(f, r * n + i);
        }
        t1 = now();
        for (i = 0; i < n; i++) {
            memcpy(guest, payload, XFER);
            sink += guest[i % XFER];
        }
        t2 = now();
        t_filter = MIN(t_filter, t1 - t0);
        t_copy = MIN(t_copy, t2 - t1);
    }
    vdi_bot_filter_get_stats(f, &st);
    if (st.passed != (uint64_t)reps * n || st.protocol_errors) {
        fprintf(stderr, "vdi-bot-filter-bench: filter state went wrong\n");
        return 1;
    }
    printf("read-only filter on a %u MiB read (%u READ(10) of %u KiB), "
           "best of %u\n", MIB, n, XFER / 1024, reps);
    printf("  filter + guard lookups: %8.1f us per MiB\n",
           t_filter * 1e6 / MIB);
    printf("  one memcpy of the data: %8.1f us per MiB (baseline)\n",
           t_copy * 1e6 / MIB);
    printf("  ratio filter / copy:    %8.2f%%\n", 100 * t_filter / t_copy);
    vdi_bot_filter_free(f);
    return 0;
}
