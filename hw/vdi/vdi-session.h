/*
 * VDI sessions: display clients tell where the user sits
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VDI_SESSION_H
#define HW_VDI_SESSION_H

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
 * A display client (VNC or SPICE) named @client, e.g. "vnc:0x...",
 * finished its handshake as @peer.  With follow-display on, the
 * session moves to that terminal, plugging in its printer.
 */
void vdi_session_display_opened(const char *client,
                                const VdiDisplayPeer *peer);

/*
 * The display client @client went away.  When it was the one the
 * session followed, the session ends and its printer is removed.
 */
void vdi_session_display_closed(const char *client);

#endif
