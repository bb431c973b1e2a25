/*
 * display-set-profile for VNC and SPICE
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Dispatches the display profile to the VNC server's clients (ui/vnc-vdi.c)
 * and, set globally, to the SPICE server (ui/spice-vdi.c, in the SPICE
 * module), whichever of them QEMU was built with; query-display-clients
 * lists the clients of both.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-vdi-display.h"
#include "qapi/qapi-events-vdi-display.h"
#include "ui/qemu-spice-module.h"
#include "vnc-vdi.h"

#if (defined(CONFIG_VNC) && defined(CONFIG_VNC_JPEG)) || defined(CONFIG_SPICE)

int64_t display_client_new_id(void)
{
    static int64_t next_id = 1;

    return next_id++;
}

bool display_check_limits(bool has_max_bandwidth, uint64_t max_bandwidth,
                          bool has_max_fps, int64_t max_fps,
                          bool has_qmin, int64_t qmin,
                          bool has_qmax, int64_t qmax, Error **errp)
{
    if (has_max_bandwidth && max_bandwidth && max_bandwidth < 8000) {
        error_setg(errp, "'max-bandwidth' must be 0 (no limit) or at least "
                   "8000 bit/s");
        return false;
    }
    if (has_max_fps && (max_fps < 1 || max_fps > 240)) {
        error_setg(errp, "'max-fps' must be between 1 and 240");
        return false;
    }
    if (has_qmin && (qmin < 1 || qmin > 100)) {
        error_setg(errp, "'jpeg-quality-min' must be between 1 and 100");
        return false;
    }
    if (has_qmax && (qmax < 1 || qmax > 100)) {
        error_setg(errp, "'jpeg-quality-max' must be between 1 and 100");
        return false;
    }
    return true;
}

#ifdef CONFIG_SPICE
/* Whether @id is one of the SPICE server's clients */
static bool display_is_spice_client(int64_t id)
{
    DisplayClientList *head = NULL, **tail = &head;
    bool found = false;

    if (using_spice && qemu_spice.query_display_clients) {
        qemu_spice.query_display_clients(&tail);
    }
    for (DisplayClientList *l = head; l; l = l->next) {
        found |= l->value->u.spice.id == id;
    }
    qapi_free_DisplayClientList(head);
    return found;
}
#endif

void qmp_display_set_profile(DisplayProfile profile,
                             bool has_client, int64_t client,
                             bool has_max_bandwidth, uint64_t max_bandwidth,
                             bool has_max_fps, int64_t max_fps,
                             bool has_jpeg_quality_min,
                             int64_t jpeg_quality_min,
                             bool has_jpeg_quality_max,
                             int64_t jpeg_quality_max, Error **errp)
{
    if (!display_check_limits(has_max_bandwidth, max_bandwidth,
                              has_max_fps, max_fps,
                              has_jpeg_quality_min, jpeg_quality_min,
                              has_jpeg_quality_max, jpeg_quality_max, errp)) {
        return;
    }
#ifdef CONFIG_SPICE
    if (has_client && display_is_spice_client(client)) {
        error_setg(errp, "Client %" PRId64 " is a SPICE client: the SPICE "
                   "server takes a profile for all its clients only", client);
        return;
    }
#endif
#if defined(CONFIG_VNC) && defined(CONFIG_VNC_JPEG)
    {
        Error *local_err = NULL;

        vnc_vdi_set_profile(profile, has_client, client,
                            has_max_bandwidth, max_bandwidth,
                            has_max_fps, max_fps,
                            has_jpeg_quality_min, jpeg_quality_min,
                            has_jpeg_quality_max, jpeg_quality_max,
                            &local_err);
        if (local_err) {
            error_propagate(errp, local_err);
            return;
        }
    }
#else
    if (has_client) {
        error_setg(errp, "No VNC client with id %" PRId64, client);
        return;
    }
#endif
#ifdef CONFIG_SPICE
    if (!has_client && using_spice && qemu_spice.set_display_profile) {
        qemu_spice.set_display_profile(profile);
        qapi_event_send_display_profile_changed(false, 0, profile, profile,
                                                DISPLAY_PROFILE_REASON_QMP);
    }
#endif
}

DisplayClientList *qmp_query_display_clients(Error **errp)
{
    DisplayClientList *head = NULL, **tail = &head;

#if defined(CONFIG_VNC) && defined(CONFIG_VNC_JPEG)
    vnc_vdi_query_clients(&tail);
#endif
#ifdef CONFIG_SPICE
    if (using_spice && qemu_spice.query_display_clients) {
        qemu_spice.query_display_clients(&tail);
    }
#endif
    return head;
}

#ifdef CONFIG_SPICE
DisplaySpiceInfo *qmp_query_display_spice(Error **errp)
{
    if (!using_spice || !qemu_spice.query_display) {
        error_setg(errp, "SPICE is not in use");
        return NULL;
    }
    return qemu_spice.query_display(errp);
}
#endif

#endif
