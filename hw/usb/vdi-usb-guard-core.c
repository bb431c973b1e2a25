/*
 * VDI host: what the USB peripheral policy decides for one device
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * No QEMU dependencies beyond qemu/osdep.h (GLib), so that unit tests and
 * fuzzers can use it.  See vdi-usb-guard-core.h.
 */

#include "qemu/osdep.h"
#include "vdi-usb-guard-core.h"

#define GUARD_ID(step)  (VDI_USB_GUARD_ID_BASE | (step))

/* Standard requests, as bmRequestType << 8 | bRequest */
#define REQ_GET_DESCRIPTOR      0x8006
#define REQ_SET_CONFIGURATION   0x0009
#define REQ_SET_INTERFACE       0x010b
#define REQ_BOT_RESET           0x21ff  /* Bulk-Only Mass Storage Reset */
#define RECIP_MASK              0x1f
#define RECIP_INTERFACE         1
#define RECIP_ENDPOINT          2

#define DT_STRING               3
#define DT_OTHER_SPEED_CONFIG   7

enum {
    FETCH_NONE,
    FETCH_DEVICE,       /* device descriptor */
    FETCH_CONFIG_HEAD,  /* first 9 bytes of configuration 0 */
    FETCH_CONFIG,       /* all wTotalLength bytes of it */
    FETCH_LANGIDS,      /* string descriptor 0 */
    FETCH_SERIAL,       /* the iSerialNumber string */
};

void vdi_usb_guard_core_init(VdiUsbGuardCore *c)
{
    memset(c, 0, sizeof(*c));
    c->state = VDI_USB_GUARD_DISCONNECTED;
}

static void free_filters(VdiUsbGuardCore *c)
{
    unsigned k;

    for (k = 0; k < VDI_USB_MAX_ALTS; k++) {
        vdi_bot_filter_free(c->bot[k]);
        c->bot[k] = NULL;
    }
    g_clear_pointer(&c->guest_config, g_free);
    c->guest_config_len = 0;
}

void vdi_usb_guard_core_clear(VdiUsbGuardCore *c)
{
    free_filters(c);
    c->fetch_step = FETCH_NONE;
    c->have_dev_desc = false;
    g_clear_pointer(&c->config, g_free);
    c->config_len = 0;
    g_clear_pointer(&c->cfg, g_free);
    g_clear_pointer(&c->serial, g_free);
    g_clear_pointer(&c->verdict, g_free);
    g_clear_pointer(&c->reject_reason, g_free);
}

/* Descriptor fetch */

bool vdi_usb_guard_owns_id(uint64_t id)
{
    return (id & ~0xffULL) == VDI_USB_GUARD_ID_BASE;
}

static void request(VdiUsbGuardCore *c, int step, uint16_t value,
                    uint16_t index, uint16_t length, VdiUsbGuardRequest *req)
{
    c->fetch_step = step;
    req->id = GUARD_ID(step);
    req->value = value;
    req->index = index;
    req->length = length;
}

void vdi_usb_guard_core_connect(VdiUsbGuardCore *c, VdiUsbGuardRequest *first)
{
    vdi_usb_guard_core_clear(c);
    c->state = VDI_USB_GUARD_CONNECTED;
    request(c, FETCH_DEVICE, VDI_USB_DT_DEVICE << 8, 0, 18, first);
}

static VdiUsbGuardFetch refuse(VdiUsbGuardCore *c)
{
    c->state = VDI_USB_GUARD_REJECTED;
    c->fetch_step = FETCH_NONE;
    free_filters(c);
    return VDI_USB_GUARD_DENIED;
}

/* The device's descriptors are malformed: refuse it, and say why */
static VdiUsbGuardFetch refuse_bad(VdiUsbGuardCore *c, const char *what,
                                   const char *err)
{
    g_clear_pointer(&c->verdict, g_free);
    g_free(c->reject_reason);
    c->reject_reason = g_strdup_printf("%s: %s", what, err);
    return refuse(c);
}

void vdi_usb_guard_core_refusal(const VdiUsbGuardCore *c, const char **rule,
                                const char **reason)
{
    if (c->verdict) {
        *rule = c->verdict->rule_id;
        *reason = c->verdict->reason;
    } else {
        *rule = "";
        *reason = c->reject_reason ? c->reject_reason : "";
    }
}

/* (Re)compute what the guest sees and the read-only filters */
static void apply_verdict(VdiUsbGuardCore *c)
{
    const VdiUsbVerdict *v = c->verdict;
    g_autofree char *err = NULL;
    bool filtered = false;
    unsigned i;

    free_filters(c);
    for (i = 0; i < v->n_alts; i++) {
        filtered |= !v->alts[i].usable;
    }
    if (filtered &&
        !vdi_usb_filter_config_desc(c->config, c->config_len, v,
                                    &c->guest_config, &c->guest_config_len,
                                    &err)) {
        /* cannot happen: the same blob was parsed for the verdict */
        g_assert_not_reached();
    }
    for (i = 0; i < v->n_ifaces; i++) {
        if (v->ifaces[i].decision == VDI_USB_IFACE_READ_ONLY) {
            c->bot[i] = vdi_bot_filter_new();
        }
    }
}

static VdiUsbGuardFetch evaluate(VdiUsbGuardCore *c,
                                 const VdiUsbPolicy *policy)
{
    g_autofree char *err = NULL;

    c->fetch_step = FETCH_NONE;
    c->cfg = g_new0(VdiUsbConfig, 1);
    if (!vdi_usb_parse_config_desc(c->config, c->config_len, c->cfg, &err)) {
        g_clear_pointer(&c->cfg, g_free);
        return refuse_bad(c, "configuration descriptor", err);
    }
    c->verdict = g_new0(VdiUsbVerdict, 1);
    vdi_usb_policy_evaluate(policy, &c->dev_desc, c->cfg, c->serial,
                            c->verdict);
    if (c->verdict->action == VDI_USB_ACTION_DENY) {
        return refuse(c);
    }
    apply_verdict(c);
    return VDI_USB_GUARD_DONE;
}

static uint16_t le16(const uint8_t *p)
{
    return p[0] | (p[1] << 8);
}

VdiUsbGuardFetch vdi_usb_guard_core_reply(VdiUsbGuardCore *c,
                                          const VdiUsbPolicy *policy,
                                          uint64_t id, bool ok,
                                          const uint8_t *data, size_t len,
                                          VdiUsbGuardRequest *next)
{
    g_autofree char *err = NULL;
    uint16_t total;

    if (c->fetch_step == FETCH_NONE || id != GUARD_ID(c->fetch_step)) {
        return VDI_USB_GUARD_IGNORED;
    }
    if (!data) {
        len = 0;
    }
    switch (c->fetch_step) {
    case FETCH_DEVICE:
        if (!ok) {
            return refuse_bad(c, "device descriptor", "request failed");
        }
        if (!vdi_usb_parse_device_desc(data, len, &c->dev_desc, &err)) {
            return refuse_bad(c, "device descriptor", err);
        }
        c->have_dev_desc = true;
        request(c, FETCH_CONFIG_HEAD, VDI_USB_DT_CONFIG << 8, 0, 9, next);
        return VDI_USB_GUARD_MORE;

    case FETCH_CONFIG_HEAD:
        if (!ok || len < 4) {
            return refuse_bad(c, "configuration descriptor",
                              ok ? "truncated" : "request failed");
        }
        total = le16(data + 2);
        if (total < 9) {
            return refuse_bad(c, "configuration descriptor",
                              "wTotalLength below 9");
        }
        request(c, FETCH_CONFIG, VDI_USB_DT_CONFIG << 8, 0, total, next);
        return VDI_USB_GUARD_MORE;

    case FETCH_CONFIG:
        if (!ok) {
            return refuse_bad(c, "configuration descriptor",
                              "request failed");
        }
        c->config = g_memdup2(data, len);
        c->config_len = len;
        if (!c->dev_desc.i_serial) {
            return evaluate(c, policy);
        }
        request(c, FETCH_LANGIDS, DT_STRING << 8, 0, 255, next);
        return VDI_USB_GUARD_MORE;

    case FETCH_LANGIDS:
        if (!ok || len < 4 || data[0] < 4) {
            /* no strings: serial rules never match */
            return evaluate(c, policy);
        }
        c->langid = le16(data + 2);
        request(c, FETCH_SERIAL, DT_STRING << 8 | c->dev_desc.i_serial,
                c->langid, 255, next);
        return VDI_USB_GUARD_MORE;

    case FETCH_SERIAL:
        if (ok && len >= 2 && data[1] == DT_STRING) {
            size_t units = (MIN(len, data[0]) - MIN(2, data[0])) / 2;
            g_autofree gunichar2 *utf16 = g_new0(gunichar2, units + 1);
            size_t i;

            for (i = 0; i < units; i++) {
                utf16[i] = le16(data + 2 + 2 * i);
            }
            /* NULL if not valid UTF-16: serial rules then never match */
            c->serial = g_utf16_to_utf8(utf16, units, NULL, NULL, NULL);
        }
        return evaluate(c, policy);
    }
    return VDI_USB_GUARD_IGNORED;
}

VdiUsbGuardFetch vdi_usb_guard_core_fetch_sync(VdiUsbGuardCore *c,
                                               const VdiUsbPolicy *policy,
                                               VdiUsbGuardXfer xfer,
                                               void *opaque)
{
    VdiUsbGuardRequest req;
    VdiUsbGuardFetch r;
    int steps;

    vdi_usb_guard_core_connect(c, &req);
    /* each step asks for a later one: at most FETCH_SERIAL requests */
    for (steps = 0; steps < FETCH_SERIAL; steps++) {
        g_autofree uint8_t *buf = g_malloc0(MAX(req.length, 1));
        int n = xfer(opaque, &req, buf);

        r = vdi_usb_guard_core_reply(c, policy, req.id, n >= 0, buf,
                                     n < 0 ? 0 : MIN(n, req.length), &req);
        if (r != VDI_USB_GUARD_MORE) {
            assert(r == VDI_USB_GUARD_DONE || r == VDI_USB_GUARD_DENIED);
            return r;
        }
    }
    g_assert_not_reached();
}

void vdi_usb_guard_core_attached(VdiUsbGuardCore *c)
{
    c->state = VDI_USB_GUARD_ATTACHED;
    vdi_usb_guard_core_reset_bot(c);
}

void vdi_usb_guard_core_disconnected(VdiUsbGuardCore *c)
{
    if (c->state == VDI_USB_GUARD_REJECTED) {
        /* keep what we know about it for the queries */
        free_filters(c);
        c->fetch_step = FETCH_NONE;
    } else {
        vdi_usb_guard_core_clear(c);
        c->state = VDI_USB_GUARD_DISCONNECTED;
    }
}

/* Data path */

bool vdi_usb_guard_core_enforcing(const VdiUsbGuardCore *c)
{
    return c->verdict && c->cfg &&
        c->verdict->action != VDI_USB_ACTION_DENY &&
        (c->state == VDI_USB_GUARD_CONNECTED ||
         c->state == VDI_USB_GUARD_ATTACHED);
}

bool vdi_usb_guard_core_read_only(const VdiUsbGuardCore *c)
{
    return vdi_usb_guard_core_enforcing(c) &&
        c->verdict->action == VDI_USB_ACTION_READ_ONLY;
}

static const VdiUsbIfaceVerdict *find_iface(const VdiUsbGuardCore *c,
                                            uint8_t number)
{
    unsigned k;

    for (k = 0; k < c->verdict->n_ifaces; k++) {
        if (c->verdict->ifaces[k].number == number) {
            return &c->verdict->ifaces[k];
        }
    }
    return NULL;
}

/*
 * May the guest send this control request?  Requests that would reveal or
 * select what the policy hides are refused, as is anything addressed to a
 * hidden interface or endpoint.
 */
bool vdi_usb_guard_core_control_allowed(const VdiUsbGuardCore *c,
                                        int request, int value, int index)
{
    const VdiUsbIfaceVerdict *iv;
    uint8_t type = value >> 8;

    if (!vdi_usb_guard_core_enforcing(c)) {
        return true;
    }
    switch (request) {
    case REQ_GET_DESCRIPTOR:
        /* only configuration 0 was evaluated and can be filtered */
        return !c->guest_config ||
            !((type == VDI_USB_DT_CONFIG && (value & 0xff)) ||
              type == DT_OTHER_SPEED_CONFIG);
    case REQ_SET_CONFIGURATION:
        return (value & 0xff) == 0 || (value & 0xff) == c->cfg->config_value;
    case REQ_SET_INTERFACE:
        return vdi_usb_verdict_alt_usable(c->verdict, index, value);
    }
    switch ((request >> 8) & RECIP_MASK) {
    case RECIP_INTERFACE:
        iv = find_iface(c, index & 0xff);
        return !iv || iv->decision != VDI_USB_IFACE_HIDDEN;
    case RECIP_ENDPOINT:
        return !(index & 0x0f) ||
            vdi_usb_guard_core_endpoint_allowed(c, index & 0x8f);
    }
    return true;
}

bool vdi_usb_guard_core_endpoint_allowed(const VdiUsbGuardCore *c,
                                         uint8_t ep)
{
    return !vdi_usb_guard_core_enforcing(c) ||
        vdi_usb_verdict_endpoint_iface(c->verdict, c->cfg, ep) >= 0;
}

VdiBotFilter *vdi_usb_guard_core_bot_filter(const VdiUsbGuardCore *c,
                                            uint8_t ep)
{
    const VdiUsbIfaceVerdict *iv;
    int k;

    if (!vdi_usb_guard_core_read_only(c)) {
        return NULL;
    }
    k = vdi_usb_verdict_endpoint_iface(c->verdict, c->cfg, ep);
    if (k < 0 || !c->bot[k]) {
        return NULL;
    }
    iv = &c->verdict->ifaces[k];
    return ep == iv->bot_ep_in || ep == iv->bot_ep_out ? c->bot[k] : NULL;
}

void vdi_usb_guard_core_reset_bot(VdiUsbGuardCore *c)
{
    unsigned k;

    for (k = 0; k < VDI_USB_MAX_ALTS; k++) {
        if (c->bot[k]) {
            vdi_bot_filter_reset(c->bot[k]);
        }
    }
}

const uint8_t *vdi_usb_guard_core_config_desc(const VdiUsbGuardCore *c,
                                              size_t *len)
{
    if (!vdi_usb_guard_core_enforcing(c)) {
        return NULL;
    }
    *len = c->guest_config_len;
    return c->guest_config;
}

bool vdi_usb_guard_resets_bot(int request)
{
    return request == REQ_BOT_RESET || request == REQ_SET_CONFIGURATION ||
        request == REQ_SET_INTERFACE;
}

/* Policy changes */

static bool same_verdict(const VdiUsbVerdict *a, const VdiUsbVerdict *b)
{
    unsigned i;

    if (a->action != b->action || a->n_ifaces != b->n_ifaces ||
        a->n_alts != b->n_alts) {
        return false;
    }
    for (i = 0; i < a->n_ifaces; i++) {
        if (a->ifaces[i].decision != b->ifaces[i].decision) {
            return false;
        }
    }
    for (i = 0; i < a->n_alts; i++) {
        if (a->alts[i].usable != b->alts[i].usable) {
            return false;
        }
    }
    return true;
}

VdiUsbGuardChange vdi_usb_guard_core_reevaluate(VdiUsbGuardCore *c,
                                                const VdiUsbPolicy *policy)
{
    g_autofree VdiUsbVerdict *v = NULL;

    if (!vdi_usb_guard_core_enforcing(c)) {
        return VDI_USB_GUARD_SAME;  /* nothing evaluated yet, or refused */
    }
    v = g_new0(VdiUsbVerdict, 1);
    vdi_usb_policy_evaluate(policy, &c->dev_desc, c->cfg, c->serial, v);
    if (same_verdict(v, c->verdict)) {
        /* same effect, maybe another rule: keep the filters' state */
        memcpy(c->verdict, v, sizeof(*v));
        return VDI_USB_GUARD_SAME;
    }
    memcpy(c->verdict, v, sizeof(*v));
    if (v->action == VDI_USB_ACTION_DENY) {
        refuse(c);
        return VDI_USB_GUARD_NOW_DENIED;
    }
    apply_verdict(c);
    if (c->state != VDI_USB_GUARD_ATTACHED) {
        return VDI_USB_GUARD_SAME;  /* not shown to the guest yet */
    }
    c->state = VDI_USB_GUARD_CONNECTED;
    return VDI_USB_GUARD_CHANGED;
}
