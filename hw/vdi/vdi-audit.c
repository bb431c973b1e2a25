/*
 * vdi-audit-log: a tamper-evident trail of the host's security events
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

/*
 * Every QAPI event whose name has a prefix of audited_prefixes is
 * appended to the log as one record (vdi-audit-core.h), chained to the
 * previous one with HMAC-SM3 under the key of a secret object.  The
 * records are taken where QAPI events are emitted (monitor.c's event
 * observers), so events added later are recorded without another hook.
 *
 * Writing: one write() of each record on an O_APPEND descriptor, with
 * monitor_lock held (a short append to the page cache); a worker thread
 * does the fdatasync, after every batch of records, so the main loop
 * never waits for the disk.  Only a rotation syncs the full file in
 * the caller, once per max-size bytes.  A record that cannot be written
 * is counted, the file is cut back to its last whole record, and the
 * next record written is preceded by VDI_AUDIT_LOST with the number of
 * records lost; VDI_AUDIT_WRITE_FAILED reports the first failure after
 * a success.
 *
 * Rotation: a record that would take the file past max-size renames it
 * to PATH.N (N counts rotations from 1), removes PATH.(N - keep) when
 * keep is set, and starts PATH with VDI_AUDIT_CONTINUED, chained to the
 * last record of PATH.N and naming its sequence and MAC.
 *
 * An existing PATH is continued: its last record's sequence and MAC
 * head the chain, VDI_AUDIT_OPENED records the restart.
 */

#include "qemu/osdep.h"
#include "crypto/secret_common.h"
#include "hw/vdi/vdi-extension.h"
#include "monitor/monitor.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-vdi-audit.h"
#include "qapi/qapi-events-vdi-audit.h"
#include "qemu/queue.h"
#include "qemu/thread.h"
#include "qemu/units.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qom/object_interfaces.h"
#include "trace.h"
#include "vdi-audit-core.h"

#define TYPE_VDI_AUDIT_LOG "vdi-audit-log"
OBJECT_DECLARE_SIMPLE_TYPE(VdiAuditLog, VDI_AUDIT_LOG)

/* the security events of the host; VDI_AUDIT_* are the log's own */
static const char *const audited_prefixes[] = {
    "FIREWALL_", "USB_PERIPHERAL_", "VDI_", "VNC_", "SPICE_",
    "DISPLAY_PROFILE_",
};

/* how much of an existing file's end is read to find its last record */
#define VDI_AUDIT_TAIL (64 * KiB)

struct VdiAuditLog {
    Object parent_obj;

    char *path;
    char *key_secret;
    uint64_t max_size;
    uint32_t keep;
    bool sync;

    QemuMutex lock;         /* everything below */
    VdiAuditChain chain;
    int fd;
    uint64_t size;          /* of the file at @fd, whole records only */
    uint64_t records;
    uint64_t rotations;
    uint64_t write_errors;
    uint64_t sync_errors;
    uint64_t lost;          /* records not yet reported as lost */
    char *header;           /* VDI_AUDIT_CONTINUED data still to write */
    bool failing;

    QemuThread sync_thread;
    QemuCond sync_cond;
    bool dirty;
    bool quit;
    bool running;           /* observing events, with its sync thread */

    QTAILQ_ENTRY(VdiAuditLog) next;
};

static QTAILQ_HEAD(, VdiAuditLog) audit_logs =
    QTAILQ_HEAD_INITIALIZER(audit_logs);

static bool vdi_audit_event_audited(const char *name)
{
    size_t i;

    if (g_str_has_prefix(name, "VDI_AUDIT_")) {
        return false;
    }
    for (i = 0; i < ARRAY_SIZE(audited_prefixes); i++) {
        if (g_str_has_prefix(name, audited_prefixes[i])) {
            return true;
        }
    }
    return false;
}

static void *vdi_audit_sync_worker(void *opaque)
{
    VdiAuditLog *s = opaque;

    qemu_mutex_lock(&s->lock);
    while (!s->quit) {
        int fd, err = 0;

        if (!s->dirty) {
            qemu_cond_wait(&s->sync_cond, &s->lock);
            continue;
        }
        s->dirty = false;
        /* a rotation may close s->fd meanwhile; the dup keeps the file */
        fd = dup(s->fd);
        qemu_mutex_unlock(&s->lock);
        if (fd < 0 || fdatasync(fd) < 0) {
            err = errno;
        }
        if (fd >= 0) {
            close(fd);
        }
        qemu_mutex_lock(&s->lock);
        if (err) {
            s->sync_errors++;
            trace_vdi_audit_sync_failed(s->path, strerror(err));
        }
    }
    qemu_mutex_unlock(&s->lock);
    return NULL;
}

/* Write one record; on failure leave the file as it was.  Holds lock. */
static bool vdi_audit_write(VdiAuditLog *s, int64_t sec, int64_t usec,
                            const char *event, const char *data,
                            Error **errp)
{
    uint8_t mac[VDI_AUDIT_MAC_LEN];
    g_autofree char *line = vdi_audit_record(&s->chain, sec, usec, event,
                                             data, mac);
    size_t len = strlen(line), done = 0;

    while (done < len) {
        ssize_t n = write(s->fd, line + done, len - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error_setg_errno(errp, n < 0 ? errno : ENOSPC,
                             "cannot write to '%s'", s->path);
            /* a partial record would break the chain for good */
            if (done && ftruncate(s->fd, s->size) < 0) {
                trace_vdi_audit_truncate_failed(s->path, strerror(errno));
            }
            return false;
        }
        done += n;
    }
    vdi_audit_chain_advance(&s->chain, mac);
    s->size += len;
    s->records++;
    s->dirty = s->sync;
    return true;
}

static void vdi_audit_now(int64_t *sec, int64_t *usec)
{
    int64_t now = g_get_real_time();

    *sec = now / G_USEC_PER_SEC;
    *usec = now % G_USEC_PER_SEC;
}

/* Start a new file after max-size.  Holds lock. */
static void vdi_audit_rotate(VdiAuditLog *s)
{
    char hex[VDI_AUDIT_MAC_HEX + 1];
    g_autofree char *rotated = g_strdup_printf("%s.%" PRIu64, s->path,
                                               s->rotations + 1);
    g_autofree char *base = g_path_get_basename(rotated);
    int fd;

    if (fdatasync(s->fd) < 0) {
        s->sync_errors++;
    }
    /* never replace a rotated file */
    if (g_file_test(rotated, G_FILE_TEST_EXISTS)) {
        trace_vdi_audit_rotate_failed(rotated, "exists");
        return;
    }
    if (rename(s->path, rotated) < 0) {
        trace_vdi_audit_rotate_failed(s->path, strerror(errno));
        return;
    }
    /* without a new file, the old one stays in use under its name */
    fd = qemu_open_old(s->path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL,
                       0600);
    if (fd < 0) {
        trace_vdi_audit_rotate_failed(s->path, strerror(errno));
        if (rename(rotated, s->path) < 0) {
            trace_vdi_audit_rotate_failed(rotated, strerror(errno));
        }
        return;
    }
    close(s->fd);
    s->fd = fd;
    s->size = 0;
    s->rotations++;
    if (s->keep && s->rotations > s->keep) {
        g_autofree char *old = g_strdup_printf("%s.%" PRIu64, s->path,
                                               s->rotations - s->keep);
        unlink(old);
    }
    vdi_audit_mac_to_hex(s->chain.mac, hex);
    g_free(s->header);
    s->header = g_strdup_printf(
        "{\"rotation\":%" PRIu64 ",\"keep\":%" PRIu32
        ",\"previous-file\":\"%s\",\"previous-sequence\":%" PRIu64
        ",\"previous-mac\":\"%s\"}",
        s->rotations, s->keep, base, s->chain.seq, hex);
    qapi_event_send_vdi_audit_rotated(object_get_canonical_path_component(
                                          OBJECT(s)),
                                      rotated, s->chain.seq);
}

/*
 * Append a record, after the new file's header and the report of lost
 * records if they are due.  Holds lock.
 */
static void vdi_audit_append(VdiAuditLog *s, int64_t sec, int64_t usec,
                             const char *event, const char *data)
{
    Error *err = NULL;
    bool ok = true;

    if (s->max_size && s->size &&
        s->size + strlen(data) + 256 > s->max_size) {
        vdi_audit_rotate(s);
    }
    if (s->header) {
        ok = vdi_audit_write(s, sec, usec, "VDI_AUDIT_CONTINUED", s->header,
                             &err);
        if (ok) {
            g_clear_pointer(&s->header, g_free);
        }
    }
    if (ok && s->lost) {
        g_autofree char *lost = g_strdup_printf("{\"records\":%" PRIu64 "}",
                                                s->lost);

        ok = vdi_audit_write(s, sec, usec, "VDI_AUDIT_LOST", lost, &err);
        if (ok) {
            s->lost = 0;
        }
    }
    ok = ok && vdi_audit_write(s, sec, usec, event, data, &err);
    if (!ok) {
        s->lost++;
        s->write_errors++;
        if (!s->failing) {
            s->failing = true;
            qapi_event_send_vdi_audit_write_failed(
                object_get_canonical_path_component(OBJECT(s)),
                error_get_pretty(err), s->write_errors);
        }
        error_free(err);
        return;
    }
    s->failing = false;
    if (s->sync) {
        qemu_cond_signal(&s->sync_cond);
    }
}

/* Called for every QAPI event, with monitor_lock held, in any thread */
static void vdi_audit_observe(void *opaque, QAPIEvent event, QDict *qdict)
{
    VdiAuditLog *s = opaque;
    const char *name = QAPIEvent_str(event);
    QObject *data = qdict_get(qdict, "data");
    QDict *ts = qdict_get_qdict(qdict, "timestamp");
    g_autoptr(GString) json = NULL;

    if (!vdi_audit_event_audited(name)) {
        return;
    }
    json = data ? qobject_to_json(data) : g_string_new("{}");
    qemu_mutex_lock(&s->lock);
    vdi_audit_append(s, qdict_get_int(ts, "seconds"),
                     qdict_get_int(ts, "microseconds"), name, json->str);
    qemu_mutex_unlock(&s->lock);
}

/*
 * Continue the chain of an existing file from its last record, and
 * take the rotation count from its first.
 */
static bool vdi_audit_resume(VdiAuditLog *s, Error **errp)
{
    struct stat st;
    g_autofree char *buf = NULL;
    size_t len;
    ssize_t n;
    char *first_end, *last;
    uint64_t seq;
    uint8_t mac[VDI_AUDIT_MAC_LEN];

    if (fstat(s->fd, &st) < 0) {
        error_setg_errno(errp, errno, "cannot stat '%s'", s->path);
        return false;
    }
    s->size = st.st_size;
    if (!st.st_size) {
        return true;
    }
    /* the first record, which says which rotation this file is */
    buf = g_malloc(VDI_AUDIT_TAIL + 1);
    n = pread(s->fd, buf, VDI_AUDIT_TAIL, 0);
    if (n > 0) {
        buf[n] = '\0';
        first_end = strchr(buf, '\n');
        if (first_end) {
            QObject *rec;
            QDict *d;

            *first_end = '\0';
            rec = qobject_from_json(buf, NULL);
            d = qobject_to(QDict, rec);
            if (d && !g_strcmp0(qdict_get_try_str(d, "event"),
                                "VDI_AUDIT_CONTINUED")) {
                d = qdict_get_qdict(d, "data");
                s->rotations = d ? qdict_get_try_int(d, "rotation", 0) : 0;
            }
            qobject_unref(rec);
        }
    }
    len = MIN(st.st_size, VDI_AUDIT_TAIL);
    n = pread(s->fd, buf, len, st.st_size - len);
    if (n != (ssize_t)len) {
        error_setg_errno(errp, n < 0 ? errno : EIO, "cannot read '%s'",
                         s->path);
        return false;
    }
    buf[len] = '\0';
    if (buf[len - 1] != '\n') {
        error_setg(errp, "'%s' ends with a partial record; move it away "
                   "to start a new chain", s->path);
        return false;
    }
    buf[len - 1] = '\0';
    last = strrchr(buf, '\n');
    last = last ? last + 1 : buf;
    buf[len - 1] = '\n';
    if (!vdi_audit_parse_record(last, buf + len - last, &seq, mac)) {
        error_setg(errp, "the last record of '%s' is not an audit record; "
                   "move the file away to start a new chain", s->path);
        return false;
    }
    s->chain.seq = seq;
    memcpy(s->chain.mac, mac, sizeof(mac));
    return true;
}

static void vdi_audit_complete(UserCreatable *uc, Error **errp)
{
    VdiAuditLog *s = VDI_AUDIT_LOG(uc);
    g_autofree uint8_t *key = NULL;
    g_autofree char *err = NULL, *opened = NULL;
    size_t key_len;
    int64_t sec, usec;

    if (!s->path || !s->key_secret) {
        error_setg(errp, "vdi-audit-log needs 'path' and 'key-secret'");
        return;
    }
    if (s->max_size && s->max_size < 4 * KiB) {
        error_setg(errp, "max-size must be 0 or at least 4096");
        return;
    }
    if (qcrypto_secret_lookup(s->key_secret, &key, &key_len, errp) < 0) {
        return;
    }
    if (!key_len) {
        error_setg(errp, "the key of secret '%s' is empty", s->key_secret);
        return;
    }
    if (!vdi_audit_chain_init(&s->chain, key, key_len, &err)) {
        error_setg(errp, "%s", err);
        return;
    }
    s->fd = qemu_create(s->path, O_RDWR | O_APPEND, 0600, errp);
    if (s->fd < 0) {
        return;
    }
    if (!vdi_audit_resume(s, errp)) {
        return;
    }
    opened = g_strdup_printf("{\"id\":\"%s\",\"rotation\":%" PRIu64
                             ",\"keep\":%" PRIu32 ",\"pid\":%d}",
                             object_get_canonical_path_component(OBJECT(s)),
                             s->rotations, s->keep, (int)getpid());
    vdi_audit_now(&sec, &usec);
    if (!vdi_audit_write(s, sec, usec, "VDI_AUDIT_OPENED", opened, errp)) {
        return;
    }
    qemu_thread_create(&s->sync_thread, "vdi-audit-sync",
                       vdi_audit_sync_worker, s, QEMU_THREAD_JOINABLE);
    s->running = true;
    QTAILQ_INSERT_TAIL(&audit_logs, s, next);
    monitor_add_event_observer(vdi_audit_observe, s);
}

/* The trail must outlive whoever would like to stop it */
static bool vdi_audit_can_be_deleted(UserCreatable *uc)
{
    return false;
}

VdiAuditInfoList *qmp_query_vdi_audit(Error **errp)
{
    VdiAuditInfoList *head = NULL, **tail = &head;
    VdiAuditLog *s;

    QTAILQ_FOREACH(s, &audit_logs, next) {
        VdiAuditInfo *info = g_new0(VdiAuditInfo, 1);
        char hex[VDI_AUDIT_MAC_HEX + 1];

        qemu_mutex_lock(&s->lock);
        info->id = g_strdup(object_get_canonical_path_component(OBJECT(s)));
        info->path = g_strdup(s->path);
        info->records = s->records;
        info->sequence = s->chain.seq;
        vdi_audit_mac_to_hex(s->chain.mac, hex);
        info->head_mac = g_strdup(hex);
        info->rotations = s->rotations;
        info->write_errors = s->write_errors;
        info->sync_errors = s->sync_errors;
        qemu_mutex_unlock(&s->lock);
        QAPI_LIST_APPEND(tail, info);
    }
    return head;
}

static void vdi_audit_set_max_size(Object *obj, Visitor *v, const char *name,
                                   void *opaque, Error **errp)
{
    visit_type_size(v, name, &VDI_AUDIT_LOG(obj)->max_size, errp);
}

static void vdi_audit_get_max_size(Object *obj, Visitor *v, const char *name,
                                   void *opaque, Error **errp)
{
    visit_type_size(v, name, &VDI_AUDIT_LOG(obj)->max_size, errp);
}

static void vdi_audit_set_keep(Object *obj, Visitor *v, const char *name,
                               void *opaque, Error **errp)
{
    visit_type_uint32(v, name, &VDI_AUDIT_LOG(obj)->keep, errp);
}

static void vdi_audit_get_keep(Object *obj, Visitor *v, const char *name,
                               void *opaque, Error **errp)
{
    visit_type_uint32(v, name, &VDI_AUDIT_LOG(obj)->keep, errp);
}

static char *vdi_audit_get_path(Object *obj, Error **errp)
{
    return g_strdup(VDI_AUDIT_LOG(obj)->path);
}

static void vdi_audit_set_path(Object *obj, const char *value, Error **errp)
{
    VdiAuditLog *s = VDI_AUDIT_LOG(obj);

    g_free(s->path);
    s->path = g_strdup(value);
}

static char *vdi_audit_get_key_secret(Object *obj, Error **errp)
{
    return g_strdup(VDI_AUDIT_LOG(obj)->key_secret);
}

static void vdi_audit_set_key_secret(Object *obj, const char *value,
                                     Error **errp)
{
    VdiAuditLog *s = VDI_AUDIT_LOG(obj);

    g_free(s->key_secret);
    s->key_secret = g_strdup(value);
}

static bool vdi_audit_get_sync(Object *obj, Error **errp)
{
    return VDI_AUDIT_LOG(obj)->sync;
}

static void vdi_audit_set_sync(Object *obj, bool value, Error **errp)
{
    VDI_AUDIT_LOG(obj)->sync = value;
}

static void vdi_audit_init(Object *obj)
{
    VdiAuditLog *s = VDI_AUDIT_LOG(obj);

    s->fd = -1;
    s->sync = true;
    s->max_size = 64 * MiB;
    qemu_mutex_init(&s->lock);
    qemu_cond_init(&s->sync_cond);
}

/* At exit, or when the creation failed */
static void vdi_audit_finalize(Object *obj)
{
    VdiAuditLog *s = VDI_AUDIT_LOG(obj);

    if (s->running) {
        monitor_remove_event_observer(vdi_audit_observe, s);
        QTAILQ_REMOVE(&audit_logs, s, next);
        qemu_mutex_lock(&s->lock);
        s->quit = true;
        qemu_cond_signal(&s->sync_cond);
        qemu_mutex_unlock(&s->lock);
        qemu_thread_join(&s->sync_thread);
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    vdi_audit_chain_destroy(&s->chain);
    qemu_cond_destroy(&s->sync_cond);
    qemu_mutex_destroy(&s->lock);
    g_free(s->header);
    g_free(s->path);
    g_free(s->key_secret);
}

static void vdi_audit_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = vdi_audit_complete;
    ucc->can_be_deleted = vdi_audit_can_be_deleted;
    object_class_property_add_str(oc, "path", vdi_audit_get_path,
                                  vdi_audit_set_path);
    object_class_property_set_description(oc, "path",
        "file the records are appended to");
    object_class_property_add_str(oc, "key-secret", vdi_audit_get_key_secret,
                                  vdi_audit_set_key_secret);
    object_class_property_set_description(oc, "key-secret",
        "id of the secret object with the HMAC-SM3 key");
    object_class_property_add(oc, "max-size", "size", vdi_audit_get_max_size,
                              vdi_audit_set_max_size, NULL, NULL);
    object_class_property_set_description(oc, "max-size",
        "size after which the file is rotated (0: never)");
    object_class_property_add(oc, "keep", "uint32", vdi_audit_get_keep,
                              vdi_audit_set_keep, NULL, NULL);
    object_class_property_set_description(oc, "keep",
        "rotated files to keep (0: all)");
    object_class_property_add_bool(oc, "sync", vdi_audit_get_sync,
                                   vdi_audit_set_sync);
    object_class_property_set_description(oc, "sync",
        "fdatasync the records in a worker thread");
}

static const TypeInfo vdi_audit_info = {
    .name = TYPE_VDI_AUDIT_LOG,
    .parent = TYPE_OBJECT,
    .class_init = vdi_audit_class_init,
    .instance_size = sizeof(VdiAuditLog),
    .instance_init = vdi_audit_init,
    .instance_finalize = vdi_audit_finalize,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

static void vdi_audit_register_types(void)
{
    type_register_static(&vdi_audit_info);
    vdi_extension_register("audit", 1);
}

type_init(vdi_audit_register_types);
