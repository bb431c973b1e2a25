/*
 * VDI host extensions: feature probing over QMP
 *
 * Management software asks query-vdi-capabilities which extensions this
 * binary has and at which interface version, instead of guessing from the
 * QEMU version or from failed commands.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/vdi/vdi-extension.h"
#include "qapi/clone-visitor.h"
#include "qapi/qapi-commands-vdi.h"
#include "qapi/qapi-visit-vdi.h"

static VdiExtensionInfoList *extensions;

void vdi_extension_register(const char *name, int64_t version)
{
    VdiExtensionInfoList *e;
    VdiExtensionInfo *info;

    assert(version > 0);
    for (e = extensions; e; e = e->next) {
        assert(strcmp(e->value->name, name) != 0);
    }
    info = g_new(VdiExtensionInfo, 1);
    info->name = g_strdup(name);
    info->version = version;
    QAPI_LIST_PREPEND(extensions, info);
}

VdiCapabilities *qmp_query_vdi_capabilities(Error **errp)
{
    VdiCapabilities *caps = g_new0(VdiCapabilities, 1);

    caps->release = g_strdup(VDI_HOST_RELEASE);
    caps->extensions = QAPI_CLONE(VdiExtensionInfoList, extensions);
    return caps;
}
