/*
 * QTest for the device set of a Windows desktop VM under libvirt
 *
 * A q35 machine with the devices libvirt puts in a desktop domain: PCIe
 * root ports (pcie-root-port and ioh3420) that take hot-plugged devices,
 * a PCIe-to-PCI bridge, virtio balloon, rng and SCSI, HDA audio on a
 * headless back end, pvpanic and the i6300esb watchdog, which fires
 * unless the guest pings it.  The TPM has QEMU's own tpm-crb and tpm-tis
 * tests.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/pci-pc.h"
#include "qobject/qdict.h"

/* The command line libvirt 9 writes for such a domain, shortened */
static const char libvirt_q35[] =
    "-machine q35 -nodefaults "
    "-device pcie-root-port,id=pci.1,bus=pcie.0,chassis=1,port=0x10,"
    "addr=0x2,multifunction=on "
    "-device pcie-root-port,id=pci.2,bus=pcie.0,chassis=2,port=0x11,"
    "addr=0x2.0x1 "
    "-device pcie-root-port,id=pci.3,bus=pcie.0,chassis=3,port=0x12,"
    "addr=0x2.0x2 "
    "-device pcie-root-port,id=pci.4,bus=pcie.0,chassis=4,port=0x13,"
    "addr=0x2.0x3 "
    "-device ioh3420,id=pci.5,bus=pcie.0,chassis=5,port=0x14,addr=0x2.0x4 "
    "-device pcie-root-port,id=pci.6,bus=pcie.0,chassis=6,port=0x15,"
    "addr=0x2.0x5 "
    "-device pcie-pci-bridge,id=pci.7,bus=pci.4,addr=0x0 "
    "-device virtio-balloon-pci,id=balloon0,bus=pci.1,addr=0x0 "
    "-object rng-random,id=objrng0,filename=/dev/urandom "
    "-device virtio-rng-pci,rng=objrng0,id=rng0,bus=pci.2,addr=0x0 "
    "-blockdev null-co,node-name=disk0,read-zeroes=on "
    "-device virtio-scsi-pci,id=scsi0,bus=pci.3,addr=0x0 "
    "-device scsi-hd,bus=scsi0.0,drive=disk0,id=scsi0-0-0-0 "
    "-audiodev none,id=audio1 "
    "-device ich9-intel-hda,id=sound0,bus=pcie.0,addr=0x1b "
    "-device hda-duplex,id=sound0-codec0,bus=sound0.0,cad=0,audiodev=audio1 "
    "-device intel-hda,id=sound1,bus=pci.7,addr=0x2 "
    "-device hda-micro,id=sound1-codec0,bus=sound1.0,cad=0,audiodev=audio1 "
    "-device hda-output,id=sound1-codec1,bus=sound1.0,cad=1,audiodev=audio1 "
    "-device pvpanic,id=panic0 "
    "-device pvpanic-pci,id=panic1,bus=pci.7,addr=0x3 "
    "-device i6300esb,id=watchdog0,bus=pci.7,addr=0x1 "
    "-action watchdog=pause";

static const char *const libvirt_q35_ids[] = {
    "pci.1", "pci.5", "pci.7", "balloon0", "rng0", "scsi0", "scsi0-0-0-0",
    "sound0", "sound0-codec0", "sound1", "sound1-codec0", "sound1-codec1",
    "panic0", "panic1", "watchdog0",
};

static bool device_realized(QTestState *qts, const char *id)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'qom-get', 'arguments': {"
                            "  'path': %s, 'property': 'realized' } }", path);
    bool realized = qdict_haskey(resp, "return") &&
                    qdict_get_bool(resp, "return");

    qobject_unref(resp);
    return realized;
}

/* device_add of a virtio NIC into PCIe root port @bus */
static bool nic_plugged(QTestState *qts, const char *id, const char *bus)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'device_add', 'arguments': {"
                            "  'driver': 'virtio-net-pci', 'id': %s,"
                            "  'bus': %s, 'addr': '0x0' } }", id, bus);
    bool plugged = !qdict_haskey(resp, "error");

    qobject_unref(resp);
    return plugged;
}

static void test_libvirt_q35(void)
{
    QTestState *qts = qtest_init(libvirt_q35);
    size_t i;

    for (i = 0; i < ARRAY_SIZE(libvirt_q35_ids); i++) {
        g_assert_true(device_realized(qts, libvirt_q35_ids[i]));
    }

    /* libvirt's attach-device: a NIC into a free root port... */
    g_assert_true(nic_plugged(qts, "net1", "pci.6"));
    g_assert_true(device_realized(qts, "net1"));
    /* ...and not into a port that already has its device */
    g_assert_false(nic_plugged(qts, "net2", "pci.1"));
    g_assert_false(device_realized(qts, "net2"));

    qtest_quit(qts);
}

/* i6300esb registers: PCI config space, then BAR 0 */
#define ESB_CONFIG_REG 0x60
#define ESB_LOCK_REG 0x68
#define ESB_WDT_ENABLE (1 << 1)
#define ESB_WDT_FREQ_1MHZ (1 << 2)
#define ESB_TIMER1_REG 0x00
#define ESB_TIMER2_REG 0x04
#define ESB_RELOAD_REG 0x0c
#define ESB_WDT_RELOAD (1 << 8)

/* Ticks of each stage; at 1 MHz scale, a tick is 32 PCI clocks of 30 ns */
#define ESB_TICKS 100
#define ESB_STAGE_NS (ESB_TICKS * 32 * 30)

typedef struct {
    QTestState *qts;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;
} Esb;

static void esb_unlock(Esb *esb)
{
    qpci_io_writew(esb->dev, esb->bar, ESB_RELOAD_REG, 0x80);
    qpci_io_writew(esb->dev, esb->bar, ESB_RELOAD_REG, 0x86);
}

static void esb_start(Esb *esb)
{
    esb->qts = qtest_init("-machine q35 -device i6300esb,addr=0x5 "
                          "-action watchdog=pause");
    esb->bus = qpci_new_pc(esb->qts, NULL);
    esb->dev = qpci_device_find(esb->bus, QPCI_DEVFN(0x5, 0));
    g_assert_nonnull(esb->dev);
    qpci_device_enable(esb->dev);
    esb->bar = qpci_iomap(esb->dev, 0, NULL);

    /* reboot (the watchdog action) on, 1 MHz scale */
    qpci_config_writew(esb->dev, ESB_CONFIG_REG, ESB_WDT_FREQ_1MHZ);
    esb_unlock(esb);
    qpci_io_writel(esb->dev, esb->bar, ESB_TIMER1_REG, ESB_TICKS);
    esb_unlock(esb);
    qpci_io_writel(esb->dev, esb->bar, ESB_TIMER2_REG, ESB_TICKS);
    qpci_config_writeb(esb->dev, ESB_LOCK_REG, ESB_WDT_ENABLE);
}

static void esb_stop(Esb *esb)
{
    g_free(esb->dev);
    qpci_free_pc(esb->bus);
    qtest_quit(esb->qts);
}

static const char *run_state(QTestState *qts)
{
    static char state[32];
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-status' }");

    g_strlcpy(state, qdict_get_str(qdict_get_qdict(resp, "return"), "status"),
              sizeof(state));
    qobject_unref(resp);
    return state;
}

static void test_i6300esb_fires(void)
{
    Esb esb;
    QDict *ev;

    esb_start(&esb);
    /* stage 1 (an interrupt the guest ignores), then stage 2 */
    qtest_clock_step(esb.qts, ESB_STAGE_NS + 1);
    g_assert_cmpstr(run_state(esb.qts), ==, "running");
    qtest_clock_step(esb.qts, ESB_STAGE_NS + 1);

    ev = qtest_qmp_eventwait_ref(esb.qts, "WATCHDOG");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ev, "data"), "action"), ==,
                    "pause");
    qobject_unref(ev);
    g_assert_cmpstr(run_state(esb.qts), ==, "watchdog");
    esb_stop(&esb);
}

static void test_i6300esb_pinged(void)
{
    Esb esb;
    int i;

    esb_start(&esb);
    /* a guest that pings within each stage 1 keeps its VM running */
    for (i = 0; i < 5; i++) {
        qtest_clock_step(esb.qts, ESB_STAGE_NS * 3 / 4);
        esb_unlock(&esb);
        qpci_io_writew(esb.dev, esb.bar, ESB_RELOAD_REG, ESB_WDT_RELOAD);
    }
    qtest_clock_step(esb.qts, ESB_STAGE_NS * 3 / 2);
    g_assert_cmpstr(run_state(esb.qts), ==, "running");
    esb_stop(&esb);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/vdi-devices/libvirt-q35", test_libvirt_q35);
    qtest_add_func("/vdi-devices/i6300esb/fires", test_i6300esb_fires);
    qtest_add_func("/vdi-devices/i6300esb/pinged", test_i6300esb_pinged);
    return g_test_run();
}
