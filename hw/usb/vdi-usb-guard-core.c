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
#include "qemu/bswap.h"
#include "vdi-usb-guard-core.h"

#define GUARD_ID(c, step) \
    (VDI_USB_GUARD_ID_BASE | (uint64_t)(c)->generation << 8 | (step))

/* Standard requests, as bmRequestType << 8 | bRequest */
#define REQ_GET_DESCRIPTOR      0x8006
#define REQ_SET_CONFIGURATION   0x0009
#define REQ_SET_INTERFACE       0x010b
#define REQ_BOT_RESET           0x21ff  /* Bulk-Only Mass Storage Reset */
#define RECIP_MASK              0x1f
#define RECIP_INTERFACE         1
#define RECIP_ENDPOINT          2
#define USB_GET_DESCRIPTOR      6

#define DT_STRING               3
#define DT_DEVICE_QUALIFIER     6
#define DT_OTHER_SPEED_CONFIG   7
#define DT_BOS                  0x0f
#define DT_HID                  0x21
#define DT_HID_REPORT           0x22

enum {
    FETCH_NONE,
    FETCH_DEVICE,       /* device descriptor */
    FETCH_CONFIG_HEAD,  /* first 9 bytes of configuration 0 */
    FETCH_CONFIG,       /* all wTotalLength bytes of it */
    FETCH_PLAN,         /* then c->plan[step - FETCH_PLAN] */
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

/* Descriptor fetch */

bool vdi_usb_guard_owns_id(uint64_t id)
{
    return (id & VDI_USB_GUARD_ID_BASE) == VDI_USB_GUARD_ID_BASE;
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

static VdiUsbGuardFetch refuse(VdiUsbGuardCore *c)
{
    c->state = VDI_USB_GUARD_REJECTED;
    c->fetch_step = FETCH_NONE;
    c->checking = false;
    free_filters(c);
    return VDI_USB_GUARD_DENIED;
}

/* The device's descriptors are malformed or changed: refuse it, say why */
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

static const VdiUsbGuardDesc *find_desc(const VdiUsbGuardCore *c,
                                        uint8_t type, uint16_t value,
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
    s = find_desc(c, 0x80, DT_STRING << 8 | c->dev_desc.i_serial, 0);
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
    const VdiUsbGuardDesc *dev = find_desc(c, 0x80, VDI_USB_DT_DEVICE << 8,
                                           0);

    switch (c->fetch_step) {
    case FETCH_DEVICE:
        if (!ok || !dev || len != dev->len || memcmp(data, dev->data, len)) {
            return refuse_bad(c, "device descriptor",
                              "changed since it was evaluated");
        }
        request(c, FETCH_CONFIG, 0x80, VDI_USB_DT_CONFIG << 8, 0,
                c->config_len, next);
        return VDI_USB_GUARD_MORE;
    case FETCH_CONFIG:
        if (!ok || len != c->config_len || memcmp(data, c->config, len)) {
            return refuse_bad(c, "configuration descriptor",
                              "changed since it was evaluated");
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
            return refuse_bad(c, "device descriptor", "request failed");
        }
        if (!vdi_usb_parse_device_desc(data, len, &c->dev_desc, &err)) {
            return refuse_bad(c, "device descriptor", err);
        }
        c->have_dev_desc = true;
        request(c, FETCH_DEVICE, 0x80, VDI_USB_DT_DEVICE << 8, 0, 18, &req);
        keep_desc(c, &req, data, len);
        request(c, FETCH_CONFIG_HEAD, 0x80, VDI_USB_DT_CONFIG << 8, 0, 9,
                next);
        return VDI_USB_GUARD_MORE;

    case FETCH_CONFIG_HEAD:
        if (!ok || len < 4) {
            return refuse_bad(c, "configuration descriptor",
                              ok ? "truncated" : "request failed");
        }
        total = lduw_le_p(data + 2);
        if (total < 9) {
            return refuse_bad(c, "configuration descriptor",
                              "wTotalLength below 9");
        }
        request(c, FETCH_CONFIG, 0x80, VDI_USB_DT_CONFIG << 8, 0, total,
                next);
        return VDI_USB_GUARD_MORE;

    case FETCH_CONFIG:
        if (!ok) {
            return refuse_bad(c, "configuration descriptor",
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
    refuse_bad(c, "the device announces", why);
    return false;
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
    d = find_desc(c, request >> 8, value, index);
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
