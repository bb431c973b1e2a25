/*
 * VDI sessions: display clients tell where the user sits
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VDI_SESSION_H
#define HW_VDI_SESSION_H

#include "qapi/qapi-types-vdi-session.h"

/*
 * Check that @member of @what is 1 to @max printable ASCII characters;
 * the error names both.
 */
bool vdi_check_ascii(const char *what, const char *member, const char *s,
                     size_t max, Error **errp);

/* The longest terminal name, a host name with room to spare */
#define VDI_TERMINAL_NAME_MAX 255

/*
 * What identifies a display client's connection.  The x509 names are
 * set only when TLS verified the client's certificate (VeNCrypt x509
 * with verify-peer=on), in the form query-vnc shows as x509_dname.
 */
typedef struct VdiDisplayPeer {
    const char *address;        /* the client's IP address */
    const char *x509_subject;   /* its certificate's subject DN */
    const char *x509_issuer;    /* the DN of that certificate's issuer */
} VdiDisplayPeer;

/*
 * Who a verified certificate stands for, as the identity map says;
 * the strings belong to the map.
 */
typedef struct VdiPeerIdentity {
    const char *mapping;        /* id of the identity mapping that matched */
    const char *user;
    const char *terminal;       /* the terminal's name, or NULL */
} VdiPeerIdentity;

/* Fill @id when the identity map knows @peer, else leave it zeroed */
typedef void VdiIdentityLookup(const VdiDisplayPeer *peer,
                               VdiPeerIdentity *id);

/*
 * The identity map (hw/vdi/vdi-identity.c) gives display clients that
 * present a verified certificate their user and terminal name.
 */
void vdi_session_set_identity_lookup(VdiIdentityLookup *lookup);

/*
 * Something that decides for the session (hw/vdi/vdi-zone.c): display
 * clients are told to @display_opened (with who the identity map says
 * the peer is, if it knows) and @display_closed, which
 * return true when they took over from follow-display; each connect
 * asks @may_print, before it chooses a printer, whether the session
 * may have one at @terminal.
 */
typedef struct VdiSessionHooks {
    bool (*display_opened)(const char *client, const VdiDisplayPeer *peer,
                           const VdiPeerIdentity *id);
    bool (*display_closed)(const char *client);
    bool (*may_print)(const VdiTerminal *terminal);
} VdiSessionHooks;

/*
 * Connect the session from display @client's terminal, as follow-display
 * does (the identity map gives user and terminal name); for the hooks.
 */
bool vdi_session_follow(const char *client, const VdiDisplayPeer *peer,
                        Error **errp);

/* Set the hooks, or remove them with NULL */
void vdi_session_set_hooks(const VdiSessionHooks *hooks);

#endif
