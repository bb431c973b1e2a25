/*
 * VDI link estimator and rate controller for the adaptive VNC encoder
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Fed with socket events by the caller, with the time passed in (int64
 * nanoseconds, any monotonic clock; nothing here reads a clock):
 *  - vdi_link_on_sent(): bytes handed to the socket;
 *  - vdi_link_on_queue(): bytes still unacknowledged in the socket
 *    (Linux: ioctl SIOCOUTQ), polled e.g. at each update opportunity, or
 *    vdi_link_on_drained() when only "the send queue is empty" is known;
 *  - vdi_link_on_rtt(): round-trip samples, best taken right after the
 *    queue drained (RFB Fence round trip, or TCP_INFO tcpi_min_rtt);
 *  - vdi_link_on_rate(): delivery-rate samples of the transport, where it
 *    has them (Linux TCP_INFO tcpi_delivery_rate), each once.
 * Bandwidth is the windowed maximum of delivery-rate samples (delivered
 * bytes over busy intervals, or a busy period's bytes over its drain time
 * minus the RTT); RTT is a windowed minimum plus a smoothed value.
 * From these: the byte budget of the next update (about one bandwidth-delay
 * product plus one frame interval in flight, with a periodic drain so
 * RTT probes see an empty queue), the JPEG quality, fps/bandwidth caps and
 * the automatic LAN/WAN choice with hysteresis and a minimum dwell time.
 * Not thread-safe.
 */

#ifndef UI_VDI_LINK_H
#define UI_VDI_LINK_H

#include "vdi-enc.h"

/* Auto profile thresholds */
#define VDI_LINK_TO_WAN_BPS 20e6
#define VDI_LINK_TO_WAN_RTT_NS (30 * 1000000LL)
#define VDI_LINK_TO_LAN_BPS 50e6
#define VDI_LINK_TO_LAN_RTT_NS (10 * 1000000LL)
#define VDI_LINK_DWELL_NS (5 * 1000000000LL)

typedef struct VdiLink VdiLink;

/* @zone_hint: LAN or WAN, the starting profile and prior estimates */
VdiLink *vdi_link_new(VdiProfile zone_hint, int64_t now_ns);
void vdi_link_free(VdiLink *l);

void vdi_link_on_sent(VdiLink *l, int64_t now_ns, size_t bytes);
void vdi_link_on_queue(VdiLink *l, int64_t now_ns, size_t unacked);
void vdi_link_on_drained(VdiLink *l, int64_t now_ns);
void vdi_link_on_rtt(VdiLink *l, int64_t now_ns, int64_t rtt_ns);
/*
 * A delivery rate in bit/s measured by the transport; @app_limited: the
 * sender ran out of data during the sample, which is then only a lower
 * bound of the bandwidth.
 */
void vdi_link_on_rate(VdiLink *l, int64_t now_ns, double bps,
                      bool app_limited);

/* Caps set by the administrator; 0 = none */
void vdi_link_set_caps(VdiLink *l, double max_fps, double max_bps);

/* Estimated bandwidth in bit/s (capped), minimum RTT in ns */
double vdi_link_bandwidth(const VdiLink *l);
int64_t vdi_link_rtt_min(const VdiLink *l);

/* Bytes the next update may use (0: wait) */
size_t vdi_link_budget(VdiLink *l, int64_t now_ns);
/* May an update be sent now (fps cap, budget)? */
bool vdi_link_can_send(VdiLink *l, int64_t now_ns);
/*
 * An update went out, with @lossy_pixels of JPEG; the update rate it
 * measures replaces the assumed 30/s (or the fps cap) in the JPEG quality.
 */
void vdi_link_on_update(VdiLink *l, int64_t now_ns, uint64_t lossy_pixels);
/*
 * JPEG quality 20..90 for updates of about @pixels_per_frame smooth
 * pixels: what the bandwidth allows per update at the measured update
 * rate, corrected by feedback on the bytes actually sent per second
 * (quality up while they stay below 90% of the bandwidth, down while the
 * link is full).  Call it once per update.
 */
int vdi_link_jpeg_quality(VdiLink *l, uint64_t pixels_per_frame);
/* The profile to use now (LAN or WAN), with hysteresis */
VdiProfile vdi_link_profile(VdiLink *l, int64_t now_ns);

#endif
