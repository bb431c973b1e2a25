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

#endif
