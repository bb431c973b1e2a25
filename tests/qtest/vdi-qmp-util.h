/*
 * QMP helpers of the VDI host's qtests: QOM properties and errors
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_QTEST_VDI_QMP_UTIL_H
#define TESTS_QTEST_VDI_QMP_UTIL_H

#include "libqtest.h"
#include "qobject/qbool.h"
#include "qobject/qdict.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"

/* Property @prop of the object at @path; it must be readable */
static inline QObject *vdi_qom_get(QTestState *qts, const char *path,
                                   const char *prop)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'qom-get', 'arguments': {"
                            "  'path': %s, 'property': %s } }", path, prop);
    QObject *ret = qdict_get(resp, "return");

    g_assert(ret);
    qobject_ref(ret);
    qobject_unref(resp);
    return ret;
}

/* The typed forms: the property must be of that type */
static inline int64_t vdi_qom_get_int(QTestState *qts, const char *path,
                                      const char *prop)
{
    g_autoptr(QNum) n = qobject_to(QNum, vdi_qom_get(qts, path, prop));

    return qnum_get_int(n);
}

static inline char *vdi_qom_get_str(QTestState *qts, const char *path,
                                    const char *prop)
{
    g_autoptr(QString) s = qobject_to(QString, vdi_qom_get(qts, path, prop));

    return g_strdup(qstring_get_str(s));
}

static inline bool vdi_qom_get_bool(QTestState *qts, const char *path,
                                    const char *prop)
{
    g_autoptr(QBool) b = qobject_to(QBool, vdi_qom_get(qts, path, prop));

    return qbool_get_bool(b);
}

/* @resp, which this frees, is an error whose description says @part */
static inline void qmp_assert_error_says(QDict *resp, const char *part)
{
    const char *desc;

    g_assert(qdict_haskey(resp, "error"));
    desc = qdict_get_str(qdict_get_qdict(resp, "error"), "desc");
    if (!strstr(desc, part)) {
        g_error("error '%.200s' does not say '%s'", desc, part);
    }
    qobject_unref(resp);
}

/* The command fails with an error whose description says @part */
static inline void G_GNUC_PRINTF(3, 4)
qmp_expect_error(QTestState *qts, const char *part, const char *fmt, ...)
{
    va_list ap;
    QDict *resp;

    va_start(ap, fmt);
    resp = qtest_vqmp(qts, fmt, ap);
    va_end(ap);
    qmp_assert_error_says(resp, part);
}

#endif
