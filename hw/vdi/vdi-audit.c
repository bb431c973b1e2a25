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
 *
 * Checkpoints: with an SM2 key, a VDI_AUDIT_CHECKPOINT record signs the
 * chain's head after VDI_AUDIT_OPENED (which covers a tail left
 * unsigned by a crash), every checkpoint-interval records, before a
 * rotation (each rotated file ends signed), when vdi-audit-checkpoint
 * asks, and when the object goes away at exit.
 */

#include "qemu/osdep.h"
#include "crypto/secret_common.h"
#include "hw/vdi/vdi-extension.h"
#include "monitor/monitor.h"
#include "qapi/clone-visitor.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-vdi-audit.h"
#include "qapi/qapi-events-vdi-audit.h"
#include "qapi/qapi-visit-vdi-audit.h"
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
    char *sm2_key_secret;
    char *sm2_id;
    uint32_t checkpoint_interval;
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
    VdiAuditSigner *signer;
    uint64_t unsigned_records;  /* written since the last checkpoint */
    VdiAuditCheckpoint *checkpoint;     /* the last one written */

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

/*
 * Write the chain's next record @line, of MAC @mac; on failure leave
 * the file as it was.  Holds lock.
 */
static bool vdi_audit_write_line(VdiAuditLog *s, const char *line,
                                 const uint8_t mac[VDI_AUDIT_MAC_LEN],
                                 Error **errp)
{
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
    s->unsigned_records++;
    s->dirty = s->sync;
    return true;
}

/* Write one record.  Holds lock. */
static bool vdi_audit_write(VdiAuditLog *s, int64_t sec, int64_t usec,
                            const char *event, const char *data,
                            Error **errp)
{
    uint8_t mac[VDI_AUDIT_MAC_LEN];
    g_autofree char *line = vdi_audit_record(&s->chain, sec, usec, event,
                                             data, mac);

    return vdi_audit_write_line(s, line, mac, errp);
}

static void vdi_audit_now(int64_t *sec, int64_t *usec)
{
    int64_t now = g_get_real_time();

    *sec = now / G_USEC_PER_SEC;
    *usec = now % G_USEC_PER_SEC;
}

/* Sign the chain's head with a checkpoint record.  Holds lock. */
static bool vdi_audit_checkpoint(VdiAuditLog *s, Error **errp)
{
    uint8_t mac[VDI_AUDIT_MAC_LEN];
    char hex[VDI_AUDIT_MAC_HEX + 1];
    g_autofree char *line = NULL, *err = NULL;
    int64_t sec, usec;
    const char *sig;
    VdiAuditCheckpoint *cp;

    vdi_audit_now(&sec, &usec);
    vdi_audit_mac_to_hex(s->chain.mac, hex);
    line = vdi_audit_checkpoint_record(&s->chain, s->signer, sec, usec, mac,
                                       &err);
    if (!line) {
        error_setg(errp, "%s", err);
        return false;
    }
    if (!vdi_audit_write_line(s, line, mac, errp)) {
        return false;
    }
    s->unsigned_records = 0;
    sig = strstr(line, ",\"signature\":\"") + 14;
    cp = g_new0(VdiAuditCheckpoint, 1);
    cp->sequence = s->chain.seq;
    cp->head_mac = g_strdup(hex);
    cp->signature = g_strndup(sig, strchr(sig, '"') - sig);
    qapi_free_VdiAuditCheckpoint(s->checkpoint);
    s->checkpoint = cp;
    return true;
}

/* A checkpoint when one is due, a failure counted.  Holds lock. */
static void vdi_audit_checkpoint_due(VdiAuditLog *s, uint64_t after)
{
    Error *err = NULL;

    if (!s->signer || s->unsigned_records < after) {
        return;
    }
    if (!vdi_audit_checkpoint(s, &err)) {
        /* tried again after the next record */
        s->write_errors++;
        trace_vdi_audit_checkpoint_failed(s->path, error_get_pretty(err));
        error_free(err);
    }
}

/* Start a new file after max-size.  Holds lock. */
static void vdi_audit_rotate(VdiAuditLog *s)
{
    char hex[VDI_AUDIT_MAC_HEX + 1];
    g_autofree char *rotated = g_strdup_printf("%s.%" PRIu64, s->path,
                                               s->rotations + 1);
    g_autofree char *base = g_path_get_basename(rotated);
    int fd;

    vdi_audit_checkpoint_due(s, 1);
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

    /* room for the record, VDI_AUDIT_LOST and a checkpoint */
    if (s->max_size && s->size &&
        s->size + strlen(data) + (s->signer ? 768 : 256) > s->max_size) {
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
    vdi_audit_checkpoint_due(s, s->checkpoint_interval);
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

/* The SM2 signer of the key in sm2-key-secret */
static bool vdi_audit_signer_load(VdiAuditLog *s, Error **errp)
{
    g_autofree uint8_t *pem = NULL;
    g_autofree char *err = NULL;
    size_t len;

    if (qcrypto_secret_lookup(s->sm2_key_secret, &pem, &len, errp) < 0) {
        return false;
    }
    s->signer = vdi_audit_signer_new((char *)pem, len,
                                     s->sm2_id ?: VDI_AUDIT_SM2_DEFAULT_ID,
                                     &err);
    if (!s->signer) {
        error_setg(errp, "secret '%s': %s", s->sm2_key_secret, err);
        return false;
    }
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
    if (!s->checkpoint_interval) {
        error_setg(errp, "checkpoint-interval must be at least 1");
        return;
    }
    if (s->sm2_key_secret && !vdi_audit_signer_load(s, errp)) {
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
    if (!vdi_audit_write(s, sec, usec, "VDI_AUDIT_OPENED", opened, errp) ||
        (s->signer && !vdi_audit_checkpoint(s, errp))) {
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
        info->checkpoint = QAPI_CLONE(VdiAuditCheckpoint, s->checkpoint);
        qemu_mutex_unlock(&s->lock);
        QAPI_LIST_APPEND(tail, info);
    }
    return head;
}

VdiAuditCheckpoint *qmp_vdi_audit_checkpoint(const char *id, Error **errp)
{
    VdiAuditCheckpoint *cp = NULL;
    VdiAuditLog *s;

    QTAILQ_FOREACH(s, &audit_logs, next) {
        if (!strcmp(object_get_canonical_path_component(OBJECT(s)), id)) {
            break;
        }
    }
    if (!s) {
        error_setg(errp, "no vdi-audit-log '%s'", id);
        return NULL;
    }
    if (!s->signer) {
        error_setg(errp, "vdi-audit-log '%s' has no SM2 key (sm2-key-secret)",
                   id);
        return NULL;
    }
    qemu_mutex_lock(&s->lock);
    /* the last record may be a checkpoint already */
    if (!s->unsigned_records || vdi_audit_checkpoint(s, errp)) {
        cp = QAPI_CLONE(VdiAuditCheckpoint, s->checkpoint);
    }
    qemu_mutex_unlock(&s->lock);
    return cp;
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

/* Get or set the uint32_t member at offset @opaque */
static void vdi_audit_visit_uint32(Object *obj, Visitor *v, const char *name,
                                   void *opaque, Error **errp)
{
    visit_type_uint32(v, name,
                      (uint32_t *)((char *)obj + (uintptr_t)opaque), errp);
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

static char *vdi_audit_get_sm2_key_secret(Object *obj, Error **errp)
{
    return g_strdup(VDI_AUDIT_LOG(obj)->sm2_key_secret);
}

static void vdi_audit_set_sm2_key_secret(Object *obj, const char *value,
                                         Error **errp)
{
    VdiAuditLog *s = VDI_AUDIT_LOG(obj);

    g_free(s->sm2_key_secret);
    s->sm2_key_secret = g_strdup(value);
}

static char *vdi_audit_get_sm2_id(Object *obj, Error **errp)
{
    VdiAuditLog *s = VDI_AUDIT_LOG(obj);

    return g_strdup(s->sm2_id ?: VDI_AUDIT_SM2_DEFAULT_ID);
}

static void vdi_audit_set_sm2_id(Object *obj, const char *value,
                                 Error **errp)
{
    VdiAuditLog *s = VDI_AUDIT_LOG(obj);

    g_free(s->sm2_id);
    s->sm2_id = g_strdup(value);
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
    s->checkpoint_interval = 1000;
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
        /* a trail that QEMU closed ends signed */
        vdi_audit_checkpoint_due(s, 1);
        s->quit = true;
        qemu_cond_signal(&s->sync_cond);
        qemu_mutex_unlock(&s->lock);
        qemu_thread_join(&s->sync_thread);
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    vdi_audit_chain_destroy(&s->chain);
    vdi_audit_signer_free(s->signer);
    qapi_free_VdiAuditCheckpoint(s->checkpoint);
    qemu_cond_destroy(&s->sync_cond);
    qemu_mutex_destroy(&s->lock);
    g_free(s->header);
    g_free(s->path);
    g_free(s->key_secret);
    g_free(s->sm2_key_secret);
    g_free(s->sm2_id);
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
    object_class_property_add(oc, "keep", "uint32", vdi_audit_visit_uint32,
                              vdi_audit_visit_uint32, NULL,
                              (void *)offsetof(VdiAuditLog, keep));
    object_class_property_set_description(oc, "keep",
        "rotated files to keep (0: all)");
    object_class_property_add_str(oc, "sm2-key-secret",
                                  vdi_audit_get_sm2_key_secret,
                                  vdi_audit_set_sm2_key_secret);
    object_class_property_set_description(oc, "sm2-key-secret",
        "id of the secret object with the SM2 private key (PEM PKCS#8) "
        "that signs checkpoints");
    object_class_property_add_str(oc, "sm2-id", vdi_audit_get_sm2_id,
                                  vdi_audit_set_sm2_id);
    object_class_property_set_description(oc, "sm2-id",
        "the signer's ID in the SM2 signatures");
    object_class_property_add(oc, "checkpoint-interval", "uint32",
                              vdi_audit_visit_uint32, vdi_audit_visit_uint32,
                              NULL, (void *)offsetof(VdiAuditLog,
                                                     checkpoint_interval));
    object_class_property_set_description(oc, "checkpoint-interval",
        "records between signed checkpoints");
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
    /* 2: SM2 checkpoints */
    vdi_extension_register("audit", 2);
}

type_init(vdi_audit_register_types);
