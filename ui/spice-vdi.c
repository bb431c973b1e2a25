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
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/queue.h"
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

static SpiceServer *vdi_server;
static SpiceVdiSettings vdi_cmdline;
static SpiceVdiSettings vdi_cur;
static DisplayProfile vdi_profile = DISPLAY_PROFILE_OFF;
static QTAILQ_HEAD(, SpiceVdiClient) vdi_clients =
    QTAILQ_HEAD_INITIALIZER(vdi_clients);

SpiceVdiSettings spice_vdi_settings(DisplayProfile profile,
                                    const SpiceVdiSettings *cmdline)
{
    SpiceVdiSettings s = *cmdline;

    switch (profile) {
    case DISPLAY_PROFILE_LAN:
        /* lossless, and no global dictionary to maintain */
        s.image = SPICE_IMAGE_COMPRESSION_AUTO_LZ;
        s.jpeg = SPICE_WAN_COMPRESSION_NEVER;
        s.zlib_glz = SPICE_WAN_COMPRESSION_NEVER;
        s.streaming_video = SPICE_STREAM_VIDEO_OFF;
        break;
    case DISPLAY_PROFILE_WAN:
        s.image = SPICE_IMAGE_COMPRESSION_AUTO_GLZ;
        s.jpeg = SPICE_WAN_COMPRESSION_ALWAYS;
        s.zlib_glz = SPICE_WAN_COMPRESSION_ALWAYS;
        s.streaming_video = SPICE_STREAM_VIDEO_FILTER;
        break;
    case DISPLAY_PROFILE_AUTO:
        /* the SPICE server's own estimate of each client's link */
        s.image = SPICE_IMAGE_COMPRESSION_AUTO_GLZ;
        s.jpeg = SPICE_WAN_COMPRESSION_AUTO;
        s.zlib_glz = SPICE_WAN_COMPRESSION_AUTO;
        s.streaming_video = SPICE_STREAM_VIDEO_FILTER;
        break;
    default:
        break;
    }
    return s;
}

void qemu_spice_vdi_init(SpiceServer *server, const SpiceVdiSettings *cmdline)
{
    vdi_server = server;
    vdi_cmdline = *cmdline;
    vdi_cur = *cmdline;
    vdi_profile = DISPLAY_PROFILE_OFF;
    /* a vdi-display-profile object may be there first */
    if (display_profile_defaults()->profile != DISPLAY_PROFILE_OFF) {
        qemu_spice_vdi_set_profile(display_profile_defaults()->profile);
    }
}

void qemu_spice_vdi_set_profile(DisplayProfile profile)
{
    SpiceVdiSettings s = spice_vdi_settings(profile, &vdi_cmdline);

    if (!vdi_server) {
        return;
    }
    trace_spice_vdi_set_profile(DisplayProfile_str(profile), s.image, s.jpeg,
                                s.zlib_glz, s.streaming_video);
    /* for all display channels at once */
    spice_server_set_streaming_video(vdi_server, s.streaming_video);
    /*
     * spice-server copies these three into a display channel when it
     * connects: the channels connected now keep theirs
     */
    spice_server_set_image_compression(vdi_server, s.image);
    spice_server_set_jpeg_compression(vdi_server, s.jpeg);
    spice_server_set_zlib_glz_compression(vdi_server, s.zlib_glz);
    vdi_cur = s;
    vdi_profile = profile;
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

DisplaySpiceInfo *qemu_spice_vdi_query(Error **errp)
{
    DisplaySpiceInfo *info;

    if (!vdi_server) {
        error_setg(errp, "SPICE is not in use");
        return NULL;
    }
    info = g_new0(DisplaySpiceInfo, 1);
    info->profile = vdi_profile;
    info->image_compression = vdi_image_enum(vdi_cur.image);
    info->jpeg_wan_compression = vdi_wan_enum(vdi_cur.jpeg);
    info->zlib_glz_wan_compression = vdi_wan_enum(vdi_cur.zlib_glz);
    info->streaming_video = vdi_video_enum(vdi_cur.streaming_video);
    return info;
}

static SpiceVdiClient *vdi_client_find(uint32_t connection_id)
{
    SpiceVdiClient *c;

    QTAILQ_FOREACH(c, &vdi_clients, link) {
        if (c->connection_id == connection_id) {
            return c;
        }
    }
    return NULL;
}

static SpiceVdiClient *vdi_client_new(SpiceChannelEventInfo *info)
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
    QTAILQ_INSERT_TAIL(&vdi_clients, c, link);
    return c;
}

static void vdi_client_free(SpiceVdiClient *c)
{
    QTAILQ_REMOVE(&vdi_clients, c, link);
    g_array_free(c->channels, true);
    g_free(c->host);
    g_free(c->service);
    g_free(c);
}

void qemu_spice_vdi_channel_event(int event, SpiceChannelEventInfo *info)
{
    SpiceVdiClient *c = vdi_client_find(info->connection_id);
    SpiceVdiChannel ch = {
        .type = info->type,
        .id = info->id,
        .tls = info->flags & SPICE_CHANNEL_EVENT_FLAG_TLS,
    };

    switch (event) {
    case SPICE_CHANNEL_EVENT_INITIALIZED:
        if (!c && info->type == SPICE_CHANNEL_MAIN) {
            c = vdi_client_new(info);
        }
        if (!c) {
            return;
        }
        g_array_append_val(c->channels, ch);
        if (info->type == SPICE_CHANNEL_DISPLAY && !c->has_display) {
            c->has_display = true;
            c->display_profile = vdi_profile;
            c->display = vdi_cur;
        }
        break;
    case SPICE_CHANNEL_EVENT_DISCONNECTED:
        if (!c) {
            return;
        }
        if (info->type == SPICE_CHANNEL_MAIN) {
            vdi_client_free(c);
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
    SpiceVdiClient *c;

    QTAILQ_FOREACH(c, &vdi_clients, link) {
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
        info->configured = vdi_profile;
        info->profile = c->has_display ? c->display_profile : vdi_profile;
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
