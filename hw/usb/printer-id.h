/*
 * IEEE 1284 device IDs of USB printers
 *
 * Copyright (c) 2026 The VDI host authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_USB_PRINTER_ID_H
#define HW_USB_PRINTER_ID_H

/*
 * GET_DEVICE_ID answers a 2-byte length and the ID.  The length field
 * would allow 65533 bytes, but hosts read a fixed buffer: Linux's usblp
 * asks for 1023 bytes, so longer IDs would reach it truncated.
 */
#define IEEE1284_ID_MAX (1023 - 2)

/*
 * Check an IEEE 1284 device ID: at most IEEE1284_ID_MAX printable ASCII
 * characters, "KEY:value;" fields, with a manufacturer (MFG: or
 * MANUFACTURER:) and a model (MDL: or MODEL:) that have values.
 */
bool ieee1284_id_check(const char *id, Error **errp);

#endif
