/*
 * Display profiles for the SPICE server
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * display-set-profile, set globally, maps the profile onto the runtime
 * controls of the SPICE server (see DisplaySpiceInfo in
 * qapi/vdi-display.json); query-display-spice reports them.  The SPICE
 * server copies them into a display channel when it connects, so each
 * session's settings are recorded then, from the channel events, for
 * query-display-clients.
 *
 * That state is the one SPICE server's (QEMU runs at most one), so it
 * lives in a QOM object beside the consoles, /backend/spice-vdi, whose
 * read-only properties show it.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-visit-vdi-display.h"
#include "qemu/queue.h"
#include "qom/object.h"
#include "spice-vdi.h"
#include "vnc-vdi.h"
#include "trace.h"

/* A channel of a session */
typedef struct SpiceVdiChannel {
    int type, id;
    bool tls;
} SpiceVdiChannel;

/* A SPICE session: its main channel and the channels joined to it */
typedef struct SpiceVdiClient {
    int64_t id;
    uint32_t connection_id;
    char *host, *service;
    bool tls;
    bool unix_socket;
    GArray *channels;               /* SpiceVdiChannel, main first */
    /* what its first display channel got when it connected */
    bool has_display;
    DisplayProfile display_profile;
    SpiceVdiSettings display;
    QTAILQ_ENTRY(SpiceVdiClient) link;
} SpiceVdiClient;

#define TYPE_SPICE_VDI "spice-vdi"
OBJECT_DECLARE_SIMPLE_TYPE(SpiceVdi, SPICE_VDI)

struct SpiceVdi {
    Object parent_obj;
    SpiceServer *server;
    SpiceVdiSettings cmdline;       /* of -spice: profile off */
    SpiceVdiSettings cur;
    DisplayProfile profile;
    QTAILQ_HEAD(, SpiceVdiClient) clients;
};

/* The SPICE server's state, NULL without SPICE */
static SpiceVdi *spice_vdi(void)
{
    Object *obj = object_resolve_path_component(object_get_container("backend"),
                                                TYPE_SPICE_VDI);

    return obj ? SPICE_VDI(obj) : NULL;
}

/* What each profile changes; profile off restores the -spice settings */
static const struct {
    DisplayProfile profile;
    SpiceVdiSettings s;
} profile_settings[] = {
    /* lossless, and no global dictionary to maintain */
    { DISPLAY_PROFILE_LAN, { SPICE_IMAGE_COMPRESSION_AUTO_LZ,
                             SPICE_WAN_COMPRESSION_NEVER,
                             SPICE_WAN_COMPRESSION_NEVER,
                             SPICE_STREAM_VIDEO_OFF } },
    { DISPLAY_PROFILE_WAN, { SPICE_IMAGE_COMPRESSION_AUTO_GLZ,
                             SPICE_WAN_COMPRESSION_ALWAYS,
                             SPICE_WAN_COMPRESSION_ALWAYS,
                             SPICE_STREAM_VIDEO_FILTER } },
    /* the SPICE server's own estimate of each client's link */
    { DISPLAY_PROFILE_AUTO, { SPICE_IMAGE_COMPRESSION_AUTO_GLZ,
                              SPICE_WAN_COMPRESSION_AUTO,
                              SPICE_WAN_COMPRESSION_AUTO,
                              SPICE_STREAM_VIDEO_FILTER } },
};

static SpiceVdiSettings spice_vdi_settings(DisplayProfile profile,
                                           const SpiceVdiSettings *cmdline)
{
    for (size_t i = 0; i < ARRAY_SIZE(profile_settings); i++) {
        if (profile_settings[i].profile == profile) {
            return profile_settings[i].s;
        }
    }
    return *cmdline;
}

void qemu_spice_vdi_init(SpiceServer *server, const SpiceVdiSettings *cmdline)
{
    SpiceVdi *sv = SPICE_VDI(object_new(TYPE_SPICE_VDI));

    sv->server = server;
    sv->cmdline = *cmdline;
    sv->cur = *cmdline;
    object_property_add_child(object_get_container("backend"), TYPE_SPICE_VDI,
                              OBJECT(sv));
    object_unref(OBJECT(sv));
    /* a vdi-display-profile object may be there first */
    if (display_profile_defaults()->profile != DISPLAY_PROFILE_OFF) {
        qemu_spice_vdi_set_profile(display_profile_defaults()->profile);
    }
}

void qemu_spice_vdi_set_profile(DisplayProfile profile)
{
    SpiceVdi *sv = spice_vdi();
    SpiceVdiSettings s;

    if (!sv) {
        return;
    }
    s = spice_vdi_settings(profile, &sv->cmdline);
    trace_spice_vdi_set_profile(DisplayProfile_str(profile), s.image, s.jpeg,
                                s.zlib_glz, s.streaming_video);
    /* for all display channels at once */
    spice_server_set_streaming_video(sv->server, s.streaming_video);
    /*
     * spice-server copies these three into a display channel when it
     * connects: the channels connected now keep theirs
     */
    spice_server_set_image_compression(sv->server, s.image);
    spice_server_set_jpeg_compression(sv->server, s.jpeg);
    spice_server_set_zlib_glz_compression(sv->server, s.zlib_glz);
    sv->cur = s;
    sv->profile = profile;
}

static DisplaySpiceImageCompression vdi_image_enum(SpiceImageCompression c)
{
    switch (c) {
    case SPICE_IMAGE_COMPRESSION_AUTO_GLZ:
        return DISPLAY_SPICE_IMAGE_COMPRESSION_AUTO_GLZ;
    case SPICE_IMAGE_COMPRESSION_AUTO_LZ:
        return DISPLAY_SPICE_IMAGE_COMPRESSION_AUTO_LZ;
    case SPICE_IMAGE_COMPRESSION_QUIC:
        return DISPLAY_SPICE_IMAGE_COMPRESSION_QUIC;
    case SPICE_IMAGE_COMPRESSION_GLZ:
        return DISPLAY_SPICE_IMAGE_COMPRESSION_GLZ;
    case SPICE_IMAGE_COMPRESSION_LZ:
        return DISPLAY_SPICE_IMAGE_COMPRESSION_LZ;
    case SPICE_IMAGE_COMPRESSION_LZ4:
        return DISPLAY_SPICE_IMAGE_COMPRESSION_LZ4;
    default:
        return DISPLAY_SPICE_IMAGE_COMPRESSION_OFF;
    }
}

static DisplaySpiceWanCompression vdi_wan_enum(spice_wan_compression_t c)
{
    switch (c) {
    case SPICE_WAN_COMPRESSION_ALWAYS:
        return DISPLAY_SPICE_WAN_COMPRESSION_ALWAYS;
    case SPICE_WAN_COMPRESSION_NEVER:
        return DISPLAY_SPICE_WAN_COMPRESSION_NEVER;
    default:
        return DISPLAY_SPICE_WAN_COMPRESSION_AUTO;
    }
}

static DisplaySpiceStreamingVideo vdi_video_enum(int v)
{
    switch (v) {
    case SPICE_STREAM_VIDEO_ALL:
        return DISPLAY_SPICE_STREAMING_VIDEO_ALL;
    case SPICE_STREAM_VIDEO_FILTER:
        return DISPLAY_SPICE_STREAMING_VIDEO_FILTER;
    default:
        return DISPLAY_SPICE_STREAMING_VIDEO_OFF;
    }
}

static DisplaySpiceInfo *spice_vdi_info(SpiceVdi *sv)
{
    DisplaySpiceInfo *info = g_new0(DisplaySpiceInfo, 1);

    info->profile = sv->profile;
    info->image_compression = vdi_image_enum(sv->cur.image);
    info->jpeg_wan_compression = vdi_wan_enum(sv->cur.jpeg);
    info->zlib_glz_wan_compression = vdi_wan_enum(sv->cur.zlib_glz);
    info->streaming_video = vdi_video_enum(sv->cur.streaming_video);
    return info;
}

DisplaySpiceInfo *qemu_spice_vdi_query(Error **errp)
{
    SpiceVdi *sv = spice_vdi();

    if (!sv) {
        error_setg(errp, "SPICE is not in use");
        return NULL;
    }
    return spice_vdi_info(sv);
}

static SpiceVdiClient *vdi_client_find(SpiceVdi *sv, uint32_t connection_id)
{
    SpiceVdiClient *c;

    QTAILQ_FOREACH(c, &sv->clients, link) {
        if (c->connection_id == connection_id) {
            return c;
        }
    }
    return NULL;
}

static SpiceVdiClient *vdi_client_new(SpiceVdi *sv,
                                      SpiceChannelEventInfo *info)
{
    SpiceVdiClient *c = g_new0(SpiceVdiClient, 1);
    struct sockaddr *paddr = (struct sockaddr *)&info->paddr_ext;
    char host[NI_MAXHOST], port[NI_MAXSERV];

    c->id = display_client_new_id();
    c->connection_id = info->connection_id;
    c->tls = info->flags & SPICE_CHANNEL_EVENT_FLAG_TLS;
    c->unix_socket = paddr->sa_family == AF_UNIX;
    if (c->unix_socket) {
        struct sockaddr_un *laddr = (struct sockaddr_un *)&info->laddr_ext;

        c->host = g_strdup("");
        c->service = g_strndup(laddr->sun_path, sizeof(laddr->sun_path));
    } else if (getnameinfo(paddr, info->plen_ext, host, sizeof(host),
                           port, sizeof(port),
                           NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
        c->host = g_strdup(host);
        c->service = g_strdup(port);
    } else {
        c->host = g_strdup("");
        c->service = g_strdup("");
    }
    c->channels = g_array_new(false, false, sizeof(SpiceVdiChannel));
    QTAILQ_INSERT_TAIL(&sv->clients, c, link);
    return c;
}

static void vdi_client_free(SpiceVdi *sv, SpiceVdiClient *c)
{
    QTAILQ_REMOVE(&sv->clients, c, link);
    g_array_free(c->channels, true);
    g_free(c->host);
    g_free(c->service);
    g_free(c);
}

void qemu_spice_vdi_channel_event(int event, SpiceChannelEventInfo *info)
{
    SpiceVdi *sv = spice_vdi();
    SpiceVdiClient *c = sv ? vdi_client_find(sv, info->connection_id) : NULL;
    SpiceVdiChannel ch = {
        .type = info->type,
        .id = info->id,
        .tls = info->flags & SPICE_CHANNEL_EVENT_FLAG_TLS,
    };

    switch (event) {
    case SPICE_CHANNEL_EVENT_INITIALIZED:
        if (!c && sv && info->type == SPICE_CHANNEL_MAIN) {
            c = vdi_client_new(sv, info);
        }
        if (!c) {
            return;
        }
        g_array_append_val(c->channels, ch);
        if (info->type == SPICE_CHANNEL_DISPLAY && !c->has_display) {
            c->has_display = true;
            c->display_profile = sv->profile;
            c->display = sv->cur;
        }
        break;
    case SPICE_CHANNEL_EVENT_DISCONNECTED:
        if (!c) {
            return;
        }
        if (info->type == SPICE_CHANNEL_MAIN) {
            vdi_client_free(sv, c);
            return;
        }
        for (guint i = 0; i < c->channels->len; i++) {
            SpiceVdiChannel *o = &g_array_index(c->channels, SpiceVdiChannel,
                                                i);

            if (o->type == ch.type && o->id == ch.id) {
                g_array_remove_index(c->channels, i);
                break;
            }
        }
        break;
    default:
        break;
    }
}

void qemu_spice_vdi_query_clients(DisplayClientList ***tail)
{
    SpiceVdi *sv = spice_vdi();
    SpiceVdiClient *c;

    if (!sv) {
        return;
    }
    QTAILQ_FOREACH(c, &sv->clients, link) {
        DisplayClient *e = g_new0(DisplayClient, 1);
        DisplaySpiceClientInfo *info = &e->u.spice;
        DisplaySpiceChannelList **ctail = &info->channels;

        e->protocol = DISPLAY_CLIENT_PROTOCOL_SPICE;
        info->id = c->id;
        info->connection_id = c->connection_id;
        info->host = g_strdup(c->host);
        info->service = g_strdup(c->service);
        info->tls = c->tls;
        for (guint i = 0; i < c->channels->len; i++) {
            SpiceVdiChannel *o = &g_array_index(c->channels, SpiceVdiChannel,
                                                i);
            DisplaySpiceChannel *ch = g_new0(DisplaySpiceChannel, 1);

            ch->type = o->type;
            ch->id = o->id;
            ch->tls = o->tls;
            QAPI_LIST_APPEND(ctail, ch);
        }
        info->configured = sv->profile;
        info->profile = c->has_display ? c->display_profile : sv->profile;
        if (c->has_display) {
            info->has_image_compression = true;
            info->image_compression = vdi_image_enum(c->display.image);
            info->has_jpeg_wan_compression = true;
            info->jpeg_wan_compression = vdi_wan_enum(c->display.jpeg);
            info->has_zlib_glz_wan_compression = true;
            info->zlib_glz_wan_compression = vdi_wan_enum(c->display.zlib_glz);
        }
        /* spice-server compresses no draw on a Unix socket */
        info->compressed = !c->unix_socket;
        QAPI_LIST_APPEND(*tail, e);
    }
}

static void spice_vdi_get_settings(Object *obj, Visitor *v, const char *name,
                                   void *opaque, Error **errp)
{
    DisplaySpiceInfo *info = spice_vdi_info(SPICE_VDI(obj));

    visit_type_DisplaySpiceInfo(v, name, &info, errp);
    qapi_free_DisplaySpiceInfo(info);
}

static void spice_vdi_init(Object *obj)
{
    SpiceVdi *sv = SPICE_VDI(obj);

    sv->profile = DISPLAY_PROFILE_OFF;
    QTAILQ_INIT(&sv->clients);
}

static void spice_vdi_class_init(ObjectClass *oc, void *data)
{
    object_class_property_add(oc, "settings", "DisplaySpiceInfo",
                              spice_vdi_get_settings, NULL, NULL, NULL);
    object_class_property_set_description(oc, "settings",
        "the profile and the SPICE server's settings it gave, as "
        "query-display-spice reports them");
}

static const TypeInfo spice_vdi_info_type = {
    .name = TYPE_SPICE_VDI,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(SpiceVdi),
    .instance_init = spice_vdi_init,
    .class_init = spice_vdi_class_init,
};

static void spice_vdi_register_types(void)
{
    type_register_static(&spice_vdi_info_type);
}

type_init(spice_vdi_register_types)
