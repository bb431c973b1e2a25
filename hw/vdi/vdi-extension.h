/*
 * VDI host extensions: registry for feature probing, and the VM's
 * one object of a type
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VDI_EXTENSION_H
#define HW_VDI_EXTENSION_H

#include "qapi/error.h"
#include "qemu/id.h"
#include "qom/object.h"
#include "qom/object_interfaces.h"

/* Release of the VDI host patch set, reported by query-vdi-capabilities */
#define VDI_HOST_RELEASE "0.1.0"

/*
 * Announce that the extension @name is built in, at QMP interface
 * @version.  Called from the extension's type_init(), so that the list is
 * complete before the monitor runs.
 */
void vdi_extension_register(const char *name, int64_t version);

/*
 * The VM's objects (USB policy, session, display defaults, identity map,
 * zones) are user-creatable objects under /objects, at most one of each
 * type; the QMP commands act on it and create it when the VM has none.
 * object-add puts an object under /objects before its complete() runs:
 * @complete tells whether it ran, so that an object that failed it is
 * never taken for the VM's.  Header-only: hw/ and ui/ both use it.
 */
typedef bool VdiVmObjectComplete(Object *obj);

typedef struct VdiVmObjectSearch {
    const char *type;
    VdiVmObjectComplete *complete;
    Object *found;
} VdiVmObjectSearch;

static inline int vdi_vm_object_match(Object *obj, void *opaque)
{
    VdiVmObjectSearch *s = opaque;

    if (object_dynamic_cast(obj, s->type) && s->complete(obj)) {
        s->found = obj;
        return 1;
    }
    return 0;
}

/* The VM's object of @type, or NULL */
static inline Object *vdi_vm_object(const char *type,
                                    VdiVmObjectComplete *complete)
{
    VdiVmObjectSearch s = { .type = type, .complete = complete };

    object_child_foreach(object_get_objects_root(), vdi_vm_object_match, &s);
    return s.found;
}

/*
 * For complete(): false with @errp set if the VM already has an object
 * of @obj's type; @what names it for people ("a USB policy").
 */
static inline bool vdi_vm_object_first(Object *obj,
                                       VdiVmObjectComplete *complete,
                                       const char *what, Error **errp)
{
    Object *other = vdi_vm_object(object_get_typename(obj), complete);

    if (other) {
        error_setg(errp, "the VM already has %s, '%s'", what,
                   object_get_canonical_path_component(other));
        return false;
    }
    return true;
}

/*
 * Make @obj, a new object with its properties set, the VM's: add it to
 * /objects as @id and complete it, as object-add does.  Takes the
 * caller's reference; returns @obj, or NULL with @errp set.
 */
static inline Object *vdi_vm_object_add(Object *obj, const char *id,
                                        Error **errp)
{
    Object *ret = NULL;

    if (!id_wellformed(id)) {
        error_setg(errp, "'%s' is not a valid object id", id);
    } else if (object_property_try_add_child(object_get_objects_root(), id,
                                             obj, errp)) {
        if (user_creatable_complete(USER_CREATABLE(obj), errp)) {
            ret = obj;
        } else {
            object_unparent(obj);
        }
    }
    object_unref(obj);
    return ret;
}

/* The VM's object of @type; if it has none, a new one named @id */
static inline Object *vdi_vm_object_get(const char *type, const char *id,
                                        VdiVmObjectComplete *complete,
                                        Error **errp)
{
    Object *obj = vdi_vm_object(type, complete);

    return obj ? obj : vdi_vm_object_add(object_new(type), id, errp);
}

#endif
