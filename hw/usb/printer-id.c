/*
 * IEEE 1284 device IDs of USB printers
 *
 * Copyright (c) 2026 The VDI host authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Shared by usb-printer, which checks its property at realize, and the
 * printer map of VDI sessions, which checks the IDs when it is set.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/usb/printer-id.h"

/*
 * An IEEE 1284 device ID is a list of "KEY:value;" fields; hosts want at
 * least the manufacturer and the model.
 */
bool ieee1284_id_check(const char *id, Error **errp)
{
    g_auto(GStrv) fields = NULL;
    bool mfg = false, mdl = false;
    const char *c;
    int i;

    if (strlen(id) > IEEE1284_ID_MAX) {
        error_setg(errp, "ieee1284-id is %zu characters long, at most %d "
                   "are allowed", strlen(id), IEEE1284_ID_MAX);
        return false;
    }
    for (c = id; *c; c++) {
        if (*c < 0x20 || *c > 0x7e) {
            error_setg(errp, "ieee1284-id may hold printable ASCII "
                       "characters only, not 0x%02x", (unsigned char)*c);
            return false;
        }
    }

    fields = g_strsplit(id, ";", -1);
    for (i = 0; fields[i]; i++) {
        g_autofree char *key = NULL;
        char *colon;

        if (!*g_strstrip(fields[i])) {
            continue;
        }
        colon = strchr(fields[i], ':');
        if (!colon || colon == fields[i]) {
            error_setg(errp, "ieee1284-id field '%s' is not of the form "
                       "KEY:value", fields[i]);
            return false;
        }
        key = g_strstrip(g_strndup(fields[i], colon - fields[i]));
        if (!*g_strstrip(colon + 1)) {
            continue;
        }
        if (!g_ascii_strcasecmp(key, "MFG") ||
            !g_ascii_strcasecmp(key, "MANUFACTURER")) {
            mfg = true;
        } else if (!g_ascii_strcasecmp(key, "MDL") ||
                   !g_ascii_strcasecmp(key, "MODEL")) {
            mdl = true;
        }
    }
    if (!mfg || !mdl) {
        error_setg(errp, "ieee1284-id '%s' lacks a %s: it needs "
                   "MFG:<manufacturer> (or MANUFACTURER:) and MDL:<model> "
                   "(or MODEL:), for instance "
                   "'MFG:HP;MDL:LaserJet 4000;CMD:PCL,PJL;CLASS:PRINTER;'",
                   id, !mfg && !mdl ? "manufacturer and a model" :
                   !mfg ? "manufacturer" : "model");
        return false;
    }
    return true;
}
