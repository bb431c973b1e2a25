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
 * A display client (VNC or SPICE) named @client, e.g. "vnc:0x...",
 * finished its handshake from @address.  With follow-display on, the
 * session moves to that terminal, plugging in its printer.
 */
void vdi_session_display_opened(const char *client, const char *address);

/*
 * The display client @client went away.  When it was the one the
 * session followed, the session ends and its printer is removed.
 */
void vdi_session_display_closed(const char *client);

/*
 * Something that decides for the session (hw/vdi/vdi-zone.c): display
 * clients are told to @display_opened and @display_closed, which
 * return true when they took over from follow-display; each connect
 * asks @may_print, before it chooses a printer, whether the session
 * may have one at @terminal.
 */
typedef struct VdiSessionHooks {
    bool (*display_opened)(const char *client, const char *address);
    bool (*display_closed)(const char *client);
    bool (*may_print)(const VdiTerminal *terminal);
} VdiSessionHooks;

/* Set the hooks, or remove them with NULL */
void vdi_session_set_hooks(const VdiSessionHooks *hooks);

#endif
