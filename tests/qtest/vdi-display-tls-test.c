/*
 * QTest for the VDI display encoder under VeNCrypt x509 TLS
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The VNC server runs with a tls-creds-x509 object that verifies the
 * client's certificate; a gvnc client connects with VeNCrypt x509 (CA,
 * client certificate and key made by the test).  Through TLS, the lan
 * profile is bit-exact; in wan, text is exact and the photo above 30 dB
 * PSNR until refined.  query-display-clients and query-vnc show the
 * client, the latter with the distinguished name of its certificate.
 *
 * gvnc finds the CA and client certificates only in /etc/pki and in
 * ~/.pki of the user's passwd entry (not $HOME).  So that the test
 * touches neither, it runs in a private mount namespace (a user
 * namespace too when not privileged) in which /etc/passwd is a copy that
 * gives the user a home in the test's directory; where namespaces are
 * not available, the test is skipped.
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "../unit/crypto-tls-x509-helpers.h"
#include <pwd.h>
#include <sched.h>
#include <sys/mount.h>
#include "vdi-display-util.h"
#include "vdi-display-qmp.h"
#include "vdi-gvnc-client.h"

#define CLIENT_NAME "qemu-client"
#define CLIENT_CN "ACME QEMU Client"
#define TIMEOUT_MS (120 * 1000)

/* the test's directory, with the client's home; NULL: no namespace */
static char *tmp_dir;
static const char *skip_reason;

static bool write_file(const char *path, const char *text)
{
    return g_file_set_contents(path, text, -1, NULL);
}

/*
 * Enter a private mount namespace in which the user's passwd entry has
 * @home as its home directory.  Must run while single-threaded.
 */
static bool isolate_home(const char *home)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    g_autofree char *passwd = NULL;
    g_autofree char *copy = g_strdup_printf("%s/passwd", tmp_dir);
    g_auto(GStrv) lines = NULL;
    GString *out = g_string_new("");
    g_autofree char *uidstr = g_strdup_printf("%u", (unsigned)uid);
    struct passwd *pw;
    bool found = false;

    if (unshare(CLONE_NEWNS) < 0) {
        g_autofree char *map = NULL;

        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
            skip_reason = "no mount namespace";
            g_string_free(out, true);
            return false;
        }
        map = g_strdup_printf("%u %u 1\n", (unsigned)uid, (unsigned)uid);
        write_file("/proc/self/setgroups", "deny");
        g_assert_true(write_file("/proc/self/uid_map", map));
        g_free(map);
        map = g_strdup_printf("%u %u 1\n", (unsigned)gid, (unsigned)gid);
        g_assert_true(write_file("/proc/self/gid_map", map));
    }
    g_assert_cmpint(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), ==, 0);

    g_assert_true(g_file_get_contents("/etc/passwd", &passwd, NULL, NULL));
    lines = g_strsplit(passwd, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], ":", 7);

        if (g_strv_length(f) == 7 && g_str_equal(f[2], uidstr) && !found) {
            g_autofree char *line = NULL;

            g_free(f[5]);
            f[5] = g_strdup(home);
            line = g_strjoinv(":", f);
            g_string_append_printf(out, "%s\n", line);
            found = true;
        } else if (*lines[i]) {
            g_string_append_printf(out, "%s\n", lines[i]);
        }
    }
    g_assert_true(write_file(copy, out->str));
    g_string_free(out, true);
    if (!found || mount(copy, "/etc/passwd", NULL, MS_BIND, NULL) < 0) {
        skip_reason = "cannot give the user a home for gvnc";
        return false;
    }
    pw = getpwuid(uid);
    if (!pw || !g_str_equal(pw->pw_dir, home)) {
        skip_reason = "the user's home does not come from /etc/passwd";
        return false;
    }
    return true;
}

typedef struct Test {
    QTestState *qts;
    GvncClient c;
    uint32_t *expect;
} Test;

/*
 * The server's directory for tls-creds-x509, and the client's files
 * where gvnc looks for them: $HOME/.pki/CA/cacert.pem,
 * $HOME/.pki/<name>/clientcert.pem and private/clientkey.pem.
 */
static char *make_certs(const char *tmp)
{
    g_autofree char *keyfile = g_strdup_printf("%s/key.pem", tmp);
    g_autofree char *srv = g_strdup_printf("%s/server", tmp);
    g_autofree char *ca = g_strdup_printf("%s/ca-cert.pem", srv);
    g_autofree char *srvcert = g_strdup_printf("%s/server-cert.pem", srv);
    g_autofree char *srvkey = g_strdup_printf("%s/server-key.pem", srv);
    g_autofree char *pki = g_strdup_printf("%s/home/.pki", tmp);
    g_autofree char *cadir = g_strdup_printf("%s/CA", pki);
    g_autofree char *cli = g_strdup_printf("%s/" CLIENT_NAME, pki);
    g_autofree char *clipriv = g_strdup_printf("%s/private", cli);
    g_autofree char *cacopy = g_strdup_printf("%s/cacert.pem", cadir);
    g_autofree char *clicert = g_strdup_printf("%s/clientcert.pem", cli);
    g_autofree char *clikey = g_strdup_printf("%s/clientkey.pem", clipriv);

    g_assert_cmpint(g_mkdir_with_parents(srv, 0700), ==, 0);
    g_assert_cmpint(g_mkdir_with_parents(cadir, 0700), ==, 0);
    g_assert_cmpint(g_mkdir_with_parents(clipriv, 0700), ==, 0);

    test_tls_init(keyfile);
    g_assert_cmpint(link(keyfile, srvkey), ==, 0);
    g_assert_cmpint(link(keyfile, clikey), ==, 0);
    {
        TLS_ROOT_REQ_SIMPLE(cacertreq, ca);
        TLS_CERT_REQ_SIMPLE_SERVER(srvreq, cacertreq, srvcert, "localhost",
                                   "127.0.0.1");
        TLS_CERT_REQ_SIMPLE_CLIENT(clireq, cacertreq, CLIENT_CN, clicert);

        test_tls_deinit_cert(&clireq);
        test_tls_deinit_cert(&srvreq);
        test_tls_deinit_cert(&cacertreq);
    }
    g_assert_cmpint(link(ca, cacopy), ==, 0);
    return g_steal_pointer(&srv);
}

static void rm_tree(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    const char *name;

    if (dir) {
        while ((name = g_dir_read_name(dir))) {
            g_autofree char *p = g_build_filename(path, name, NULL);

            rm_tree(p);
        }
        g_dir_close(dir);
        g_assert_cmpint(rmdir(path), ==, 0);
    } else {
        g_assert_cmpint(unlink(path), ==, 0);
    }
}

static void on_vnc_auth_unsupported(VncConnection *self, unsigned int type)
{
    g_error("vnc-auth-unsupported: %u", type);
}

/* gvnc asks for the client name: it then loads the certificates */
static void on_credential(VncConnection *conn, GValueArray *creds)
{
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    for (guint i = 0; i < creds->n_values; i++) {
        int type = g_value_get_enum(g_value_array_get_nth(creds, i));

        g_assert_cmpint(type, ==, VNC_CONNECTION_CREDENTIAL_CLIENTNAME);
        vnc_connection_set_credential(conn, type, CLIENT_NAME);
    }
    G_GNUC_END_IGNORE_DEPRECATIONS
}

static bool covered(Test *t)
{
    return gvnc_client_is(&t->c, W, H) &&
        gvnc_client_covered(&t->c, 0, 0, W, H);
}

static bool region_exact(Test *t, int x0, int x1)
{
    return gvnc_client_exact(&t->c, t->expect, x0, 0, x1, H);
}

typedef struct Until {
    Test *t;
    bool (*done)(Test *t);
} Until;

static bool until_done(void *opaque)
{
    Until *u = opaque;

    g_assert_false(u->t->c.disconnected);
    return u->done(u->t);
}

/* Run the client until @done, within TIMEOUT_MS */
static void run_until(Test *t, bool (*done)(Test *t), const char *what)
{
    Until u = { t, done };

    gvnc_wait(until_done, &u, TIMEOUT_MS, what);
}

static bool all_exact(Test *t)
{
    return covered(t) && region_exact(t, 0, W);
}

static void run_tls(bool wan)
{
    Test t = { 0 };
    g_autofree char *srvdir = g_strdup_printf("%s/server", tmp_dir);
    QDict *resp, *c, *vnc;
    QList *clients;

    if (skip_reason) {
        g_test_skip(skip_reason);
        return;
    }
    t.expect = make_image();
    t.qts = qtest_initf("-machine pc -nodefaults -vga std "
                        "-object tls-creds-x509,id=tls0,endpoint=server,"
                        "dir=%s,verify-peer=on "
                        "-vnc unix:%s/vnc.sock,tls-creds=tls0", srvdir,
                        tmp_dir);
    vga_setup(t.qts, t.expect);
    set_profile_ok(t.qts, wan ? "{ 'profile': 'wan' }" :
                   "{ 'profile': 'lan' }");

    gvnc_client_new(&t.c);
    g_signal_connect(t.c.conn, "vnc-auth-unsupported",
                     G_CALLBACK(on_vnc_auth_unsupported), NULL);
    g_signal_connect(t.c.conn, "vnc-auth-credential",
                     G_CALLBACK(on_credential), NULL);
    /* only VeNCrypt with x509 certificates and no further auth */
    vnc_connection_set_auth_type(t.c.conn, VNC_CONNECTION_AUTH_VENCRYPT);
    vnc_connection_set_auth_subtype(t.c.conn,
                                    VNC_CONNECTION_AUTH_VENCRYPT_X509NONE);
    /* the server certificate is checked against this name */
    vnc_connection_open_fd_with_hostname(t.c.conn,
                                         gvnc_client_socket(t.qts),
                                         "localhost");

    run_until(&t, covered, "the first full frame");
    /* text is never lossy */
    g_assert_true(region_exact(&t, 0, SPLIT));
    if (wan) {
        double psnr = gvnc_client_psnr(&t.c, t.expect, SPLIT, 0, W, H);

        g_test_message("wan over TLS: photo PSNR %.1f dB", psnr);
        g_assert_cmpfloat(psnr, >, 30.0);
        g_assert_false(isinf(psnr));
        /* then refined to lossless */
        run_until(&t, all_exact, "the refinement");
    } else {
        g_assert_true(region_exact(&t, SPLIT, W));
    }

    c = query_client(t.qts);
    g_assert_cmpstr(qdict_get_str(c, "profile"), ==, wan ? "wan" : "lan");
    g_assert_false(qdict_get_bool(c, "websocket"));
    g_assert_cmpint(qdict_get_int(c, "frames-sent"), >, 0);
    /* what went through TLS: at least the encoded pixels */
    g_assert_cmpint(qdict_get_int(c, "bytes-sent"), >, 1000);
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(c, "tiles"), "jpeg") > 0,
                    ==, wan);
    g_test_message("%s over TLS: %" PRId64 " bytes, %" PRId64 " updates",
                   wan ? "wan" : "lan", qdict_get_int(c, "bytes-sent"),
                   qdict_get_int(c, "frames-sent"));
    qobject_unref(c);

    /*
     * QEMU verified the client's certificate (query-vnc reports only
     * displays that listen: hence the Unix socket that is not used)
     */
    resp = qtest_qmp(t.qts, "{ 'execute': 'query-vnc' }");
    vnc = qdict_get_qdict(resp, "return");
    clients = qdict_get_qlist(vnc, "clients");
    g_assert_cmpint(qlist_size(clients), ==, 1);
    c = qobject_to(QDict, qlist_peek(clients));
    g_assert_nonnull(strstr(qdict_get_str(c, "x509_dname"), CLIENT_CN));
    qobject_unref(resp);

    gvnc_client_close(&t.c);
    qtest_quit(t.qts);
    g_free(t.expect);
}

static void test_tls_lan(void)
{
    run_tls(false);
}

static void test_tls_wan(void)
{
    run_tls(true);
}

int main(int argc, char **argv)
{
    g_autofree char *home = NULL;
    g_autofree char *keyfile = NULL;
    g_autofree char *srvdir = NULL;
    int ret;

    /* first, while there is only one thread */
    tmp_dir = g_dir_make_tmp("vdi-display-tls-XXXXXX", NULL);
    g_assert(tmp_dir);
    home = g_strdup_printf("%s/home", tmp_dir);
    g_assert_cmpint(g_mkdir_with_parents(home, 0700), ==, 0);
    if (isolate_home(home)) {
        srvdir = make_certs(tmp_dir);
    }

    if (getenv("GTK_VNC_DEBUG")) {
        vnc_util_set_debug(true);
    }
    g_test_init(&argc, &argv, NULL);

    if (qtest_has_machine("pc") && qtest_has_device("VGA")) {
        qtest_add_func("/vdi-display/tls/lan", test_tls_lan);
        qtest_add_func("/vdi-display/tls/wan", test_tls_wan);
    }
    ret = g_test_run();

    if (srvdir) {
        keyfile = g_strdup_printf("%s/key.pem", tmp_dir);
        test_tls_cleanup(keyfile);
    }
    rm_tree(tmp_dir);
    g_free(tmp_dir);
    return ret;
}
