/*
 * Session zones: which zone a connection belongs to (QEMU-independent)
 *
 * An ordered rule list maps what identifies a connection (client
 * address, certificate subject and issuer, terminal name and MAC) to a
 * named zone; the first rule that matches wins.  A VM override and
 * per-user overrides come first, a default zone last.  Addresses are
 * parsed with net/ip-prefix.h, as the firewall does.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/vdi/vdi-zone-core.h"
#include "net/ip-prefix.h"

typedef struct ZoneRule {
    char *id;
    const char *zone;               /* the table's copy of the name */
    IpPrefix *prefixes;
    size_t n_prefixes;
    char *subject;
    char *issuer;
    char *terminal_name;            /* lower case */
    bool has_mac;
    uint8_t mac[6];
} ZoneRule;

struct VdiZoneTable {
    GHashTable *zones;              /* name -> itself */
    GPtrArray *rules;               /* ZoneRule */
    GHashTable *rule_ids;
    GHashTable *users;              /* user -> zone name */
    const char *dflt;
    const char *vm_override;
};

static const char *const why_names[] = {
    [VDI_ZONE_WHY_VM_OVERRIDE] = "vm-override",
    [VDI_ZONE_WHY_USER] = "user",
    [VDI_ZONE_WHY_RULE] = "rule",
    [VDI_ZONE_WHY_DEFAULT] = "default",
};

const char *vdi_zone_why_name(VdiZoneWhy why)
{
    return why_names[why];
}

static bool fail(char **errmsg, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static bool fail(char **errmsg, const char *fmt, ...)
{
    va_list ap;

    if (errmsg) {
        va_start(ap, fmt);
        *errmsg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
    }
    return false;
}

static void rule_free(gpointer p)
{
    ZoneRule *r = p;

    g_free(r->id);
    g_free(r->prefixes);
    g_free(r->subject);
    g_free(r->issuer);
    g_free(r->terminal_name);
    g_free(r);
}

VdiZoneTable *vdi_zone_table_new(void)
{
    VdiZoneTable *t = g_new0(VdiZoneTable, 1);

    t->zones = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    t->rules = g_ptr_array_new_with_free_func(rule_free);
    t->rule_ids = g_hash_table_new(g_str_hash, g_str_equal);
    t->users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return t;
}

void vdi_zone_table_free(VdiZoneTable *t)
{
    if (!t) {
        return;
    }
    g_hash_table_destroy(t->rule_ids);
    g_ptr_array_free(t->rules, true);
    g_hash_table_destroy(t->users);
    g_hash_table_destroy(t->zones);
    g_free(t);
}

/* Printable ASCII, 1 to @max characters */
static bool check_text(const char *what, const char *s, size_t max,
                       char **errmsg)
{
    size_t len = strlen(s);
    const char *c;

    if (!len || len > max) {
        return fail(errmsg, "%s must have 1 to %zu characters, not %zu",
                    what, max, len);
    }
    for (c = s; *c; c++) {
        if (*c < 0x20 || *c > 0x7e) {
            return fail(errmsg, "%s may hold printable ASCII characters "
                        "only, not 0x%02x", what, (unsigned char)*c);
        }
    }
    return true;
}

/* A certificate name or user name: UTF-8 without control characters */
static bool check_utf8(const char *what, const char *s, char **errmsg)
{
    size_t len = strlen(s);
    const char *c;

    if (!len || len > VDI_ZONE_TEXT_MAX || !g_utf8_validate(s, len, NULL)) {
        return fail(errmsg, "%s must be UTF-8 of 1 to %d bytes", what,
                    VDI_ZONE_TEXT_MAX);
    }
    for (c = s; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            return fail(errmsg, "%s holds control character 0x%02x", what,
                        (unsigned char)*c);
        }
    }
    return true;
}

/* Only the xx:xx:xx:xx:xx:xx form */
static bool parse_mac(const char *s, uint8_t mac[6])
{
    int i;

    if (strlen(s) != 17) {
        return false;
    }
    for (i = 0; i < 6; i++) {
        const char *h = s + i * 3;

        if (!g_ascii_isxdigit(h[0]) || !g_ascii_isxdigit(h[1]) ||
            (i < 5 && h[2] != ':')) {
            return false;
        }
        mac[i] = g_ascii_xdigit_value(h[0]) << 4 | g_ascii_xdigit_value(h[1]);
    }
    return true;
}

/* A client's address; an IPv4-mapped IPv6 address is its IPv4 address */
static bool parse_addr(const char *s, IpAddr *a, char **errmsg)
{
    static const uint8_t v4mapped[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
    };
    IpPrefix p;

    if (strchr(s, '/')) {
        return fail(errmsg, "'%s' is a prefix, not an address", s);
    }
    if (!ip_prefix_parse(s, &p, errmsg)) {
        return false;
    }
    memset(a, 0, sizeof(*a));
    if (p.family == 6 && !memcmp(p.addr, v4mapped, 12)) {
        a->family = 4;
        memcpy(a->a, p.addr + 12, 4);
    } else {
        a->family = p.family;
        memcpy(a->a, p.addr, 16);
    }
    return true;
}

static const char *zone_lookup(const VdiZoneTable *t, const char *what,
                               const char *zone, char **errmsg)
{
    const char *name = g_hash_table_lookup(t->zones, zone);

    if (!name) {
        fail(errmsg, "%s: no zone '%.*s'", what, VDI_ZONE_NAME_MAX, zone);
    }
    return name;
}

bool vdi_zone_table_add_zone(VdiZoneTable *t, const char *name,
                             char **errmsg)
{
    char *copy;

    if (!check_text("zone name", name, VDI_ZONE_NAME_MAX, errmsg)) {
        return false;
    }
    if (g_hash_table_size(t->zones) >= VDI_ZONE_MAX_ZONES) {
        return fail(errmsg, "more than %d zones", VDI_ZONE_MAX_ZONES);
    }
    if (g_hash_table_contains(t->zones, name)) {
        return fail(errmsg, "zone '%s' is given twice", name);
    }
    copy = g_strdup(name);
    g_hash_table_insert(t->zones, copy, copy);
    return true;
}

bool vdi_zone_table_has_zone(const VdiZoneTable *t, const char *zone)
{
    return g_hash_table_contains(t->zones, zone);
}

bool vdi_zone_table_add_rule(VdiZoneTable *t, const VdiZoneRuleSpec *spec,
                             char **errmsg)
{
    g_autofree char *msg = NULL;
    ZoneRule *r;
    const char *zone;
    size_t i;

    if (!check_text("rule id", spec->id, VDI_ZONE_NAME_MAX, errmsg)) {
        return false;
    }
    if (t->rules->len >= VDI_ZONE_MAX_RULES) {
        return fail(errmsg, "more than %d rules", VDI_ZONE_MAX_RULES);
    }
    if (g_hash_table_contains(t->rule_ids, spec->id)) {
        return fail(errmsg, "rule id '%s' is used twice", spec->id);
    }
    zone = zone_lookup(t, spec->id, spec->zone, errmsg);
    if (!zone) {
        return false;
    }
    if (!spec->n_addresses && !spec->subject && !spec->issuer &&
        !spec->terminal_name && !spec->terminal_mac) {
        return fail(errmsg, "rule '%s' has no criterion", spec->id);
    }
    if (spec->n_addresses > VDI_ZONE_MAX_PREFIXES) {
        return fail(errmsg, "rule '%s' has more than %d addresses", spec->id,
                    VDI_ZONE_MAX_PREFIXES);
    }

    r = g_new0(ZoneRule, 1);
    r->prefixes = g_new0(IpPrefix, spec->n_addresses);
    for (i = 0; i < spec->n_addresses; i++) {
        if (!ip_prefix_parse(spec->addresses[i], &r->prefixes[i], &msg)) {
            fail(errmsg, "rule '%s': %s", spec->id, msg);
            goto err;
        }
    }
    r->n_prefixes = spec->n_addresses;
    if ((spec->subject && !check_utf8("subject", spec->subject, &msg)) ||
        (spec->issuer && !check_utf8("issuer", spec->issuer, &msg)) ||
        (spec->terminal_name &&
         !check_text("terminal-name", spec->terminal_name, 255, &msg))) {
        fail(errmsg, "rule '%s': %s", spec->id, msg);
        goto err;
    }
    if (spec->terminal_mac && !parse_mac(spec->terminal_mac, r->mac)) {
        fail(errmsg, "rule '%s': '%.*s' is not a MAC address", spec->id,
             VDI_ZONE_NAME_MAX, spec->terminal_mac);
        goto err;
    }
    r->has_mac = spec->terminal_mac;
    r->id = g_strdup(spec->id);
    r->zone = zone;
    r->subject = g_strdup(spec->subject);
    r->issuer = g_strdup(spec->issuer);
    r->terminal_name = spec->terminal_name ?
        g_ascii_strdown(spec->terminal_name, -1) : NULL;
    g_ptr_array_add(t->rules, r);
    g_hash_table_add(t->rule_ids, r->id);
    return true;

err:
    rule_free(r);
    return false;
}

bool vdi_zone_table_add_user(VdiZoneTable *t, const char *user,
                             const char *zone, char **errmsg)
{
    const char *name;

    if (!check_utf8("user", user, errmsg)) {
        return false;
    }
    name = zone_lookup(t, user, zone, errmsg);
    if (!name) {
        return false;
    }
    if (g_hash_table_size(t->users) >= VDI_ZONE_MAX_USERS) {
        return fail(errmsg, "more than %d user overrides",
                    VDI_ZONE_MAX_USERS);
    }
    if (g_hash_table_contains(t->users, user)) {
        return fail(errmsg, "user '%s' is given twice", user);
    }
    g_hash_table_insert(t->users, g_strdup(user), (gpointer)name);
    return true;
}

bool vdi_zone_table_set_default(VdiZoneTable *t, const char *zone,
                                char **errmsg)
{
    const char *name = zone_lookup(t, "default", zone, errmsg);

    if (name) {
        t->dflt = name;
    }
    return name;
}

bool vdi_zone_table_set_vm_override(VdiZoneTable *t, const char *zone,
                                    char **errmsg)
{
    const char *name = zone_lookup(t, "vm-override", zone, errmsg);

    if (name) {
        t->vm_override = name;
    }
    return name;
}

bool vdi_zone_conn_check(const VdiZoneConn *c, char **errmsg)
{
    g_autofree char *msg = NULL;
    uint8_t mac[6];
    IpAddr a;

    if (c->address && !parse_addr(c->address, &a, &msg)) {
        return fail(errmsg, "address: %s", msg);
    }
    if (c->terminal_mac && !parse_mac(c->terminal_mac, mac)) {
        return fail(errmsg, "'%.*s' is not a MAC address", VDI_ZONE_NAME_MAX,
                    c->terminal_mac);
    }
    return (!c->subject || check_utf8("subject", c->subject, errmsg)) &&
           (!c->issuer || check_utf8("issuer", c->issuer, errmsg)) &&
           (!c->user || check_utf8("user", c->user, errmsg)) &&
           (!c->terminal_name ||
            check_text("terminal-name", c->terminal_name, 255, errmsg));
}

static bool rule_matches(const ZoneRule *r, const VdiZoneConn *c,
                         const IpAddr *addr, const uint8_t *mac,
                         const char *name)
{
    size_t i;

    if (r->n_prefixes) {
        if (!addr) {
            return false;
        }
        for (i = 0; i < r->n_prefixes; i++) {
            if (r->prefixes[i].family == addr->family &&
                ip_prefix_contains(&r->prefixes[i], addr)) {
                break;
            }
        }
        if (i == r->n_prefixes) {
            return false;
        }
    }
    if (r->subject &&
        (!c->subject || !g_pattern_match_simple(r->subject, c->subject))) {
        return false;
    }
    if (r->issuer &&
        (!c->issuer || !g_pattern_match_simple(r->issuer, c->issuer))) {
        return false;
    }
    if (r->terminal_name &&
        (!name || !g_pattern_match_simple(r->terminal_name, name))) {
        return false;
    }
    return !r->has_mac || (mac && !memcmp(mac, r->mac, 6));
}

void vdi_zone_decide(const VdiZoneTable *t, const VdiZoneConn *c,
                     VdiZoneVerdict *d)
{
    g_autofree char *name = NULL;
    const char *zone;
    uint8_t mac[6];
    IpAddr addr;
    bool has_addr, has_mac;
    guint i;

    memset(d, 0, sizeof(*d));
    if (t->vm_override) {
        d->zone = t->vm_override;
        d->why = VDI_ZONE_WHY_VM_OVERRIDE;
        return;
    }
    zone = c->user ? g_hash_table_lookup(t->users, c->user) : NULL;
    if (zone) {
        d->zone = zone;
        d->why = VDI_ZONE_WHY_USER;
        return;
    }
    /* What cannot be parsed matches no criterion on it */
    has_addr = c->address && parse_addr(c->address, &addr, NULL);
    has_mac = c->terminal_mac && parse_mac(c->terminal_mac, mac);
    name = c->terminal_name ? g_ascii_strdown(c->terminal_name, -1) : NULL;
    for (i = 0; i < t->rules->len; i++) {
        const ZoneRule *r = g_ptr_array_index(t->rules, i);

        if (rule_matches(r, c, has_addr ? &addr : NULL,
                         has_mac ? mac : NULL, name)) {
            d->zone = r->zone;
            d->why = VDI_ZONE_WHY_RULE;
            d->rule = r->id;
            return;
        }
    }
    d->zone = t->dflt;
    d->why = VDI_ZONE_WHY_DEFAULT;
}
