/*
 * Display clients coming and going, for whoever needs to know
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "ui/display-client.h"

static NotifierList display_client_notifiers =
    NOTIFIER_LIST_INITIALIZER(display_client_notifiers);

void display_client_add_notifier(Notifier *n)
{
    notifier_list_add(&display_client_notifiers, n);
}

void display_client_remove_notifier(Notifier *n)
{
    notifier_remove(n);
}

void display_client_notify(DisplayClientEvent *ev)
{
    notifier_list_notify(&display_client_notifiers, ev);
}
