/*
 * libFuzzer target for the usbredir peer stream as the USB policy sees it
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is what a usbredir peer (a terminal) sends to QEMU.  It is
 * parsed by libusbredirparser on the usb-guest side, as usb-redir does,
 * and every packet goes to the guard core (vdi-usb-guard-core.c), the
 * policy engine and the Bulk-Only filter, the decision code usb-redir
 * and usb-host use:
 *
 *  - device_connect starts the descriptor fetch, and control packets with
 *    the guard's private ids answer it; other control packets are checked
 *    as the guest's requests would be;
 *  - interface_info, ep_info and alt_setting_status ask which interfaces,
 *    alternate settings and endpoints the guest may use;
 *  - bulk packets on the IN endpoint of a read-only interface go through
 *    its BOT filter: as the device's answers when the filter says it is
 *    the device's turn, else as the guest's next bulk OUT packet (a peer
 *    cannot send OUT data), so that both directions are exercised;
 *  - configuration_status switches to another policy and evaluates the
 *    device again; device_disconnect ends it.
 *
 * Input: byte 0 = the peer's capability bits, byte 1 = the policy,
 * byte 2 = a canned prefix (0: only the peer's hello; 1-5: the hello, a
 * device and the answers to the descriptor fetch, as a well-behaved peer
 * would send them; 7-11: the hello and a device, the input answers),
 * then the stream.  With VDI_USBREDIR_FUZZ_SEEDS=dir in
 * the environment, seed inputs (BOT traffic of each canned device) are
 * written to dir first.
 *
 * Besides the sanitizers, abort() checks: OUT bytes the filter forwards
 * are one whole, allowlisted CBW; a verdict in force gives a guest view
 * that parses; a refused device enforces nothing.
 */

#include "qemu/osdep.h"
#include <usbredirparser.h>
#include "qemu/bswap.h"
#include "hw/usb/vdi-usb-guard-core.h"
#include "tests/qtest/vdi-usb-test.h"

#define DT_STRING 3     /* string descriptor type */

static VdiUsbPolicy *policies[USB_TEST_N_POLICIES];

static void check(bool cond)
{
    if (!cond) {
        abort();
    }
}

/* Canned devices: device descriptor, configuration, serial */

typedef struct Canned {
    uint8_t speed;
    uint8_t dev[18];
    const uint8_t *config;
    size_t config_len;
    const char *serial;
} Canned;

static const uint8_t bot_config[] = {
    9, 2, 32, 0, 1, 1, 0, 0x80, 100,
    9, 4, 0, 0, 2, 8, 6, 0x50, 0,
    7, 5, 0x81, 2, 0x00, 0x02, 0,
    7, 5, 0x02, 2, 0x00, 0x02, 0,
};

static const Canned canned[] = {
    { 0 },
    { usb_redir_speed_full, USB_TEST_DEV_DESC(0x046d, 0xc31c, 64, 0),
      usb_test_keyboard_config, sizeof(usb_test_keyboard_config), NULL },
    { usb_redir_speed_high, USB_TEST_DEV_DESC(0x0781, 0x5567, 64, 3),
      bot_config, sizeof(bot_config), "ST-1" },
    { usb_redir_speed_high, USB_TEST_DEV_DESC(0x0781, 0x5599, 64, 3),
      usb_test_composite_config, sizeof(usb_test_composite_config), "COMBO" },
    { usb_redir_speed_high, USB_TEST_DEV_DESC(0x04b8, 0x0005, 64, 0),
      usb_test_printer_config, sizeof(usb_test_printer_config), NULL },
    { usb_redir_speed_super, USB_TEST_DEV_DESC(0x0781, 0x0150, 64, 0),
      bot_config, sizeof(bot_config), NULL },
};

/* One run */

typedef struct Fuzz {
    struct usbredirparser *parser;
    const uint8_t *in;
    size_t in_len;
    VdiUsbGuardCore c;
    unsigned policy;
} Fuzz;

static Fuzz fz;

static int fz_read(void *priv, uint8_t *data, int count)
{
    size_t n = MIN((size_t)count, fz.in_len);

    memcpy(data, fz.in, n);
    fz.in += n;
    fz.in_len -= n;
    return n;
}

static int fz_write(void *priv, uint8_t *data, int count)
{
    return count;   /* what QEMU would send to the peer */
}

static void fz_log(void *priv, int level, const char *msg)
{
}

/* The invariants of a verdict in force */
static void check_guard(void)
{
    const uint8_t *cfg;
    size_t len;
    VdiUsbConfig *parsed;

    if (!vdi_usb_guard_core_enforcing(&fz.c)) {
        check(!vdi_usb_guard_core_bot_filter(&fz.c, 0x81));
        check(vdi_usb_guard_core_endpoint_allowed(&fz.c, 0x81));
        return;
    }
    check(vdi_usb_guard_core_verdict(&fz.c)->action != VDI_USB_ACTION_DENY);
    cfg = vdi_usb_guard_core_config_desc(&fz.c, &len);
    if (cfg) {
        parsed = g_new0(VdiUsbConfig, 1);
        check(vdi_usb_parse_config_desc(cfg, len, parsed, NULL));
        g_free(parsed);
    }
}

static void fz_device_connect(void *priv,
                              struct usb_redir_device_connect_header *h)
{
    VdiUsbGuardRequest req;

    vdi_usb_guard_core_connect(&fz.c, &req);
    check(vdi_usb_guard_owns_id(req.id));
}

static void fz_device_disconnect(void *priv)
{
    vdi_usb_guard_core_disconnected(&fz.c);
    check(!vdi_usb_guard_core_enforcing(&fz.c));
}

static void fz_interface_info(void *priv,
                              struct usb_redir_interface_info_header *h)
{
    uint32_t i;

    for (i = 0; i < MIN(h->interface_count, 32); i++) {
        vdi_usb_guard_core_control_allowed(&fz.c, 0x010b, 0, h->interface[i]);
        vdi_usb_guard_core_control_allowed(&fz.c, 0x8100, 0, h->interface[i]);
    }
}

static void fz_ep_info(void *priv, struct usb_redir_ep_info_header *h)
{
    int i;

    for (i = 0; i < 32; i++) {
        uint8_t ep = ((i & 0x10) << 3) | (i & 0x0f);

        if (h->type[i] == usb_redir_type_invalid) {
            continue;
        }
        vdi_usb_guard_core_endpoint_allowed(&fz.c, ep);
        vdi_usb_guard_core_bot_filter(&fz.c, ep);
        vdi_usb_guard_core_control_allowed(&fz.c, 0x0201, 0, ep);
    }
}

static void fz_configuration_status(void *priv, uint64_t id,
    struct usb_redir_configuration_status_header *h)
{
    VdiUsbGuardChange ch;
    bool was = vdi_usb_guard_core_enforcing(&fz.c);

    fz.policy = (fz.policy + 1 + h->configuration) % G_N_ELEMENTS(policies);
    ch = vdi_usb_guard_core_reevaluate(&fz.c, policies[fz.policy]);
    if (ch == VDI_USB_GUARD_NOW_DENIED) {
        check(was && vdi_usb_guard_core_state(&fz.c) == VDI_USB_GUARD_REJECTED);
    }
    if (ch == VDI_USB_GUARD_CHANGED) {
        /* as the owner does: the guest sees the device anew */
        vdi_usb_guard_core_attached(&fz.c);
    }
    check_guard();
}

static void fz_alt_setting_status(void *priv, uint64_t id,
    struct usb_redir_alt_setting_status_header *h)
{
    if (vdi_usb_guard_core_control_allowed(&fz.c, 0x010b, h->alt,
                                           h->interface) &&
        vdi_usb_guard_resets_bot(0x010b)) {
        vdi_usb_guard_core_reset_bot(&fz.c);
    }
}

static void fz_control_packet(void *priv, uint64_t id,
                              struct usb_redir_control_packet_header *h,
                              uint8_t *data, int data_len)
{
    int request = h->requesttype << 8 | h->request;
    VdiUsbGuardRequest next;

    if (vdi_usb_guard_owns_id(id)) {
        switch (vdi_usb_guard_core_reply(&fz.c, policies[fz.policy], id,
                                         h->status == usb_redir_success,
                                         data, MAX(data_len, 0), &next)) {
        case VDI_USB_GUARD_MORE:
            check(vdi_usb_guard_owns_id(next.id));
            break;
        case VDI_USB_GUARD_DONE:
            check(vdi_usb_guard_core_enforcing(&fz.c));
            vdi_usb_guard_core_attached(&fz.c);
            break;
        case VDI_USB_GUARD_DENIED:
            check(vdi_usb_guard_core_state(&fz.c) == VDI_USB_GUARD_REJECTED);
            check(!vdi_usb_guard_core_enforcing(&fz.c));
            break;
        case VDI_USB_GUARD_IGNORED:
            break;
        }
        check_guard();
    } else if (vdi_usb_guard_core_control_allowed(&fz.c, request, h->value,
                                                  h->index)) {
        if (vdi_usb_guard_resets_bot(request)) {
            vdi_usb_guard_core_reset_bot(&fz.c);
        }
    }
    free(data);
}

static void check_forwarded(const uint8_t *fwd, size_t fwd_len)
{
    check(fwd_len == VDI_BOT_CBW_LEN);
    check(ldl_le_p(fwd) == VDI_BOT_CBW_SIGNATURE);
    /* no data-out phase, and a command on the allowlist */
    check(ldl_le_p(fwd + 8) == 0 || (fwd[12] & 0x80));
    check(fwd[14] >= 1 && fwd[14] <= 16);
    check(vdi_bot_cdb_allowed(fwd + 15, fwd[14]));
}

static void fz_bulk_packet(void *priv, uint64_t id,
                           struct usb_redir_bulk_packet_header *h,
                           uint8_t *data, int data_len)
{
    VdiBotFilter *bot = vdi_usb_guard_core_bot_filter(&fz.c, h->endpoint);
    size_t requested = h->length | (h->length_high << 16);
    g_autofree char *err = NULL;
    const uint8_t *fwd;
    size_t fwd_len, len;
    uint8_t buf[64];

    vdi_usb_guard_core_endpoint_allowed(&fz.c, h->endpoint);
    if (!bot || !(h->endpoint & 0x80)) {
        /* the parser lets a peer send data on IN endpoints only */
        goto out;
    }
    switch (vdi_bot_filter_pending_in(bot, buf, MIN(requested, sizeof(buf)),
                                      &len)) {
    case VDI_BOT_IN_SYNTH:
        check(len <= MIN(requested, sizeof(buf)));
        goto out;
    case VDI_BOT_IN_WAIT:
        /*
         * Not the device's turn but the guest's: take the bytes as the
         * guest's next bulk OUT packet, so that both directions of the
         * filter see the stream.
         */
        if (vdi_bot_filter_host_out(bot, data, MAX(data_len, 0), &fwd,
                                    &fwd_len, &err) == VDI_BOT_PASS) {
            check_forwarded(fwd, fwd_len);
        }
        goto out;
    case VDI_BOT_IN_DEVICE:
        break;
    default:
        goto out;
    }
    if (h->status == usb_redir_stall) {
        vdi_bot_filter_device_in_stalled(bot);
    } else if (h->status == usb_redir_success) {
        vdi_bot_filter_device_in(bot, data, MIN(MAX(data_len, 0), requested),
                                 requested, &err);
    }
out:
    free(data);
}

static void fz_data(void *priv, uint64_t id, void *h, uint8_t *data,
                    int data_len)
{
    free(data);
}

static void fz_none(void *priv)
{
}

static void fz_id(void *priv, uint64_t id)
{
}

static void fz_hdr(void *priv, uint64_t id, void *h)
{
}

static void fz_hello(void *priv, struct usb_redir_hello_header *h)
{
}

static void fz_filter(void *priv, struct usbredirfilter_rule *rules,
                      int rules_count)
{
    free(rules);
}

static void fz_buffered_bulk(void *priv, uint64_t id,
                             struct usb_redir_buffered_bulk_packet_header *h,
                             uint8_t *data, int data_len)
{
    free(data);
}

static void set_callbacks(struct usbredirparser *p)
{
    p->log_func = fz_log;
    p->read_func = fz_read;
    p->write_func = fz_write;
    p->hello_func = fz_hello;
    p->device_connect_func = fz_device_connect;
    p->device_disconnect_func = fz_device_disconnect;
    p->reset_func = fz_none;
    p->interface_info_func = fz_interface_info;
    p->ep_info_func = fz_ep_info;
    p->set_configuration_func = (void *)fz_hdr;
    p->get_configuration_func = fz_id;
    p->configuration_status_func = fz_configuration_status;
    p->set_alt_setting_func = (void *)fz_hdr;
    p->get_alt_setting_func = (void *)fz_hdr;
    p->alt_setting_status_func = fz_alt_setting_status;
    p->start_iso_stream_func = (void *)fz_hdr;
    p->stop_iso_stream_func = (void *)fz_hdr;
    p->iso_stream_status_func = (void *)fz_hdr;
    p->start_interrupt_receiving_func = (void *)fz_hdr;
    p->stop_interrupt_receiving_func = (void *)fz_hdr;
    p->interrupt_receiving_status_func = (void *)fz_hdr;
    p->alloc_bulk_streams_func = (void *)fz_hdr;
    p->free_bulk_streams_func = (void *)fz_hdr;
    p->bulk_streams_status_func = (void *)fz_hdr;
    p->cancel_data_packet_func = fz_id;
    p->filter_reject_func = fz_none;
    p->filter_filter_func = fz_filter;
    p->device_disconnect_ack_func = fz_none;
    p->start_bulk_receiving_func = (void *)fz_hdr;
    p->stop_bulk_receiving_func = (void *)fz_hdr;
    p->bulk_receiving_status_func = (void *)fz_hdr;
    p->control_packet_func = fz_control_packet;
    p->bulk_packet_func = fz_bulk_packet;
    p->iso_packet_func = (void *)fz_data;
    p->interrupt_packet_func = (void *)fz_data;
    p->buffered_bulk_packet_func = fz_buffered_bulk;
}

/* QEMU's capabilities, as usb-redir announces them */
static void qemu_caps(uint32_t *caps)
{
    memset(caps, 0, USB_REDIR_CAPS_SIZE * sizeof(uint32_t));
    usbredirparser_caps_set_cap(caps, usb_redir_cap_connect_device_version);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_filter);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_ep_info_max_packet_size);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_64bits_ids);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_32bits_bulk_length);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_bulk_receiving);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_bulk_streams);
}

/*
 * The canned peer: a device-side parser that has seen QEMU's hello and
 * writes what a terminal would send into out.
 */

static GByteArray *peer_out;
static const uint8_t *peer_in;
static size_t peer_in_len;

static int peer_write(void *priv, uint8_t *data, int count)
{
    g_byte_array_append(peer_out, data, count);
    return count;
}

static int peer_read(void *priv, uint8_t *data, int count)
{
    size_t n = MIN((size_t)count, peer_in_len);

    memcpy(data, peer_in, n);
    peer_in += n;
    peer_in_len -= n;
    return n;
}

static GByteArray *qemu_hello;

static int hello_write(void *priv, uint8_t *data, int count)
{
    g_byte_array_append(qemu_hello, data, count);
    return count;
}

static struct usbredirparser *peer_new(uint8_t cap_bits)
{
    struct usbredirparser *p = usbredirparser_create();
    uint32_t caps[USB_REDIR_CAPS_SIZE] = { cap_bits };

    set_callbacks(p);
    p->read_func = peer_read;
    p->write_func = peer_write;
    usbredirparser_init(p, "fuzz terminal", caps, USB_REDIR_CAPS_SIZE,
                        usbredirparser_fl_usb_host);
    /* QEMU's hello, so that both sides agree on the header format */
    peer_in = qemu_hello->data;
    peer_in_len = qemu_hello->len;
    usbredirparser_do_read(p);
    return p;
}

static void peer_flush(struct usbredirparser *p)
{
    while (usbredirparser_has_data_to_write(p)) {
        check(usbredirparser_do_write(p) >= 0);
    }
}

/* The answer to @req: @d, or a stall without @d */
static void peer_control(struct usbredirparser *p,
                         const VdiUsbGuardRequest *req, const uint8_t *d,
                         size_t len)
{
    struct usb_redir_control_packet_header c = {
        .endpoint = 0x80, .request = 6, .requesttype = req->type,
        .status = d ? usb_redir_success : usb_redir_stall,
        .value = req->value, .index = req->index,
        .length = MIN(len, req->length),
    };

    usbredirparser_send_control_packet(p, req->id, &c, (uint8_t *)d,
                                       c.length);
}

/* A device is plugged in at the terminal */
static void peer_connect(struct usbredirparser *p, const Canned *m)
{
    struct usb_redir_device_connect_header dc = {
        .speed = m->speed, .vendor_id = m->dev[8] | m->dev[9] << 8,
        .product_id = m->dev[10] | m->dev[11] << 8,
        .device_version_bcd = 0x0100,
    };
    struct usb_redir_ep_info_header ep = { 0 };
    struct usb_redir_interface_info_header ii = { 0 };
    size_t off, i;

    memset(ep.type, usb_redir_type_invalid, sizeof(ep.type));
    ep.type[0] = ep.type[16] = usb_redir_type_control;
    for (off = 0; off + 2 <= m->config_len; off += m->config[off]) {
        const uint8_t *d = m->config + off;

        if (d[1] == 4 && d[3] == 0) {
            ii.interface[ii.interface_count] = d[2];
            ii.interface_class[ii.interface_count] = d[5];
            ii.interface_subclass[ii.interface_count] = d[6];
            ii.interface_protocol[ii.interface_count] = d[7];
            ii.interface_count++;
        } else if (d[1] == 5) {
            i = ((d[2] & 0x80) >> 3) | (d[2] & 0x0f);
            ep.type[i] = d[3] & 3;
            ep.max_packet_size[i] = d[4] | d[5] << 8;
        }
    }
    usbredirparser_send_ep_info(p, &ep);
    usbredirparser_send_interface_info(p, &ii);
    usbredirparser_send_device_connect(p, &dc);
}

/*
 * The answers to the guard's descriptor fetch.  A guard core of our own
 * asks what the fuzzed one will, with the same packet ids: the device,
 * configuration and string descriptors @m has, a stall for the others.
 */
static void peer_answers(struct usbredirparser *p, const Canned *m)
{
    VdiUsbGuardCore c;
    VdiUsbGuardRequest req;
    uint8_t str[64] = { 4, 3, 0x09, 0x04 };
    const uint8_t *d;
    size_t len, i;

    vdi_usb_guard_core_init(&c);
    vdi_usb_guard_core_connect(&c, &req);
    do {
        switch (req.value >> 8) {
        case VDI_USB_DT_DEVICE:
            d = m->dev;
            len = sizeof(m->dev);
            break;
        case VDI_USB_DT_CONFIG:
            d = m->config;
            len = m->config_len;
            break;
        case DT_STRING:
            /* the languages, or the serial number */
            for (i = 0; (req.value & 0xff) && m->serial && m->serial[i];
                 i++) {
                str[2 + 2 * i] = m->serial[i];
                str[3 + 2 * i] = 0;
            }
            str[0] = (req.value & 0xff) ? 2 + 2 * i : 4;
            d = str;
            len = str[0];
            break;
        default:
            d = NULL;
            len = 0;
        }
        peer_control(p, &req, d, len);
    } while (vdi_usb_guard_core_reply(&c, policies[0], req.id, d != NULL,
                                      d, MIN(len, req.length), &req) ==
             VDI_USB_GUARD_MORE);
    vdi_usb_guard_core_clear(&c);
}

/*
 * The peer's hello and, if scenario says so, a device and (for scenarios
 * below G_N_ELEMENTS(canned)) its answers to the descriptor fetch; else
 * the input has to answer.
 */
static void build_prefix(uint8_t cap_bits, uint8_t scenario,
                         struct usbredirparser **peer)
{
    const Canned *m = &canned[scenario % G_N_ELEMENTS(canned)];

    *peer = peer_new(cap_bits);
    if (m->config) {
        peer_connect(*peer, m);
        if (scenario < G_N_ELEMENTS(canned)) {
            peer_answers(*peer, m);
        }
    }
    peer_flush(*peer);
}

static void init_once(void)
{
    uint32_t caps[USB_REDIR_CAPS_SIZE];
    struct usbredirparser *p;

    if (policies[0]) {
        return;
    }
    usb_test_policies(policies);
    qemu_hello = g_byte_array_new();
    p = usbredirparser_create();
    set_callbacks(p);
    p->write_func = hello_write;
    qemu_caps(caps);
    usbredirparser_init(p, "qemu", caps, USB_REDIR_CAPS_SIZE, 0);
    while (usbredirparser_has_data_to_write(p)) {
        check(usbredirparser_do_write(p) >= 0);
    }
    usbredirparser_destroy(p);
}

/* Seeds: BOT traffic of a canned mass storage device */

static void cbw(uint8_t *b, uint32_t tag, uint32_t len, bool in,
                const uint8_t *cdb, uint8_t cdb_len)
{
    memset(b, 0, VDI_BOT_CBW_LEN);
    stl_le_p(b, VDI_BOT_CBW_SIGNATURE);
    stl_le_p(b + 4, tag);
    stl_le_p(b + 8, len);
    b[12] = in ? 0x80 : 0;
    b[14] = cdb_len;
    memcpy(b + 15, cdb, cdb_len);
}

static void peer_bulk(struct usbredirparser *p, uint8_t ep, uint8_t status,
                      const uint8_t *d, size_t len)
{
    struct usb_redir_bulk_packet_header b = {
        .endpoint = ep, .status = status, .length = len,
    };

    usbredirparser_send_bulk_packet(p, 1, &b, (uint8_t *)d, len);
}

static void peer_command(struct usbredirparser *p, uint32_t tag,
                         const uint8_t *cdb, uint8_t cdb_len, bool in,
                         size_t data_len)
{
    uint8_t b[VDI_BOT_CBW_LEN], csw[VDI_BOT_CSW_LEN] = { 0 };
    g_autofree uint8_t *data = g_malloc0(MAX(data_len, 1));

    /* all on the IN endpoint: the guest's packets where it is its turn */
    cbw(b, tag, data_len, in, cdb, cdb_len);
    peer_bulk(p, 0x81, usb_redir_success, b, sizeof(b));
    if (data_len) {
        data[2] = 0x00;     /* MODE SENSE: device-specific parameter */
        peer_bulk(p, 0x81, usb_redir_success, data, data_len);
    }
    stl_le_p(csw, VDI_BOT_CSW_SIGNATURE);
    stl_le_p(csw + 4, tag);
    peer_bulk(p, 0x81, usb_redir_success, csw, sizeof(csw));
}

static void write_seeds(const char *dir)
{
    static const uint8_t read10[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
    static const uint8_t write10[10] = { 0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
    static const uint8_t sense6[6] = { 0x1a, 0, 0x3f, 0, 192, 0 };
    static const uint8_t reqsense[6] = { 0x03, 0, 0, 0, 18, 0 };
    static const uint8_t inquiry[6] = { 0x12, 0, 0, 0, 36, 0 };
    struct usb_redir_configuration_status_header cs = { 0, 1 };
    /* canned device and policy: mostly read-only mass storage */
    static const uint8_t seeds[][2] = {
        { 2, 2 }, { 3, 3 }, { 2, 4 }, { 5, 2 }, { 1, 0 }, { 4, 1 },
        /* the answers to the fetch in the input */
        { 8, 2 }, { 9, 3 }, { 7, 1 }, { 10, 0 },
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(seeds); i++) {
        struct usbredirparser *p;
        g_autofree char *path = NULL;
        GByteArray *seed = g_byte_array_new();
        uint8_t head[3] = { i & 1 ? 0xff : 0x5f, seeds[i][1], seeds[i][0] };
        size_t prefix;

        peer_out = g_byte_array_new();
        build_prefix(head[0], head[2], &p);
        prefix = peer_out->len;
        if (head[2] >= G_N_ELEMENTS(canned)) {
            peer_answers(p, &canned[head[2] % G_N_ELEMENTS(canned)]);
        }
        peer_command(p, 1, inquiry, 6, true, 36);
        peer_command(p, 2, read10, 10, true, 512);
        peer_command(p, 3, write10, 10, false, 512);
        peer_command(p, 4, reqsense, 6, true, 18);
        peer_command(p, 5, sense6, 6, true, 192);
        usbredirparser_send_configuration_status(p, 9, &cs);
        peer_command(p, 6, read10, 10, true, 512);
        usbredirparser_send_device_disconnect(p);
        peer_flush(p);
        usbredirparser_destroy(p);

        g_byte_array_append(seed, head, sizeof(head));
        g_byte_array_append(seed, peer_out->data + prefix,
                            peer_out->len - prefix);
        path = g_strdup_printf("%s/seed-%zu", dir, i);
        check(g_file_set_contents(path, (char *)seed->data, seed->len,
                                  NULL));
        g_byte_array_free(seed, true);
        g_byte_array_free(peer_out, true);
    }
}

/* Parse @stream as usb-redir does, until it ends or breaks the protocol */
static void fz_parse(GByteArray *stream, unsigned policy)
{
    uint32_t caps[USB_REDIR_CAPS_SIZE];
    int i, r;

    memset(&fz, 0, sizeof(fz));
    vdi_usb_guard_core_init(&fz.c);
    fz.policy = policy % G_N_ELEMENTS(policies);
    fz.in = stream->data;
    fz.in_len = stream->len;
    fz.parser = usbredirparser_create();
    set_callbacks(fz.parser);
    qemu_caps(caps);
    usbredirparser_init(fz.parser, "qemu", caps, USB_REDIR_CAPS_SIZE, 0);
    for (i = 0; fz.in_len && i < 1000; i++) {
        r = usbredirparser_do_read(fz.parser);
        if (r == usbredirparser_read_parse_error || r < 0) {
            break;
        }
    }
    usbredirparser_do_write(fz.parser);
}

/* The connection ends: the device goes away */
static void fz_end(void)
{
    vdi_usb_guard_core_disconnected(&fz.c);
    check(!vdi_usb_guard_core_enforcing(&fz.c));
    usbredirparser_destroy(fz.parser);
    vdi_usb_guard_core_clear(&fz.c);
}

/* What the peer sends for @scenario (see build_prefix) */
static GByteArray *peer_prefix(uint8_t cap_bits, uint8_t scenario)
{
    struct usbredirparser *peer;

    peer_out = g_byte_array_new();
    build_prefix(cap_bits, scenario, &peer);
    usbredirparser_destroy(peer);
    return g_steal_pointer(&peer_out);
}

/* The canned answers bring the guard to its verdict on each device */
static void check_canned_answers(void)
{
    size_t i;

    for (i = 1; i < G_N_ELEMENTS(canned); i++) {
        GByteArray *stream = peer_prefix(0xff, i);
        VdiUsbGuardState state;

        fz_parse(stream, 0);
        state = vdi_usb_guard_core_state(&fz.c);
        check(state == VDI_USB_GUARD_ATTACHED ||
              state == VDI_USB_GUARD_REJECTED);
        fz_end();
        g_byte_array_free(stream, true);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("VDI_USBREDIR_FUZZ_SEEDS");

    init_once();
    check_canned_answers();
    if (dir) {
        write_seeds(dir);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GByteArray *stream;

    if (size < 3) {
        return 0;
    }
    init_once();

    /* what the peer sends: hello (and a device), then the input */
    stream = peer_prefix(data[0], data[2] % (2 * G_N_ELEMENTS(canned)));
    g_byte_array_append(stream, data + 3, size - 3);
    fz_parse(stream, data[1]);
    fz_end();
    g_byte_array_free(stream, true);
    return 0;
}
