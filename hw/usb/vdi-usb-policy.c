/*
 * VDI host: per-VM USB device policy: rules and their evaluation
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Evaluation (vdi_usb_policy_evaluate):
 *  1. Each alternate setting is matched against the rules in order; the
 *     first match decides its action, else the default action.
 *  2. An interface is DENIED if any of its alternate settings is denied
 *     (so an innocent alt 0 cannot smuggle a denied alt 1 in).  It is
 *     READ-ONLY if a mass storage alternate setting got READ_ONLY, else
 *     ALLOWED.
 *  3. If any interface is READ-ONLY, every other mass storage interface
 *     of the device becomes READ-ONLY as well.
 *  4. In a READ-ONLY interface only Bulk-Only SCSI alternate settings
 *     (class 08, subclass 01/02/05/06, protocol 50, one bulk IN and one
 *     bulk OUT endpoint) stay usable; UAS, CBI and anything else are
 *     refused.  If alternate setting 0 is refused the interface cannot be
 *     used at all: it is hidden when another interface of the device is a
 *     usable read-only Bulk-Only one, otherwise the device is denied.
 *  5. A DENIED interface whose deciding rule has the hide flag is hidden;
 *     otherwise the whole device is denied.  A device with every interface
 *     hidden is denied.
 */

#include "qemu/osdep.h"
#include "vdi-usb-policy.h"

struct VdiUsbPolicy {
    VdiUsbAction default_action;
    GArray *rules;              /* of VdiUsbRule */
};

/* Rules */

void vdi_usb_rule_init(VdiUsbRule *rule, VdiUsbAction action)
{
    memset(rule, 0, sizeof(*rule));
    rule->action = action;
    rule->bcd_hi = 0xffff;
}

static bool id_char_ok(char c)
{
    return g_ascii_isalnum(c) || c == '-' || c == '_' || c == '.' ||
        c == ':';
}

static bool rule_validate(const VdiUsbRule *rule, char **errmsg)
{
    size_t i, n;

    if (rule->action != VDI_USB_ACTION_ALLOW &&
        rule->action != VDI_USB_ACTION_DENY &&
        rule->action != VDI_USB_ACTION_READ_ONLY) {
        vdi_usb_set_error(errmsg, "invalid action %d", (int)rule->action);
        return false;
    }
    if (rule->hide && rule->action != VDI_USB_ACTION_DENY) {
        vdi_usb_set_error(errmsg, "'hide' only applies to deny rules");
        return false;
    }
    if (rule->match & ~(uint32_t)VDI_USB_MATCH_ALL) {
        vdi_usb_set_error(errmsg, "unknown match flags 0x%x",
                          rule->match & ~(uint32_t)VDI_USB_MATCH_ALL);
        return false;
    }
    n = strnlen(rule->id, sizeof(rule->id));
    if (n == sizeof(rule->id)) {
        vdi_usb_set_error(errmsg, "rule id longer than %d characters",
                          VDI_USB_RULE_ID_MAX - 1);
        return false;
    }
    for (i = 0; i < n; i++) {
        if (!id_char_ok(rule->id[i])) {
            vdi_usb_set_error(errmsg, "bad character in rule id (allowed: "
                              "letters, digits, '-', '_', '.', ':')");
            return false;
        }
    }
    if ((rule->match & VDI_USB_MATCH_BCD) && rule->bcd_lo > rule->bcd_hi) {
        vdi_usb_set_error(errmsg, "reversed bcd range %04x-%04x", rule->bcd_lo,
                          rule->bcd_hi);
        return false;
    }
    if (rule->match & VDI_USB_MATCH_SERIAL) {
        n = strnlen(rule->serial, sizeof(rule->serial));
        if (n == sizeof(rule->serial)) {
            vdi_usb_set_error(errmsg, "serial longer than %d characters",
                              VDI_USB_SERIAL_MAX - 1);
            return false;
        }
        if (n == 0) {
            vdi_usb_set_error(errmsg, "empty serial");
            return false;
        }
    }
    return true;
}

/* '*' matches any run of characters (also empty); no other wildcards */
bool vdi_usb_glob_match(const char *pattern, const char *str)
{
    const char *star = NULL, *resume = NULL;

    while (*str) {
        if (*pattern == '*') {
            star = pattern++;
            resume = str;
        } else if (*pattern && *pattern == *str) {
            pattern++;
            str++;
        } else if (star) {
            pattern = star + 1;
            str = ++resume;
        } else {
            return false;
        }
    }
    while (*pattern == '*') {
        pattern++;
    }
    return *pattern == '\0';
}

/* Policies */

VdiUsbPolicy *vdi_usb_policy_new(VdiUsbAction default_action)
{
    VdiUsbPolicy *p = g_new0(VdiUsbPolicy, 1);

    p->default_action = default_action;
    p->rules = g_array_new(false, true, sizeof(VdiUsbRule));
    return p;
}

void vdi_usb_policy_free(VdiUsbPolicy *policy)
{
    if (policy) {
        g_array_free(policy->rules, true);
        g_free(policy);
    }
}

static bool id_in_use(const GArray *rules, const char *id)
{
    guint i;

    for (i = 0; id[0] && i < rules->len; i++) {
        if (!strcmp(g_array_index(rules, VdiUsbRule, i).id, id)) {
            return true;
        }
    }
    return false;
}

bool vdi_usb_policy_add_rule(VdiUsbPolicy *policy, const VdiUsbRule *rule,
                             char **errmsg)
{
    if (!rule_validate(rule, errmsg)) {
        return false;
    }
    if (policy->rules->len >= VDI_USB_MAX_RULES) {
        vdi_usb_set_error(errmsg, "too many rules (at most %d)",
                          VDI_USB_MAX_RULES);
        return false;
    }
    if (id_in_use(policy->rules, rule->id)) {
        vdi_usb_set_error(errmsg, "duplicate rule id '%s'", rule->id);
        return false;
    }
    g_array_append_val(policy->rules, *rule);
    return true;
}

/* Evaluation */

static bool rule_matches(const VdiUsbRule *r, const VdiUsbDeviceDesc *dev,
                         const VdiUsbAltSetting *a, const char *serial)
{
    uint32_t m = r->match;

    if ((m & VDI_USB_MATCH_DEV_CLASS) && dev->dev_class != r->dev_class) {
        return false;
    }
    if ((m & VDI_USB_MATCH_DEV_SUBCLASS) &&
        dev->dev_subclass != r->dev_subclass) {
        return false;
    }
    if ((m & VDI_USB_MATCH_DEV_PROTOCOL) &&
        dev->dev_protocol != r->dev_protocol) {
        return false;
    }
    if ((m & VDI_USB_MATCH_IFACE_CLASS) && a->cls != r->iface_class) {
        return false;
    }
    if ((m & VDI_USB_MATCH_IFACE_SUBCLASS) &&
        a->subclass != r->iface_subclass) {
        return false;
    }
    if ((m & VDI_USB_MATCH_IFACE_PROTOCOL) &&
        a->protocol != r->iface_protocol) {
        return false;
    }
    if ((m & VDI_USB_MATCH_VID) && dev->vid != r->vid) {
        return false;
    }
    if ((m & VDI_USB_MATCH_PID) && dev->pid != r->pid) {
        return false;
    }
    if ((m & VDI_USB_MATCH_BCD) &&
        (dev->bcd_device < r->bcd_lo || dev->bcd_device > r->bcd_hi)) {
        return false;
    }
    if (m & VDI_USB_MATCH_SERIAL) {
        char pat[VDI_USB_SERIAL_MAX];

        if (!serial) {
            return false;
        }
        g_strlcpy(pat, r->serial, sizeof(pat));
        if (!vdi_usb_glob_match(pat, serial)) {
            return false;
        }
    }
    return true;
}

/* Bulk-Only SCSI-command-set alternate setting the BOT filter can guard */
static bool alt_is_bot(const VdiUsbAltSetting *a, uint8_t *ep_in,
                       uint8_t *ep_out)
{
    unsigned i, n_in = 0, n_out = 0;

    if (a->cls != VDI_USB_CLASS_MASS_STORAGE ||
        a->protocol != VDI_USB_MSC_PROTO_BOT) {
        return false;
    }
    switch (a->subclass) {
    case 0x01:  /* RBC */
    case 0x02:  /* MMC-5 (ATAPI) */
    case 0x05:  /* SFF-8070i */
    case 0x06:  /* SCSI transparent */
        break;
    default:
        return false;
    }
    for (i = 0; i < a->n_endpoints; i++) {
        const VdiUsbEndpoint *ep = &a->endpoints[i];

        if ((ep->attributes & 3) != 2) {
            return false;
        }
        if (ep->address & 0x80) {
            *ep_in = ep->address;
            n_in++;
        } else {
            *ep_out = ep->address;
            n_out++;
        }
    }
    return n_in == 1 && n_out == 1;
}

typedef enum {
    IF_OK,
    IF_RO,
    IF_DENY,
} IfState;

typedef struct IfEval {
    IfState state;
    int rule;
    unsigned alt;               /* deciding alternate setting (index) */
    bool usable;                /* READ-ONLY: alternate setting 0 is BOT */
} IfEval;

static void rule_name(const VdiUsbPolicy *p, int idx, char *buf, size_t n)
{
    if (idx < 0) {
        g_strlcpy(buf, "default", n);
    } else {
        const VdiUsbRule *r = &g_array_index(p->rules, VdiUsbRule, idx);

        if (r->id[0]) {
            snprintf(buf, n, "%.*s", VDI_USB_RULE_ID_MAX - 1, r->id);
        } else {
            snprintf(buf, n, "#%d", idx);
        }
    }
}

static void by_rule(const VdiUsbPolicy *p, int idx, char *buf, size_t n)
{
    char name[VDI_USB_RULE_ID_MAX];

    if (idx < 0) {
        g_strlcpy(buf, "the default policy", n);
    } else {
        rule_name(p, idx, name, sizeof(name));
        snprintf(buf, n, "rule '%s'", name);
    }
}

static void iface_desc(const VdiUsbAltSetting *a, char *buf, size_t n)
{
    snprintf(buf, n, "interface %u (class %02x:%02x:%02x)", a->number,
             a->cls, a->subclass, a->protocol);
}

void vdi_usb_policy_evaluate(const VdiUsbPolicy *policy,
                             const VdiUsbDeviceDesc *dev,
                             const VdiUsbConfig *cfg, const char *serial,
                             VdiUsbVerdict *v)
{
    int alt_rule[VDI_USB_MAX_ALTS];
    VdiUsbAction alt_act[VDI_USB_MAX_ALTS];
    IfEval ife[VDI_USB_MAX_ALTS];
    unsigned iface_of[VDI_USB_MAX_ALTS];
    const VdiUsbRule *rules = (const VdiUsbRule *)policy->rules->data;
    unsigned n_alts = MIN(cfg->n_alts, VDI_USB_MAX_ALTS);
    unsigned i, k;
    int deny_if = -1, ro_rule = -1, ro_if = -1, note_if = -1;
    bool denied = false, any_bot = false, any_ro = false;
    char rb[VDI_USB_RULE_ID_MAX + 32], db[64], note[VDI_USB_REASON_MAX];
    const char *deny_why = "";

    memset(v, 0, sizeof(*v));
    note[0] = '\0';
    if (n_alts == 0) {
        v->action = VDI_USB_ACTION_DENY;
        v->rule_index = -1;
        g_strlcpy(v->rule_id, "default", sizeof(v->rule_id));
        g_strlcpy(v->reason, "configuration has no interfaces",
                  sizeof(v->reason));
        return;
    }

    /* 1. per alternate setting, first match wins */
    v->n_alts = n_alts;
    for (i = 0; i < n_alts; i++) {
        const VdiUsbAltSetting *a = &cfg->alts[i];
        guint r;

        v->alts[i].number = a->number;
        v->alts[i].alt = a->alt;
        v->alts[i].usable = true;
        alt_rule[i] = -1;
        alt_act[i] = policy->default_action;
        for (r = 0; r < policy->rules->len; r++) {
            if (rule_matches(&rules[r], dev, a, serial)) {
                alt_rule[i] = r;
                alt_act[i] = rules[r].action;
                break;
            }
        }
        for (k = 0; k < v->n_ifaces; k++) {
            if (v->ifaces[k].number == a->number) {
                break;
            }
        }
        if (k == v->n_ifaces) {
            v->ifaces[k].number = a->number;
            ife[k].state = IF_OK;
            ife[k].rule = alt_rule[i];
            ife[k].alt = i;
            ife[k].usable = true;
            v->n_ifaces++;
        }
        iface_of[i] = k;
    }

    /* 2. combine the alternate settings of each interface */
    for (i = 0; i < n_alts; i++) {
        IfEval *e = &ife[iface_of[i]];

        if (alt_act[i] == VDI_USB_ACTION_DENY) {
            if (e->state != IF_DENY) {
                e->state = IF_DENY;
                e->rule = alt_rule[i];
                e->alt = i;
            }
        } else if (alt_act[i] == VDI_USB_ACTION_READ_ONLY &&
                   cfg->alts[i].cls == VDI_USB_CLASS_MASS_STORAGE &&
                   e->state == IF_OK) {
            e->state = IF_RO;
            e->rule = alt_rule[i];
            e->alt = i;
        }
    }
    for (k = 0; k < v->n_ifaces; k++) {
        if (ife[k].state == IF_RO) {
            ro_rule = ife[k].rule;
            break;
        }
    }

    /* 3. a read-only device has all its storage interfaces read-only */
    if (k < v->n_ifaces) {
        for (i = 0; i < n_alts; i++) {
            IfEval *e = &ife[iface_of[i]];

            if (e->state == IF_OK &&
                cfg->alts[i].cls == VDI_USB_CLASS_MASS_STORAGE) {
                e->state = IF_RO;
                e->rule = ro_rule;
                e->alt = i;
            }
        }
    }

    /* 4. read-only interfaces keep their Bulk-Only alternate settings */
    for (i = 0; i < n_alts; i++) {
        k = iface_of[i];
        if (ife[k].state == IF_RO) {
            uint8_t in = 0, out = 0;

            if (alt_is_bot(&cfg->alts[i], &in, &out)) {
                if (!v->ifaces[k].bot_ep_in) {
                    v->ifaces[k].bot_ep_in = in;
                    v->ifaces[k].bot_ep_out = out;
                }
            } else {
                v->alts[i].usable = false;
                if (cfg->alts[i].alt == 0) {
                    ife[k].usable = false;
                    ife[k].alt = i;
                }
                if (!note[0]) {
                    iface_desc(&cfg->alts[i], db, sizeof(db));
                    snprintf(note, sizeof(note), "; %s alternate setting %u "
                             "refused (not Bulk-Only)", db, cfg->alts[i].alt);
                }
            }
        }
    }
    for (k = 0; k < v->n_ifaces; k++) {
        if (ife[k].state == IF_RO && ife[k].usable) {
            any_bot = true;
        }
    }

    /* 5. decisions */
    for (k = 0; k < v->n_ifaces; k++) {
        VdiUsbIfaceVerdict *iv = &v->ifaces[k];
        IfEval *e = &ife[k];
        const VdiUsbAltSetting *a = &cfg->alts[e->alt];

        iv->rule_index = e->rule;
        iv->cls = a->cls;
        iv->subclass = a->subclass;
        iv->protocol = a->protocol;
        iv->decision = VDI_USB_IFACE_ALLOWED;
        if (e->state == IF_DENY) {
            iv->decision = VDI_USB_IFACE_HIDDEN;
            if (e->rule < 0 || !rules[e->rule].hide) {
                if (!denied) {
                    denied = true;
                    deny_if = k;
                    deny_why = "denied by";
                }
            } else if (note_if < 0) {
                note_if = k;
            }
        } else if (e->state == IF_RO) {
            if (e->usable) {
                iv->decision = VDI_USB_IFACE_READ_ONLY;
                any_ro = true;
                if (ro_if < 0) {
                    ro_if = k;
                }
            } else {
                iv->decision = VDI_USB_IFACE_HIDDEN;
                iv->bot_ep_in = iv->bot_ep_out = 0;
                if (!any_bot && !denied) {
                    denied = true;
                    deny_if = k;
                    deny_why = "denied: alternate setting 0 is not "
                        "Bulk-Only, so it cannot be made read-only as "
                        "required by";
                } else if (note_if < 0) {
                    note_if = k;
                }
            }
        }
        if (iv->decision == VDI_USB_IFACE_HIDDEN) {
            for (i = 0; i < n_alts; i++) {
                if (iface_of[i] == k) {
                    v->alts[i].usable = false;
                }
            }
        }
    }
    if (note_if >= 0) {
        const IfEval *e = &ife[note_if];

        iface_desc(&cfg->alts[e->alt], db, sizeof(db));
        by_rule(policy, e->rule, rb, sizeof(rb));
        snprintf(note, sizeof(note), "; %s hidden by %s", db, rb);
    }

    if (denied) {
        const IfEval *e = &ife[deny_if];

        v->action = VDI_USB_ACTION_DENY;
        v->rule_index = e->rule;
        iface_desc(&cfg->alts[e->alt], db, sizeof(db));
        by_rule(policy, e->rule, rb, sizeof(rb));
        snprintf(v->reason, sizeof(v->reason), "%s %s %s", db, deny_why, rb);
    } else if (any_ro) {
        const IfEval *e = &ife[ro_if];

        v->action = VDI_USB_ACTION_READ_ONLY;
        v->rule_index = e->rule;
        iface_desc(&cfg->alts[e->alt], db, sizeof(db));
        by_rule(policy, e->rule, rb, sizeof(rb));
        snprintf(v->reason, sizeof(v->reason), "%s read-only by %s%s", db,
                 rb, note);
    } else {
        for (k = 0; k < v->n_ifaces; k++) {
            if (v->ifaces[k].decision == VDI_USB_IFACE_ALLOWED) {
                break;
            }
        }
        if (k == v->n_ifaces) {
            /* everything hidden: nothing left to attach */
            const IfEval *e = &ife[0];

            v->action = VDI_USB_ACTION_DENY;
            v->rule_index = e->rule;
            iface_desc(&cfg->alts[e->alt], db, sizeof(db));
            by_rule(policy, e->rule, rb, sizeof(rb));
            snprintf(v->reason, sizeof(v->reason), "no interface left: %s "
                     "hidden by %s", db, rb);
        } else {
            const IfEval *e = &ife[k];

            v->action = VDI_USB_ACTION_ALLOW;
            v->rule_index = e->rule;
            iface_desc(&cfg->alts[e->alt], db, sizeof(db));
            by_rule(policy, e->rule, rb, sizeof(rb));
            snprintf(v->reason, sizeof(v->reason), "%s allowed by %s%s", db,
                     rb, note);
        }
    }
    rule_name(policy, v->rule_index, v->rule_id, sizeof(v->rule_id));
}
