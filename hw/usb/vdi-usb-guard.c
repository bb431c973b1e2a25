/*
 * VDI host: the per-VM USB peripheral policy applied to redirected devices
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Glue between the policy engine (vdi-usb-policy.c), the read-only
 * Bulk-Only filter (vdi-bot-filter.c), QMP and the device models.  See
 * vdi-usb-guard.h for how a device model uses it.
 */

#include "qemu/osdep.h"
#include "hw/vdi/vdi-extension.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/module.h"
#include "qapi/clone-visitor.h"
#include "qapi/qapi-commands-usb-policy.h"
#include "qapi/qapi-events-usb-policy.h"
#include "qapi/qapi-visit-usb-policy.h"
#include "hw/qdev-core.h"
#include "vdi-usb-guard.h"

/* Private packet ids of the descriptor fetch: 0xffffff00 + step */
#define GUARD_ID_BASE   0xffffff00ULL
#define GUARD_ID(step)  (GUARD_ID_BASE | (step))

enum {
    FETCH_NONE,
    FETCH_DEVICE,       /* device descriptor */
    FETCH_CONFIG_HEAD,  /* first 9 bytes of configuration 0 */
    FETCH_CONFIG,       /* all wTotalLength bytes of it */
    FETCH_LANGIDS,      /* string descriptor 0 */
    FETCH_SERIAL,       /* the iSerialNumber string */
};

/* The policy; without usb-policy-set everything is allowed, as before */
static VdiUsbPolicy *policy;
static UsbPolicy *policy_qapi;
static QTAILQ_HEAD(, VdiUsbGuard) guards = QTAILQ_HEAD_INITIALIZER(guards);

static VdiUsbPolicy *get_policy(void)
{
    if (!policy) {
        policy = vdi_usb_policy_new(VDI_USB_ACTION_ALLOW);
    }
    return policy;
}

static UsbPolicyAction action_to_qapi(VdiUsbAction a)
{
    switch (a) {
    case VDI_USB_ACTION_DENY:
        return USB_POLICY_ACTION_DENY;
    case VDI_USB_ACTION_READ_ONLY:
        return USB_POLICY_ACTION_READ_ONLY;
    default:
        return USB_POLICY_ACTION_ALLOW;
    }
}

static VdiUsbAction action_from_qapi(UsbPolicyAction a)
{
    switch (a) {
    case USB_POLICY_ACTION_DENY:
        return VDI_USB_ACTION_DENY;
    case USB_POLICY_ACTION_READ_ONLY:
        return VDI_USB_ACTION_READ_ONLY;
    default:
        return VDI_USB_ACTION_ALLOW;
    }
}

/* The name devices have in events and queries: qdev id, else QOM path */
static char *guard_name(VdiUsbGuard *g)
{
    DeviceState *d = DEVICE(g->udev);

    return d->id ? g_strdup(d->id) : object_get_canonical_path(OBJECT(d));
}

static void free_filters(VdiUsbGuard *g)
{
    unsigned k;

    for (k = 0; k < VDI_USB_MAX_ALTS; k++) {
        vdi_bot_filter_free(g->bot[k]);
        g->bot[k] = NULL;
    }
    g_clear_pointer(&g->guest_config, g_free);
    g->guest_config_len = 0;
}

static void forget_device(VdiUsbGuard *g)
{
    free_filters(g);
    g->fetch_step = FETCH_NONE;
    g->have_dev_desc = false;
    g_clear_pointer(&g->config, g_free);
    g->config_len = 0;
    g_clear_pointer(&g->cfg, g_free);
    g_clear_pointer(&g->serial, g_free);
    g_clear_pointer(&g->verdict, g_free);
    g_clear_pointer(&g->reject_reason, g_free);
}

void vdi_usb_guard_init(VdiUsbGuard *g, USBDevice *udev, const char *chardev,
                        const VdiUsbGuardOps *ops)
{
    memset(g, 0, sizeof(*g));
    g->udev = udev;
    g->ops = ops;
    g->chardev = g_strdup(chardev ? chardev : "");
    g->state = USB_PERIPHERAL_STATE_DISCONNECTED;
    QTAILQ_INSERT_TAIL(&guards, g, next);
}

void vdi_usb_guard_finalize(VdiUsbGuard *g)
{
    forget_device(g);
    g_free(g->chardev);
    QTAILQ_REMOVE(&guards, g, next);
}

/* Descriptor fetch */

bool vdi_usb_guard_owns_id(uint64_t id)
{
    return (id & ~0xffULL) == GUARD_ID_BASE;
}

static void request(VdiUsbGuard *g, int step, uint16_t value, uint16_t index,
                    uint16_t length, VdiUsbGuardRequest *req)
{
    g->fetch_step = step;
    req->id = GUARD_ID(step);
    req->value = value;
    req->index = index;
    req->length = length;
}

void vdi_usb_guard_connect(VdiUsbGuard *g, VdiUsbGuardRequest *first)
{
    forget_device(g);
    g->state = USB_PERIPHERAL_STATE_CONNECTED;
    request(g, FETCH_DEVICE, USB_DT_DEVICE << 8, 0, 18, first);
}

static VdiUsbGuardFetch refuse(VdiUsbGuard *g, const char *rule,
                               const char *reason)
{
    g_autofree char *name = guard_name(g);

    g->state = USB_PERIPHERAL_STATE_REJECTED;
    g->fetch_step = FETCH_NONE;
    free_filters(g);
    warn_report("usb-redir %s: device %04x:%04x refused: %s", name,
                g->dev_desc.vid, g->dev_desc.pid, reason);
    qapi_event_send_usb_peripheral_rejected(name, g->dev_desc.vid,
                                            g->dev_desc.pid, rule, reason);
    return VDI_USB_GUARD_DENIED;
}

/* The device's descriptors are malformed: refuse it, and say why */
static VdiUsbGuardFetch refuse_bad(VdiUsbGuard *g, const char *what,
                                   const char *err)
{
    g->reject_reason = g_strdup_printf("%s: %s", what, err);
    return refuse(g, "", g->reject_reason);
}

/* (Re)compute what the guest sees and the read-only filters */
static void apply_verdict(VdiUsbGuard *g)
{
    const VdiUsbVerdict *v = g->verdict;
    g_autofree char *err = NULL;
    bool filtered = false;
    unsigned i;

    free_filters(g);
    for (i = 0; i < v->n_alts; i++) {
        filtered |= !v->alts[i].usable;
    }
    if (filtered &&
        !vdi_usb_filter_config_desc(g->config, g->config_len, v,
                                    &g->guest_config, &g->guest_config_len,
                                    &err)) {
        /* cannot happen: the same blob was parsed for the verdict */
        error_report("usb-redir: cannot filter the configuration: %s", err);
    }
    for (i = 0; i < v->n_ifaces; i++) {
        if (v->ifaces[i].decision == VDI_USB_IFACE_READ_ONLY) {
            g->bot[i] = vdi_bot_filter_new();
        }
    }
}

static VdiUsbGuardFetch evaluate(VdiUsbGuard *g)
{
    g_autofree char *err = NULL;

    g->fetch_step = FETCH_NONE;
    g->cfg = g_new0(VdiUsbConfig, 1);
    if (!vdi_usb_parse_config_desc(g->config, g->config_len, g->cfg, &err)) {
        g_clear_pointer(&g->cfg, g_free);
        return refuse_bad(g, "configuration descriptor", err);
    }
    g->verdict = g_new0(VdiUsbVerdict, 1);
    vdi_usb_policy_evaluate(get_policy(), &g->dev_desc, g->cfg, g->serial,
                            g->verdict);
    if (g->verdict->action == VDI_USB_ACTION_DENY) {
        return refuse(g, g->verdict->rule_id, g->verdict->reason);
    }
    apply_verdict(g);
    return VDI_USB_GUARD_DONE;
}

static uint16_t le16(const uint8_t *p)
{
    return p[0] | (p[1] << 8);
}

VdiUsbGuardFetch vdi_usb_guard_reply(VdiUsbGuard *g, uint64_t id, bool ok,
                                     const uint8_t *data, size_t len,
                                     VdiUsbGuardRequest *next)
{
    g_autofree char *err = NULL;
    uint16_t total;

    if (g->fetch_step == FETCH_NONE || id != GUARD_ID(g->fetch_step)) {
        return VDI_USB_GUARD_IGNORED;
    }
    switch (g->fetch_step) {
    case FETCH_DEVICE:
        if (!ok) {
            return refuse_bad(g, "device descriptor", "request failed");
        }
        if (!vdi_usb_parse_device_desc(data, len, &g->dev_desc, &err)) {
            return refuse_bad(g, "device descriptor", err);
        }
        g->have_dev_desc = true;
        request(g, FETCH_CONFIG_HEAD, USB_DT_CONFIG << 8, 0, 9, next);
        return VDI_USB_GUARD_MORE;

    case FETCH_CONFIG_HEAD:
        if (!ok || len < 4) {
            return refuse_bad(g, "configuration descriptor",
                              ok ? "truncated" : "request failed");
        }
        total = le16(data + 2);
        if (total < 9) {
            return refuse_bad(g, "configuration descriptor",
                              "wTotalLength below 9");
        }
        request(g, FETCH_CONFIG, USB_DT_CONFIG << 8, 0, total, next);
        return VDI_USB_GUARD_MORE;

    case FETCH_CONFIG:
        if (!ok) {
            return refuse_bad(g, "configuration descriptor",
                              "request failed");
        }
        g->config = g_memdup2(data, len);
        g->config_len = len;
        if (!g->dev_desc.i_serial) {
            return evaluate(g);
        }
        request(g, FETCH_LANGIDS, USB_DT_STRING << 8, 0, 255, next);
        return VDI_USB_GUARD_MORE;

    case FETCH_LANGIDS:
        if (!ok || len < 4 || data[0] < 4) {
            return evaluate(g);     /* no strings: serial rules never match */
        }
        g->langid = le16(data + 2);
        request(g, FETCH_SERIAL, USB_DT_STRING << 8 | g->dev_desc.i_serial,
                g->langid, 255, next);
        return VDI_USB_GUARD_MORE;

    case FETCH_SERIAL:
        if (ok && len >= 2 && data[1] == USB_DT_STRING) {
            size_t units = (MIN(len, data[0]) - MIN(2, data[0])) / 2;
            g_autofree gunichar2 *utf16 = g_new0(gunichar2, units + 1);
            size_t i;

            for (i = 0; i < units; i++) {
                utf16[i] = le16(data + 2 + 2 * i);
            }
            /* NULL if not valid UTF-16: serial rules then never match */
            g->serial = g_utf16_to_utf8(utf16, units, NULL, NULL, NULL);
        }
        return evaluate(g);
    }
    return VDI_USB_GUARD_IGNORED;
}

void vdi_usb_guard_attached(VdiUsbGuard *g)
{
    g_autofree char *name = guard_name(g);

    g->state = USB_PERIPHERAL_STATE_ATTACHED;
    vdi_usb_guard_reset_bot(g);
    if (!g->verdict) {
        /* attached without evaluation, e.g. after migration */
        return;
    }
    qapi_event_send_usb_peripheral_attached(name, g->dev_desc.vid,
                                            g->dev_desc.pid,
                                            action_to_qapi(g->verdict->action),
                                            g->verdict->rule_id);
}

void vdi_usb_guard_disconnected(VdiUsbGuard *g, bool was_attached)
{
    if (was_attached) {
        g_autofree char *name = guard_name(g);

        qapi_event_send_usb_peripheral_detached(name);
    }
    if (g->state == USB_PERIPHERAL_STATE_REJECTED) {
        /* keep what we know about it for query-usb-peripherals */
        free_filters(g);
        g->fetch_step = FETCH_NONE;
    } else {
        forget_device(g);
        g->state = USB_PERIPHERAL_STATE_DISCONNECTED;
    }
}

/* Data path */

bool vdi_usb_guard_enforcing(const VdiUsbGuard *g)
{
    return g->verdict && g->cfg &&
        g->verdict->action != VDI_USB_ACTION_DENY &&
        (g->state == USB_PERIPHERAL_STATE_CONNECTED ||
         g->state == USB_PERIPHERAL_STATE_ATTACHED);
}

bool vdi_usb_guard_read_only(const VdiUsbGuard *g)
{
    return vdi_usb_guard_enforcing(g) &&
        g->verdict->action == VDI_USB_ACTION_READ_ONLY;
}

static const VdiUsbIfaceVerdict *find_iface(const VdiUsbGuard *g,
                                            uint8_t number)
{
    unsigned k;

    for (k = 0; k < g->verdict->n_ifaces; k++) {
        if (g->verdict->ifaces[k].number == number) {
            return &g->verdict->ifaces[k];
        }
    }
    return NULL;
}

/*
 * May the guest send this control request (request is bmRequestType << 8
 * | bRequest)?  Requests that would reveal or select what the policy hides
 * are refused, as is anything addressed to a hidden interface or endpoint.
 */
bool vdi_usb_guard_control_allowed(const VdiUsbGuard *g, int request,
                                   int value, int index)
{
    const VdiUsbIfaceVerdict *iv;
    uint8_t type = value >> 8;

    if (!vdi_usb_guard_enforcing(g)) {
        return true;
    }
    switch (request) {
    case DeviceRequest | USB_REQ_GET_DESCRIPTOR:
        /* only configuration 0 was evaluated and can be filtered */
        return !g->guest_config ||
            !((type == USB_DT_CONFIG && (value & 0xff)) ||
              type == USB_DT_OTHER_SPEED_CONFIG);
    case DeviceOutRequest | USB_REQ_SET_CONFIGURATION:
        return (value & 0xff) == 0 || (value & 0xff) == g->cfg->config_value;
    case InterfaceOutRequest | USB_REQ_SET_INTERFACE:
        return vdi_usb_verdict_alt_usable(g->verdict, index, value);
    }
    switch ((request >> 8) & USB_RECIP_MASK) {
    case USB_RECIP_INTERFACE:
        iv = find_iface(g, index & 0xff);
        return !iv || iv->decision != VDI_USB_IFACE_HIDDEN;
    case USB_RECIP_ENDPOINT:
        return !(index & 0x0f) ||
            vdi_usb_guard_endpoint_allowed(g, index & 0x8f);
    }
    return true;
}

/* May the guest use this endpoint (bit 7: IN)? */
bool vdi_usb_guard_endpoint_allowed(const VdiUsbGuard *g, uint8_t ep)
{
    return !vdi_usb_guard_enforcing(g) ||
        vdi_usb_verdict_endpoint_iface(g->verdict, g->cfg, ep) >= 0;
}

/* The read-only filter guarding this bulk endpoint, or NULL */
VdiBotFilter *vdi_usb_guard_bot_filter(const VdiUsbGuard *g, uint8_t ep)
{
    const VdiUsbIfaceVerdict *iv;
    int k;

    if (!vdi_usb_guard_read_only(g)) {
        return NULL;
    }
    k = vdi_usb_verdict_endpoint_iface(g->verdict, g->cfg, ep);
    if (k < 0 || !g->bot[k]) {
        return NULL;
    }
    iv = &g->verdict->ifaces[k];
    return ep == iv->bot_ep_in || ep == iv->bot_ep_out ? g->bot[k] : NULL;
}

void vdi_usb_guard_reset_bot(VdiUsbGuard *g)
{
    unsigned k;

    for (k = 0; k < VDI_USB_MAX_ALTS; k++) {
        if (g->bot[k]) {
            vdi_bot_filter_reset(g->bot[k]);
        }
    }
}

/* The configuration descriptor the guest sees, if it is not the device's */
const uint8_t *vdi_usb_guard_config_desc(const VdiUsbGuard *g, size_t *len)
{
    if (!vdi_usb_guard_enforcing(g)) {
        return NULL;
    }
    *len = g->guest_config_len;
    return g->guest_config;
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

static void reevaluate(VdiUsbGuard *g)
{
    g_autofree VdiUsbVerdict *v = g_new0(VdiUsbVerdict, 1);
    g_autofree char *name = guard_name(g);

    if (!vdi_usb_guard_enforcing(g)) {
        return;     /* nothing evaluated yet, or already refused */
    }
    vdi_usb_policy_evaluate(get_policy(), &g->dev_desc, g->cfg, g->serial,
                            v);
    if (same_verdict(v, g->verdict)) {
        /* same effect, maybe another rule: keep the filters' state */
        memcpy(g->verdict, v, sizeof(*v));
        return;
    }
    memcpy(g->verdict, v, sizeof(*v));
    if (v->action == VDI_USB_ACTION_DENY) {
        refuse(g, v->rule_id, v->reason);
        g->ops->reject(g);
        return;
    }
    apply_verdict(g);
    if (g->state == USB_PERIPHERAL_STATE_ATTACHED) {
        g->state = USB_PERIPHERAL_STATE_CONNECTED;
        qapi_event_send_usb_peripheral_detached(name);
        g->ops->replug(g);
    }
}

/* QMP */

static bool rule_from_qapi(const UsbPolicyRule *q, VdiUsbRule *r,
                           Error **errp)
{
    vdi_usb_rule_init(r, action_from_qapi(q->action));
    if (!q->id[0]) {
        error_setg(errp, "rule ids must not be empty");
        return false;
    }
    if (strlen(q->id) >= sizeof(r->id)) {
        error_setg(errp, "rule id '%s' is longer than %zu characters",
                   q->id, sizeof(r->id) - 1);
        return false;
    }
    pstrcpy(r->id, sizeof(r->id), q->id);
    r->hide = q->has_hide && q->hide;
#define MATCH(field, flag, dst)                 \
    if (q->has_##field) {                       \
        r->match |= (flag);                     \
        r->dst = q->field;                      \
    }
    MATCH(dev_class, VDI_USB_MATCH_DEV_CLASS, dev_class);
    MATCH(dev_subclass, VDI_USB_MATCH_DEV_SUBCLASS, dev_subclass);
    MATCH(dev_protocol, VDI_USB_MATCH_DEV_PROTOCOL, dev_protocol);
    MATCH(iface_class, VDI_USB_MATCH_IFACE_CLASS, iface_class);
    MATCH(iface_subclass, VDI_USB_MATCH_IFACE_SUBCLASS, iface_subclass);
    MATCH(iface_protocol, VDI_USB_MATCH_IFACE_PROTOCOL, iface_protocol);
    MATCH(vendor_id, VDI_USB_MATCH_VID, vid);
    MATCH(product_id, VDI_USB_MATCH_PID, pid);
    MATCH(bcd_min, VDI_USB_MATCH_BCD, bcd_lo);
    MATCH(bcd_max, VDI_USB_MATCH_BCD, bcd_hi);
#undef MATCH
    if (q->serial) {
        if (strlen(q->serial) >= sizeof(r->serial)) {
            error_setg(errp, "rule '%s': serial longer than %zu characters",
                       q->id, sizeof(r->serial) - 1);
            return false;
        }
        r->match |= VDI_USB_MATCH_SERIAL;
        pstrcpy(r->serial, sizeof(r->serial), q->serial);
    }
    return true;
}

void qmp_usb_policy_set(UsbPolicyRuleList *rules, UsbPolicyAction dflt,
                        Error **errp)
{
    VdiUsbPolicy *p = vdi_usb_policy_new(action_from_qapi(dflt));
    UsbPolicy q = { .rules = rules, .q_default = dflt };
    UsbPolicyRuleList *l;
    VdiUsbGuard *g, *tmp;

    for (l = rules; l; l = l->next) {
        g_autofree char *err = NULL;
        VdiUsbRule r;

        if (!rule_from_qapi(l->value, &r, errp)) {
            goto fail;
        }
        if (!vdi_usb_policy_add_rule(p, &r, &err)) {
            error_setg(errp, "rule '%s': %s", l->value->id, err);
            goto fail;
        }
    }
    vdi_usb_policy_free(policy);
    policy = p;
    qapi_free_UsbPolicy(policy_qapi);
    policy_qapi = QAPI_CLONE(UsbPolicy, &q);

    /* ops->reject() may disconnect the device, but never removes it */
    QTAILQ_FOREACH_SAFE(g, &guards, next, tmp) {
        reevaluate(g);
    }
    return;

fail:
    vdi_usb_policy_free(p);
}

UsbPolicy *qmp_query_usb_policy(Error **errp)
{
    UsbPolicy *q;

    if (policy_qapi) {
        return QAPI_CLONE(UsbPolicy, policy_qapi);
    }
    q = g_new0(UsbPolicy, 1);
    q->q_default = USB_POLICY_ACTION_ALLOW;
    return q;
}

static UsbPeripheralInterfaceList *query_ifaces(const VdiUsbGuard *g)
{
    UsbPeripheralInterfaceList *list = NULL, **tail = &list;
    unsigned k;

    for (k = 0; g->verdict && k < g->verdict->n_ifaces; k++) {
        const VdiUsbIfaceVerdict *iv = &g->verdict->ifaces[k];
        UsbPeripheralInterface *i = g_new0(UsbPeripheralInterface, 1);

        i->number = iv->number;
        i->iface_class = iv->cls;
        i->iface_subclass = iv->subclass;
        i->iface_protocol = iv->protocol;
        i->decision = iv->decision == VDI_USB_IFACE_HIDDEN ?
            USB_INTERFACE_DECISION_HIDDEN :
            iv->decision == VDI_USB_IFACE_READ_ONLY ?
            USB_INTERFACE_DECISION_READ_ONLY : USB_INTERFACE_DECISION_ALLOWED;
        if (g->bot[k]) {
            VdiBotStats st;

            vdi_bot_filter_get_stats(g->bot[k], &st);
            i->bot_filter = g_new0(UsbBotFilterStats, 1);
            i->bot_filter->commands = st.commands;
            i->bot_filter->passed = st.passed;
            i->bot_filter->blocked = st.blocked;
            i->bot_filter->protocol_errors = st.protocol_errors;
        }
        QAPI_LIST_APPEND(tail, i);
    }
    return list;
}

UsbPeripheralInfoList *qmp_query_usb_peripherals(Error **errp)
{
    UsbPeripheralInfoList *list = NULL, **tail = &list;
    VdiUsbGuard *g;

    QTAILQ_FOREACH(g, &guards, next) {
        UsbPeripheralInfo *info = g_new0(UsbPeripheralInfo, 1);
        bool present = g->state == USB_PERIPHERAL_STATE_CONNECTED ||
            g->state == USB_PERIPHERAL_STATE_ATTACHED;

        info->id = guard_name(g);
        info->chardev = g_strdup(g->chardev);
        info->state = g->state;
        if (g->have_dev_desc) {
            info->has_vendor_id = info->has_product_id = true;
            info->vendor_id = g->dev_desc.vid;
            info->product_id = g->dev_desc.pid;
            info->has_dev_class = true;
            info->dev_class = g->dev_desc.dev_class;
        }
        if (present && g->udev->speed >= USB_SPEED_LOW &&
            g->udev->speed <= USB_SPEED_SUPER) {
            info->has_speed = true;
            /* USB_SPEED_LOW..SUPER are 0..3, in the same order */
            info->speed = (UsbPeripheralSpeed)g->udev->speed;
        }
        info->interfaces = query_ifaces(g);
        if (g->udev->attached && g->udev->port) {
            info->port = g_strdup(g->udev->port->path);
        }
        if (g->verdict) {
            info->has_verdict = true;
            info->verdict = action_to_qapi(g->verdict->action);
            info->rule = g_strdup(g->verdict->rule_id);
            info->reason = g_strdup(g->verdict->reason);
        } else if (g->reject_reason) {
            info->has_verdict = true;
            info->verdict = USB_POLICY_ACTION_DENY;
            info->rule = g_strdup("");
            info->reason = g_strdup(g->reject_reason);
        }
        info->bytes_in = g->bytes_in;
        info->bytes_out = g->bytes_out;
        QAPI_LIST_APPEND(tail, info);
    }
    return list;
}

static void vdi_usb_guard_register(void)
{
    vdi_extension_register("usb-policy", 1);
}

type_init(vdi_usb_guard_register);
