/*
 * A std VGA programmed from qtest: the framebuffer of the display tests
 * and benchmarks
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_QTEST_VDI_VGA_UTIL_H
#define TESTS_QTEST_VDI_VGA_UTIL_H

#include "hw/pci/pci_regs.h"
#include "libqtest.h"

/* Where the tests map the linear framebuffer */
#define VGA_LFB 0xe0000000ULL

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define PCI_ID_STD_VGA 0x11111234       /* vendor 1234h, device 1111h */
#define VBE_DISPI_IOPORT_INDEX 0x1ce
#define VBE_DISPI_IOPORT_DATA 0x1cf
#define VBE_DISPI_INDEX_XRES 1
#define VBE_DISPI_INDEX_YRES 2
#define VBE_DISPI_INDEX_BPP 3
#define VBE_DISPI_INDEX_ENABLE 4
#define VBE_DISPI_INDEX_Y_OFFSET 9
#define VBE_DISPI_ENABLED 0x01
#define VBE_DISPI_LFB_ENABLED 0x40
#define VGA_ATTR_INDEX 0x3c0
#define VGA_ATTR_PALETTE_ON 0x20        /* attribute controller: video on */

static inline uint32_t pci_cfg_read(QTestState *qts, int dev, int reg)
{
    qtest_outl(qts, PCI_CONFIG_ADDRESS, 0x80000000u | dev << 11 | reg);
    return qtest_inl(qts, PCI_CONFIG_DATA);
}

static inline void pci_cfg_write(QTestState *qts, int dev, int reg, uint32_t v)
{
    qtest_outl(qts, PCI_CONFIG_ADDRESS, 0x80000000u | dev << 11 | reg);
    qtest_outl(qts, PCI_CONFIG_DATA, v);
}

static inline void vbe_write(QTestState *qts, uint16_t index, uint16_t val)
{
    qtest_outw(qts, VBE_DISPI_IOPORT_INDEX, index);
    qtest_outw(qts, VBE_DISPI_IOPORT_DATA, val);
}

/* Std VGA mode @w x @h x 32, linear framebuffer */
static inline void vga_mode(QTestState *qts, int w, int h)
{
    vbe_write(qts, VBE_DISPI_INDEX_ENABLE, 0);
    vbe_write(qts, VBE_DISPI_INDEX_XRES, w);
    vbe_write(qts, VBE_DISPI_INDEX_YRES, h);
    vbe_write(qts, VBE_DISPI_INDEX_BPP, 32);
    vbe_write(qts, VBE_DISPI_INDEX_ENABLE,
              VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED);
}

/*
 * Rows [@y0, @y0 + @n) of a @w pixels wide framebuffer; in pieces, as
 * QEMU's qtest server takes time quadratic in the length of a command.
 */
static inline void vga_write_rows(QTestState *qts, int w, int y0, int n,
                                  const uint32_t *rows)
{
    for (int y = 0; y < n; y += 16) {
        qtest_bufwrite(qts, VGA_LFB + ((uint64_t)y0 + y) * w * 4,
                       rows + (size_t)y * w, (size_t)MIN(16, n - y) * w * 4);
    }
}

/*
 * The std VGA at @w x @h x 32 with its LFB at VGA_LFB, showing @img
 * (NULL: whatever VRAM holds)
 */
static inline void vga_setup_size(QTestState *qts, int w, int h,
                                  const uint32_t *img)
{
    int dev;

    for (dev = 0; dev < 32; dev++) {
        if (pci_cfg_read(qts, dev, 0) == PCI_ID_STD_VGA) {
            break;
        }
    }
    g_assert_cmpint(dev, <, 32);
    pci_cfg_write(qts, dev, PCI_BASE_ADDRESS_0, VGA_LFB);
    pci_cfg_write(qts, dev, PCI_COMMAND, pci_cfg_read(qts, dev, PCI_COMMAND) |
                  PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    vga_mode(qts, w, h);
    qtest_outb(qts, VGA_ATTR_INDEX, VGA_ATTR_PALETTE_ON);
    if (img) {
        vga_write_rows(qts, w, 0, h, img);
    }
}

#endif
