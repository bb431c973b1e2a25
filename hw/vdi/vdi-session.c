/*
 * VDI sessions: the nearest printer follows the user
 *
 * The printer map (set over QMP) says which printer belongs to which
 * terminal.  When a session connects from a terminal, the printer the
 * map gives for it is plugged into the VM as a usb-printer on a socket
 * chardev to the printer's raw port; the previous terminal's printer is
 * removed, and the printer goes when the session ends.  With
 * follow-display, VNC and SPICE clients move the session themselves.
 * All of it belongs to the VM's vdi-session object, which -object or
 * object-add create, or the QMP commands when they first need it.
 *
 * The map is checked when it is set, so that a bad line fails there and
 * not when a user connects.  A connect first plugs the new printer in
 * beside the old one, then switches: when that fails, the session is
 * left exactly as it was.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/vdi/vdi-extension.h"
#include "hw/vdi/vdi-session.h"
#include "hw/usb/printer-id.h"
#include "monitor/qdev.h"
#include "net/ip-prefix.h"
#include "net/util.h"
#include "qapi/clone-visitor.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-char.h"
#include "qapi/qapi-commands-qdev.h"
#include "qapi/qapi-commands-vdi-session.h"
#include "qapi/qapi-events-vdi-session.h"
#include "qapi/qapi-visit-vdi-session.h"
#include "qobject/qdict.h"
#include "qom/object.h"
#include "qom/object_interfaces.h"
#include "trace.h"
#include "ui/display-client.h"

#define SESSION_PRINTER_DEVICE  "vdi-session-printer-"
#define SESSION_PRINTER_CHARDEV "vdi-session-printer-chr-"
#define PRINTER_DEFAULT_PORT    9100
/* How often the chardev retries an unreachable printer, in ms */
#define PRINTER_RECONNECT_MS    5000

/*
 * Limits of the printer map: a hospital has a few thousand terminals,
 * and names are for humans; a connect scans the map in order.
 */
#define PRINTER_MAP_MAX         4096
#define MAPPING_ID_MAX          64
#define PRINTER_NAME_MAX        128
#define HOST_NAME_MAX_LEN       253

static const VdiSessionHooks *hooks;

/*
 * The vdi-session object: the VM's session, its printer map and where
 * it is connected from.  A VM has at most one; the QMP commands create
 * it when they need it.
 */
#define TYPE_VDI_SESSION "vdi-session"
#define DEFAULT_SESSION_ID "vdi-session"
OBJECT_DECLARE_SIMPLE_TYPE(VdiSessionObject, VDI_SESSION)

struct VdiSessionObject {
    Object parent_obj;
    bool complete;
    VdiPrinterMappingList *printer_map;
    bool follow_display;
    bool connected;
    VdiTerminal *terminal;
    VdiPrinterMapping *mapping;     /* of the plugged-in printer */
    /*
     * The ids of its device and chardev.  The next printer is plugged in
     * before this one leaves, and a removed socket chardev lives on while
     * its connect attempt runs, keeping its id (and yank instance) taken:
     * each plug-in uses new ones.
     */
    char *device;
    char *chardev;
    unsigned plugs;
    char *display_client;           /* the client it follows, if any */
    /* Who the display client's certificate says the user is */
    char *user;
    char *identity;                 /* the identity mapping that said so */
    char *x509_subject;
    char *x509_issuer;
};

static VdiIdentityLookup *identity_lookup;

/* Parse an address or CIDR prefix */
static bool parse_prefix(const char *what, const char *s, IpPrefix *p,
                         Error **errp)
{
    g_autofree char *msg = NULL;

    if (!ip_prefix_parse(s, p, &msg)) {
        error_setg(errp, "%s: invalid address '%s': %s", what, s, msg);
        return false;
    }
    return true;
}

/* Only the xx:xx:xx:xx:xx:xx form: net_parse_macaddr() takes more */
static bool mac_valid(const char *s, uint8_t mac[6])
{
    return strlen(s) == 17 && net_parse_macaddr(mac, s) == 0;
}

static bool parse_mac(const char *what, const char *s, uint8_t mac[6],
                      Error **errp)
{
    if (!mac_valid(s, mac)) {
        error_setg(errp, "%s: '%s' is not a MAC address", what, s);
        return false;
    }
    return true;
}

bool vdi_check_ascii(const char *what, const char *member, const char *s,
                     size_t max, Error **errp)
{
    size_t len = strlen(s);
    const char *c;

    if (!len || len > max) {
        error_setg(errp, "%s: %s must have 1 to %zu characters, not %zu",
                   what, member, max, len);
        return false;
    }
    for (c = s; *c; c++) {
        if (*c < 0x20 || *c > 0x7e) {
            error_setg(errp, "%s: %s may hold printable ASCII characters "
                       "only, not 0x%02x", what, member, (unsigned char)*c);
            return false;
        }
    }
    return true;
}

static bool terminal_check(const VdiTerminal *t, Error **errp)
{
    IpPrefix p;
    uint8_t mac[6];

    return (!t->address || parse_prefix("terminal", t->address, &p, errp)) &&
           (!t->mac || parse_mac("terminal", t->mac, mac, errp)) &&
           (!t->name || vdi_check_ascii("terminal", "name", t->name,
                                        VDI_TERMINAL_NAME_MAX, errp));
}

/* An IP address, or a host name after RFC 1123 */
static bool host_valid(const char *host)
{
    struct in6_addr a6;
    struct in_addr a4;
    g_auto(GStrv) labels = NULL;
    int i;

    if (inet_pton(AF_INET, host, &a4) == 1 ||
        inet_pton(AF_INET6, host, &a6) == 1) {
        return true;
    }
    if (!*host || strlen(host) > HOST_NAME_MAX_LEN) {
        return false;
    }
    labels = g_strsplit(host, ".", -1);
    for (i = 0; labels[i]; i++) {
        const char *l = labels[i];
        size_t len = strlen(l);

        if (!len || len > 63 || l[0] == '-' || l[len - 1] == '-' ||
            strspn(l, "abcdefghijklmnopqrstuvwxyz"
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != len) {
            return false;
        }
    }
    return true;
}

static bool mapping_check(const VdiPrinterMapping *m, Error **errp)
{
    const VdiPrinter *printer = m->printer;
    IpPrefix p;
    uint8_t mac[6];

    if (!m->terminal_address && !m->terminal_mac && !m->terminal_name) {
        error_setg(errp, "mapping '%s' has no terminal-address, "
                   "terminal-mac or terminal-name", m->id);
        return false;
    }
    if (m->terminal_address &&
        !parse_prefix(m->id, m->terminal_address, &p, errp)) {
        return false;
    }
    if (m->terminal_mac && !parse_mac(m->id, m->terminal_mac, mac, errp)) {
        return false;
    }
    if (m->terminal_name &&
        !vdi_check_ascii(m->id, "terminal-name", m->terminal_name,
                         VDI_TERMINAL_NAME_MAX, errp)) {
        return false;
    }
    if (!*printer->name || strlen(printer->name) > PRINTER_NAME_MAX ||
        !g_utf8_validate(printer->name, -1, NULL)) {
        error_setg(errp, "mapping '%s': the printer name must be UTF-8 of "
                   "1 to %d bytes", m->id, PRINTER_NAME_MAX);
        return false;
    }
    if (!host_valid(printer->host)) {
        error_setg(errp, "mapping '%s': printer host '%.*s' is neither an "
                   "IP address nor a host name", m->id, HOST_NAME_MAX_LEN,
                   printer->host);
        return false;
    }
    if (printer->has_port && !printer->port) {
        error_setg(errp, "mapping '%s': printer port 0 is not a port",
                   m->id);
        return false;
    }
    if (!ieee1284_id_check(printer->ieee1284_id, errp)) {
        error_prepend(errp, "mapping '%s': ", m->id);
        return false;
    }
    return true;
}

static bool mapping_matches(const VdiPrinterMapping *m, const VdiTerminal *t)
{
    IpPrefix net, host;
    IpAddr addr;
    uint8_t want[6], have[6];

    if (m->terminal_address) {
        if (!t->address || !ip_prefix_parse(m->terminal_address, &net, NULL) ||
            !ip_prefix_parse(t->address, &host, NULL)) {
            return false;
        }
        addr.family = host.family;
        memcpy(addr.a, host.addr, sizeof(addr.a));
        if (!ip_prefix_contains(&net, &addr)) {
            return false;
        }
    }
    if (m->terminal_mac) {
        if (!t->mac || !mac_valid(m->terminal_mac, want) ||
            !mac_valid(t->mac, have) || memcmp(want, have, 6)) {
            return false;
        }
    }
    if (m->terminal_name) {
        g_autofree char *pattern = g_ascii_strdown(m->terminal_name, -1);
        g_autofree char *name = t->name ? g_ascii_strdown(t->name, -1) : NULL;

        if (!name || !g_pattern_match_simple(pattern, name)) {
            return false;
        }
    }
    return true;
}

/* Is @mappings a valid printer map?  The error names the mapping. */
static bool printer_map_check(VdiPrinterMappingList *mappings, Error **errp)
{
    g_autoptr(GHashTable) ids = g_hash_table_new(g_str_hash, g_str_equal);
    VdiPrinterMappingList *l;
    unsigned n = 0;

    for (l = mappings; l; l = l->next) {
        VdiPrinterMapping *m = l->value;

        if (++n > PRINTER_MAP_MAX) {
            error_setg(errp, "the printer map has more than %d mappings",
                       PRINTER_MAP_MAX);
            return false;
        }
        if (!vdi_check_ascii("mapping", "id", m->id, MAPPING_ID_MAX, errp)) {
            return false;
        }
        if (!g_hash_table_add(ids, m->id)) {
            error_setg(errp, "mapping id '%s' is used twice", m->id);
            return false;
        }
        if (!mapping_check(m, errp)) {
            return false;
        }
    }
    return true;
}

static bool session_object_is_complete(Object *obj)
{
    return VDI_SESSION(obj)->complete;
}

/*
 * The VM's session object; if it has none and @create, a new one named
 * DEFAULT_SESSION_ID (NULL with @errp set if that fails), else NULL.
 */
static VdiSessionObject *session_object(bool create, Error **errp)
{
    Object *obj = create ?
        vdi_vm_object_get(TYPE_VDI_SESSION, DEFAULT_SESSION_ID,
                          session_object_is_complete, errp) :
        vdi_vm_object(TYPE_VDI_SESSION, session_object_is_complete);

    return obj ? VDI_SESSION(obj) : NULL;
}

static void session_unplug_printer(VdiSessionObject *s)
{
    Error *err = NULL;

    if (!s->mapping) {
        return;
    }
    /* A USB device leaves at once, which frees its chardev */
    qmp_device_del(s->device, &err);
    if (!err) {
        qmp_chardev_remove(s->chardev, &err);
    }
    if (err) {
        /* Nothing the user can act on: leave a trace and go on */
        trace_vdi_session_unplug_failed(error_get_pretty(err));
        error_free(err);
    }
    qapi_event_send_vdi_session_printer(false, s->mapping->printer,
                                        s->device, s->mapping->id);
    qapi_free_VdiPrinterMapping(s->mapping);
    s->mapping = NULL;
    g_clear_pointer(&s->device, g_free);
    g_clear_pointer(&s->chardev, g_free);
}

/*
 * Plug in @m's printer on a new chardev, beside the session's printer if
 * any; on success, the ids of both are in @device and @chardev.
 */
static bool session_plug_printer(VdiSessionObject *s, VdiPrinterMapping *m,
                                 const char *bus, char **device,
                                 char **chardev, Error **errp)
{
    VdiPrinter *printer = m->printer;
    g_autofree char *port = g_strdup_printf("%u", printer->has_port ?
                                            printer->port :
                                            PRINTER_DEFAULT_PORT);
    InetSocketAddress inet = {
        .host = printer->host,
        .port = port,
    };
    SocketAddressLegacy addr = {
        .type = SOCKET_ADDRESS_TYPE_INET,
        .u.inet.data = &inet,
    };
    ChardevSocket sock = {
        .addr = &addr,
        .has_server = true,
        .server = false,
        .has_reconnect_ms = true,
        .reconnect_ms = PRINTER_RECONNECT_MS,
    };
    ChardevBackend backend = {
        .type = CHARDEV_BACKEND_KIND_SOCKET,
        .u.socket.data = &sock,
    };
    g_autoptr(QDict) opts = qdict_new();
    g_autofree char *chr = g_strdup_printf(SESSION_PRINTER_CHARDEV "%u",
                                           s->plugs);
    g_autofree char *id = g_strdup_printf(SESSION_PRINTER_DEVICE "%u",
                                          s->plugs);
    ChardevReturn *ret;
    DeviceState *dev;

    s->plugs++;
    ret = qmp_chardev_add(chr, &backend, errp);
    if (!ret) {
        return false;
    }
    qapi_free_ChardevReturn(ret);

    qdict_put_str(opts, "driver", "usb-printer");
    qdict_put_str(opts, "id", id);
    qdict_put_str(opts, "chardev", chr);
    qdict_put_str(opts, "ieee1284-id", printer->ieee1284_id);
    if (bus) {
        qdict_put_str(opts, "bus", bus);
    }
    dev = qdev_device_add_from_qdict(opts, false, errp);
    if (!dev) {
        qmp_chardev_remove(chr, NULL);
        error_prepend(errp, "cannot plug in printer '%s': ", printer->name);
        return false;
    }
    object_unref(OBJECT(dev));
    *device = g_steal_pointer(&id);
    *chardev = g_steal_pointer(&chr);
    return true;
}

static VdiSessionInfo *session_info(VdiSessionObject *s)
{
    VdiSessionInfo *info = g_new0(VdiSessionInfo, 1);

    info->connected = s->connected;
    info->terminal = QAPI_CLONE(VdiTerminal, s->terminal);
    info->display_client = g_strdup(s->display_client);
    info->user = g_strdup(s->user);
    info->identity = g_strdup(s->identity);
    info->x509_subject = g_strdup(s->x509_subject);
    info->x509_issuer = g_strdup(s->x509_issuer);
    if (s->mapping) {
        info->mapping = g_strdup(s->mapping->id);
        info->printer = QAPI_CLONE(VdiPrinter, s->mapping->printer);
        info->device = g_strdup(s->device);
    }
    return info;
}

static void session_set_peer(VdiSessionObject *s, const VdiDisplayPeer *peer,
                             const VdiPeerIdentity *id)
{
    g_free(s->user);
    s->user = g_strdup(id ? id->user : NULL);
    g_free(s->identity);
    s->identity = g_strdup(id ? id->mapping : NULL);
    g_free(s->x509_subject);
    s->x509_subject = g_strdup(peer ? peer->x509_subject : NULL);
    g_free(s->x509_issuer);
    s->x509_issuer = g_strdup(peer ? peer->x509_issuer : NULL);
}

/*
 * Connect the session from @terminal, followed from display @client as
 * @peer (known to the identity map as @id) if not NULL.  Everything
 * that can fail happens before the switch.
 */
static bool session_connect(VdiSessionObject *s, VdiTerminal *terminal,
                            const char *bus,
                            const char *client, const VdiDisplayPeer *peer,
                            const VdiPeerIdentity *id, Error **errp)
{
    VdiPrinterMapping *m = NULL;
    VdiPrinterMappingList *l;
    g_autofree char *device = NULL;
    g_autofree char *chardev = NULL;

    if (!terminal_check(terminal, errp)) {
        return false;
    }
    for (l = hooks && !hooks->may_print(terminal) ? NULL : s->printer_map;
         l && !m; l = l->next) {
        if (mapping_matches(l->value, terminal)) {
            m = l->value;
        }
    }
    if (m && !session_plug_printer(s, m, bus, &device, &chardev, errp)) {
        return false;
    }

    trace_vdi_session_connect(terminal->address ?: "", terminal->mac ?: "",
                              terminal->name ?: "");
    session_unplug_printer(s);
    qapi_free_VdiTerminal(s->terminal);
    s->terminal = QAPI_CLONE(VdiTerminal, terminal);
    g_free(s->display_client);
    s->display_client = g_strdup(client);
    session_set_peer(s, peer, id);
    s->connected = true;
    if (m) {
        s->mapping = QAPI_CLONE(VdiPrinterMapping, m);
        s->device = g_steal_pointer(&device);
        s->chardev = g_steal_pointer(&chardev);
        qapi_event_send_vdi_session_printer(true, m->printer, s->device,
                                            m->id);
    }
    return true;
}

static void session_disconnect(VdiSessionObject *s)
{
    session_unplug_printer(s);
    qapi_free_VdiTerminal(s->terminal);
    s->terminal = NULL;
    g_free(s->display_client);
    s->display_client = NULL;
    session_set_peer(s, NULL, NULL);
    s->connected = false;
}

void vdi_session_set_identity_lookup(VdiIdentityLookup *lookup)
{
    identity_lookup = lookup;
}

bool vdi_session_follow(const char *client, const VdiDisplayPeer *peer,
                        Error **errp)
{
    VdiTerminal terminal = { .address = (char *)peer->address };
    VdiPeerIdentity id = { 0 };
    VdiSessionObject *s;

    if (identity_lookup) {
        identity_lookup(peer, &id);
        terminal.name = (char *)id.terminal;
    }
    s = session_object(true, errp);
    trace_vdi_session_display(client, peer->address ?: "", true);
    return s && session_connect(s, &terminal, NULL, client, peer, &id, errp);
}

static void session_object_get_printer_map(Object *obj, Visitor *v,
                                           const char *name, void *opaque,
                                           Error **errp)
{
    VdiPrinterMappingList *map =
        QAPI_CLONE(VdiPrinterMappingList, VDI_SESSION(obj)->printer_map);

    visit_type_VdiPrinterMappingList(v, name, &map, errp);
    qapi_free_VdiPrinterMappingList(map);
}

static void session_object_set_printer_map(Object *obj, Visitor *v,
                                           const char *name, void *opaque,
                                           Error **errp)
{
    VdiSessionObject *s = VDI_SESSION(obj);
    VdiPrinterMappingList *map = NULL;

    if (!visit_type_VdiPrinterMappingList(v, name, &map, errp) ||
        !printer_map_check(map, errp)) {
        qapi_free_VdiPrinterMappingList(map);
        return;
    }
    qapi_free_VdiPrinterMappingList(s->printer_map);
    s->printer_map = map;
}

static bool session_object_get_follow_display(Object *obj, Error **errp)
{
    return VDI_SESSION(obj)->follow_display;
}

static void session_object_set_follow_display(Object *obj, bool value,
                                              Error **errp)
{
    VDI_SESSION(obj)->follow_display = value;
}

/* "state": what query-vdi-session tells */
static void session_object_get_state(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    VdiSessionInfo *info = session_info(VDI_SESSION(obj));

    visit_type_VdiSessionInfo(v, name, &info, errp);
    qapi_free_VdiSessionInfo(info);
}

static void session_object_complete(UserCreatable *uc, Error **errp)
{
    if (vdi_vm_object_first(OBJECT(uc), session_object_is_complete,
                            "a session", errp)) {
        VDI_SESSION(uc)->complete = true;
    }
}

/* Not while connected: its printer would stay plugged in, unowned */
static bool session_object_can_be_deleted(UserCreatable *uc)
{
    return !VDI_SESSION(uc)->connected;
}

static void session_object_finalize(Object *obj)
{
    VdiSessionObject *s = VDI_SESSION(obj);

    qapi_free_VdiPrinterMappingList(s->printer_map);
}

static void session_object_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = session_object_complete;
    ucc->can_be_deleted = session_object_can_be_deleted;
    object_class_property_add(oc, "printer-map", "VdiPrinterMappingList",
                              session_object_get_printer_map,
                              session_object_set_printer_map, NULL, NULL);
    object_class_property_set_description(oc, "printer-map",
        "terminals to the printers next to them, in the order tried");
    object_class_property_add_bool(oc, "follow-display",
                                   session_object_get_follow_display,
                                   session_object_set_follow_display);
    object_class_property_set_description(oc, "follow-display",
        "display clients connect the session from where they are");
    object_class_property_add(oc, "state", "VdiSessionInfo",
                              session_object_get_state, NULL, NULL, NULL);
    object_class_property_set_description(oc, "state",
        "where the session is connected from, and its printer");
}

static const TypeInfo session_object_info = {
    .name = TYPE_VDI_SESSION,
    .parent = TYPE_OBJECT,
    .class_init = session_object_class_init,
    .instance_size = sizeof(VdiSessionObject),
    .instance_finalize = session_object_finalize,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

void qmp_vdi_printer_map_set(VdiPrinterMappingList *mappings,
                             bool has_follow_display, bool follow,
                             Error **errp)
{
    VdiSessionObject *s;

    if (!printer_map_check(mappings, errp)) {
        return;
    }
    s = session_object(true, errp);
    if (s) {
        qapi_free_VdiPrinterMappingList(s->printer_map);
        s->printer_map = QAPI_CLONE(VdiPrinterMappingList, mappings);
        s->follow_display = has_follow_display && follow;
    }
}

VdiPrinterMappingList *qmp_query_vdi_printer_map(Error **errp)
{
    VdiSessionObject *s = session_object(false, NULL);

    return s ? QAPI_CLONE(VdiPrinterMappingList, s->printer_map) : NULL;
}

VdiSessionInfo *qmp_vdi_session_connect(VdiTerminal *terminal,
                                        const char *bus, Error **errp)
{
    VdiSessionObject *s = session_object(true, errp);

    return s && session_connect(s, terminal, bus, NULL, NULL, NULL, errp) ?
           session_info(s) : NULL;
}

void qmp_vdi_session_disconnect(Error **errp)
{
    VdiSessionObject *s = session_object(false, NULL);

    if (!s || !s->connected) {
        error_setg(errp, "no session is connected");
        return;
    }
    session_disconnect(s);
}

VdiSessionInfo *qmp_query_vdi_session(Error **errp)
{
    VdiSessionObject *s = session_object(false, NULL);

    return s ? session_info(s) : g_new0(VdiSessionInfo, 1);
}

/*
 * A display client @client finished its handshake as @peer.  With
 * follow-display on, the session moves to that terminal, plugging in its
 * printer; a client the identity map knows brings its user and terminal.
 */
static void session_display_opened(const char *client,
                                   const VdiDisplayPeer *peer)
{
    VdiSessionObject *s = session_object(false, NULL);
    VdiPeerIdentity id = { 0 };
    Error *err = NULL;

    trace_vdi_session_display_peer(client, peer->address ?: "",
                                   peer->x509_subject ?: "",
                                   peer->x509_issuer ?: "");
    if (hooks) {
        if (identity_lookup) {
            identity_lookup(peer, &id);
        }
        if (hooks->display_opened(client, peer, &id)) {
            return;
        }
    }
    if (!s || !s->follow_display || !peer->address || !*peer->address) {
        return;
    }
    if (!vdi_session_follow(client, peer, &err)) {
        /* The display works without a printer: only trace it */
        trace_vdi_session_display_failed(client, error_get_pretty(err));
        error_free(err);
    }
}

/* When the client the session followed leaves, the session ends */
static void session_display_closed(const char *client)
{
    VdiSessionObject *s = session_object(false, NULL);

    if (hooks && hooks->display_closed(client)) {
        return;
    }
    if (s && s->display_client && !strcmp(s->display_client, client)) {
        trace_vdi_session_display(client, "", false);
        session_disconnect(s);
    }
}

static void session_display_client(Notifier *notifier, void *data)
{
    DisplayClientEvent *ev = data;
    VdiDisplayPeer peer = {
        .address = ev->address,
        .x509_subject = ev->x509_subject,
        .x509_issuer = ev->x509_issuer,
    };

    if (ev->opened) {
        session_display_opened(ev->client, &peer);
    } else {
        session_display_closed(ev->client);
    }
}

static Notifier session_display_notifier = {
    .notify = session_display_client,
};

static void vdi_session_register(void)
{
    type_register_static(&session_object_info);
    display_client_add_notifier(&session_display_notifier);
}
type_init(vdi_session_register)

void vdi_session_set_hooks(const VdiSessionHooks *h)
{
    hooks = h;
}
