/*
 * SM4-XTS against AES-256-XTS on a LUKS disk, through QEMU's block crypto
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Creates two LUKS volumes in memory with QEMU's own LUKS code: one the
 * way an encrypted desktop disk is made here (sm4, xts, plain64, SM3 for
 * the PBKDF and anti-forensic split) and one with QEMU's defaults
 * (aes-256, xts, plain64, sha256), the baseline.  Each then encrypts and
 * decrypts 1 MiB requests, the size of block/crypto.c's bounce buffer,
 * with qcrypto_block_encrypt/decrypt: the per-sector IV and the cipher
 * calls a guest's write and read to a luks drive cost.  The two run
 * alternately, and the fastest round of each counts; time is this
 * thread's CPU time, so other load on the machine counts as little as
 * possible.
 */

#include "qemu/osdep.h"
#include <math.h>
#include "qemu/module.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qom/object.h"
#include "crypto/init.h"
#include "crypto/block.h"
#include "crypto/cipher.h"
#include "crypto/hash.h"
#include "crypto/secret.h"

#define REQUEST     (1 * MiB)
#define ROUNDS      3

typedef struct Volume {
    const char *name;
    QCryptoBlockCreateOptions opts;
    GByteArray *header;
    QCryptoBlock *block;
    double enc_ns, dec_ns;      /* best round, per MiB */
} Volume;

static int64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int header_init(QCryptoBlock *block, size_t headerlen, void *opaque,
                       Error **errp)
{
    g_byte_array_set_size(opaque, headerlen);
    return 0;
}

static int header_write(QCryptoBlock *block, size_t offset,
                        const uint8_t *buf, size_t buflen, void *opaque,
                        Error **errp)
{
    GByteArray *header = opaque;

    if (offset + buflen > header->len) {
        error_setg(errp, "header write beyond its %u bytes", header->len);
        return -1;
    }
    memcpy(header->data + offset, buf, buflen);
    return 0;
}

static void create(Volume *v, QCryptoCipherAlgo cipher, QCryptoHashAlgo hash)
{
    QCryptoBlockCreateOptionsLUKS *luks = &v->opts.u.luks;

    v->opts.format = QCRYPTO_BLOCK_FORMAT_LUKS;
    luks->key_secret = (char *)"sec0";
    luks->has_cipher_alg = true;
    luks->cipher_alg = cipher;
    luks->has_cipher_mode = true;
    luks->cipher_mode = QCRYPTO_CIPHER_MODE_XTS;
    luks->has_ivgen_alg = true;
    luks->ivgen_alg = QCRYPTO_IV_GEN_ALGO_PLAIN64;
    luks->has_hash_alg = true;
    luks->hash_alg = hash;
    /* the key derivation is not what is measured: keep creation short */
    luks->has_iter_time = true;
    luks->iter_time = 10;
    v->header = g_byte_array_new();
    v->block = qcrypto_block_create(&v->opts, NULL, header_init,
                                    header_write, v->header, 0,
                                    &error_fatal);
    v->enc_ns = v->dec_ns = INFINITY;
}

/* Encrypt, then decrypt @mib MiB at successive offsets of the disk */
static void round_of(Volume *v, uint8_t *buf, uint8_t *orig, unsigned mib)
{
    int64_t t0, t1, t2;
    double enc = 0, dec = 0;
    unsigned i;

    for (i = 0; i < mib; i++) {
        uint64_t offset = (uint64_t)i * REQUEST;

        memcpy(buf, orig, REQUEST);
        t0 = cpu_ns();
        qcrypto_block_encrypt(v->block, offset, buf, REQUEST, &error_fatal);
        t1 = cpu_ns();
        qcrypto_block_decrypt(v->block, offset, buf, REQUEST, &error_fatal);
        t2 = cpu_ns();
        enc += t1 - t0;
        dec += t2 - t1;
        if (memcmp(buf, orig, REQUEST)) {
            fprintf(stderr, "vdi-luks-bench: %s did not decrypt to the "
                    "plaintext at %" PRIu64 "\n", v->name, offset);
            exit(1);
        }
    }
    v->enc_ns = MIN(v->enc_ns, enc / mib);
    v->dec_ns = MIN(v->dec_ns, dec / mib);
}

static double mib_per_s(double ns_per_mib)
{
    return 1e9 / ns_per_mib;
}

int main(int argc, char **argv)
{
    Volume vols[] = { { .name = "sm4-xts-plain64 (SM3)" },
                      { .name = "aes-256-xts-plain64 (SHA-256)" } };
    Volume *sm4 = &vols[0], *aes = &vols[1];
    unsigned mib = 64;
    uint8_t *buf, *orig;
    int opt, r, i;

    while ((opt = getopt(argc, argv, "n:")) != -1) {
        if (opt != 'n' || atoi(optarg) <= 0) {
            fprintf(stderr, "usage: vdi-luks-bench [-n MIB-PER-ROUND]\n");
            return 2;
        }
        mib = atoi(optarg);
    }

    module_call_init(MODULE_INIT_QOM);
    if (qcrypto_init(&error_fatal) < 0) {
        return 1;
    }
    if (!qcrypto_cipher_supports(QCRYPTO_CIPHER_ALGO_SM4,
                                 QCRYPTO_CIPHER_MODE_XTS) ||
        !qcrypto_hash_supports(QCRYPTO_HASH_ALGO_SM3)) {
        fprintf(stderr, "vdi-luks-bench: this QEMU's crypto back end has no "
                "SM4-XTS or SM3 (configure --enable-gcrypt)\n");
        return 1;
    }
    object_new_with_props(TYPE_QCRYPTO_SECRET, object_get_objects_root(),
                          "sec0", &error_fatal, "data", "bench", NULL);
    create(sm4, QCRYPTO_CIPHER_ALGO_SM4, QCRYPTO_HASH_ALGO_SM3);
    create(aes, QCRYPTO_CIPHER_ALGO_AES_256, QCRYPTO_HASH_ALGO_SHA256);

    buf = g_malloc(REQUEST);
    orig = g_malloc(REQUEST);
    for (i = 0; i < REQUEST; i++) {
        orig[i] = g_random_int();
    }
    for (r = 0; r < ROUNDS; r++) {
        round_of(sm4, buf, orig, mib);
        round_of(aes, buf, orig, mib);
    }

    printf("LUKS disk encryption through qcrypto_block_encrypt/decrypt, "
           "1 MiB requests, %u MiB x %d rounds (best), thread CPU time\n",
           mib, ROUNDS);
    for (i = 0; i < ARRAY_SIZE(vols); i++) {
        printf("  %-30s encrypt %8.1f MiB/s  decrypt %8.1f MiB/s%s\n",
               vols[i].name, mib_per_s(vols[i].enc_ns),
               mib_per_s(vols[i].dec_ns), i ? "  (baseline)" : "");
    }
    printf("  ratio SM4 / AES throughput: encrypt %.2f, decrypt %.2f\n",
           aes->enc_ns / sm4->enc_ns, aes->dec_ns / sm4->dec_ns);

    for (i = 0; i < ARRAY_SIZE(vols); i++) {
        qcrypto_block_free(vols[i].block);
        g_byte_array_free(vols[i].header, true);
    }
    g_free(buf);
    g_free(orig);
    return 0;
}
