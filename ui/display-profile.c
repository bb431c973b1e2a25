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
 * lists the clients of both.  The defaults for new clients belong to the
 * VM's vdi-display-profile object.
 */

#include "qemu/osdep.h"
#include "hw/vdi/vdi-extension.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-vdi-display.h"
#include "qapi/qapi-events-vdi-display.h"
#include "qom/object_interfaces.h"
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

/*
 * display-set-profile without a client: all clients, the SPICE server
 * and @defaults, which it changes
 */
static bool display_set_defaults(DisplayProfileConfig *defaults,
                                 DisplayProfile profile,
                                 bool has_max_bandwidth,
                                 uint64_t max_bandwidth,
                                 bool has_max_fps, int64_t max_fps,
                                 bool has_qmin, int64_t qmin,
                                 bool has_qmax, int64_t qmax,
                                 Error **errp)
{
    DisplayProfileConfig c = *defaults;

#if defined(CONFIG_VNC) && defined(CONFIG_VNC_JPEG)
    {
        Error *local_err = NULL;

        vnc_vdi_set_profile(profile, false, 0,
                            has_max_bandwidth, max_bandwidth,
                            has_max_fps, max_fps, has_qmin, qmin,
                            has_qmax, qmax, &c, &local_err);
        if (local_err) {
            error_propagate(errp, local_err);
            return false;
        }
    }
#else
    /* the limits are the VNC encoder's */
    c.profile = profile;
#endif
#ifdef CONFIG_SPICE
    if (using_spice && qemu_spice.set_display_profile) {
        qemu_spice.set_display_profile(profile);
        qapi_event_send_display_profile_changed(false, 0, profile, profile,
                                                DISPLAY_PROFILE_REASON_QMP);
    }
#endif
    *defaults = c;
    return true;
}

/* The vdi-display-profile object: the VM's defaults for new clients */

#define TYPE_VDI_DISPLAY_PROFILE "vdi-display-profile"
#define DEFAULT_DISPLAY_PROFILE_ID "display-profile"
OBJECT_DECLARE_SIMPLE_TYPE(DisplayProfileObject, VDI_DISPLAY_PROFILE)

struct DisplayProfileObject {
    Object parent_obj;
    bool complete;
    DisplayProfileConfig cfg;
};

static const DisplayProfileConfig display_builtin_defaults = {
    .profile = DISPLAY_PROFILE_OFF,
    .max_bps = 0,
    .max_fps = 30,
    .qmin = 20,
    .qmax = 90,
};

static bool display_profile_is_complete(Object *obj)
{
    return VDI_DISPLAY_PROFILE(obj)->complete;
}

static DisplayProfileObject *display_profile_object(void)
{
    Object *obj = vdi_vm_object(TYPE_VDI_DISPLAY_PROFILE,
                                display_profile_is_complete);

    return obj ? VDI_DISPLAY_PROFILE(obj) : NULL;
}

const DisplayProfileConfig *display_profile_defaults(void)
{
    DisplayProfileObject *o = display_profile_object();

    return o ? &o->cfg : &display_builtin_defaults;
}

/* Set one property: before complete(), only its value; after, as QMP does */
static void display_profile_set(DisplayProfileObject *o,
                                const DisplayProfileConfig *want,
                                Error **errp)
{
    if (!display_check_limits(true, want->max_bps, true, want->max_fps,
                              true, want->qmin, true, want->qmax, errp)) {
        return;
    }
    if (!o->complete) {
        o->cfg = *want;
        return;
    }
    display_set_defaults(&o->cfg, want->profile, true, want->max_bps,
                         true, want->max_fps, true, want->qmin,
                         true, want->qmax, errp);
}

static int display_profile_get_profile(Object *obj, Error **errp)
{
    return VDI_DISPLAY_PROFILE(obj)->cfg.profile;
}

static void display_profile_set_profile(Object *obj, int value, Error **errp)
{
    DisplayProfileObject *o = VDI_DISPLAY_PROFILE(obj);
    DisplayProfileConfig want = o->cfg;

    want.profile = value;
    display_profile_set(o, &want, errp);
}

/* The limits: properties named as display-set-profile's arguments */
static int64_t *display_profile_limit(DisplayProfileConfig *c,
                                      const char *name)
{
    if (!strcmp(name, "max-fps")) {
        return &c->max_fps;
    }
    if (!strcmp(name, "jpeg-quality-min")) {
        return &c->qmin;
    }
    return &c->qmax;
}

static void display_profile_get_limit(Object *obj, Visitor *v,
                                      const char *name, void *opaque,
                                      Error **errp)
{
    DisplayProfileObject *o = VDI_DISPLAY_PROFILE(obj);
    uint64_t value = o->cfg.max_bps;

    if (strcmp(name, "max-bandwidth")) {
        value = *display_profile_limit(&o->cfg, name);
    }
    visit_type_uint64(v, name, &value, errp);
}

static void display_profile_set_limit(Object *obj, Visitor *v,
                                      const char *name, void *opaque,
                                      Error **errp)
{
    DisplayProfileObject *o = VDI_DISPLAY_PROFILE(obj);
    DisplayProfileConfig want = o->cfg;
    uint64_t value;

    if (!visit_type_uint64(v, name, &value, errp)) {
        return;
    }
    if (!strcmp(name, "max-bandwidth")) {
        want.max_bps = value;
    } else {
        /* out of range either way: display_check_limits() says so */
        *display_profile_limit(&want, name) = MIN(value, INT64_MAX);
    }
    display_profile_set(o, &want, errp);
}

static void display_profile_complete(UserCreatable *uc, Error **errp)
{
    DisplayProfileObject *o = VDI_DISPLAY_PROFILE(uc);
    DisplayProfileConfig c = *display_profile_defaults();

    if (!vdi_vm_object_first(OBJECT(uc), display_profile_is_complete,
                             "a display profile", errp)) {
        return;
    }
    if (o->cfg.qmin > o->cfg.qmax) {
        error_setg(errp, "'jpeg-quality-min' (%" PRId64 ") is above "
                   "'jpeg-quality-max' (%" PRId64 ")", o->cfg.qmin,
                   o->cfg.qmax);
        return;
    }
    if (display_set_defaults(&c, o->cfg.profile, true, o->cfg.max_bps,
                             true, o->cfg.max_fps, true, o->cfg.qmin,
                             true, o->cfg.qmax, errp)) {
        o->cfg = c;
        o->complete = true;
    }
}

static void display_profile_init(Object *obj)
{
    VDI_DISPLAY_PROFILE(obj)->cfg = display_builtin_defaults;
}

static void display_profile_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);
    static const char *const limits[][2] = {
        { "max-bandwidth", "the most bit/s per client, 0: no limit" },
        { "max-fps", "the most framebuffer updates per second" },
        { "jpeg-quality-min", "the lowest JPEG quality" },
        { "jpeg-quality-max", "the highest JPEG quality" },
    };

    ucc->complete = display_profile_complete;
    object_class_property_add_enum(oc, "profile", "DisplayProfile",
                                   &DisplayProfile_lookup,
                                   display_profile_get_profile,
                                   display_profile_set_profile);
    object_class_property_set_description(oc, "profile",
        "the encoding profile of new clients, and of all when set");
    for (int i = 0; i < ARRAY_SIZE(limits); i++) {
        object_class_property_add(oc, limits[i][0], "uint64",
                                  display_profile_get_limit,
                                  display_profile_set_limit, NULL, NULL);
        object_class_property_set_description(oc, limits[i][0],
                                              limits[i][1]);
    }
}

static const TypeInfo display_profile_info = {
    .name = TYPE_VDI_DISPLAY_PROFILE,
    .parent = TYPE_OBJECT,
    .class_init = display_profile_class_init,
    .instance_size = sizeof(DisplayProfileObject),
    .instance_init = display_profile_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

static void display_profile_register(void)
{
    type_register_static(&display_profile_info);
}
type_init(display_profile_register)

void qmp_display_set_profile(DisplayProfile profile,
                             bool has_client, int64_t client,
                             bool has_max_bandwidth, uint64_t max_bandwidth,
                             bool has_max_fps, int64_t max_fps,
                             bool has_jpeg_quality_min,
                             int64_t jpeg_quality_min,
                             bool has_jpeg_quality_max,
                             int64_t jpeg_quality_max, Error **errp)
{
    DisplayProfileConfig c = *display_profile_defaults();
    DisplayProfileObject *o;
    Object *obj;

    if (!display_check_limits(has_max_bandwidth, max_bandwidth,
                              has_max_fps, max_fps,
                              has_jpeg_quality_min, jpeg_quality_min,
                              has_jpeg_quality_max, jpeg_quality_max, errp)) {
        return;
    }
    if (has_client) {
#ifdef CONFIG_SPICE
        if (display_is_spice_client(client)) {
            error_setg(errp, "Client %" PRId64 " is a SPICE client: the "
                       "SPICE server takes a profile for all its clients "
                       "only", client);
            return;
        }
#endif
#if defined(CONFIG_VNC) && defined(CONFIG_VNC_JPEG)
        vnc_vdi_set_profile(profile, true, client,
                            has_max_bandwidth, max_bandwidth,
                            has_max_fps, max_fps,
                            has_jpeg_quality_min, jpeg_quality_min,
                            has_jpeg_quality_max, jpeg_quality_max,
                            NULL, errp);
#else
        error_setg(errp, "No VNC client with id %" PRId64, client);
#endif
        return;
    }
    if (!display_set_defaults(&c, profile, has_max_bandwidth, max_bandwidth,
                              has_max_fps, max_fps,
                              has_jpeg_quality_min, jpeg_quality_min,
                              has_jpeg_quality_max, jpeg_quality_max, errp)) {
        return;
    }
    o = display_profile_object();
    if (!o) {
        /* the first defaults set: the VM's vdi-display-profile object */
        obj = object_new(TYPE_VDI_DISPLAY_PROFILE);
        o = VDI_DISPLAY_PROFILE(obj);
        o->cfg = c;
        o->complete = true;
        if (!object_property_try_add_child(object_get_objects_root(),
                                           DEFAULT_DISPLAY_PROFILE_ID, obj,
                                           errp)) {
            o = NULL;
        }
        object_unref(obj);
    }
    if (o) {
        o->cfg = c;
    }
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
