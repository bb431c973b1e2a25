/*
 * QTest of vdi-audit-log: records of real events, rotation, restart,
 * write failures
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/resource.h>
#include "libqtest.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"

typedef struct Env {
    char *dir;
    char *key;
    char *log;
    char *sm2;
    char *p256;
} Env;

/* SM2 and P-256 private keys as "openssl genpkey" writes them */
static const char sm2_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgM7y1NFtMp0yAfIhV\n"
    "sGq37czfzsq3cdvFn6Ik1IzXpPyhRANCAATY97u8pM49IlmytUfVtG04yN7zLT5S\n"
    "5DO8PHJTNHQESUUe41h/e9oH8KQWkyFwEtLAnoBvjSLUdfJd/uPK+cWf\n"
    "-----END PRIVATE KEY-----\n";
static const char p256_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAtd6y0EkH6fBP95i\n"
    "+reyeS+HOpn2KAgznfZrXlTEAL+hRANCAARg8A9wGoySPmyaLtj0HKaY14/EKxHA\n"
    "WbZPJ2r/+fiI6ctYdWUAH0jDfsBYI3FpMcedEhQpNJP+FwIEgtoiW5SU\n"
    "-----END PRIVATE KEY-----\n";

static void env_init(Env *e)
{
    e->dir = g_dir_make_tmp("vdi-audit-XXXXXX", NULL);
    g_assert_nonnull(e->dir);
    e->key = g_build_filename(e->dir, "audit.key", NULL);
    e->log = g_build_filename(e->dir, "audit.log", NULL);
    e->sm2 = g_build_filename(e->dir, "sm2.pem", NULL);
    e->p256 = g_build_filename(e->dir, "p256.pem", NULL);
    g_assert_true(g_file_set_contents(e->key, "0123456789abcdef", -1,
                                      NULL));
    g_assert_true(g_file_set_contents(e->sm2, sm2_pem, -1, NULL));
    g_assert_true(g_file_set_contents(e->p256, p256_pem, -1, NULL));
}

static void env_free(Env *e)
{
    g_autoptr(GDir) d = g_dir_open(e->dir, 0, NULL);
    const char *name;

    while ((name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(e->dir, name, NULL);

        unlink(p);
    }
    rmdir(e->dir);
    g_free(e->dir);
    g_free(e->key);
    g_free(e->log);
    g_free(e->sm2);
    g_free(e->p256);
}

static QTestState *start(Env *e, const char *props)
{
    return qtest_initf("-machine none "
                       "-netdev hubport,id=hp0,hubid=0 "
                       "-object filter-firewall,id=fw0,netdev=hp0 "
                       "-object secret,id=sec0,file=%s "
                       "-object secret,id=sm2sec,file=%s "
                       "-object secret,id=p256sec,file=%s "
                       "-object vdi-audit-log,id=audit0,path=%s,"
                       "key-secret=sec0%s",
                       e->key, e->sm2, e->p256, e->log, props);
}

/* The records of @path, parsed */
static GPtrArray *records(const char *path)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GPtrArray *r = g_ptr_array_new_with_free_func(
        (GDestroyNotify)qobject_unref_impl);
    int i;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_true(g_str_has_suffix(text, "\n"));
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i][0]; i++) {
        QDict *d = qobject_to(QDict, qobject_from_json(lines[i],
                                                        &error_abort));

        g_assert_nonnull(d);
        g_ptr_array_add(r, d);
    }
    return r;
}

static const char *rec_event(GPtrArray *r, int i)
{
    return qdict_get_str(g_ptr_array_index(r, i), "event");
}

static uint64_t rec_seq(GPtrArray *r, int i)
{
    return qdict_get_int(g_ptr_array_index(r, i), "seq");
}

static QDict *query(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-vdi-audit' }");
    QList *list = qdict_get_qlist(resp, "return");
    QDict *info;

    g_assert_cmpint(qlist_size(list), ==, 1);
    info = qobject_to(QDict, qlist_peek(list));
    qobject_ref(info);
    qobject_unref(resp);
    return info;
}

/* The event is emitted, and recorded, before the command returns */
static void quarantine(QTestState *qts, bool on)
{
    qtest_qmp_assert_success(qts, on ?
        "{ 'execute': 'firewall-quarantine', 'arguments': {"
        "  'filter': 'fw0', 'reason': 'edr alert' } }" :
        "{ 'execute': 'firewall-unquarantine', 'arguments': {"
        "  'filter': 'fw0' } }");
}

/* Security events are recorded, in order, chained; others are not */
static void test_records(void)
{
    Env e;
    QTestState *qts;
    g_autoptr(GPtrArray) r = NULL;
    QDict *info, *data;
    int n;

    env_init(&e);
    qts = start(&e, "");
    quarantine(qts, true);
    /* STOP and RESUME are not security decisions */
    qtest_qmp_assert_success(qts, "{ 'execute': 'stop' }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");
    quarantine(qts, false);

    r = records(e.log);
    g_assert_cmpint(r->len, ==, 3);
    g_assert_cmpstr(rec_event(r, 0), ==, "VDI_AUDIT_OPENED");
    g_assert_cmpstr(rec_event(r, 1), ==, "FIREWALL_QUARANTINE");
    g_assert_cmpstr(rec_event(r, 2), ==, "FIREWALL_QUARANTINE");
    for (n = 0; n < r->len; n++) {
        g_assert_cmpuint(rec_seq(r, n), ==, n + 1);
    }
    data = qdict_get_qdict(g_ptr_array_index(r, 1), "data");
    g_assert_cmpstr(qdict_get_str(data, "filter"), ==, "fw0");
    g_assert_true(qdict_get_bool(data, "quarantined"));
    g_assert_cmpstr(qdict_get_str(data, "reason"), ==, "edr alert");

    info = query(qts);
    g_assert_cmpstr(qdict_get_str(info, "id"), ==, "audit0");
    g_assert_cmpstr(qdict_get_str(info, "path"), ==, e.log);
    g_assert_cmpint(qdict_get_int(info, "records"), ==, 3);
    g_assert_cmpint(qdict_get_int(info, "sequence"), ==, 3);
    g_assert_cmpstr(qdict_get_str(info, "head-mac"), ==,
                    qdict_get_str(g_ptr_array_index(r, 2), "mac"));
    g_assert_cmpint(qdict_get_int(info, "rotations"), ==, 0);
    g_assert_cmpint(qdict_get_int(info, "write-errors"), ==, 0);
    qobject_unref(info);

    /* nobody deletes the trail */
    qtest_qmp_assert_failure_ref(qts, "{ 'execute': 'object-del',"
                                 "  'arguments': { 'id': 'audit0' } }");
    qtest_quit(qts);
    /* the filter's netdev went away at exit */
    g_ptr_array_unref(r);
    r = records(e.log);
    g_assert_cmpint(r->len, ==, 4);
    g_assert_cmpstr(rec_event(r, 3), ==, "FIREWALL_DETACHED");

    /* a restart continues the chain */
    qts = start(&e, "");
    quarantine(qts, true);
    info = query(qts);
    g_assert_cmpint(qdict_get_int(info, "records"), ==, 2);
    g_assert_cmpint(qdict_get_int(info, "sequence"), ==, 6);
    qobject_unref(info);
    qtest_quit(qts);
    g_ptr_array_unref(r);
    r = records(e.log);
    g_assert_cmpint(r->len, ==, 7);
    g_assert_cmpstr(rec_event(r, 4), ==, "VDI_AUDIT_OPENED");
    for (n = 0; n < r->len; n++) {
        g_assert_cmpuint(rec_seq(r, n), ==, n + 1);
    }
    env_free(&e);
}

/* Bad configurations fail the object's creation, with a reason */
static void test_bad_config(void)
{
    static const struct {
        const char *props, *error;
    } cases[] = {
        { "key-secret=nosuch", "No secret with id 'nosuch'" },
        { "key-secret=sec0,max-size=100", "max-size must be" },
        { "key-secret=sec0,path=/nonexistent/dir/log", "Could not create" },
        { "key-secret=sec0,path=/dev/full", "cannot write to '/dev/full'" },
        { "key-secret=sec0,sm2-key-secret=nosuch",
          "No secret with id 'nosuch'" },
        { "key-secret=sec0,sm2-key-secret=sec0",
          "secret 'sec0': the SM2 key is not a PEM private key" },
        { "key-secret=sec0,sm2-key-secret=p256sec",
          "secret 'p256sec': the SM2 key is not an SM2 private key: "
          "not on the SM2 curve" },
        { "key-secret=sec0,sm2-key-secret=sm2sec,sm2-id=a\"b",
          "the SM2 ID must be" },
        { "key-secret=sec0,sm2-key-secret=sm2sec,checkpoint-interval=0",
          "checkpoint-interval must be at least 1" },
    };
    Env e;
    QTestState *qts;
    size_t i;

    env_init(&e);
    qts = qtest_initf("-machine none -object secret,id=sec0,file=%s "
                      "-object secret,id=sm2sec,file=%s "
                      "-object secret,id=p256sec,file=%s",
                      e.key, e.sm2, e.p256);
    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        QDict *args = qdict_new(), *resp;
        g_auto(GStrv) kv = g_strsplit(cases[i].props, ",", -1);
        char **p;

        qdict_put_str(args, "qom-type", "vdi-audit-log");
        qdict_put_str(args, "id", "a0");
        qdict_put_str(args, "path", e.log);
        for (p = kv; *p; p++) {
            g_auto(GStrv) pair = g_strsplit(*p, "=", 2);

            if (!strcmp(pair[0], "max-size") ||
                !strcmp(pair[0], "checkpoint-interval")) {
                qdict_put_int(args, pair[0], atoi(pair[1]));
            } else {
                qdict_put_str(args, pair[0], pair[1]);
            }
        }
        resp = qtest_qmp(qts, "{ 'execute': 'object-add', "
                         "'arguments': %p }", args);
        g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                              "desc"), cases[i].error));
        qobject_unref(resp);
    }
    qtest_quit(qts);
    env_free(&e);
}

/* Rotation keeps the chain and the newest @keep files */
static void test_rotation(void)
{
    Env e;
    QTestState *qts;
    g_autoptr(GPtrArray) cur = NULL, prev = NULL;
    g_autofree char *newest = NULL, *kept = NULL, *gone = NULL;
    QDict *info, *ev, *data, *last;
    int64_t rotations;
    struct stat st;
    int i;

    env_init(&e);
    qts = start(&e, ",max-size=4096,keep=2");
    for (i = 0; i < 60; i++) {
        quarantine(qts, !(i & 1));
    }
    ev = qtest_qmp_eventwait_ref(qts, "VDI_AUDIT_ROTATED");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ev, "data"), "id"), ==,
                    "audit0");
    qobject_unref(ev);
    info = query(qts);
    rotations = qdict_get_int(info, "rotations");
    g_assert_cmpint(rotations, >=, 3);
    g_assert_cmpint(qdict_get_int(info, "sequence"), >, 61);
    qobject_unref(info);

    newest = g_strdup_printf("%s.%" PRId64, e.log, rotations);
    kept = g_strdup_printf("%s.%" PRId64, e.log, rotations - 1);
    gone = g_strdup_printf("%s.%" PRId64, e.log, rotations - 2);
    g_assert_true(g_file_test(kept, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(gone, G_FILE_TEST_EXISTS));

    prev = records(newest);
    cur = records(e.log);
    g_assert_cmpstr(rec_event(cur, 0), ==, "VDI_AUDIT_CONTINUED");
    data = qdict_get_qdict(g_ptr_array_index(cur, 0), "data");
    last = g_ptr_array_index(prev, prev->len - 1);
    g_assert_cmpint(qdict_get_int(data, "rotation"), ==, rotations);
    g_assert_cmpint(qdict_get_int(data, "previous-sequence"), ==,
                    qdict_get_int(last, "seq"));
    g_assert_cmpstr(qdict_get_str(data, "previous-mac"), ==,
                    qdict_get_str(last, "mac"));
    g_assert_cmpuint(rec_seq(cur, 0), ==, qdict_get_int(last, "seq") + 1);
    /* a full file stays within max-size */
    g_assert_cmpint(stat(newest, &st), ==, 0);
    g_assert_cmpint(st.st_size, <=, 4096);
    g_assert_cmpint(st.st_size, >, 3000);
    qtest_quit(qts);
    env_free(&e);
}

/*
 * A record that cannot be written (the file size limit here) is
 * counted, reported once and, once writing works again, announced by
 * VDI_AUDIT_LOST; the file never holds part of a record.
 */
static void test_write_failure(void)
{
    Env e;
    QTestState *qts;
    struct rlimit small = { 1500, RLIM_INFINITY }, big = { RLIM_INFINITY,
                                                   RLIM_INFINITY };
    g_autoptr(GPtrArray) r = NULL;
    QDict *info, *ev;
    int i, failed = 0;

    env_init(&e);
    /* EFBIG instead of SIGXFSZ; QEMU inherits the ignored signal */
    signal(SIGXFSZ, SIG_IGN);
    qts = start(&e, ",sync=off");
    g_assert_cmpint(prlimit(qtest_pid(qts), RLIMIT_FSIZE, &small, NULL),
                    ==, 0);
    for (i = 0; i < 20; i++) {
        quarantine(qts, !(i & 1));
    }
    ev = qtest_qmp_eventwait_ref(qts, "VDI_AUDIT_WRITE_FAILED");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(ev, "data"),
                                          "error"), "too large"));
    qobject_unref(ev);
    info = query(qts);
    failed = qdict_get_int(info, "write-errors");
    g_assert_cmpint(failed, >, 5);
    qobject_unref(info);
    /* reported once until a write succeeds */
    g_assert_null(qtest_qmp_event_ref(qts, "VDI_AUDIT_WRITE_FAILED"));

    r = records(e.log);
    g_assert_cmpint(r->len, ==, 20 + 1 - failed);

    g_assert_cmpint(prlimit(qtest_pid(qts), RLIMIT_FSIZE, &big, NULL),
                    ==, 0);
    quarantine(qts, true);
    g_ptr_array_unref(r);
    r = records(e.log);
    g_assert_cmpint(r->len, ==, 20 + 1 - failed + 2);
    g_assert_cmpstr(rec_event(r, r->len - 2), ==, "VDI_AUDIT_LOST");
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(
                        g_ptr_array_index(r, r->len - 2), "data"),
                        "records"), ==, failed);
    g_assert_cmpstr(rec_event(r, r->len - 1), ==, "FIREWALL_QUARANTINE");
    for (i = 0; i < r->len; i++) {
        g_assert_cmpuint(rec_seq(r, i), ==, i + 1);
    }
    qtest_quit(qts);
    signal(SIGXFSZ, SIG_DFL);
    env_free(&e);
}

/* Checkpoint @i of @r signs the record before it */
static void assert_checkpoint(GPtrArray *r, int i)
{
    QDict *cp = qdict_get_qdict(g_ptr_array_index(r, i), "data");
    QDict *before = g_ptr_array_index(r, i - 1);

    g_assert_cmpstr(rec_event(r, i), ==, "VDI_AUDIT_CHECKPOINT");
    g_assert_cmpint(qdict_get_int(cp, "sequence"), ==,
                    qdict_get_int(before, "seq"));
    g_assert_cmpstr(qdict_get_str(cp, "head-mac"), ==,
                    qdict_get_str(before, "mac"));
    g_assert_cmpstr(qdict_get_str(cp, "signer-id"), ==, "1234567812345678");
}

/*
 * With an SM2 key, checkpoints sign the chain after VDI_AUDIT_OPENED,
 * every checkpoint-interval records, at the end of each rotated file,
 * on request and at exit (their signatures are checked with OpenSSL by
 * scripts/check-vdi-audit)
 */
static void test_checkpoints(void)
{
    Env e;
    QTestState *qts;
    g_autoptr(GPtrArray) r = NULL;
    QDict *info, *cp, *resp;
    int64_t rotations, n;
    int i, since = 0;

    env_init(&e);
    qts = start(&e, ",sm2-key-secret=sm2sec,checkpoint-interval=5,"
                "max-size=4096");
    r = records(e.log);
    g_assert_cmpint(r->len, ==, 2);
    assert_checkpoint(r, 1);
    for (i = 0; i < 60; i++) {
        quarantine(qts, !(i & 1));
    }
    info = query(qts);
    rotations = qdict_get_int(info, "rotations");
    g_assert_cmpint(rotations, >=, 2);
    /* every rotated file ends signed, and no 5 records go unsigned */
    for (n = 1; n <= rotations + 1; n++) {
        g_autofree char *path = n <= rotations ?
            g_strdup_printf("%s.%" PRId64, e.log, n) : g_strdup(e.log);

        g_ptr_array_unref(r);
        r = records(path);
        for (i = 1; i < r->len; i++) {
            if (!strcmp(rec_event(r, i), "VDI_AUDIT_CHECKPOINT")) {
                assert_checkpoint(r, i);
                since = 0;
            } else {
                g_assert_cmpint(++since, <=, 5);
            }
        }
        if (n <= rotations) {
            g_assert_cmpstr(rec_event(r, r->len - 1), ==,
                            "VDI_AUDIT_CHECKPOINT");
        }
    }
    /* query-vdi-audit reports the last checkpoint */
    for (i = r->len - 1; strcmp(rec_event(r, i), "VDI_AUDIT_CHECKPOINT");
         i--) {
        continue;
    }
    cp = qdict_get_qdict(info, "checkpoint");
    g_assert_cmpint(qdict_get_int(cp, "sequence"), ==, rec_seq(r, i));
    g_assert_cmpstr(qdict_get_str(cp, "signature"), ==,
                    qdict_get_str(qdict_get_qdict(g_ptr_array_index(r, i),
                                                  "data"), "signature"));

    /* on request, once */
    resp = qtest_qmp(qts, "{ 'execute': 'vdi-audit-checkpoint',"
                     "  'arguments': { 'id': 'audit0' } }");
    cp = qdict_get_qdict(resp, "return");
    g_assert_cmpint(qdict_get_int(cp, "sequence"), ==,
                    qdict_get_int(info, "sequence") + 1);
    g_assert_cmpstr(qdict_get_str(cp, "head-mac"), ==,
                    qdict_get_str(info, "head-mac"));
    qobject_unref(info);
    info = query(qts);
    g_assert_cmpint(qdict_get_int(info, "sequence"), ==,
                    qdict_get_int(cp, "sequence"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{ 'execute': 'vdi-audit-checkpoint',"
                     "  'arguments': { 'id': 'audit0' } }");
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(resp, "return"),
                                  "sequence"), ==,
                    qdict_get_int(info, "sequence"));
    qobject_unref(resp);
    qobject_unref(info);

    /* at exit, after the last records */
    quarantine(qts, true);
    qtest_quit(qts);
    g_ptr_array_unref(r);
    r = records(e.log);
    assert_checkpoint(r, r->len - 1);
    g_assert_cmpstr(rec_event(r, r->len - 2), ==, "FIREWALL_DETACHED");
    env_free(&e);
}

/* Without an SM2 key, there are no checkpoints to ask for */
static void test_checkpoint_unsigned(void)
{
    Env e;
    QTestState *qts;
    QDict *info, *resp;
    QListEntry *ext;
    int64_t version = 0;

    env_init(&e);
    qts = start(&e, "");
    /* the extension's version says that checkpoints are there */
    resp = qtest_qmp(qts, "{ 'execute': 'query-vdi-capabilities' }");
    QLIST_FOREACH_ENTRY(qdict_get_qlist(qdict_get_qdict(resp, "return"),
                                        "extensions"), ext) {
        QDict *d = qobject_to(QDict, qlist_entry_obj(ext));

        if (!strcmp(qdict_get_str(d, "name"), "audit")) {
            version = qdict_get_int(d, "version");
        }
    }
    g_assert_cmpint(version, ==, 2);
    qobject_unref(resp);
    resp = qtest_qmp_assert_failure_ref(qts,
        "{ 'execute': 'vdi-audit-checkpoint',"
        "  'arguments': { 'id': 'audit0' } }");
    g_assert_nonnull(strstr(qdict_get_str(resp, "desc"), "has no SM2 key"));
    qobject_unref(resp);
    resp = qtest_qmp_assert_failure_ref(qts,
        "{ 'execute': 'vdi-audit-checkpoint',"
        "  'arguments': { 'id': 'nosuch' } }");
    g_assert_nonnull(strstr(qdict_get_str(resp, "desc"),
                            "no vdi-audit-log 'nosuch'"));
    qobject_unref(resp);
    info = query(qts);
    g_assert_false(qdict_haskey(info, "checkpoint"));
    qobject_unref(info);
    qtest_quit(qts);
    env_free(&e);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/vdi-audit/records", test_records);
    qtest_add_func("/vdi-audit/bad-config", test_bad_config);
    qtest_add_func("/vdi-audit/rotation", test_rotation);
    qtest_add_func("/vdi-audit/write-failure", test_write_failure);
    qtest_add_func("/vdi-audit/checkpoints", test_checkpoints);
    qtest_add_func("/vdi-audit/checkpoint-unsigned",
                   test_checkpoint_unsigned);
    return g_test_run();
}
