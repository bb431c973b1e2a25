/*
 * VDI host: what the USB peripheral policy decides for one device
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * No QEMU dependencies beyond qemu/osdep.h (GLib), so that unit tests and
 * fuzzers can use it.  See vdi-usb-guard-core.h.  The device's state,
 * refusal, the data path's decisions and policy changes; reading and
 * checking the device is vdi-usb-guard-fetch.c.
 */

#include "qemu/osdep.h"
#include "vdi-usb-guard-int.h"

/* Standard requests, as bmRequestType << 8 | bRequest */
#define REQ_GET_DESCRIPTOR      0x8006
#define REQ_SET_CONFIGURATION   0x0009
#define REQ_SET_INTERFACE       0x010b
#define REQ_BOT_RESET           0x21ff  /* Bulk-Only Mass Storage Reset */
#define RECIP_MASK              0x1f
#define RECIP_INTERFACE         1
#define RECIP_ENDPOINT          2
#define USB_GET_DESCRIPTOR      6

#define DT_OTHER_SPEED_CONFIG   7

void vdi_usb_guard_core_init(VdiUsbGuardCore *c)
{
    memset(c, 0, sizeof(*c));
    c->state = VDI_USB_GUARD_DISCONNECTED;
}

VdiUsbGuardState vdi_usb_guard_core_state(const VdiUsbGuardCore *c)
{
    return c->state;
}

const VdiUsbDeviceDesc *vdi_usb_guard_core_device(const VdiUsbGuardCore *c)
{
    return c->have_dev_desc ? &c->dev_desc : NULL;
}

const char *vdi_usb_guard_core_serial(const VdiUsbGuardCore *c)
{
    return c->serial;
}

const VdiUsbVerdict *vdi_usb_guard_core_verdict(const VdiUsbGuardCore *c)
{
    return c->verdict;
}

const VdiBotFilter *vdi_usb_guard_core_iface_filter(const VdiUsbGuardCore *c,
                                                    unsigned k)
{
    return k < VDI_USB_MAX_ALTS ? c->bot[k] : NULL;
}

bool vdi_usb_guard_core_fetching(const VdiUsbGuardCore *c)
{
    return c->fetch_step != FETCH_NONE;
}

const VdiUsbGuardCounters *vdi_usb_guard_core_counters(
    const VdiUsbGuardCore *c)
{
    return &c->counters;
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

static void free_descs(VdiUsbGuardCore *c)
{
    unsigned k;

    for (k = 0; k < c->n_descs; k++) {
        g_free(c->descs[k].data);
    }
    c->n_descs = 0;
    c->n_plan = 0;
}

void vdi_usb_guard_core_clear(VdiUsbGuardCore *c)
{
    free_filters(c);
    free_descs(c);
    c->fetch_step = FETCH_NONE;
    c->checking = false;
    c->have_dev_desc = false;
    g_clear_pointer(&c->config, g_free);
    c->config_len = 0;
    g_clear_pointer(&c->cfg, g_free);
    g_clear_pointer(&c->serial, g_free);
    g_clear_pointer(&c->verdict, g_free);
    g_clear_pointer(&c->reject_reason, g_free);
}

/* Refusal and verdict, for the fetch and for policy changes */

VdiUsbGuardFetch vdi_usb_guard_core_refuse(VdiUsbGuardCore *c)
{
    c->state = VDI_USB_GUARD_REJECTED;
    c->fetch_step = FETCH_NONE;
    c->checking = false;
    free_filters(c);
    return VDI_USB_GUARD_DENIED;
}

/* The device's descriptors are malformed or changed: refuse it, say why */
VdiUsbGuardFetch vdi_usb_guard_core_refuse_bad(VdiUsbGuardCore *c,
                                               const char *what,
                                               const char *err)
{
    g_clear_pointer(&c->verdict, g_free);
    g_free(c->reject_reason);
    c->reject_reason = g_strdup_printf("%s: %s", what, err);
    return vdi_usb_guard_core_refuse(c);
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

void vdi_usb_guard_core_apply_verdict(VdiUsbGuardCore *c)
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

const VdiUsbGuardDesc *vdi_usb_guard_core_find_desc(const VdiUsbGuardCore *c,
                                                    uint8_t type,
                                                    uint16_t value,
                                                    uint16_t index)
{
    bool string = type == 0x80 && value >> 8 == DT_STRING && (value & 0xff);
    unsigned k;

    for (k = 0; k < c->n_descs; k++) {
        const VdiUsbGuardDesc *d = &c->descs[k];

        /* strings were read in one language: serve them for any */
        if (d->type == type && d->value == value &&
            (string || d->index == index)) {
            return d;
        }
    }
    return NULL;
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

/* The data path */

/* The copy of a descriptor the guard read, as the guest is to see it */
static const uint8_t *served_desc(const VdiUsbGuardCore *c, int request,
                                  int value, int index, size_t *len)
{
    const VdiUsbGuardDesc *d;

    if (request == REQ_GET_DESCRIPTOR && value == VDI_USB_DT_CONFIG << 8) {
        *len = c->guest_config ? c->guest_config_len : c->config_len;
        return c->guest_config ? c->guest_config : c->config;
    }
    d = vdi_usb_guard_core_find_desc(c, request >> 8, value, index);
    if (!d) {
        return NULL;
    }
    *len = d->len;
    return d->data;
}

static VdiUsbGuardAction blocked(VdiUsbGuardCore *c)
{
    c->counters.blocked++;
    return VDI_USB_GUARD_STALL;
}

VdiUsbGuardAction vdi_usb_guard_core_control(VdiUsbGuardCore *c, int request,
                                             int value, int index,
                                             int length, uint8_t *data,
                                             size_t *len)
{
    const uint8_t *desc;
    size_t desc_len;

    *len = 0;
    /* standard and class GET_DESCRIPTOR, to any recipient */
    if ((request & 0xff) == USB_GET_DESCRIPTOR && (request & 0x8000) &&
        (request & 0x6000) != 0x4000) {
        if (!vdi_usb_guard_core_enforcing(c) ||
            !vdi_usb_guard_core_control_allowed(c, request, value, index)) {
            return blocked(c);
        }
        desc = served_desc(c, request, value, index, &desc_len);
        if (!desc) {
            /* not read, so not evaluated: the device is never asked */
            return blocked(c);
        }
        *len = MIN(desc_len, length);
        memcpy(data, desc, *len);
        return VDI_USB_GUARD_ANSWER;
    }
    if (!vdi_usb_guard_core_control_allowed(c, request, value, index)) {
        return blocked(c);
    }
    if (vdi_usb_guard_resets_bot(request)) {
        vdi_usb_guard_core_reset_bot(c);
    }
    if (!(request & 0x8000)) {
        c->counters.bytes_out += length;
    }
    return VDI_USB_GUARD_PASS;
}

void vdi_usb_guard_core_control_done(VdiUsbGuardCore *c, int request,
                                     bool ok, size_t len)
{
    if (ok && (request & 0x8000)) {
        c->counters.bytes_in += len;
    }
}

VdiUsbGuardAction vdi_usb_guard_core_out(VdiUsbGuardCore *c, uint8_t ep,
                                         const uint8_t *data, size_t len,
                                         const uint8_t **fwd,
                                         size_t *fwd_len, char **err)
{
    VdiBotFilter *bot;

    *fwd = NULL;
    *fwd_len = len;
    if (!vdi_usb_guard_core_endpoint_allowed(c, ep)) {
        return blocked(c);
    }
    bot = vdi_usb_guard_core_bot_filter(c, ep);
    if (bot) {
        switch (vdi_bot_filter_host_out(bot, data, len, fwd, fwd_len, err)) {
        case VDI_BOT_PASS:
            break;
        case VDI_BOT_SWALLOW:
            return VDI_USB_GUARD_ANSWER;
        default:
            return blocked(c);
        }
    }
    c->counters.bytes_out += *fwd_len;
    return VDI_USB_GUARD_PASS;
}

VdiUsbGuardAction vdi_usb_guard_core_in(VdiUsbGuardCore *c, uint8_t ep,
                                        size_t size, uint8_t *buf,
                                        size_t bufsize, size_t *len)
{
    VdiBotFilter *bot;

    *len = 0;
    if (!vdi_usb_guard_core_endpoint_allowed(c, ep)) {
        return blocked(c);
    }
    bot = vdi_usb_guard_core_bot_filter(c, ep);
    if (!bot) {
        return VDI_USB_GUARD_PASS;
    }
    switch (vdi_bot_filter_pending_in(bot, buf, MIN(size, bufsize), len)) {
    case VDI_BOT_IN_DEVICE:
        return VDI_USB_GUARD_PASS;
    case VDI_BOT_IN_SYNTH:
        return VDI_USB_GUARD_ANSWER;
    case VDI_BOT_IN_WAIT:
        return VDI_USB_GUARD_NAK;
    default:
        return blocked(c);
    }
}

bool vdi_usb_guard_core_in_done(VdiUsbGuardCore *c, uint8_t ep, bool ok,
                                bool stalled, uint8_t *data, size_t len,
                                size_t size, char **err)
{
    VdiBotFilter *bot = vdi_usb_guard_core_bot_filter(c, ep);

    if (bot && stalled) {
        vdi_bot_filter_device_in_stalled(bot);
    } else if (bot && ok &&
               vdi_bot_filter_device_in(bot, data, len, size, err) ==
               VDI_BOT_ERROR) {
        blocked(c);
        return false;
    }
    if (ok) {
        c->counters.bytes_in += len;
    }
    return true;
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
        vdi_usb_guard_core_refuse(c);
        return VDI_USB_GUARD_NOW_DENIED;
    }
    vdi_usb_guard_core_apply_verdict(c);
    if (c->state != VDI_USB_GUARD_ATTACHED) {
        return VDI_USB_GUARD_SAME;  /* not shown to the guest yet */
    }
    c->state = VDI_USB_GUARD_CONNECTED;
    return VDI_USB_GUARD_CHANGED;
}
