/*
 * VDI session zones: where a clinician connects from sets everything
 *
 * vdi-zone-set gives zones, each with a bundle (display profile, USB
 * policy, printing, firewall address sets, clipboard and file-transfer
 * policies), and the rules of
 * hw/vdi/vdi-zone-core.c that map a connection to a zone.  The session's
 * hooks (hw/vdi/vdi-session.h) tell us when VNC and SPICE clients come
 * and go and when orchestration moves the session to a terminal; each
 * time, the zone of the connection is decided and its bundle applied
 * through the QMP commands that set each piece by hand, so that there
 * is one decision path per piece.  Without a client, the baseline
 * zone's bundle applies.
 *
 * A piece that cannot be applied is reported in the event and
 * query-vdi-zone, and the strictest setting is put in force instead
 * where there is one: a USB policy denying every device, no printer,
 * no clipboard or file transfer in either direction.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "block/aio-wait.h"
#include "hw/usb/vdi-usb-guard.h"
#include "hw/vdi/vdi-extension.h"
#include "hw/vdi/vdi-session.h"
#include "hw/vdi/vdi-zone-core.h"
#include "net/ip-prefix.h"
#include "qapi/clone-visitor.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-firewall.h"
#include "qapi/qapi-commands-usb-policy.h"
#include "qapi/qapi-commands-vdi-display.h"
#include "qapi/qapi-commands-vdi-session.h"
#include "qapi/qapi-commands-vdi-transfer.h"
#include "qapi/qapi-commands-vdi-zone.h"
#include "qapi/qapi-events-vdi-zone.h"
#include "qapi/qapi-visit-vdi-session.h"
#include "qapi/qapi-visit-vdi-zone.h"
#include "qemu/coroutine.h"
#include "qom/object.h"
#include "qom/object_interfaces.h"
#include "trace.h"
#include "ui/vdi-transfer.h"
#include "ui/vnc-vdi.h"

#define FILTER_FIREWALL "filter-firewall"

/* What vdi-zone-set gives: the properties of the vdi-zones object */
typedef struct ZoneArgs {
    VdiZoneList *zones;
    VdiZoneRuleList *rules;
    char *dflt;
    char *baseline;
    char *vm_override;
    VdiZoneUserList *users;
} ZoneArgs;

/*
 * The vdi-zones object: the VM's zones and the zone in force.  A VM has
 * at most one; vdi-zone-set creates it when the VM has none.  Zones are
 * off without it.
 */
#define TYPE_VDI_ZONES "vdi-zones"
#define DEFAULT_ZONES_ID "zones"
OBJECT_DECLARE_SIMPLE_TYPE(VdiZonesObject, VDI_ZONES)

struct VdiZonesObject {
    Object parent_obj;
    ZoneArgs args;
    VdiZoneTable *table;        /* built from @args; NULL until complete */
    /* The zone in force */
    struct {
        char *zone;
        VdiZoneReason reason;
        char *rule;
        VdiZoneConnection *conn;
        VdiZonePieceResultList *pieces;
    } cur;
    /* While we connect the session ourselves: what may_print answers */
    bool connecting;
};

/*
 * The display clients (VdiZoneConnection), the latest last, and the
 * terminal orchestration gave with vdi-session-connect, if any: what
 * the display and the session tell, whether or not the VM has zones,
 * so that zones set later decide for the clients already connected.
 */
static GQueue clients = G_QUEUE_INIT;
static VdiTerminal *terminal;

static void zone_args_free(ZoneArgs *a)
{
    qapi_free_VdiZoneList(a->zones);
    qapi_free_VdiZoneRuleList(a->rules);
    g_free(a->dflt);
    g_free(a->baseline);
    g_free(a->vm_override);
    qapi_free_VdiZoneUserList(a->users);
}

static void zone_args_copy(ZoneArgs *dst, const ZoneArgs *src)
{
    dst->zones = QAPI_CLONE(VdiZoneList, src->zones);
    dst->rules = QAPI_CLONE(VdiZoneRuleList, src->rules);
    dst->dflt = g_strdup(src->dflt);
    dst->baseline = g_strdup(src->baseline);
    dst->vm_override = g_strdup(src->vm_override);
    dst->users = QAPI_CLONE(VdiZoneUserList, src->users);
}

static bool zones_is_complete(Object *obj)
{
    return VDI_ZONES(obj)->table;
}

static VdiZonesObject *zones_object(void)
{
    Object *obj = vdi_vm_object(TYPE_VDI_ZONES, zones_is_complete);

    return obj ? VDI_ZONES(obj) : NULL;
}

static VdiZone *zone_find(VdiZonesObject *o, const char *name)
{
    VdiZoneList *l;

    for (l = o->args.zones; l; l = l->next) {
        if (!strcmp(l->value->name, name)) {
            return l->value;
        }
    }
    g_assert_not_reached();
}

/* Check a bundle completely: what its QMP commands would refuse */
static bool bundle_check(const VdiZone *z, Error **errp)
{
    VdiZoneFirewallList *fl;

#if (defined(CONFIG_VNC) && defined(CONFIG_VNC_JPEG)) || defined(CONFIG_SPICE)
    const VdiZoneDisplay *d = z->display;

    if (d && !display_check_limits(d->has_max_bandwidth, d->max_bandwidth,
                                   d->has_max_fps, d->max_fps,
                                   d->has_jpeg_quality_min,
                                   d->jpeg_quality_min,
                                   d->has_jpeg_quality_max,
                                   d->jpeg_quality_max, errp)) {
        goto fail;
    }
    if (d && d->has_jpeg_quality_min && d->has_jpeg_quality_max &&
        d->jpeg_quality_min > d->jpeg_quality_max) {
        error_setg(errp, "'jpeg-quality-max' is below 'jpeg-quality-min'");
        goto fail;
    }
#endif
    if ((z->usb && !vdi_usb_policy_check(z->usb->rules, z->usb->q_default,
                                         errp)) ||
        !vdi_transfer_policy_check(z->clipboard, z->file_transfer, errp)) {
        goto fail;
    }
    for (fl = z->firewall; fl; fl = fl->next) {
        Object *obj = object_resolve_path_component(object_get_objects_root(),
                                                    fl->value->filter);
        FirewallAddressSetList *sl;

        if (!obj || !object_dynamic_cast(obj, FILTER_FIREWALL)) {
            error_setg(errp, "no filter-firewall '%s'", fl->value->filter);
            goto fail;
        }
        for (sl = fl->value->sets; sl; sl = sl->next) {
            strList *al;

            if (!*sl->value->name) {
                error_setg(errp, "an address set has no name");
                goto fail;
            }
            for (al = sl->value->addresses; al; al = al->next) {
                g_autofree char *msg = NULL;
                IpPrefix p;

                if (!ip_prefix_parse(al->value, &p, &msg)) {
                    error_setg(errp, "address set '%s': %s",
                               sl->value->name, msg);
                    goto fail;
                }
            }
        }
    }
    return true;

fail:
    error_prepend(errp, "zone '%s': ", z->name);
    return false;
}

/* The rules of @a compiled, after checking all of @a; NULL if bad */
static VdiZoneTable *table_new(const ZoneArgs *a, Error **errp)
{
    VdiZoneTable *t = vdi_zone_table_new();
    g_autofree char *msg = NULL;
    VdiZoneList *zl;
    VdiZoneRuleList *rl;
    VdiZoneUserList *ul;

    if (!a->dflt || !a->baseline) {
        error_setg(errp, "zones need a '%s' zone",
                   a->dflt ? "baseline" : "default");
        goto fail;
    }
    for (zl = a->zones; zl; zl = zl->next) {
        if (!vdi_zone_table_add_zone(t, zl->value->name, &msg) ||
            !bundle_check(zl->value, errp)) {
            goto fail;
        }
    }
    for (rl = a->rules; rl; rl = rl->next) {
        VdiZoneRule *r = rl->value;
        g_autoptr(GPtrArray) addrs = g_ptr_array_new();
        VdiZoneRuleSpec spec = {
            .id = r->id, .zone = r->zone, .subject = r->subject,
            .issuer = r->issuer, .terminal_name = r->terminal_name,
            .terminal_mac = r->terminal_mac,
        };
        strList *al;

        for (al = r->addresses; al; al = al->next) {
            g_ptr_array_add(addrs, al->value);
        }
        spec.addresses = (const char *const *)addrs->pdata;
        spec.n_addresses = addrs->len;
        if (r->has_addresses && !addrs->len) {
            error_setg(errp, "rule '%s' has an empty list of addresses",
                       r->id);
            goto fail;
        }
        if (!vdi_zone_table_add_rule(t, &spec, &msg)) {
            goto fail;
        }
    }
    for (ul = a->users; ul; ul = ul->next) {
        if (!vdi_zone_table_add_user(t, ul->value->user,
                                     ul->value->zone, &msg)) {
            goto fail;
        }
    }
    if (!vdi_zone_table_set_default(t, a->dflt, &msg) ||
        (a->vm_override &&
         !vdi_zone_table_set_vm_override(t, a->vm_override, &msg))) {
        goto fail;
    }
    if (!vdi_zone_table_has_zone(t, a->baseline)) {
        error_setg(errp, "baseline: no zone '%.*s'", VDI_ZONE_NAME_MAX,
                   a->baseline);
        goto fail;
    }
    return t;

fail:
    if (msg) {
        error_setg(errp, "%s", msg);
    }
    vdi_zone_table_free(t);
    return NULL;
}

/* The connection zones decide for: the latest client, where it sits */
static VdiZoneConnection *connection_now(void)
{
    VdiZoneConnection *latest = g_queue_peek_tail(&clients);
    VdiZoneConnection *c;

    if (!latest && !terminal) {
        return NULL;
    }
    c = latest ? QAPI_CLONE(VdiZoneConnection, latest) :
        g_new0(VdiZoneConnection, 1);
    if (terminal) {
        if (terminal->address) {
            g_free(c->address);
            c->address = g_strdup(terminal->address);
        }
        if (terminal->name) {
            g_free(c->terminal_name);
            c->terminal_name = g_strdup(terminal->name);
        }
        c->terminal_mac = g_strdup(terminal->mac);
    }
    return c;
}

static void decide(VdiZonesObject *o, const VdiZoneConnection *c,
                   VdiZoneVerdict *v)
{
    VdiZoneConn conn = {
        .address = c->address, .subject = c->subject, .issuer = c->issuer,
        .terminal_name = c->terminal_name, .terminal_mac = c->terminal_mac,
        .user = c->user,
    };

    vdi_zone_decide(o->table, &conn, v);
}

static VdiZoneReason reason_of(VdiZoneWhy why)
{
    switch (why) {
    case VDI_ZONE_WHY_VM_OVERRIDE:
        return VDI_ZONE_REASON_VM_OVERRIDE;
    case VDI_ZONE_WHY_USER:
        return VDI_ZONE_REASON_USER;
    case VDI_ZONE_WHY_RULE:
        return VDI_ZONE_REASON_RULE;
    default:
        return VDI_ZONE_REASON_DEFAULT;
    }
}

static VdiZonePieceResult *piece_result(VdiZonePiece piece, Error *err)
{
    VdiZonePieceResult *r = g_new0(VdiZonePieceResult, 1);

    r->piece = piece;
    r->applied = !err;
    if (err) {
        r->error = g_strdup(error_get_pretty(err));
        r->has_fail_closed = true;
    }
    return r;
}

/*
 * firewall-set-address-set compiles the policy in a worker thread from
 * a coroutine; we are not in one, so wait for it as the block layer's
 * synchronous wrappers do.  A small policy takes milliseconds.
 */
typedef struct FirewallCall {
    const char *filter;
    FirewallAddressSet *set;
    Error *err;
    bool done;
} FirewallCall;

static void coroutine_fn firewall_call_co(void *opaque)
{
    FirewallCall *fc = opaque;

    qmp_firewall_set_address_set(fc->filter, fc->set, &fc->err);
    fc->done = true;
    aio_wait_kick();
}

static bool firewall_set(const char *filter, FirewallAddressSet *set,
                         Error **errp)
{
    FirewallCall fc = { .filter = filter, .set = set };

    if (qemu_in_coroutine()) {
        firewall_call_co(&fc);
    } else {
        aio_co_enter(qemu_get_aio_context(),
                     qemu_coroutine_create(firewall_call_co, &fc));
        AIO_WAIT_WHILE_UNLOCKED(NULL, !fc.done);
    }
    if (fc.err) {
        error_propagate(errp, fc.err);
        return false;
    }
    return true;
}

static bool apply_firewall(const VdiZone *z, Error **errp)
{
    VdiZoneFirewallList *fl;
    FirewallAddressSetList *sl;
    bool ok = true;

    /* Every set, even after one fails: each is a separate filter's */
    for (fl = z->firewall; fl; fl = fl->next) {
        for (sl = fl->value->sets; sl; sl = sl->next) {
            Error *err = NULL;

            if (!firewall_set(fl->value->filter, sl->value, &err)) {
                if (ok) {
                    error_propagate_prepend(errp, err, "filter '%s': ",
                                            fl->value->filter);
                } else {
                    error_free(err);
                }
                ok = false;
            }
        }
    }
    return ok;
}

/* USB: on failure, deny every device (storage stays denied) */
static VdiZonePieceResult *apply_usb(const VdiZone *z)
{
    VdiZonePieceResult *r;
    Error *err = NULL, *deny_err = NULL;

    qmp_usb_policy_set(z->usb->rules, z->usb->q_default, NULL, &err);
    r = piece_result(VDI_ZONE_PIECE_USB, err);
    if (err) {
        qmp_usb_policy_set(NULL, USB_POLICY_ACTION_DENY, NULL, &deny_err);
        r->fail_closed = !deny_err;
        error_free(deny_err);
        error_free(err);
    }
    return r;
}

/* Clipboard or file transfer: on failure, nothing crosses that way */
static VdiZonePieceResult *apply_transfer(VdiZonePiece piece,
                                          VdiTransferPolicy *p)
{
    bool cb = piece == VDI_ZONE_PIECE_CLIPBOARD;
    VdiTransferPolicy none = { .direction = VDI_TRANSFER_DIRECTION_NONE };
    VdiZonePieceResult *r;
    Error *err = NULL, *none_err = NULL;

    qmp_vdi_transfer_policy_set(cb ? p : NULL, cb ? NULL : p, &err);
    r = piece_result(piece, err);
    if (err) {
        qmp_vdi_transfer_policy_set(cb ? &none : NULL, cb ? NULL : &none,
                                    &none_err);
        r->fail_closed = !none_err;
        error_free(none_err);
        error_free(err);
    }
    return r;
}

/* Printing: the nearest printer of the terminal through the session */
static VdiZonePieceResult *apply_printing(VdiZonesObject *o,
                                          const VdiZone *z,
                                          const VdiZoneConnection *c)
{
    VdiTerminal t = {
        .address = c ? c->address : NULL,
        .name = c ? c->terminal_name : NULL,
        .mac = c ? c->terminal_mac : NULL,
    };
    VdiDisplayPeer peer = {
        .address = c ? c->address : NULL,
        .x509_subject = c ? c->subject : NULL,
        .x509_issuer = c ? c->issuer : NULL,
    };
    g_autoptr(VdiSessionInfo) s = qmp_query_vdi_session(NULL);
    VdiZonePieceResult *r;
    Error *err = NULL;

    if (!c || !z->printing) {
        if (s->connected) {
            qmp_vdi_session_disconnect(NULL);
        }
        return piece_result(VDI_ZONE_PIECE_PRINTING, NULL);
    }
    /*
     * A display client's session follows it as follow-display would,
     * with its identity; orchestration's terminal is connected as given
     */
    o->connecting = true;
    if (c->client && !terminal) {
        vdi_session_follow(c->client, &peer, &err);
    } else {
        qapi_free_VdiSessionInfo(qmp_vdi_session_connect(&t, NULL, &err));
    }
    o->connecting = false;
    r = piece_result(VDI_ZONE_PIECE_PRINTING, err);
    if (err) {
        /* No printer rather than the previous terminal's */
        qmp_vdi_session_disconnect(NULL);
        r->fail_closed = true;
        error_free(err);
    }
    return r;
}

/*
 * Apply the zone of connection @c, or the baseline without one.  With
 * @session_prints, the session is connecting and chooses the printer
 * itself, after asking may_print.
 */
static VdiZone *apply(VdiZonesObject *o, VdiZoneConnection *c,
                      bool session_prints)
{
    VdiZonePieceResultList *pieces = NULL, **tail = &pieces;
    g_autofree char *old = g_steal_pointer(&o->cur.zone);
    VdiZoneVerdict v = { .zone = o->args.baseline };
    VdiZone *z;
    Error *err = NULL;

    if (c) {
        decide(o, c, &v);
    }
    z = zone_find(o, v.zone);
    trace_vdi_zone_apply(z->name, c && c->address ? c->address : "");

#if (defined(CONFIG_VNC) && defined(CONFIG_VNC_JPEG)) || defined(CONFIG_SPICE)
    if (z->display) {
        VdiZoneDisplay *d = z->display;

        qmp_display_set_profile(d->profile, false, 0,
                                d->has_max_bandwidth, d->max_bandwidth,
                                d->has_max_fps, d->max_fps,
                                d->has_jpeg_quality_min, d->jpeg_quality_min,
                                d->has_jpeg_quality_max, d->jpeg_quality_max,
                                &err);
        QAPI_LIST_APPEND(tail, piece_result(VDI_ZONE_PIECE_DISPLAY, err));
        g_clear_pointer(&err, error_free);
    }
#endif
    if (z->usb) {
        QAPI_LIST_APPEND(tail, apply_usb(z));
    }
    if (session_prints) {
        QAPI_LIST_APPEND(tail, piece_result(VDI_ZONE_PIECE_PRINTING, NULL));
    } else {
        QAPI_LIST_APPEND(tail, apply_printing(o, z, c));
    }
    if (z->has_firewall) {
        apply_firewall(z, &err);
        QAPI_LIST_APPEND(tail, piece_result(VDI_ZONE_PIECE_FIREWALL, err));
        g_clear_pointer(&err, error_free);
    }
    if (z->clipboard) {
        QAPI_LIST_APPEND(tail, apply_transfer(VDI_ZONE_PIECE_CLIPBOARD,
                                              z->clipboard));
    }
    if (z->file_transfer) {
        QAPI_LIST_APPEND(tail, apply_transfer(VDI_ZONE_PIECE_FILE_TRANSFER,
                                              z->file_transfer));
    }

    o->cur.zone = g_strdup(z->name);
    o->cur.reason = c ? reason_of(v.why) : VDI_ZONE_REASON_BASELINE;
    g_free(o->cur.rule);
    o->cur.rule = g_strdup(v.rule);
    qapi_free_VdiZoneConnection(o->cur.conn);
    o->cur.conn = c;
    qapi_free_VdiZonePieceResultList(o->cur.pieces);
    o->cur.pieces = pieces;
    qapi_event_send_vdi_zone_changed(old, o->cur.zone, o->cur.reason,
                                     o->cur.rule, o->cur.conn,
                                     o->cur.pieces);
    return z;
}

/* May the session have a printer at @t?  Asked by each session connect */
static bool zone_may_print(const VdiTerminal *t)
{
    VdiZonesObject *o = zones_object();

    if (!o || o->connecting) {
        return true;
    }
    /* Orchestration moves the session: decide again, there */
    qapi_free_VdiTerminal(terminal);
    terminal = QAPI_CLONE(VdiTerminal, t);
    return apply(o, connection_now(), true)->printing;
}

static bool zone_display_opened(const char *client,
                                const VdiDisplayPeer *peer,
                                const VdiPeerIdentity *id)
{
    VdiZoneConnection *c = g_new0(VdiZoneConnection, 1);
    VdiZonesObject *o = zones_object();

    c->client = g_strdup(client);
    c->address = g_strdup(peer->address && *peer->address ?
                          peer->address : NULL);
    c->subject = g_strdup(peer->x509_subject);
    c->issuer = g_strdup(peer->x509_issuer);
    c->user = g_strdup(id->user);
    c->terminal_name = g_strdup(id->terminal);
    g_queue_push_tail(&clients, c);
    /* A new client comes from its own terminal, which it may not name */
    g_clear_pointer(&terminal, qapi_free_VdiTerminal);
    if (o) {
        apply(o, connection_now(), false);
    }
    return o;
}

static bool zone_display_closed(const char *client)
{
    VdiZonesObject *o = zones_object();
    GList *l;

    for (l = clients.head; l; l = l->next) {
        VdiZoneConnection *c = l->data;

        if (!strcmp(c->client, client)) {
            bool latest = !l->next;

            g_queue_delete_link(&clients, l);
            qapi_free_VdiZoneConnection(c);
            if (latest) {
                g_clear_pointer(&terminal, qapi_free_VdiTerminal);
                if (o) {
                    apply(o, connection_now(), false);
                }
            }
            break;
        }
    }
    return o;
}

static const VdiSessionHooks zone_hooks = {
    .display_opened = zone_display_opened,
    .display_closed = zone_display_closed,
    .may_print = zone_may_print,
};

/*
 * Make @want (which this takes) the zones of @o, all or nothing; once
 * @o is complete, they apply at once, as vdi-zone-set's do
 */
static bool zones_update(VdiZonesObject *o, ZoneArgs *want, Error **errp)
{
    VdiZoneTable *t = NULL;

    if (o->table) {
        t = table_new(want, errp);
        if (!t) {
            zone_args_free(want);
            return false;
        }
        vdi_zone_table_free(o->table);
        o->table = t;
    }
    zone_args_free(&o->args);
    o->args = *want;
    if (t) {
        apply(o, connection_now(), false);
    }
    return true;
}

/*
 * The list properties, each one of vdi-zone-set's list arguments: a
 * getter and a setter per QAPI list type, alike but for the type (the
 * generated visitors are called with their own types, not cast)
 */
#define ZONES_LIST_PROPERTY(field, ListType)                               \
static void zones_get_##field(Object *obj, Visitor *v, const char *name,  \
                              void *opaque, Error **errp)                 \
{                                                                         \
    /* an output visitor: it reads the list */                            \
    visit_type_##ListType(v, name, &VDI_ZONES(obj)->args.field, errp);    \
}                                                                         \
                                                                          \
static void zones_set_##field(Object *obj, Visitor *v, const char *name,  \
                              void *opaque, Error **errp)                 \
{                                                                         \
    VdiZonesObject *o = VDI_ZONES(obj);                                   \
    ListType *l = NULL;                                                   \
    ZoneArgs want;                                                        \
                                                                          \
    if (visit_type_##ListType(v, name, &l, errp)) {                       \
        zone_args_copy(&want, &o->args);                                  \
        qapi_free_##ListType(want.field);                                 \
        want.field = l;                                                   \
        zones_update(o, &want, errp);                                     \
    }                                                                     \
}

ZONES_LIST_PROPERTY(zones, VdiZoneList)
ZONES_LIST_PROPERTY(rules, VdiZoneRuleList)
ZONES_LIST_PROPERTY(users, VdiZoneUserList)

static const struct {
    const char *name, *type;
    ObjectPropertyAccessor *get, *set;
    const char *desc;
} zone_list_props[] = {
    { "zones", "VdiZoneList", zones_get_zones, zones_set_zones,
      "the zones and their bundles" },
    { "rules", "VdiZoneRuleList", zones_get_rules, zones_set_rules,
      "connections to zones, in the order tried" },
    { "users", "VdiZoneUserList", zones_get_users, zones_set_users,
      "users to their zones, before the rules" },
};

/* The zone names: properties named as vdi-zone-set's arguments */
static char **zones_name_arg(ZoneArgs *a, const char *name)
{
    if (!strcmp(name, "default")) {
        return &a->dflt;
    }
    if (!strcmp(name, "baseline")) {
        return &a->baseline;
    }
    return &a->vm_override;
}

static void zones_get_name(Object *obj, Visitor *v, const char *name,
                           void *opaque, Error **errp)
{
    char *value = *zones_name_arg(&VDI_ZONES(obj)->args, name);

    value = g_strdup(value ?: "");
    visit_type_str(v, name, &value, errp);
    g_free(value);
}

static void zones_set_name(Object *obj, Visitor *v, const char *name,
                           void *opaque, Error **errp)
{
    VdiZonesObject *o = VDI_ZONES(obj);
    char *value;
    ZoneArgs want;

    if (visit_type_str(v, name, &value, errp)) {
        zone_args_copy(&want, &o->args);
        g_free(*zones_name_arg(&want, name));
        /* "" takes the VM override away */
        if (!*value && !strcmp(name, "vm-override")) {
            g_clear_pointer(&value, g_free);
        }
        *zones_name_arg(&want, name) = value;
        zones_update(o, &want, errp);
    }
}

static VdiZoneInfo *zones_info(VdiZonesObject *o)
{
    VdiZoneInfo *info = g_new0(VdiZoneInfo, 1);

    info->enabled = o;
    if (o && o->cur.zone) {
        info->zone = g_strdup(o->cur.zone);
        info->has_reason = true;
        info->reason = o->cur.reason;
        info->rule = g_strdup(o->cur.rule);
        info->connection = QAPI_CLONE(VdiZoneConnection, o->cur.conn);
        info->has_pieces = true;
        info->pieces = QAPI_CLONE(VdiZonePieceResultList, o->cur.pieces);
    }
    return info;
}

/* "state": what query-vdi-zone tells */
static void zones_get_state(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    VdiZonesObject *o = VDI_ZONES(obj);
    VdiZoneInfo *info = zones_info(o->table ? o : NULL);

    visit_type_VdiZoneInfo(v, name, &info, errp);
    qapi_free_VdiZoneInfo(info);
}

static void zones_complete(UserCreatable *uc, Error **errp)
{
    VdiZonesObject *o = VDI_ZONES(uc);

    if (!vdi_vm_object_first(OBJECT(uc), zones_is_complete, "zones",
                             errp)) {
        return;
    }
    o->table = table_new(&o->args, errp);
    if (o->table) {
        apply(o, connection_now(), false);
    }
}

/*
 * Not while a display client or the session is connected: their zone's
 * bundle would stay in force with nothing deciding for them.
 */
static bool zones_can_be_deleted(UserCreatable *uc)
{
    g_autoptr(VdiSessionInfo) s = qmp_query_vdi_session(NULL);

    return g_queue_is_empty(&clients) && !s->connected;
}

static void zones_finalize(Object *obj)
{
    VdiZonesObject *o = VDI_ZONES(obj);

    zone_args_free(&o->args);
    vdi_zone_table_free(o->table);
    g_free(o->cur.zone);
    g_free(o->cur.rule);
    qapi_free_VdiZoneConnection(o->cur.conn);
    qapi_free_VdiZonePieceResultList(o->cur.pieces);
}

static void zones_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);
    static const char *const names[][2] = {
        { "default", "the zone of connections no rule matches" },
        { "baseline", "the zone without a connection" },
        { "vm-override", "the zone of every connection, if set" },
    };

    ucc->complete = zones_complete;
    ucc->can_be_deleted = zones_can_be_deleted;
    for (size_t i = 0; i < ARRAY_SIZE(zone_list_props); i++) {
        object_class_property_add(oc, zone_list_props[i].name,
                                  zone_list_props[i].type,
                                  zone_list_props[i].get,
                                  zone_list_props[i].set, NULL, NULL);
        object_class_property_set_description(oc, zone_list_props[i].name,
                                              zone_list_props[i].desc);
    }
    for (int i = 0; i < ARRAY_SIZE(names); i++) {
        object_class_property_add(oc, names[i][0], "str", zones_get_name,
                                  zones_set_name, NULL, NULL);
        object_class_property_set_description(oc, names[i][0],
                                              names[i][1]);
    }
    object_class_property_add(oc, "state", "VdiZoneInfo", zones_get_state,
                              NULL, NULL, NULL);
    object_class_property_set_description(oc, "state",
        "the zone in force, why, and what was applied");
}

static const TypeInfo zones_info_type = {
    .name = TYPE_VDI_ZONES,
    .parent = TYPE_OBJECT,
    .class_init = zones_class_init,
    .instance_size = sizeof(VdiZonesObject),
    .instance_finalize = zones_finalize,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

void qmp_vdi_zone_set(VdiZoneList *zones, VdiZoneRuleList *rules,
                      const char *dflt, const char *baseline,
                      const char *vm_override, bool has_users,
                      VdiZoneUserList *users, Error **errp)
{
    const ZoneArgs given = {
        .zones = zones, .rules = rules, .dflt = (char *)dflt,
        .baseline = (char *)baseline, .vm_override = (char *)vm_override,
        .users = users,
    };
    VdiZonesObject *o = zones_object();
    Object *obj;
    ZoneArgs want;

    zone_args_copy(&want, &given);
    if (o) {
        zones_update(o, &want, errp);
        return;
    }
    /* the first zones: the VM's vdi-zones object, which applies them */
    obj = object_new(TYPE_VDI_ZONES);
    VDI_ZONES(obj)->args = want;
    vdi_vm_object_add(obj, DEFAULT_ZONES_ID, errp);
}

VdiZoneInfo *qmp_query_vdi_zone(Error **errp)
{
    return zones_info(zones_object());
}

VdiZoneDecision *qmp_vdi_zone_dry_run(VdiZoneConnection *arg, Error **errp)
{
    VdiZoneConn conn = {
        .address = arg->address, .subject = arg->subject,
        .issuer = arg->issuer, .terminal_name = arg->terminal_name,
        .terminal_mac = arg->terminal_mac, .user = arg->user,
    };
    VdiZonesObject *o = zones_object();
    g_autofree char *msg = NULL;
    VdiZoneDecision *d;
    VdiZoneVerdict v;

    if (!o) {
        error_setg(errp, "zones are off: see vdi-zone-set");
        return NULL;
    }
    if (!vdi_zone_conn_check(&conn, &msg)) {
        error_setg(errp, "%s", msg);
        return NULL;
    }
    vdi_zone_decide(o->table, &conn, &v);
    d = g_new0(VdiZoneDecision, 1);
    d->zone = QAPI_CLONE(VdiZone, zone_find(o, v.zone));
    d->reason = reason_of(v.why);
    d->rule = g_strdup(v.rule);
    return d;
}

static void vdi_zone_register(void)
{
    type_register_static(&zones_info_type);
    vdi_session_set_hooks(&zone_hooks);
    /* 2: the vdi-zones object */
    vdi_extension_register("zones", 2);
}

type_init(vdi_zone_register);
