/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The record and chain format of the VDI audit trail, free of QEMU
 * internals so that the unit tests run it as it is.
 *
 * A record is one line of JSON:
 *   {"seq":N,"time":"YYYY-MM-DDTHH:MM:SS.uuuuuuZ","event":"NAME",
 *    "data":{...},"mac":"<64 hex digits>"}
 * and its MAC is HMAC-SM3(key, previous MAC || the line's bytes up to,
 * not including, ',"mac":"').  The MAC before the first record is 32
 * zero bytes.
 *
 * A checkpoint is a record whose data is
 *   {"sequence":S,"head-mac":"<MAC of record S>","signer-id":"ID",
 *    "signature":"<hex of a DER SM2 signature>"}
 * with S its own seq - 1; the signature is SM2 (GB/T 32918, SM3 with
 * the signer's Z value for ID) over the line's bytes up to, not
 * including, ',"signature":"'.
 */

#ifndef HW_VDI_AUDIT_CORE_H
#define HW_VDI_AUDIT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VDI_AUDIT_MAC_LEN 32
#define VDI_AUDIT_MAC_HEX (2 * VDI_AUDIT_MAC_LEN)
/* ',"mac":"' + 64 hex digits + '"}\n' */
#define VDI_AUDIT_MAC_SUFFIX_LEN (8 + VDI_AUDIT_MAC_HEX + 3)

typedef struct VdiAuditChain {
    uint64_t seq;                       /* of the last record, 0: none */
    uint8_t mac[VDI_AUDIT_MAC_LEN];     /* of the last record */
    void *hmac;                         /* libgcrypt HMAC-SM3 handle */
} VdiAuditChain;

/*
 * Start a chain with @key; returns false and a message in @err (free
 * it with g_free) when libgcrypt has no HMAC-SM3.
 */
bool vdi_audit_chain_init(VdiAuditChain *c, const uint8_t *key,
                          size_t key_len, char **err);
void vdi_audit_chain_destroy(VdiAuditChain *c);

/*
 * The chain's next record, with its trailing newline, and its MAC in
 * @mac.  The chain does not move until vdi_audit_chain_advance(), so
 * that a record that could not be written is not chained to.
 * @data_json must be a JSON object.
 */
char *vdi_audit_record(VdiAuditChain *c, int64_t seconds,
                       int64_t microseconds, const char *event,
                       const char *data_json,
                       uint8_t mac[VDI_AUDIT_MAC_LEN]);
void vdi_audit_chain_advance(VdiAuditChain *c,
                             const uint8_t mac[VDI_AUDIT_MAC_LEN]);

/*
 * The sequence number and MAC of a complete record line (@len bytes,
 * newline included), to continue the chain of an existing file.
 */
bool vdi_audit_parse_record(const char *line, size_t len, uint64_t *seq,
                            uint8_t mac[VDI_AUDIT_MAC_LEN]);

/* The default signer ID of GB/T 35276 */
#define VDI_AUDIT_SM2_DEFAULT_ID "1234567812345678"

typedef struct VdiAuditSigner VdiAuditSigner;

/*
 * An SM2 signer from a PEM PKCS#8 private key (as "openssl genpkey
 * -algorithm SM2" writes it) and the signer's ID, printable ASCII
 * without '"' or '\\'.  NULL and a message in @err when either is bad.
 */
VdiAuditSigner *vdi_audit_signer_new(const char *pem, size_t len,
                                     const char *id, char **err);
void vdi_audit_signer_free(VdiAuditSigner *sg);

/*
 * The chain's next record, a checkpoint of its head signed by @sg, as
 * vdi_audit_record() makes records; NULL and a message in @err when
 * signing fails.
 */
char *vdi_audit_checkpoint_record(VdiAuditChain *c, VdiAuditSigner *sg,
                                  int64_t seconds, int64_t microseconds,
                                  uint8_t mac[VDI_AUDIT_MAC_LEN],
                                  char **err);

void vdi_audit_mac_to_hex(const uint8_t mac[VDI_AUDIT_MAC_LEN],
                          char hex[VDI_AUDIT_MAC_HEX + 1]);

#endif
