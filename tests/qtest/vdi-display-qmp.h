/*
 * The display encoder's QMP commands as the display qtests and the
 * display bench use them
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_QTEST_VDI_DISPLAY_QMP_H
#define TESTS_QTEST_VDI_DISPLAY_QMP_H

#include "libqtest.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"

/* The only client's entry of query-display-clients */
static inline QDict *query_client(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-display-clients' }");
    QList *list = qdict_get_qlist(resp, "return");
    QDict *c;

    g_assert(list);
    g_assert_cmpint(qlist_size(list), ==, 1);
    c = qobject_to(QDict, qlist_peek(list));
    qobject_ref(c);
    qobject_unref(resp);
    return c;
}

/* display-set-profile with the arguments @args (JSON), which must work */
static inline void set_profile_ok(QTestState *qts, const char *args)
{
    qobject_unref(qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'display-set-profile', 'arguments': %p }",
        qobject_from_json(args, &error_abort)));
}

#endif
