/*
 * VDI host extensions: registry for feature probing
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VDI_EXTENSION_H
#define HW_VDI_EXTENSION_H

/* Release of the VDI host patch set, reported by query-vdi-capabilities */
#define VDI_HOST_RELEASE "0.1.0"

/*
 * Announce that the extension @name is built in, at QMP interface
 * @version.  Called from the extension's type_init(), so that the list is
 * complete before the monitor runs.
 */
void vdi_extension_register(const char *name, int64_t version);

#endif
