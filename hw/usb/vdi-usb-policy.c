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

const char *vdi_usb_action_name(VdiUsbAction action)
{
    switch (action) {
    case VDI_USB_ACTION_ALLOW:
        return "allow";
    case VDI_USB_ACTION_DENY:
        return "deny";
    case VDI_USB_ACTION_READ_ONLY:
        return "read-only";
    }
    return "invalid";
}

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

bool vdi_usb_rule_validate(const VdiUsbRule *rule, char **errmsg)
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
            vdi_usb_set_error(errmsg, "bad character in rule id (allowed: letters, "
                    "digits, '-', '_', '.', ':')");
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

static const struct {
    const char *key;
    uint32_t flag;
    unsigned digits;
} rule_keys[] = {
    { "dev-class", VDI_USB_MATCH_DEV_CLASS, 2 },
    { "dev-subclass", VDI_USB_MATCH_DEV_SUBCLASS, 2 },
    { "dev-protocol", VDI_USB_MATCH_DEV_PROTOCOL, 2 },
    { "iface-class", VDI_USB_MATCH_IFACE_CLASS, 2 },
    { "iface-subclass", VDI_USB_MATCH_IFACE_SUBCLASS, 2 },
    { "iface-protocol", VDI_USB_MATCH_IFACE_PROTOCOL, 2 },
    /* short forms: the class of a function is its interface class */
    { "class", VDI_USB_MATCH_IFACE_CLASS, 2 },
    { "subclass", VDI_USB_MATCH_IFACE_SUBCLASS, 2 },
    { "protocol", VDI_USB_MATCH_IFACE_PROTOCOL, 2 },
    { "vid", VDI_USB_MATCH_VID, 4 },
    { "pid", VDI_USB_MATCH_PID, 4 },
    { "bcd", VDI_USB_MATCH_BCD, 4 },
    { "serial", VDI_USB_MATCH_SERIAL, 0 },
    { "id", 0, 0 },
};

static bool parse_hex(const char *s, size_t n, unsigned digits,
                      unsigned *out)
{
    unsigned v = 0;
    size_t i;

    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        n -= 2;
    }
    if (n == 0 || n > digits) {
        return false;
    }
    for (i = 0; i < n; i++) {
        int d = g_ascii_xdigit_value(s[i]);

        if (d < 0) {
            return false;
        }
        v = v * 16 + d;
    }
    *out = v;
    return true;
}

static bool parse_action(const char *s, size_t n, VdiUsbAction *action)
{
    if (n == 5 && !strncmp(s, "allow", 5)) {
        *action = VDI_USB_ACTION_ALLOW;
    } else if (n == 4 && !strncmp(s, "deny", 4)) {
        *action = VDI_USB_ACTION_DENY;
    } else if (n == 9 && !strncmp(s, "read-only", 9)) {
        *action = VDI_USB_ACTION_READ_ONLY;
    } else {
        return false;
    }
    return true;
}

/*
 * Next whitespace-separated token of *p; a value may be double-quoted
 * (key="a b"), the quotes are not part of *val.
 */
static bool next_token(const char **p, const char **tok, size_t *tok_len,
                       char **errmsg)
{
    const char *s = *p;

    while (*s == ' ' || *s == '\t' || *s == '\r') {
        s++;
    }
    *tok = s;
    while (*s && *s != ' ' && *s != '\t' && *s != '\r') {
        if (*s == '"') {
            const char *end = strchr(s + 1, '"');

            if (!end) {
                vdi_usb_set_error(errmsg, "unterminated quote");
                return false;
            }
            s = end;
        }
        s++;
    }
    *tok_len = s - *tok;
    *p = s;
    return true;
}

static bool key_has_value(const VdiUsbRule *r, uint32_t flag)
{
    return (r->match & flag) != 0;
}

bool vdi_usb_rule_parse(const char *text, VdiUsbRule *rule, char **errmsg)
{
    const char *p = text, *tok;
    size_t n;
    bool have_id = false;
    VdiUsbAction action;

    if (!next_token(&p, &tok, &n, errmsg)) {
        return false;
    }
    if (n == 0) {
        vdi_usb_set_error(errmsg, "empty rule");
        return false;
    }
    if (!parse_action(tok, n, &action)) {
        vdi_usb_set_error(errmsg, "unknown action '%.*s' (expected allow, deny or "
                "read-only)", (int)MIN(n, 64), tok);
        return false;
    }
    vdi_usb_rule_init(rule, action);

    for (;;) {
        const char *eq, *val;
        size_t klen, vlen, i;
        unsigned v, v2;

        if (!next_token(&p, &tok, &n, errmsg)) {
            return false;
        }
        if (n == 0) {
            break;
        }
        if (n == 4 && !strncmp(tok, "hide", 4)) {
            if (rule->hide) {
                vdi_usb_set_error(errmsg, "'hide' given twice");
                return false;
            }
            rule->hide = true;
            continue;
        }
        eq = memchr(tok, '=', n);
        if (!eq) {
            vdi_usb_set_error(errmsg, "expected key=value or 'hide', got '%.*s'",
                    (int)MIN(n, 64), tok);
            return false;
        }
        klen = eq - tok;
        val = eq + 1;
        vlen = n - klen - 1;
        if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
            val++;
            vlen -= 2;
        } else if (memchr(val, '"', vlen)) {
            vdi_usb_set_error(errmsg, "misplaced quote in '%.*s'", (int)MIN(n, 64),
                    tok);
            return false;
        }
        for (i = 0; i < G_N_ELEMENTS(rule_keys); i++) {
            if (strlen(rule_keys[i].key) == klen &&
                !strncmp(rule_keys[i].key, tok, klen)) {
                break;
            }
        }
        if (i == G_N_ELEMENTS(rule_keys)) {
            vdi_usb_set_error(errmsg, "unknown key '%.*s'", (int)MIN(klen, 64), tok);
            return false;
        }
        if (vlen == 0) {
            vdi_usb_set_error(errmsg, "empty value for '%s'", rule_keys[i].key);
            return false;
        }
        if (rule_keys[i].flag == 0) {       /* id */
            if (have_id) {
                vdi_usb_set_error(errmsg, "key 'id' given twice");
                return false;
            }
            if (vlen >= VDI_USB_RULE_ID_MAX) {
                vdi_usb_set_error(errmsg, "rule id longer than %d characters",
                        VDI_USB_RULE_ID_MAX - 1);
                return false;
            }
            memcpy(rule->id, val, vlen);
            rule->id[vlen] = '\0';
            have_id = true;
            continue;
        }
        if (key_has_value(rule, rule_keys[i].flag)) {
            vdi_usb_set_error(errmsg, "key '%s' given twice (or via its alias)",
                    rule_keys[i].key);
            return false;
        }
        switch (rule_keys[i].flag) {
        case VDI_USB_MATCH_SERIAL:
            if (vlen >= VDI_USB_SERIAL_MAX) {
                vdi_usb_set_error(errmsg, "serial longer than %d characters",
                        VDI_USB_SERIAL_MAX - 1);
                return false;
            }
            memcpy(rule->serial, val, vlen);
            rule->serial[vlen] = '\0';
            break;
        case VDI_USB_MATCH_BCD: {
            const char *dash = memchr(val, '-', vlen);
            size_t l1 = dash ? (size_t)(dash - val) : vlen;

            if (!parse_hex(val, l1, 4, &v) ||
                (dash && !parse_hex(dash + 1, vlen - l1 - 1, 4, &v2))) {
                vdi_usb_set_error(errmsg, "bad value '%.*s' for 'bcd' (expected HHHH "
                        "or HHHH-HHHH, hex)", (int)MIN(vlen, 64), val);
                return false;
            }
            if (!dash) {
                v2 = v;
            }
            if (v > v2) {
                vdi_usb_set_error(errmsg, "reversed range '%.*s' for 'bcd'",
                        (int)MIN(vlen, 64), val);
                return false;
            }
            rule->bcd_lo = v;
            rule->bcd_hi = v2;
            break;
        }
        default:
            if (!parse_hex(val, vlen, rule_keys[i].digits, &v)) {
                vdi_usb_set_error(errmsg, "bad hex value '%.*s' for '%s' (expected 1-%u "
                        "hex digits)", (int)MIN(vlen, 64), val,
                        rule_keys[i].key, rule_keys[i].digits);
                return false;
            }
            switch (rule_keys[i].flag) {
            case VDI_USB_MATCH_DEV_CLASS:
                rule->dev_class = v;
                break;
            case VDI_USB_MATCH_DEV_SUBCLASS:
                rule->dev_subclass = v;
                break;
            case VDI_USB_MATCH_DEV_PROTOCOL:
                rule->dev_protocol = v;
                break;
            case VDI_USB_MATCH_IFACE_CLASS:
                rule->iface_class = v;
                break;
            case VDI_USB_MATCH_IFACE_SUBCLASS:
                rule->iface_subclass = v;
                break;
            case VDI_USB_MATCH_IFACE_PROTOCOL:
                rule->iface_protocol = v;
                break;
            case VDI_USB_MATCH_VID:
                rule->vid = v;
                break;
            case VDI_USB_MATCH_PID:
                rule->pid = v;
                break;
            }
        }
        rule->match |= rule_keys[i].flag;
    }
    return vdi_usb_rule_validate(rule, errmsg);
}

char *vdi_usb_rule_to_string(const VdiUsbRule *r)
{
    GString *s = g_string_new(vdi_usb_action_name(r->action));

    if (r->id[0]) {
        g_string_append_printf(s, " id=%.*s", VDI_USB_RULE_ID_MAX - 1,
                               r->id);
    }
    if (r->match & VDI_USB_MATCH_DEV_CLASS) {
        g_string_append_printf(s, " dev-class=%02x", r->dev_class);
    }
    if (r->match & VDI_USB_MATCH_DEV_SUBCLASS) {
        g_string_append_printf(s, " dev-subclass=%02x", r->dev_subclass);
    }
    if (r->match & VDI_USB_MATCH_DEV_PROTOCOL) {
        g_string_append_printf(s, " dev-protocol=%02x", r->dev_protocol);
    }
    if (r->match & VDI_USB_MATCH_IFACE_CLASS) {
        g_string_append_printf(s, " iface-class=%02x", r->iface_class);
    }
    if (r->match & VDI_USB_MATCH_IFACE_SUBCLASS) {
        g_string_append_printf(s, " iface-subclass=%02x", r->iface_subclass);
    }
    if (r->match & VDI_USB_MATCH_IFACE_PROTOCOL) {
        g_string_append_printf(s, " iface-protocol=%02x", r->iface_protocol);
    }
    if (r->match & VDI_USB_MATCH_VID) {
        g_string_append_printf(s, " vid=%04x", r->vid);
    }
    if (r->match & VDI_USB_MATCH_PID) {
        g_string_append_printf(s, " pid=%04x", r->pid);
    }
    if (r->match & VDI_USB_MATCH_BCD) {
        g_string_append_printf(s, " bcd=%04x-%04x", r->bcd_lo, r->bcd_hi);
    }
    if (r->match & VDI_USB_MATCH_SERIAL) {
        g_string_append_printf(s, " serial=\"%.*s\"",
                               VDI_USB_SERIAL_MAX - 1, r->serial);
    }
    if (r->hide) {
        g_string_append(s, " hide");
    }
    return g_string_free(s, false);
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

void vdi_usb_policy_set_default(VdiUsbPolicy *policy, VdiUsbAction action)
{
    policy->default_action = action;
}

VdiUsbAction vdi_usb_policy_get_default(const VdiUsbPolicy *policy)
{
    return policy->default_action;
}

size_t vdi_usb_policy_n_rules(const VdiUsbPolicy *policy)
{
    return policy->rules->len;
}

const VdiUsbRule *vdi_usb_policy_get_rule(const VdiUsbPolicy *policy,
                                          size_t index)
{
    if (index >= policy->rules->len) {
        return NULL;
    }
    return &g_array_index(policy->rules, VdiUsbRule, index);
}

void vdi_usb_policy_clear(VdiUsbPolicy *policy)
{
    g_array_set_size(policy->rules, 0);
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
    if (!vdi_usb_rule_validate(rule, errmsg)) {
        return false;
    }
    if (policy->rules->len >= VDI_USB_MAX_RULES) {
        vdi_usb_set_error(errmsg, "too many rules (at most %d)", VDI_USB_MAX_RULES);
        return false;
    }
    if (id_in_use(policy->rules, rule->id)) {
        vdi_usb_set_error(errmsg, "duplicate rule id '%s'", rule->id);
        return false;
    }
    g_array_append_val(policy->rules, *rule);
    return true;
}

/*
 * One rule or directive per line; blank lines and lines starting with '#'
 * are skipped; "default ACTION" sets the default.  All or nothing: on
 * error the policy is unchanged.
 */
bool vdi_usb_policy_add_text(VdiUsbPolicy *policy, const char *text,
                             char **errmsg)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autoptr(GArray) added = g_array_new(false, true, sizeof(VdiUsbRule));
    VdiUsbAction def = policy->default_action;
    guint i, j;

    for (i = 0; lines[i]; i++) {
        const char *l = lines[i];
        g_autofree char *err = NULL;
        VdiUsbRule r;

        while (*l == ' ' || *l == '\t' || *l == '\r') {
            l++;
        }
        if (*l == '\0' || *l == '#') {
            continue;
        }
        if (!strncmp(l, "default", 7) && (l[7] == ' ' || l[7] == '\t')) {
            const char *a = l + 7;
            size_t n;

            while (*a == ' ' || *a == '\t') {
                a++;
            }
            n = strcspn(a, " \t\r");
            if (!parse_action(a, n, &def) || a[n + strspn(a + n, " \t\r")]) {
                vdi_usb_set_error(errmsg, "line %u: expected 'default allow|deny|"
                        "read-only'", i + 1);
                return false;
            }
            continue;
        }
        if (!vdi_usb_rule_parse(l, &r, &err)) {
            vdi_usb_set_error(errmsg, "line %u: %s", i + 1, err);
            return false;
        }
        if (policy->rules->len + added->len >= VDI_USB_MAX_RULES) {
            vdi_usb_set_error(errmsg, "line %u: too many rules (at most %d)", i + 1,
                    VDI_USB_MAX_RULES);
            return false;
        }
        for (j = 0; r.id[0] && j < added->len; j++) {
            if (!strcmp(g_array_index(added, VdiUsbRule, j).id, r.id)) {
                break;
            }
        }
        if (id_in_use(policy->rules, r.id) || (r.id[0] && j < added->len)) {
            vdi_usb_set_error(errmsg, "line %u: duplicate rule id '%s'", i + 1, r.id);
            return false;
        }
        g_array_append_val(added, r);
    }
    g_array_append_vals(policy->rules, added->data, added->len);
    policy->default_action = def;
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
