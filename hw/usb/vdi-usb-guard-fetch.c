/*
 * VDI host: the guard's reading of a device: descriptor fetch and checks
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * How the guard core (vdi-usb-guard-core.h) learns a device: the
 * GET_DESCRIPTOR requests its owner carries out, the plan of what to read
 * after the configuration, the evaluation once everything is read, the
 * re-check after a reset and the comparison with what the transport says.
 * No QEMU dependencies beyond qemu/osdep.h (GLib).
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "vdi-usb-guard-int.h"

#define GUARD_ID(c, step) \
    (VDI_USB_GUARD_ID_BASE | (uint64_t)(c)->generation << 8 | (step))

#define DT_DEVICE_QUALIFIER     6
#define DT_BOS                  0x0f
#define DT_HID                  0x21
#define DT_HID_REPORT           0x22

bool vdi_usb_guard_owns_id(uint64_t id)
{
    return (id & VDI_USB_GUARD_ID_MASK) == VDI_USB_GUARD_ID_BASE;
}

uint64_t vdi_usb_guard_wire_id(uint64_t guest_id)
{
    if (!vdi_usb_guard_owns_id(guest_id)) {
        return guest_id;
    }
    return (guest_id & ~VDI_USB_GUARD_ID_MASK) | VDI_USB_GUARD_ID_ALIAS;
}

static void request(VdiUsbGuardCore *c, int step, uint8_t type,
                    uint16_t value, uint16_t index, uint16_t length,
                    VdiUsbGuardRequest *req)
{
    c->fetch_step = step;
    req->id = GUARD_ID(c, step);
    req->type = type;
    req->value = value;
    req->index = index;
    req->length = length;
}

static void start_fetch(VdiUsbGuardCore *c, bool checking,
                        VdiUsbGuardRequest *first)
{
    c->generation = (c->generation + 1) & 0xffffff;
    c->checking = checking;
    request(c, FETCH_DEVICE, 0x80, VDI_USB_DT_DEVICE << 8, 0, 18, first);
}

void vdi_usb_guard_core_connect(VdiUsbGuardCore *c, VdiUsbGuardRequest *first)
{
    vdi_usb_guard_core_clear(c);
    c->state = VDI_USB_GUARD_CONNECTED;
    start_fetch(c, false, first);
}

void vdi_usb_guard_core_check(VdiUsbGuardCore *c, VdiUsbGuardRequest *first)
{
    start_fetch(c, true, first);
}

static void keep_desc(VdiUsbGuardCore *c, const VdiUsbGuardRequest *req,
                      const uint8_t *data, size_t len)
{
    VdiUsbGuardDesc *d;

    if (c->n_descs == VDI_USB_GUARD_MAX_DESCS) {
        return;
    }
    d = &c->descs[c->n_descs++];
    d->type = req->type;
    d->value = req->value;
    d->index = req->index;
    d->len = MIN(len, req->length);
    d->data = g_memdup2(data, d->len);
}

static void plan(VdiUsbGuardCore *c, uint8_t type, uint16_t value,
                 uint16_t index, uint16_t length)
{
    VdiUsbGuardRequest *r;
    unsigned k;

    for (k = 0; k < c->n_plan; k++) {
        if (c->plan[k].type == type && c->plan[k].value == value &&
            c->plan[k].index == index) {
            return;
        }
    }
    /* the device, the configuration and what is planned */
    if (c->n_plan + 2 >= VDI_USB_GUARD_MAX_DESCS) {
        return;
    }
    r = &c->plan[c->n_plan++];
    r->type = type;
    r->value = value;
    r->index = index;
    r->length = length;
}

/*
 * Everything else the guest may ask for and the guard can know of: the
 * strings the descriptors name, the BOS and device qualifier descriptors
 * of USB 2.0+ devices, and the HID report descriptors the configuration
 * announces.  Strings are planned with language 0 until string 0 gives
 * the device's first language.
 */
static void plan_fetch(VdiUsbGuardCore *c)
{
    const VdiUsbDeviceDesc *d = &c->dev_desc;
    const uint8_t *p = c->config, *end = c->config + c->config_len;
    uint8_t strings[] = { d->i_manufacturer, d->i_product, d->i_serial };
    uint8_t iface = 0;
    bool any_string = false;
    unsigned k;

    c->n_plan = 0;
    plan(c, 0x80, DT_STRING << 8, 0, 255);
    for (k = 0; k < ARRAY_SIZE(strings); k++) {
        if (strings[k]) {
            plan(c, 0x80, DT_STRING << 8 | strings[k], 0, 255);
            any_string = true;
        }
    }
    while (end - p >= 2 && p[0] >= 2 && p[0] <= end - p) {
        uint8_t istr = 0;

        if (p[1] == VDI_USB_DT_CONFIG && p[0] >= 7) {
            istr = p[6];
        } else if (p[1] == VDI_USB_DT_INTERFACE && p[0] >= 9) {
            iface = p[2];
            istr = p[8];
        } else if (p[1] == DT_HID && p[0] >= 6) {
            for (k = 0; k < p[5] && 6 + 3 * k + 3 <= p[0]; k++) {
                if (p[6 + 3 * k] == DT_HID_REPORT) {
                    plan(c, 0x81, DT_HID_REPORT << 8 | k, iface,
                         lduw_le_p(p + 7 + 3 * k));
                }
            }
        }
        if (istr) {
            plan(c, 0x80, DT_STRING << 8 | istr, 0, 255);
            any_string = true;
        }
        p += p[0];
    }
    if (!any_string) {
        /* nothing names a string: not even string 0 */
        memmove(c->plan, c->plan + 1, --c->n_plan * sizeof(c->plan[0]));
    }
    if (d->bcd_usb >= 0x0200) {
        plan(c, 0x80, DT_DEVICE_QUALIFIER << 8, 0, 10);
    }
    if (d->bcd_usb >= 0x0201) {
        plan(c, 0x80, DT_BOS << 8, 0, 5);
    }
}

/* The serial number string, decoded, or NULL */
static char *decode_serial(const VdiUsbGuardCore *c)
{
    const VdiUsbGuardDesc *s;
    const uint8_t *data;
    size_t units, i, len;
    g_autofree gunichar2 *utf16 = NULL;

    if (!c->dev_desc.i_serial) {
        return NULL;
    }
    s = vdi_usb_guard_core_find_desc(c, 0x80,
                                     DT_STRING << 8 | c->dev_desc.i_serial, 0);
    if (!s || s->len < 2 || s->data[1] != DT_STRING) {
        return NULL;
    }
    data = s->data;
    len = MIN(s->len, data[0]);
    units = (len - MIN(2, len)) / 2;
    utf16 = g_new0(gunichar2, units + 1);
    for (i = 0; i < units; i++) {
        utf16[i] = lduw_le_p(data + 2 + 2 * i);
    }
    /* NULL if not valid UTF-16: serial rules then never match */
    return g_utf16_to_utf8(utf16, units, NULL, NULL, NULL);
}

static VdiUsbGuardFetch evaluate(VdiUsbGuardCore *c,
                                 const VdiUsbPolicy *policy)
{
    g_autofree char *err = NULL;

    c->fetch_step = FETCH_NONE;
    c->serial = decode_serial(c);
    c->cfg = g_new0(VdiUsbConfig, 1);
    if (!vdi_usb_parse_config_desc(c->config, c->config_len, c->cfg, &err)) {
        g_clear_pointer(&c->cfg, g_free);
        return vdi_usb_guard_core_refuse_bad(c, "configuration descriptor",
                                             err);
    }
    c->verdict = g_new0(VdiUsbVerdict, 1);
    vdi_usb_policy_evaluate(policy, &c->dev_desc, c->cfg, c->serial,
                            c->verdict);
    if (c->verdict->action == VDI_USB_ACTION_DENY) {
        return vdi_usb_guard_core_refuse(c);
    }
    vdi_usb_guard_core_apply_verdict(c);
    return VDI_USB_GUARD_DONE;
}

/* The next planned request, or the verdict when there is none */
static VdiUsbGuardFetch next_planned(VdiUsbGuardCore *c,
                                     const VdiUsbPolicy *policy, int step,
                                     VdiUsbGuardRequest *next)
{
    const VdiUsbGuardRequest *r;
    unsigned k = step - FETCH_PLAN;

    if (k >= c->n_plan) {
        return evaluate(c, policy);
    }
    r = &c->plan[k];
    request(c, step, r->type, r->value, r->index, r->length, next);
    return VDI_USB_GUARD_MORE;
}

/* A planned descriptor arrived (or failed: the guest then gets a stall) */
static VdiUsbGuardFetch planned_reply(VdiUsbGuardCore *c,
                                      const VdiUsbPolicy *policy, bool ok,
                                      const uint8_t *data, size_t len,
                                      VdiUsbGuardRequest *next)
{
    VdiUsbGuardRequest *r = &c->plan[c->fetch_step - FETCH_PLAN];
    bool good = ok && len >= 2 && (r->type != 0x80 || data[1] == r->value >> 8);
    unsigned k;

    if (good) {
        keep_desc(c, r, data, len);
    }
    if (r->type == 0x80 && r->value == DT_STRING << 8) {
        /* the first language, for the strings planned after it */
        c->langid = good && len >= 4 ? lduw_le_p(data + 2) : 0;
        for (k = 0; k < c->n_plan; k++) {
            if (c->plan[k].value >> 8 == DT_STRING && c->plan[k].value & 0xff) {
                c->plan[k].index = c->langid;
            }
        }
    } else if (good && r->value == DT_BOS << 8 && r->length == 5 &&
               len >= 4 && lduw_le_p(data + 2) > 5) {
        /* now the whole BOS descriptor set, in place of its head */
        c->n_descs--;
        g_free(c->descs[c->n_descs].data);
        r->length = lduw_le_p(data + 2);
        request(c, c->fetch_step, r->type, r->value, r->index, r->length,
                next);
        return VDI_USB_GUARD_MORE;
    }
    return next_planned(c, policy, c->fetch_step + 1, next);
}

/* A descriptor read again: does it match the one evaluated? */
static VdiUsbGuardFetch check_reply(VdiUsbGuardCore *c, bool ok,
                                    const uint8_t *data, size_t len,
                                    VdiUsbGuardRequest *next)
{
    const VdiUsbGuardDesc *dev =
        vdi_usb_guard_core_find_desc(c, 0x80, VDI_USB_DT_DEVICE << 8, 0);

    switch (c->fetch_step) {
    case FETCH_DEVICE:
        if (!ok || !dev || len != dev->len || memcmp(data, dev->data, len)) {
            return vdi_usb_guard_core_refuse_bad(c, "device descriptor",
                                                 "changed since it was"
                                                 " evaluated");
        }
        request(c, FETCH_CONFIG, 0x80, VDI_USB_DT_CONFIG << 8, 0,
                c->config_len, next);
        return VDI_USB_GUARD_MORE;
    case FETCH_CONFIG:
        if (!ok || len != c->config_len || memcmp(data, c->config, len)) {
            return vdi_usb_guard_core_refuse_bad(c, "configuration descriptor",
                                                 "changed since it was"
                                                 " evaluated");
        }
        break;
    }
    c->fetch_step = FETCH_NONE;
    c->checking = false;
    return VDI_USB_GUARD_IGNORED;
}

VdiUsbGuardFetch vdi_usb_guard_core_reply(VdiUsbGuardCore *c,
                                          const VdiUsbPolicy *policy,
                                          uint64_t id, bool ok,
                                          const uint8_t *data, size_t len,
                                          VdiUsbGuardRequest *next)
{
    g_autofree char *err = NULL;
    VdiUsbGuardRequest req;
    uint16_t total;

    if (c->fetch_step == FETCH_NONE || id != GUARD_ID(c, c->fetch_step)) {
        return VDI_USB_GUARD_IGNORED;
    }
    if (!data) {
        len = 0;
    }
    if (c->checking) {
        return check_reply(c, ok, data, len, next);
    }
    switch (c->fetch_step) {
    case FETCH_DEVICE:
        if (!ok) {
            return vdi_usb_guard_core_refuse_bad(c, "device descriptor",
                                                 "request failed");
        }
        if (!vdi_usb_parse_device_desc(data, len, &c->dev_desc, &err)) {
            return vdi_usb_guard_core_refuse_bad(c, "device descriptor", err);
        }
        c->have_dev_desc = true;
        request(c, FETCH_DEVICE, 0x80, VDI_USB_DT_DEVICE << 8, 0, 18, &req);
        keep_desc(c, &req, data, len);
        request(c, FETCH_CONFIG_HEAD, 0x80, VDI_USB_DT_CONFIG << 8, 0, 9,
                next);
        return VDI_USB_GUARD_MORE;

    case FETCH_CONFIG_HEAD:
        if (!ok || len < 4) {
            return vdi_usb_guard_core_refuse_bad(c, "configuration descriptor",
                                                 ok ? "truncated" :
                                                 "request failed");
        }
        total = lduw_le_p(data + 2);
        if (total < 9) {
            return vdi_usb_guard_core_refuse_bad(c, "configuration descriptor",
                                                 "wTotalLength below 9");
        }
        request(c, FETCH_CONFIG, 0x80, VDI_USB_DT_CONFIG << 8, 0, total,
                next);
        return VDI_USB_GUARD_MORE;

    case FETCH_CONFIG:
        if (!ok) {
            return vdi_usb_guard_core_refuse_bad(c, "configuration descriptor",
                                                 "request failed");
        }
        c->config = g_memdup2(data, len);
        c->config_len = len;
        plan_fetch(c);
        return next_planned(c, policy, FETCH_PLAN, next);
    }
    return planned_reply(c, policy, ok, data, len, next);
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
    /* each step asks for a later one, BOS twice */
    for (steps = 0; steps <= FETCH_PLAN + VDI_USB_GUARD_MAX_DESCS; steps++) {
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

/* Does an alternate setting of the configuration have this endpoint? */
static bool config_has_ep(const VdiUsbConfig *cfg, uint8_t iface,
                          uint8_t address, uint8_t type)
{
    unsigned a, e;

    for (a = 0; a < cfg->n_alts; a++) {
        const VdiUsbAltSetting *alt = &cfg->alts[a];

        for (e = 0; alt->number == iface && e < alt->n_endpoints; e++) {
            if (alt->endpoints[e].address == address &&
                (alt->endpoints[e].attributes & 3) == type) {
                return true;
            }
        }
    }
    return false;
}

static bool config_has_iface(const VdiUsbConfig *cfg, uint8_t number,
                             uint8_t cls, uint8_t subclass, uint8_t protocol)
{
    unsigned a;

    for (a = 0; a < cfg->n_alts; a++) {
        const VdiUsbAltSetting *alt = &cfg->alts[a];

        if (alt->number == number && alt->cls == cls &&
            alt->subclass == subclass && alt->protocol == protocol) {
            return true;
        }
    }
    return false;
}

bool vdi_usb_guard_core_check_peer(VdiUsbGuardCore *c,
                                   const VdiUsbPeerView *v)
{
    const VdiUsbDeviceDesc *d = &c->dev_desc;
    g_autofree char *why = NULL;
    unsigned k;

    if (!vdi_usb_guard_core_enforcing(c)) {
        return true;
    }
    if (v->has_device &&
        (v->vid != d->vid || v->pid != d->pid || v->dev_class != d->dev_class ||
         v->dev_subclass != d->dev_subclass ||
         v->dev_protocol != d->dev_protocol)) {
        why = g_strdup_printf("device %04x:%04x class %02x:%02x:%02x, its "
                              "descriptor says %04x:%04x class %02x:%02x:%02x",
                              v->vid, v->pid, v->dev_class, v->dev_subclass,
                              v->dev_protocol, d->vid, d->pid, d->dev_class,
                              d->dev_subclass, d->dev_protocol);
    }
    for (k = 0; !why && k < MIN(v->n_ifaces, VDI_USB_PEER_MAX); k++) {
        if (!config_has_iface(c->cfg, v->ifaces[k].number, v->ifaces[k].cls,
                              v->ifaces[k].subclass,
                              v->ifaces[k].protocol)) {
            why = g_strdup_printf("interface %u is class %02x:%02x:%02x, "
                                  "which its descriptors do not list",
                                  v->ifaces[k].number, v->ifaces[k].cls,
                                  v->ifaces[k].subclass,
                                  v->ifaces[k].protocol);
        }
    }
    for (k = 0; !why && k < MIN(v->n_eps, VDI_USB_PEER_MAX); k++) {
        if (!config_has_ep(c->cfg, v->eps[k].iface, v->eps[k].address,
                           v->eps[k].type)) {
            why = g_strdup_printf("endpoint %02x (type %u, interface %u) "
                                  "is not in its descriptors",
                                  v->eps[k].address, v->eps[k].type,
                                  v->eps[k].iface);
        }
    }
    if (!why) {
        return true;
    }
    vdi_usb_guard_core_refuse_bad(c, "the device announces", why);
    return false;
}
