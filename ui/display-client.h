/*
 * Display clients coming and going, for whoever needs to know
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The VNC server and SPICE's main channel announce each client that
 * finished its handshake and each that left; listeners (the VDI session
 * in hw/vdi) subscribe here, so the display code calls no device code.
 */

#ifndef UI_DISPLAY_CLIENT_H
#define UI_DISPLAY_CLIENT_H

#include "qemu/notify.h"

/* What a notifier gets as its data */
typedef struct DisplayClientEvent {
    /* the client, unique while it is connected: "vnc:<ptr>", "spice:<id>" */
    const char *client;
    bool opened;                /* connected, or gone */
    /* set when opened: its IP address, and verified certificate names */
    const char *address;
    const char *x509_subject;   /* subject DN, as query-vnc's x509_dname */
    const char *x509_issuer;    /* the DN of the certificate's issuer */
} DisplayClientEvent;

void display_client_add_notifier(Notifier *n);
void display_client_remove_notifier(Notifier *n);

/* For display servers, with the BQL held: announce @ev to every listener */
void display_client_notify(DisplayClientEvent *ev);

#endif
