/*
 * VNC server glue for the VDI adaptive display encoder: the encoder threads
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As many threads as host CPUs, started with the first client, take the
 * jobs of all clients in the order they were submitted (see the Threads
 * part of vnc-vdi.c).  They are QEMU threads (qemu_thread_create():
 * signals left to the main loop, named "vnc_vdi_enc" with
 * -name debug-threads=on, so their CPU time is told apart in
 * /proc/PID/task/TID/comm) and live as long as the process.
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/thread.h"
#include "vnc-vdi-int.h"

static QemuMutex vdi_jobs_lock;
/* signalled when a job is queued, for the workers */
static QemuCond vdi_jobs_queued;
/* broadcast when a job finishes, for vnc_vdi_pool_wait() */
static QemuCond vdi_jobs_done;
/* submitted, not yet taken by a worker */
static GQueue vdi_jobs = G_QUEUE_INIT;
static bool vdi_pool_started;

/* Run the encoder of one client */
static void vdi_job_run(VdiJob *job)
{
    static const VdiRect no_damage;
    bool abandoned;

    /*
     * Nothing here but the encoder, the lock and qemu_bh_schedule(): the
     * workers are not registered with RCU, so no tracing or logging
     * either; vdi_job_complete() in vnc-vdi.c traces the job.
     */
    job->tid = qemu_get_thread_id();
    job->t_start_us = g_get_monotonic_time();
    job->n = vdi_enc_frame(job->enc, job->frame, job->w, job->h,
                           job->fw * 4,
                           job->damage->len ? (VdiRect *)job->damage->data :
                           &no_damage, job->damage->len, job->out,
                           &job->st);
    job->pending = job->n >= 0 && vdi_enc_has_pending(job->enc);

    qemu_mutex_lock(&vdi_jobs_lock);
    job->finished = true;
    abandoned = job->abandoned;
    if (!abandoned) {
        qemu_bh_schedule(job->bh);
    }
    qemu_cond_broadcast(&vdi_jobs_done);
    qemu_mutex_unlock(&vdi_jobs_lock);
    if (abandoned) {
        vnc_vdi_job_free(job);
    }
}

static void *vdi_worker(void *opaque)
{
    for (;;) {
        VdiJob *job;

        qemu_mutex_lock(&vdi_jobs_lock);
        while (g_queue_is_empty(&vdi_jobs)) {
            qemu_cond_wait(&vdi_jobs_queued, &vdi_jobs_lock);
        }
        job = g_queue_pop_head(&vdi_jobs);
        qemu_mutex_unlock(&vdi_jobs_lock);
        vdi_job_run(job);
    }
    return NULL;
}

void vnc_vdi_pool_start(void)
{
    int n = MAX(g_get_num_processors(), 1);

    if (vdi_pool_started) {
        return;
    }
    vdi_pool_started = true;
    qemu_mutex_init(&vdi_jobs_lock);
    qemu_cond_init(&vdi_jobs_queued);
    qemu_cond_init(&vdi_jobs_done);
    while (n--) {
        QemuThread thread;

        qemu_thread_create(&thread, "vnc_vdi_enc", vdi_worker, NULL,
                           QEMU_THREAD_DETACHED);
    }
}

void vnc_vdi_pool_submit(VdiJob *job)
{
    qemu_mutex_lock(&vdi_jobs_lock);
    job->finished = false;
    g_queue_push_tail(&vdi_jobs, job);
    qemu_cond_signal(&vdi_jobs_queued);
    qemu_mutex_unlock(&vdi_jobs_lock);
}

bool vnc_vdi_pool_finished(VdiJob *job)
{
    bool finished;

    qemu_mutex_lock(&vdi_jobs_lock);
    finished = job->finished;
    qemu_mutex_unlock(&vdi_jobs_lock);
    return finished;
}

void vnc_vdi_pool_wait(VdiJob *job)
{
    qemu_mutex_lock(&vdi_jobs_lock);
    while (!job->finished) {
        qemu_cond_wait(&vdi_jobs_done, &vdi_jobs_lock);
    }
    qemu_mutex_unlock(&vdi_jobs_lock);
}

bool vnc_vdi_pool_abandon(VdiJob *job)
{
    bool running;

    qemu_mutex_lock(&vdi_jobs_lock);
    running = job->busy && !job->finished;
    job->abandoned = running;
    qemu_mutex_unlock(&vdi_jobs_lock);
    return running;
}
