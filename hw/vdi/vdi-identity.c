/*
 * VDI client identity: the user and terminal a client certificate
 * stands for
 *
 * A display client whose x509 certificate TLS verified (VeNCrypt x509
 * with verify-peer=on) is known by the certificate's subject and
 * issuer distinguished names.  The identity map, set over QMP, names
 * certificates by their whole subject or by their CN (and O) and gives
 * each a user and a terminal name, which the session (vdi-session.c)
 * takes when it follows that client.
 *
 * Names are parsed once, when the map is set (a bad one fails there)
 * and when a client connects; matching compares parsed attributes, so
 * "cn=a" is "CN=a" and "\2C" is ",".
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/vdi/vdi-extension.h"
#include "hw/vdi/vdi-session.h"
#include "qapi/clone-visitor.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-vdi-identity.h"
#include "qapi/qapi-visit-vdi-identity.h"
#include "qemu/module.h"
#include "trace.h"

/*
 * Limits: X.520 bounds a CN or O to 64 characters; a DN of a client
 * certificate fits 1 KiB; a hospital has some thousands of users, and
 * a connect scans the map in order.
 */
#define IDENTITY_MAP_MAX        16384
#define MAPPING_ID_MAX          64
#define DN_MAX_LEN              1024
#define DN_ATTRS_MAX            64
#define ATTR_VALUE_MAX          64
#define USER_MAX                256

typedef struct DnAttr {
    char *type;                 /* upper case, or a dotted OID */
    char *value;                /* unescaped */
} DnAttr;

typedef struct IdentityEntry {
    VdiIdentityMapping *m;      /* in the object's map */
    GPtrArray *subject;         /* parsed @subject, or NULL */
    GPtrArray *issuer;          /* parsed @issuer, or NULL */
} IdentityEntry;

/*
 * The vdi-identity-map object: the VM's identity map.  A VM has at most
 * one; vdi-identity-map-set creates it when the VM has none.
 */
#define TYPE_VDI_IDENTITY_MAP "vdi-identity-map"
#define DEFAULT_IDENTITY_MAP_ID "identity-map"
OBJECT_DECLARE_SIMPLE_TYPE(VdiIdentityMapObject, VDI_IDENTITY_MAP)

struct VdiIdentityMapObject {
    Object parent_obj;
    bool complete;
    VdiIdentityMappingList *map;
    GArray *entries;            /* of IdentityEntry, parsed from @map */
};

static void dn_attr_free(gpointer p)
{
    DnAttr *a = p;

    g_free(a->type);
    g_free(a->value);
    g_free(a);
}

/* UTF-8 without control characters, 1 to @max bytes */
static bool text_valid(const char *s, size_t len, size_t max,
                       const char **why)
{
    const char *c;

    if (!len || len > max) {
        *why = len ? "is too long" : "is empty";
        return false;
    }
    if (!g_utf8_validate(s, len, NULL)) {
        *why = "is not UTF-8";
        return false;
    }
    for (c = s; c < s + len; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            *why = "has a control character";
            return false;
        }
    }
    return true;
}

/*
 * Parse a distinguished name as GnuTLS prints it (RFC 4514 syntax, in
 * the certificate's order) into DnAttrs.  Spaces after a separator are
 * skipped, for names typed by people.
 */
static GPtrArray *dn_parse(const char *dn, Error **errp)
{
    g_autoptr(GPtrArray) attrs = g_ptr_array_new_with_free_func(dn_attr_free);
    size_t len = strlen(dn);
    const char *p = dn;
    const char *why;

    if (!len || len > DN_MAX_LEN) {
        error_setg(errp, "a distinguished name must have 1 to %d bytes, "
                   "not %zu", DN_MAX_LEN, len);
        return NULL;
    }
    for (;;) {
        g_autoptr(GString) value = g_string_new(NULL);
        const char *type = p;
        DnAttr *a;

        while (g_ascii_isalnum(*p) || *p == '-' || *p == '.') {
            p++;
        }
        if (p == type || *p != '=') {
            error_setg(errp, "distinguished name '%s': expected type=value "
                       "at offset %td", dn, type - dn);
            return NULL;
        }
        a = g_new0(DnAttr, 1);
        a->type = g_ascii_strup(type, p - type);
        g_ptr_array_add(attrs, a);
        for (p++; *p && *p != ',' && *p != '+'; p++) {
            if (*p != '\\') {
                g_string_append_c(value, *p);
            } else if (g_ascii_isxdigit(p[1]) && g_ascii_isxdigit(p[2])) {
                g_string_append_c(value, g_ascii_xdigit_value(p[1]) << 4 |
                                  g_ascii_xdigit_value(p[2]));
                p += 2;
            } else if (p[1] && strchr(" \"#+,;<=>\\", p[1])) {
                g_string_append_c(value, *++p);
            } else {
                error_setg(errp, "distinguished name '%s': bad escape at "
                           "offset %td", dn, p - dn);
                return NULL;
            }
        }
        if (!text_valid(value->str, value->len, DN_MAX_LEN, &why)) {
            error_setg(errp, "distinguished name '%s': the value of %s %s",
                       dn, a->type, why);
            return NULL;
        }
        a->value = g_string_free(g_steal_pointer(&value), false);
        if (attrs->len > DN_ATTRS_MAX) {
            error_setg(errp, "distinguished name '%s' has more than %d "
                       "attributes", dn, DN_ATTRS_MAX);
            return NULL;
        }
        if (!*p) {
            return g_steal_pointer(&attrs);
        }
        for (p++; *p == ' '; p++) {
            /* skip */
        }
    }
}

static bool dn_equal(GPtrArray *a, GPtrArray *b)
{
    guint i;

    if (a->len != b->len) {
        return false;
    }
    for (i = 0; i < a->len; i++) {
        DnAttr *x = g_ptr_array_index(a, i), *y = g_ptr_array_index(b, i);

        if (strcmp(x->type, y->type) || strcmp(x->value, y->value)) {
            return false;
        }
    }
    return true;
}

/* The value of @dn's one attribute of @type; NULL if none or several */
static const char *dn_single(GPtrArray *dn, const char *type)
{
    const char *found = NULL;
    guint i;

    for (i = 0; i < dn->len; i++) {
        DnAttr *a = g_ptr_array_index(dn, i);

        if (!strcmp(a->type, type)) {
            if (found) {
                return NULL;
            }
            found = a->value;
        }
    }
    return found;
}

static bool entry_matches(const IdentityEntry *e, GPtrArray *subject,
                          GPtrArray *issuer)
{
    const VdiIdentityMapping *m = e->m;

    if (e->issuer && (!issuer || !dn_equal(e->issuer, issuer))) {
        return false;
    }
    if (e->subject) {
        return dn_equal(e->subject, subject);
    }
    return !g_strcmp0(dn_single(subject, "CN"), m->common_name) &&
           (!m->organization ||
            !g_strcmp0(dn_single(subject, "O"), m->organization));
}

static bool identity_map_is_complete(Object *obj)
{
    return VDI_IDENTITY_MAP(obj)->complete;
}

static VdiIdentityMapObject *identity_map_object(void)
{
    Object *obj = vdi_vm_object(TYPE_VDI_IDENTITY_MAP,
                                identity_map_is_complete);

    return obj ? VDI_IDENTITY_MAP(obj) : NULL;
}

/* The VM's first mapping that matches; NULL if none */
static const VdiIdentityMapping *identity_find(const char *subject,
                                               const char *issuer,
                                               Error **errp)
{
    VdiIdentityMapObject *o = identity_map_object();
    g_autoptr(GPtrArray) s = dn_parse(subject, errp);
    g_autoptr(GPtrArray) i = NULL;
    guint n;

    if (!s) {
        return NULL;
    }
    if (issuer) {
        i = dn_parse(issuer, errp);
        if (!i) {
            return NULL;
        }
    }
    for (n = 0; o && n < o->entries->len; n++) {
        IdentityEntry *e = &g_array_index(o->entries, IdentityEntry, n);

        if (entry_matches(e, s, i)) {
            return e->m;
        }
    }
    return NULL;
}

static void identity_lookup(const VdiDisplayPeer *peer, VdiPeerIdentity *id)
{
    const VdiIdentityMapping *m;
    Error *err = NULL;

    if (!peer->x509_subject) {
        return;
    }
    m = identity_find(peer->x509_subject, peer->x509_issuer, &err);
    if (err) {
        /* A certificate TLS accepted, with a name we cannot read */
        trace_vdi_identity_unreadable(error_get_pretty(err));
        error_free(err);
        return;
    }
    trace_vdi_identity_lookup(peer->x509_subject, m ? m->id : "");
    if (m) {
        id->mapping = m->id;
        id->user = m->user;
        id->terminal = m->terminal;
    }
}

static bool value_check(const char *mapping, const char *member,
                        const char *s, size_t max, Error **errp)
{
    const char *why;

    if (!text_valid(s, strlen(s), max, &why)) {
        error_setg(errp, "mapping '%s': %s %s (1 to %zu bytes of UTF-8 "
                   "without control characters)", mapping, member, why, max);
        return false;
    }
    return true;
}

static void entries_free(GArray *entries)
{
    guint n;

    for (n = 0; n < entries->len; n++) {
        IdentityEntry *e = &g_array_index(entries, IdentityEntry, n);

        g_clear_pointer(&e->subject, g_ptr_array_unref);
        g_clear_pointer(&e->issuer, g_ptr_array_unref);
    }
    g_array_free(entries, true);
}

/* Check @m and parse its names into @e */
static bool mapping_check(VdiIdentityMapping *m, IdentityEntry *e,
                          Error **errp)
{
    e->m = m;
    if (!m->subject == !m->common_name) {
        error_setg(errp, "mapping '%s' needs either subject or common-name",
                   m->id);
        return false;
    }
    if (m->organization && !m->common_name) {
        error_setg(errp, "mapping '%s': organization goes with common-name",
                   m->id);
        return false;
    }
    if (m->subject) {
        e->subject = dn_parse(m->subject, errp);
        if (!e->subject) {
            error_prepend(errp, "mapping '%s': subject: ", m->id);
            return false;
        }
    }
    if (m->issuer) {
        e->issuer = dn_parse(m->issuer, errp);
        if (!e->issuer) {
            error_prepend(errp, "mapping '%s': issuer: ", m->id);
            return false;
        }
    }
    return (!m->common_name ||
            value_check(m->id, "common-name", m->common_name,
                        ATTR_VALUE_MAX, errp)) &&
           (!m->organization ||
            value_check(m->id, "organization", m->organization,
                        ATTR_VALUE_MAX, errp)) &&
           value_check(m->id, "user", m->user, USER_MAX, errp) &&
           (!m->terminal ||
            vdi_check_ascii(m->id, "terminal", m->terminal,
                            VDI_TERMINAL_NAME_MAX, errp));
}

/*
 * Check @mappings and parse them into a new array of IdentityEntry that
 * points into @mappings; NULL with @errp set if one is bad
 */
static GArray *identity_entries_new(VdiIdentityMappingList *mappings,
                                    Error **errp)
{
    g_autoptr(GHashTable) ids = g_hash_table_new(g_str_hash, g_str_equal);
    GArray *entries = g_array_new(false, true, sizeof(IdentityEntry));
    VdiIdentityMappingList *l;

    for (l = mappings; l; l = l->next) {
        VdiIdentityMapping *m = l->value;
        IdentityEntry e = { 0 };
        bool ok;

        if (entries->len == IDENTITY_MAP_MAX) {
            error_setg(errp, "the identity map has more than %d mappings",
                       IDENTITY_MAP_MAX);
            goto fail;
        }
        if (!vdi_check_ascii("mapping", "id", m->id, MAPPING_ID_MAX, errp)) {
            goto fail;
        }
        if (!g_hash_table_add(ids, m->id)) {
            error_setg(errp, "mapping id '%s' is used twice", m->id);
            goto fail;
        }
        ok = mapping_check(m, &e, errp);
        g_array_append_val(entries, e);
        if (!ok) {
            goto fail;
        }
    }
    return entries;

fail:
    entries_free(entries);
    return NULL;
}

/* Replace @o's map with a copy of @mappings; all or nothing */
static bool identity_map_replace(VdiIdentityMapObject *o,
                                 VdiIdentityMappingList *mappings,
                                 Error **errp)
{
    VdiIdentityMappingList *map = QAPI_CLONE(VdiIdentityMappingList,
                                             mappings);
    GArray *entries = identity_entries_new(map, errp);

    if (!entries) {
        qapi_free_VdiIdentityMappingList(map);
        return false;
    }
    entries_free(o->entries);
    qapi_free_VdiIdentityMappingList(o->map);
    o->map = map;
    o->entries = entries;
    return true;
}

static void identity_map_get_mappings(Object *obj, Visitor *v,
                                      const char *name, void *opaque,
                                      Error **errp)
{
    VdiIdentityMappingList *map =
        QAPI_CLONE(VdiIdentityMappingList, VDI_IDENTITY_MAP(obj)->map);

    visit_type_VdiIdentityMappingList(v, name, &map, errp);
    qapi_free_VdiIdentityMappingList(map);
}

static void identity_map_set_mappings(Object *obj, Visitor *v,
                                      const char *name, void *opaque,
                                      Error **errp)
{
    VdiIdentityMappingList *map = NULL;

    if (visit_type_VdiIdentityMappingList(v, name, &map, errp)) {
        identity_map_replace(VDI_IDENTITY_MAP(obj), map, errp);
    }
    qapi_free_VdiIdentityMappingList(map);
}

static void identity_map_complete(UserCreatable *uc, Error **errp)
{
    if (vdi_vm_object_first(OBJECT(uc), identity_map_is_complete,
                            "an identity map", errp)) {
        VDI_IDENTITY_MAP(uc)->complete = true;
    }
}

static void identity_map_init(Object *obj)
{
    VDI_IDENTITY_MAP(obj)->entries =
        g_array_new(false, true, sizeof(IdentityEntry));
}

static void identity_map_finalize(Object *obj)
{
    VdiIdentityMapObject *o = VDI_IDENTITY_MAP(obj);

    entries_free(o->entries);
    qapi_free_VdiIdentityMappingList(o->map);
}

static void identity_map_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = identity_map_complete;
    object_class_property_add(oc, "mappings", "VdiIdentityMappingList",
                              identity_map_get_mappings,
                              identity_map_set_mappings, NULL, NULL);
    object_class_property_set_description(oc, "mappings",
        "certificates to users and terminals; the first match decides");
}

static const TypeInfo identity_map_info = {
    .name = TYPE_VDI_IDENTITY_MAP,
    .parent = TYPE_OBJECT,
    .class_init = identity_map_class_init,
    .instance_size = sizeof(VdiIdentityMapObject),
    .instance_init = identity_map_init,
    .instance_finalize = identity_map_finalize,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

void qmp_vdi_identity_map_set(VdiIdentityMappingList *mappings, Error **errp)
{
    VdiIdentityMapObject *o = identity_map_object();
    Object *obj;

    if (o) {
        identity_map_replace(o, mappings, errp);
        return;
    }
    /* the first map: the VM's vdi-identity-map object, with these */
    obj = object_new(TYPE_VDI_IDENTITY_MAP);
    if (!identity_map_replace(VDI_IDENTITY_MAP(obj), mappings, errp)) {
        object_unref(obj);
        return;
    }
    vdi_vm_object_add(obj, DEFAULT_IDENTITY_MAP_ID, errp);
}

VdiIdentityMappingList *qmp_query_vdi_identity_map(Error **errp)
{
    VdiIdentityMapObject *o = identity_map_object();

    return o ? QAPI_CLONE(VdiIdentityMappingList, o->map) : NULL;
}

VdiIdentity *qmp_query_vdi_identity(const char *subject, const char *issuer,
                                    Error **errp)
{
    const VdiIdentityMapping *m;
    Error *err = NULL;
    VdiIdentity *id;

    m = identity_find(subject, issuer, &err);
    if (err) {
        error_propagate(errp, err);
        return NULL;
    }
    id = g_new0(VdiIdentity, 1);
    if (m) {
        id->mapping = g_strdup(m->id);
        id->user = g_strdup(m->user);
        id->terminal = g_strdup(m->terminal);
    }
    return id;
}

static void vdi_identity_register(void)
{
    type_register_static(&identity_map_info);
    vdi_session_set_identity_lookup(identity_lookup);
    /* 2: the vdi-identity-map object */
    vdi_extension_register("client-identity", 2);
}

type_init(vdi_identity_register)
