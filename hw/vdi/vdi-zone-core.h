/*
 * Session zones: which zone a connection belongs to (QEMU-independent)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VDI_ZONE_CORE_H
#define HW_VDI_ZONE_CORE_H

/* Limits of a zone table; names are for humans, a connect scans rules */
#define VDI_ZONE_MAX_ZONES      256
#define VDI_ZONE_MAX_RULES      4096
#define VDI_ZONE_MAX_PREFIXES   1024    /* per rule */
#define VDI_ZONE_MAX_USERS      65536
#define VDI_ZONE_NAME_MAX       64      /* zone names and rule ids */
#define VDI_ZONE_TEXT_MAX       1024    /* subjects, issuers, user names */

/* Why a connection got its zone */
typedef enum VdiZoneWhy {
    VDI_ZONE_WHY_VM_OVERRIDE,   /* the VM is pinned to a zone */
    VDI_ZONE_WHY_USER,          /* the user's own zone */
    VDI_ZONE_WHY_RULE,          /* the first rule that matched */
    VDI_ZONE_WHY_DEFAULT,       /* no rule matched */
} VdiZoneWhy;

/*
 * One rule.  It matches a connection when every criterion it has
 * matches; it needs at least one.  All strings are borrowed.
 */
typedef struct VdiZoneRuleSpec {
    const char *id;
    const char *zone;
    const char *const *addresses;   /* CIDR prefixes, any of them */
    size_t n_addresses;
    const char *subject;            /* glob on the certificate subject */
    const char *issuer;             /* glob on the certificate issuer */
    const char *terminal_name;      /* glob, case-insensitive */
    const char *terminal_mac;       /* xx:xx:xx:xx:xx:xx */
} VdiZoneRuleSpec;

/* What identifies a connection; each member may be NULL (unknown) */
typedef struct VdiZoneConn {
    const char *address;
    const char *subject;
    const char *issuer;
    const char *terminal_name;
    const char *terminal_mac;
    const char *user;
} VdiZoneConn;

typedef struct VdiZoneVerdict {
    const char *zone;               /* owned by the table */
    VdiZoneWhy why;
    const char *rule;               /* id of the rule, for WHY_RULE */
} VdiZoneVerdict;

typedef struct VdiZoneTable VdiZoneTable;

/*
 * Building a table: each call checks its argument completely and, on
 * error, returns false with a g_strdup'ed message in *@errmsg (if
 * @errmsg) and leaves the table as it was.  Zones must be added before
 * the rules, overrides and default that name them.
 */
VdiZoneTable *vdi_zone_table_new(void);
void vdi_zone_table_free(VdiZoneTable *t);
bool vdi_zone_table_add_zone(VdiZoneTable *t, const char *name,
                             char **errmsg);
bool vdi_zone_table_add_rule(VdiZoneTable *t, const VdiZoneRuleSpec *spec,
                             char **errmsg);
bool vdi_zone_table_add_user(VdiZoneTable *t, const char *user,
                             const char *zone, char **errmsg);
bool vdi_zone_table_set_default(VdiZoneTable *t, const char *zone,
                                char **errmsg);
bool vdi_zone_table_set_vm_override(VdiZoneTable *t, const char *zone,
                                    char **errmsg);
/* Is @zone one of the table's zones? */
bool vdi_zone_table_has_zone(const VdiZoneTable *t, const char *zone);

/*
 * The zone of connection @c: the VM override, else the user's zone,
 * else the first rule that matches, else the default.  The table must
 * have a default.
 */
void vdi_zone_decide(const VdiZoneTable *t, const VdiZoneConn *c,
                     VdiZoneVerdict *d);

/* Check what vdi_zone_decide() takes as a connection's identity */
bool vdi_zone_conn_check(const VdiZoneConn *c, char **errmsg);

const char *vdi_zone_why_name(VdiZoneWhy why);

#endif
