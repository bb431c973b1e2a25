/*
 * libFuzzer target for the VDI USB policy engine and BOT read-only filter
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The first input byte picks what the rest is fed to:
 *   0: a device descriptor (18 bytes) then a configuration blob, parsed
 *      and evaluated against a set of fixed policies;
 *   1: the bytes of a rule (VdiUsbRule), added to a policy and evaluated
 *      on a composite device;
 *   2: a script of bulk OUT packets, IN requests, device IN completions,
 *      stalls and resets driven through a BOT filter.
 * Besides the sanitizers, the properties the cores promise are checked
 * with abort(): forwarded OUT bytes are always one valid, allowlisted,
 * non-data-out CBW; a non-denied verdict gives a guest view that parses
 * and has no refused alternate setting; a refused rule says why.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined with the cores.
 */

#include "qemu/osdep.h"
#include "hw/usb/vdi-usb-verdict.h"
#include "hw/usb/vdi-bot-filter.h"
#include "tests/qtest/vdi-usb-test.h"

static VdiUsbPolicy *policies[USB_TEST_N_POLICIES];

static void check(bool cond)
{
    if (!cond) {
        abort();
    }
}

static void init_policies(void)
{
    if (policies[0]) {
        return;
    }
    usb_test_policies(policies);
}

static void check_verdict(const VdiUsbConfig *cfg, const VdiUsbVerdict *v,
                          const uint8_t *blob, size_t len)
{
    g_autofree VdiUsbConfig *fcfg = g_new0(VdiUsbConfig, 1);
    g_autofree uint8_t *out = NULL;
    size_t out_len, i, j;
    unsigned ep;

    check(memchr(v->reason, 0, sizeof(v->reason)) != NULL);
    check(v->n_ifaces == cfg->n_interfaces);
    for (ep = 0; ep < 256; ep++) {
        int k = vdi_usb_verdict_endpoint_iface(v, cfg, ep);

        check(k >= -1 && k < (int)v->n_ifaces);
        if (k >= 0) {
            check(v->action != VDI_USB_ACTION_DENY);
            check(v->ifaces[k].decision != VDI_USB_IFACE_HIDDEN);
        }
    }
    if (v->action == VDI_USB_ACTION_DENY) {
        check(!vdi_usb_filter_config_desc(blob, len, v, &out, &out_len,
                                          NULL));
        return;
    }
    for (i = 0; i < v->n_ifaces; i++) {
        if (v->ifaces[i].decision == VDI_USB_IFACE_READ_ONLY) {
            check(v->action == VDI_USB_ACTION_READ_ONLY);
            check(v->ifaces[i].bot_ep_in & 0x80);
            check(!(v->ifaces[i].bot_ep_out & 0x80));
            check(v->ifaces[i].bot_ep_out != 0);
        }
    }
    check(vdi_usb_filter_config_desc(blob, len, v, &out, &out_len, NULL));
    check(vdi_usb_parse_config_desc(out, out_len, fcfg, NULL));
    /* every alternate setting the guest sees was usable */
    for (i = 0; i < fcfg->n_alts; i++) {
        check(vdi_usb_verdict_alt_usable(v, fcfg->alts[i].number,
                                         fcfg->alts[i].alt));
        for (j = 0; j < fcfg->alts[i].n_endpoints; j++) {
            check(vdi_usb_verdict_endpoint_iface(v, cfg,
                      fcfg->alts[i].endpoints[j].address) >= 0);
        }
    }
}

static void fuzz_descriptors(const uint8_t *data, size_t size)
{
    static const uint8_t default_dev[18] = {
        18, 1, 0, 2, 0, 0, 0, 64, 0x81, 0x07, 0x67, 0x55, 0, 1, 1, 2, 3, 1
    };
    g_autofree VdiUsbConfig *cfg = g_new0(VdiUsbConfig, 1);
    VdiUsbDeviceDesc dev;
    VdiUsbVerdict v;
    char *err = NULL;
    size_t i;

    init_policies();
    if (size >= 18 && vdi_usb_parse_device_desc(data, 18, &dev, &err)) {
        data += 18;
        size -= 18;
    } else {
        g_free(err);
        err = NULL;
        check(vdi_usb_parse_device_desc(default_dev, 18, &dev, NULL));
    }
    if (!vdi_usb_parse_config_desc(data, size, cfg, &err)) {
        check(err != NULL);
        g_free(err);
        return;
    }
    check(err == NULL);
    check(cfg->n_alts > 0 && cfg->n_alts <= VDI_USB_MAX_ALTS);
    for (i = 0; i < G_N_ELEMENTS(policies); i++) {
        vdi_usb_policy_evaluate(policies[i], &dev, cfg,
                                (i & 1) ? "ABC" : NULL, &v);
        check_verdict(cfg, &v, data, size);
    }
}

/*
 * A rule as usb-policy-set hands it to the policy, with any bytes: it is
 * refused with a reason or taken, and then decides like any other rule
 */
static void fuzz_rule(const uint8_t *data, size_t size)
{
    VdiUsbPolicy *p = vdi_usb_policy_new(VDI_USB_ACTION_DENY);
    VdiUsbDeviceDesc dev = {
        .bcd_usb = 0x0200, .max_packet_size0 = 64, .vid = 0x0781,
        .pid = 0x5567, .bcd_device = 0x0100, .num_configurations = 1,
    };
    g_autofree VdiUsbConfig *cfg = g_new0(VdiUsbConfig, 1);
    VdiUsbVerdict v;
    VdiUsbRule r;
    char *err = NULL;
    uint8_t hide;

    memset(&r, 0, sizeof(r));
    memcpy(&r, data, MIN(size, sizeof(r)));
    /* a bool holds 0 or 1 in any rule C code can build */
    memcpy(&hide, &r.hide, 1);
    r.hide = hide & 1;
    if (!vdi_usb_policy_add_rule(p, &r, &err)) {
        check(err != NULL);
        g_free(err);
        vdi_usb_policy_free(p);
        return;
    }
    check(err == NULL);
    check(vdi_usb_parse_config_desc(usb_test_composite_config,
                                    sizeof(usb_test_composite_config), cfg,
                                    NULL));
    vdi_usb_policy_evaluate(p, &dev, cfg, "ABC123", &v);
    check_verdict(cfg, &v, usb_test_composite_config,
                  sizeof(usb_test_composite_config));
    vdi_usb_policy_free(p);
}

/* The only bytes a device may receive: a valid, allowlisted CBW */
static void check_forwarded(const uint8_t *fwd, size_t len)
{
    uint32_t xfer;

    check(fwd != NULL && len == VDI_BOT_CBW_LEN);
    check(fwd[0] == 'U' && fwd[1] == 'S' && fwd[2] == 'B' && fwd[3] == 'C');
    check(fwd[14] >= 1 && fwd[14] <= 16);
    check(vdi_bot_cdb_allowed(fwd + 15, fwd[14]));
    xfer = fwd[8] | (fwd[9] << 8) | (fwd[10] << 16) |
        ((uint32_t)fwd[11] << 24);
    check(xfer == 0 || (fwd[12] & 0x80));
}

static void fuzz_bot(const uint8_t *data, size_t size)
{
    VdiBotFilter *f = vdi_bot_filter_new();
    uint8_t pkt[512], in[512];
    size_t pos = 0;
    VdiBotStats st;

    while (pos < size) {
        uint8_t op = data[pos++];
        size_t len = 0, req;
        const uint8_t *fwd;
        size_t fwd_len, got;
        char *err = NULL;
        VdiBotAction a;

        if (pos < size) {
            len = data[pos++];
            if (op & 0x80) {
                len *= 2;
            }
        }
        len = MIN(len, size - pos);
        switch (op & 7) {
        case 0:     /* raw OUT packet */
        case 1:
            memcpy(pkt, data + pos, len);
            pos += len;
            a = vdi_bot_filter_host_out(f, pkt, len, &fwd, &fwd_len, &err);
            if (a == VDI_BOT_PASS) {
                check_forwarded(fwd, fwd_len);
            } else {
                check(fwd == NULL && fwd_len == 0);
            }
            check((a == VDI_BOT_ERROR) == (err != NULL));
            break;
        case 2: {   /* well-formed CBW with fuzzed fields */
            uint8_t cbw[VDI_BOT_CBW_LEN] = { 'U', 'S', 'B', 'C' };
            size_t n = MIN(len, VDI_BOT_CBW_LEN - 4);

            memcpy(cbw + 4, data + pos, n);
            pos += n;
            cbw[12] &= 0x80;
            cbw[13] &= 0x0f;
            cbw[14] = (cbw[14] & 0x0f) + 1;
            cbw[10] = cbw[11] = 0;
            a = vdi_bot_filter_host_out(f, cbw, sizeof(cbw), &fwd, &fwd_len,
                                        &err);
            if (a == VDI_BOT_PASS) {
                check_forwarded(fwd, fwd_len);
            }
            break;
        }
        case 3:     /* IN request */
            req = MIN(len, sizeof(in));
            switch (vdi_bot_filter_pending_in(f, in, req, &got)) {
            case VDI_BOT_IN_SYNTH:
                check(got <= req);
                break;
            default:
                check(got == 0);
                break;
            }
            break;
        case 4:     /* device IN completion */
        case 5:
            if (op & 0x40) {
                req = len / 2;      /* more than asked for */
            } else {
                req = (op & 8) ? len : len + ((op >> 4) & 3) * 64;
            }
            memcpy(in, data + pos, len);
            pos += len;
            vdi_bot_filter_device_in(f, in, len, req, &err);
            break;
        case 6:
            vdi_bot_filter_device_in_stalled(f);
            break;
        case 7:
            if (op & 0x40) {
                vdi_bot_filter_reset(f);
            }
            break;
        }
        g_free(err);
    }
    vdi_bot_filter_get_stats(f, &st);
    check(st.passed + st.blocked + st.sense_answered == st.commands);
    vdi_bot_filter_free(f);
}

/* libFuzzer's entry point; it has no header to declare it */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    switch (data[0] % 3) {
    case 0:
        fuzz_descriptors(data + 1, size - 1);
        break;
    case 1:
        fuzz_rule(data + 1, size - 1);
        break;
    default:
        fuzz_bot(data + 1, size - 1);
        break;
    }
    return 0;
}
#pragma GCC diagnostic pop
