/*
 * VDI adaptive display encoder: rate: change history, JPEG quality, refinement
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * How often each tile changes, the JPEG quality it gets, and when and
 * how much of the link the refinement of lossy tiles may use.
 */

#include "qemu/osdep.h"
#include "vdi-enc-int.h"

/* a tile that keeps changing must stay unchanged this many intervals */
#define MOVING_QUIET_FACTOR 2
/* changes further apart than this are not "moving" content */
#define MOVING_MAX_INTERVAL_MS 2000
/* refinement's burst on the link (see REFINE_RATE_SHARE) */
#define REFINE_BURST_NS (250 * MS_NS)
/* the link "has room" if the lossy area refines within this time */
#define REFINE_ROOM_NS (1000 * MS_NS)
/* JPEG quality boost for smooth tiles that are not moving */
#define STATIC_QUALITY_BOOST 15
/*
 * ... and for moving ones when the link has room for the changes sent
 * lossless: the rate controller's scale ends at 90, where real film is
 * below stock Tight+JPEG's PSNR (49.6 vs 50.3 dB); 95 is above it (51.8)
 * at 1.2 times the bytes, 0.66 times stock's.
 */
#define ROOM_QUALITY_BOOST 5

/* JPEG quality of a tile: better for content that stays (it is seen) */
int vdi_enc_tile_quality(const VdiEncoder *e, int t)
{
    if (tile_moving(e, t)) {
        return MIN(95, e->quality + (e->room ? ROOM_QUALITY_BOOST : 0));
    }
    return MIN(95, MAX(e->quality, e->quality + STATIC_QUALITY_BOOST));
}

/*
 * How long lossy tiles must stay unchanged before they are refined: the
 * shortest delay if the link could refine all the lossy area quickly,
 * longer the more of the link refinement would take, at most the
 * configured delay (also when the link rate is unknown).
 */
int64_t vdi_enc_refine_delay(const VdiEncoder *e)
{
    double rate = e->link_rate * REFINE_RATE_SHARE;
    double ns;

    if (e->profile == VDI_PROFILE_LAN) {
        return 0;
    }
    if (!(rate > 0)) {
        return e->refine_max_ns;
    }
    ns = (double)e->lossy_pending * REFINE_BYTES_PER_PX / rate * 1e9;
    ns *= (double)e->refine_min_ns / REFINE_ROOM_NS;
    return MAX(e->refine_min_ns, MIN(e->refine_max_ns, (int64_t)ns));
}

/*
 * May tile @t be refined now?  Moving content is given more time; LAN
 * refines everything at once.
 */
bool vdi_enc_refine_due(const VdiEncoder *e, int t, int64_t delay)
{
    int64_t quiet;

    if (e->profile == VDI_PROFILE_LAN || e->tchg[t] == TCHG_NEVER) {
        return true;
    }
    quiet = e->now - e->tchg[t];
    if (tile_moving(e, t)) {
        delay = MAX(delay, (int64_t)e->tival[t] * MS_NS *
                    MOVING_QUIET_FACTOR);
    }
    return quiet >= delay;
}

/* Bytes refinement may use in this call (token bucket), SIZE_MAX: any */
size_t vdi_enc_refine_allowance(VdiEncoder *e)
{
    double rate = e->link_rate * REFINE_RATE_SHARE;
    double burst = rate * REFINE_BURST_NS / 1e9;

    if (e->profile == VDI_PROFILE_LAN || !(rate > 0)) {
        return SIZE_MAX;
    }
    burst = MAX(burst, VDI_ENC_MIN_BUDGET);
    if (e->now > e->refine_tokens_t) {
        e->refine_tokens += rate * (e->now - e->refine_tokens_t) / 1e9;
    }
    e->refine_tokens_t = MAX(e->refine_tokens_t, e->now);
    e->refine_tokens = MIN(e->refine_tokens, burst);
    return e->refine_tokens > 0 ? (size_t)e->refine_tokens : 0;
}

/* Note a change of tile @t in its history */
void vdi_enc_tile_changed(VdiEncoder *e, int t, bool was_pending)
{
    int64_t dt = e->tchg[t] == TCHG_NEVER ? 0 :
        (e->now - e->tchg[t]) / MS_NS;

    if (was_pending) {
        /* still the same change, deferred by the budget */
    } else if (e->tchg[t] != TCHG_NEVER && dt > 0 &&
               dt <= MOVING_MAX_INTERVAL_MS) {
        e->tival[t] = e->tival[t] ? (e->tival[t] * 3 + dt + 3) / 4 : dt;
    } else {
        e->tival[t] = 0;
    }
    e->tchg[t] = e->now;
}
