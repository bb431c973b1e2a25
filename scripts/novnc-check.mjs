// SPDX-License-Identifier: GPL-2.0-or-later
//
// Browser half of scripts/check-novnc: drives noVNC in headless Chromium
// (playwright-core) against the demo VM and compares what noVNC draws with
// QEMU's own screendump.  Called by check-novnc with one JSON argument:
//
//   {"workdir": ..., "url": ..., "qmp": ..., "run": ..., "png": ...,
//    "chromium": ..., "deadline_ms": ...}
//
// Prints one JSON object per check on stdout: {"name", "ok", "detail"};
// progress goes to stderr.  Every wait has a timeout, bounded by deadline_ms.

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const cfg = JSON.parse(process.argv[2]);
const started = Date.now();
const deadline = started + cfg.deadline_ms;
const require = createRequire(path.join(cfg.workdir, 'package.json'));
const { chromium } = require('playwright-core');

const CHROMIUM_ARGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
];

function log(msg) {
    process.stderr.write(`# [${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
}

function check(name, ok, detail = '') {
    process.stdout.write(JSON.stringify({ name, ok: !!ok, detail: String(detail) }) + '\n');
    log(`${ok ? 'ok' : 'NOT OK'}: ${name}${detail ? ' (' + detail + ')' : ''}`);
    return !!ok;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Wait until async pred() returns a truthy value; its value, or null
async function waitFor(pred, timeoutMs, intervalMs = 250) {
    const end = Math.min(Date.now() + timeoutMs, deadline);
    for (;;) {
        const v = await pred();
        if (v) return v;
        if (Date.now() + intervalMs > end) return null;
        await sleep(intervalMs);
    }
}

// One QMP command on a fresh connection: resolves to {return} or {error}
function qmp(command, args = {}, timeoutMs = 20000, sockPath = cfg.qmp) {
    return new Promise((resolve, reject) => {
        const sock = net.createConnection(sockPath);
        let buf = '';
        let step = 0;
        const timer = setTimeout(() => {
            sock.destroy();
            reject(new Error(`QMP ${command}: no answer in ${timeoutMs} ms`));
        }, timeoutMs);
        sock.setEncoding('utf8');
        sock.on('error', (e) => { clearTimeout(timer); reject(e); });
        sock.on('data', (data) => {
            buf += data;
            let nl;
            while ((nl = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, nl).trim();
                buf = buf.slice(nl + 1);
                if (!line) continue;
                const msg = JSON.parse(line);
                if (msg.event) continue;
                if (step === 0) {            // greeting
                    sock.write(JSON.stringify({ execute: 'qmp_capabilities' }));
                } else if (step === 1) {     // capabilities negotiated
                    sock.write(JSON.stringify({ execute: command, arguments: args }));
                } else {
                    clearTimeout(timer);
                    sock.end();
                    resolve(msg);
                    return;
                }
                step++;
            }
        });
    });
}

async function qmpOk(command, args, sockPath = cfg.qmp) {
    const r = await qmp(command, args, 20000, sockPath);
    if (r.error) throw new Error(`QMP ${command}: ${r.error.class}: ${r.error.desc}`);
    return r.return;
}

// QEMU's screendump of the guest display as {width, height, rgb}
async function screendump(sockPath = cfg.qmp) {
    const file = path.join(cfg.run, 'novnc-screendump.ppm');
    fs.rmSync(file, { force: true });
    await qmpOk('screendump', { filename: file }, sockPath);
    const data = fs.readFileSync(file);
    // P6 <w> <h> <maxval> and one whitespace byte
    let pos = 0;
    const fields = [];
    while (fields.length < 4) {
        while (/\s/.test(String.fromCharCode(data[pos]))) pos++;
        let start = pos;
        while (!/\s/.test(String.fromCharCode(data[pos]))) pos++;
        fields.push(data.subarray(start, pos).toString('latin1'));
    }
    pos++;
    const [magic, w, h, maxval] = fields;
    if (magic !== 'P6' || maxval !== '255') throw new Error(`unexpected PPM header ${fields}`);
    const width = +w, height = +h;
    return { width, height, rgb: data.subarray(pos, pos + width * height * 3) };
}

// noVNC's canvas, read with getImageData, as {width, height, rgb}
async function canvasPixels(page) {
    const r = await page.evaluate(() => {
        const c = document.querySelector('#screen canvas');
        if (!c || !c.width || !c.height) return null;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const rgb = new Uint8Array(c.width * c.height * 3);
        for (let i = 0, j = 0; i < d.length; i += 4, j += 3) {
            rgb[j] = d[i]; rgb[j + 1] = d[i + 1]; rgb[j + 2] = d[i + 2];
        }
        let s = '';
        for (let i = 0; i < rgb.length; i += 0x8000) {
            s += String.fromCharCode.apply(null, rgb.subarray(i, i + 0x8000));
        }
        return { width: c.width, height: c.height, b64: btoa(s) };
    });
    if (!r) return null;
    return { width: r.width, height: r.height, rgb: Buffer.from(r.b64, 'base64') };
}

// The pixels that differ: their number (all of them when the sizes
// differ) and the box around them, "x0,y0-x1,y1" ('' when none or the
// sizes differ)
function pixelDiff(a, b) {
    if (!a || !b || a.width !== b.width || a.height !== b.height) {
        return {
            n: Math.max(a ? a.width * a.height : 0, b ? b.width * b.height : 0) || 1,
            box: '',
        };
    }
    let n = 0, x0 = a.width, y0 = a.height, x1 = -1, y1 = -1;
    for (let i = 0; i < a.rgb.length; i += 3) {
        if (a.rgb[i] !== b.rgb[i] || a.rgb[i + 1] !== b.rgb[i + 1] ||
            a.rgb[i + 2] !== b.rgb[i + 2]) {
            const p = i / 3, x = p % a.width, y = Math.floor(p / a.width);
            n++;
            x0 = Math.min(x0, x); y0 = Math.min(y0, y);
            x1 = Math.max(x1, x); y1 = Math.max(y1, y);
        }
    }
    return { n, box: n ? `${x0},${y0}-${x1},${y1}` : '' };
}

function diffPixels(a, b) {
    return pixelDiff(a, b).n;
}

// Save @img as a binary PPM in the run directory
function savePpm(img, name) {
    if (!img) return;
    fs.writeFileSync(path.join(cfg.run, name),
        Buffer.concat([Buffer.from(`P6\n${img.width} ${img.height}\n255\n`), img.rgb]));
}

// Fraction of pixels that differ from the most common colour
function nonBackground(img) {
    const counts = new Map();
    for (let i = 0; i < img.rgb.length; i += 3) {
        const k = (img.rgb[i] << 16) | (img.rgb[i + 1] << 8) | img.rgb[i + 2];
        counts.set(k, (counts.get(k) || 0) + 1);
    }
    return 1 - Math.max(...counts.values()) / (img.width * img.height);
}

// Compare the canvas with a screendump until they agree bit for bit: the
// canvas before or after the screendump must be equal to it (noVNC lags
// QEMU by an update).  On failure the last canvas and screendump stay in
// the run directory as novnc-fail-canvas.ppm and novnc-fail-screendump.ppm.
async function canvasMatchesScreendump(page, timeoutMs) {
    let attempts = 0, last = '', before, dump, after;
    const ok = await waitFor(async () => {
        attempts++;
        before = await canvasPixels(page);
        dump = await screendump();
        after = await canvasPixels(page);
        const d1 = pixelDiff(before, dump), d2 = pixelDiff(after, dump);
        last = `canvas ${before ? before.width + 'x' + before.height : 'none'}, ` +
               `screendump ${dump.width}x${dump.height}, differing pixels ` +
               `${d1.n}/${d2.n} at ${d1.box || '-'}/${d2.box || '-'}`;
        return Math.min(d1.n, d2.n) === 0 ? dump : null;
    }, timeoutMs, 300);
    if (!ok) {
        savePpm(after, 'novnc-fail-canvas.ppm');
        savePpm(dump, 'novnc-fail-screendump.ppm');
    }
    return { ok: !!ok, detail: `${last}, attempt ${attempts}` };
}

// Run a shell command on the guest's serial console; wait for one of the
// answers in serial.log after it; the answer found, or null
async function serialSays(command, answers, timeoutMs) {
    const logf = path.join(cfg.run, 'serial.log');
    const start = fs.statSync(logf).size;
    await new Promise((resolve, reject) => {
        const s = net.createConnection(path.join(cfg.run, 'serial.sock'), () => {
            s.end(command + '\n', resolve);
        });
        s.on('error', reject);
    });
    return waitFor(() => {
        const fd = fs.openSync(logf, 'r');
        const size = fs.fstatSync(fd).size;
        const b = Buffer.alloc(Math.max(0, size - start));
        fs.readSync(fd, b, 0, b.length, start);
        fs.closeSync(fd);
        const text = b.toString('latin1');
        return answers.find((a) => text.includes(a)) || null;
    }, timeoutMs, 300);
}

// Type text as a user on a US keyboard does: Shift held for the shifted
// characters, and not faster than a person.  noVNC sends QEMU extended key
// events (scan codes), so page.keyboard.type's '$' without Shift reaches
// the guest as '4' ("echo novnc-49968700"); typed without a delay, keys
// are lost on the way to the guest's PS/2 keyboard.
const SHIFTED = '~!@#$%^&*()_+{}|:"<>?ABCDEFGHIJKLMNOPQRSTUVWXYZ';
async function typeText(page, text) {
    for (const ch of text) {
        if (SHIFTED.includes(ch)) {
            await page.keyboard.down('Shift');
            await page.keyboard.press(ch);
            await page.keyboard.up('Shift');
        } else {
            await page.keyboard.press(ch);
        }
        await sleep(20);
    }
}

async function clientsInfo() {
    const clients = await qmpOk('query-display-clients');
    return {
        clients,
        text: clients.map((c) => `id ${c.id} websocket ${c.websocket} configured ` +
            `${c.configured} profile ${c.profile} bytes-sent ${c['bytes-sent']} ` +
            `frames-sent ${c['frames-sent']}`).join('; ') || 'no clients',
    };
}

async function main() {
    const profileDir = fs.mkdtempSync(path.join(cfg.workdir, 'chromium-profile-'));
    let context = null;
    try {
        log(`starting ${cfg.chromium}`);
        context = await chromium.launchPersistentContext(profileDir, {
            executablePath: cfg.chromium,
            headless: true,
            args: CHROMIUM_ARGS,
            viewport: { width: 1024, height: 600 },
            timeout: 30000,
        });
        const page = context.pages()[0] || await context.newPage();
        const consoleLines = [];
        page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
        page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
        page.setDefaultTimeout(15000);

        await page.goto(cfg.url, { timeout: 15000 });
        const state = await waitFor(() => page.evaluate(() =>
            window.vdi && window.vdi.state !== 'connecting' && window.vdi.state), 20000);
        const connected = check('noVNC connects to the websocket port',
            state === 'connected',
            `state ${state || 'connecting (timeout)'}; ${consoleLines.slice(-5).join(' | ')}`);
        if (!connected) return;

        // The framebuffer is drawn: the canvas has the guest's size and text
        const drawn = await waitFor(async () => {
            const px = await canvasPixels(page);
            return px && nonBackground(px) > 0.002 ? px : null;
        }, 20000, 500);
        check('noVNC draws the guest console on its canvas', drawn,
            drawn ? `${drawn.width}x${drawn.height}, ` +
                `non-background ${(nonBackground(drawn) * 100).toFixed(2)}%` : 'canvas blank');
        if (!drawn) return;

        let info = await clientsInfo();
        check('query-display-clients lists noVNC: one websocket client, "auto" configured',
            info.clients.length === 1 && info.clients[0].websocket &&
            info.clients[0].configured === 'auto', info.text);
        // on loopback, auto must see a LAN, even though an idle console
        // sends little
        check('auto chooses "lan" on loopback',
            info.clients.length === 1 && info.clients[0].profile === 'lan',
            info.text);

        // The VGA text cursor blinks, and whoever redraws the text console
        // toggles it: a screendump as well as a VNC refresh.  Their calls
        // can fall into step, so that every screendump shows the cursor
        // and every refresh hides it again before noVNC gets it (CI saw
        // 18 pixels differ in 44 comparisons over 30 s while noVNC had no
        // stale pixel).  Hidden, it leaves bit-exact comparisons exact.
        const hidden = await serialSays(
            "printf '\\033[?25l' > /dev/tty1; echo cursor-$((2*2))-hidden",
            ['cursor-4-hidden'], 15000);
        check('the text cursor of tty1 is hidden for the comparisons', hidden,
            hidden ? '' : 'no answer on the serial console');

        // (a) lossless: canvas and screendump agree bit for bit
        await qmpOk('display-set-profile', { profile: 'lan' });
        await sleep(1000);
        let m = await canvasMatchesScreendump(page, 20000);
        check('with profile lan the noVNC canvas equals the QMP screendump bit for bit',
            m.ok, m.detail);

        // (b) our encoder served noVNC
        info = await clientsInfo();
        const c = info.clients[0] || {};
        check('query-display-clients: one websocket client, "lan" configured, bytes sent',
            info.clients.length === 1 && c.websocket && c.configured === 'lan' &&
            c['bytes-sent'] > 0, info.text);
        // noVNC asks for RGB shifts 0/8/16: Tight takes colours as RGB
        // bytes whatever the shifts, so the encoder serves it too
        check('the VDI encoder serves noVNC: profile "lan" in force, encoder frames sent',
            info.clients.length === 1 && c.profile === 'lan' && c['frames-sent'] > 0,
            info.text);
        // noVNC announces Fence and ContinuousUpdates: the server measures
        // the link with fences that noVNC answers, and pushes updates
        check('noVNC uses RFB Fence and ContinuousUpdates: fences answered, ' +
              'a fence RTT measured, continuous updates on',
            c.fence === true && c['continuous-updates'] === true &&
            c['fences-acked'] > 0 && c['fence-rtt'] > 0 &&
            c['client-fences-dropped'] === 0, info.text);

        // (c) keyboard: type on tty1 through noVNC
        const before = await canvasPixels(page);
        await page.evaluate(() => window.rfb.focus());
        const focused = await page.evaluate(() =>
            document.activeElement === document.querySelector('#screen canvas'));
        await typeText(page, 'echo novnc-$((6*7))');
        await page.keyboard.press('Enter');
        const changed = await waitFor(async () => {
            const px = await canvasPixels(page);
            const d = diffPixels(px, before);
            return d > 50 ? d : null;
        }, 15000, 300);
        check('typing into the noVNC canvas changes the guest screen',
            focused && changed, `canvas focused ${focused}, pixels changed ${changed || 0}`);

        // What tty1 shows, read from the guest's screen memory (/dev/vcs1)
        // over the serial console: the command as typed and its output.
        // The answers are computed so that the echoed command does not match.
        const cmd = "if grep -qF 'vdi-demo:/# echo novnc-$((6*7))' /dev/vcs1 && " +
            "grep -q 'novnc-42' /dev/vcs1; then echo tty1-$((40+2))-yes; " +
            'else echo tty1-$((40+2))-no; cat /dev/vcs1 | fold -w 80 | grep -v "^ *$"; fi';
        // The shell on tty1 may still be running the command: ask again
        let answer = null;
        for (let i = 0; i < 6 && answer !== 'tty1-42-yes'; i++) {
            if (i) {
                await sleep(2000);
            }
            answer = await serialSays(cmd, ['tty1-42-yes', 'tty1-42-no'], 15000);
        }
        check('the guest shell on tty1 got "echo novnc-$((6*7))" and printed novnc-42',
            answer === 'tty1-42-yes', `answer ${answer}; see ${cfg.run}/serial.log`);

        m = await canvasMatchesScreendump(page, 20000);
        check('after typing the noVNC canvas equals the QMP screendump bit for bit',
            m.ok, m.detail);

        // (d) profile switches while the text changes: noVNC's inflater
        // keeps no window after a zlib stream reset, so the server must
        // never reset one; a slow wan link cuts updates short (dropped
        // rectangles) while "seq" scrolls the console
        const switches = [
            ['wan', { 'max-bandwidth': 300000 }], ['off', {}], ['lan', {}],
            ['off', {}], ['wan', {}], ['auto', {}], ['lan', {}],
        ];
        for (const [i, [profile, extra]] of switches.entries()) {
            await typeText(page, `seq ${i * 1000} ${i * 1000 + 400}`);
            await page.keyboard.press('Enter');
            await sleep(300);
            await qmpOk('display-set-profile',
                { profile, 'max-bandwidth': 0, ...extra });
            await sleep(700);
        }
        const afterSwitches = await page.evaluate(() => window.vdi.state);
        const zlibErrors = consoleLines.filter((l) => /zlib|inflate/i.test(l));
        check('noVNC stays connected through profile switches (wan, off, lan, ' +
              'off, wan, auto, lan) while the console scrolls',
              afterSwitches === 'connected' && zlibErrors.length === 0,
              `state ${afterSwitches} ${zlibErrors.slice(0, 3).join(' | ')}`);
        m = await canvasMatchesScreendump(page, 30000);
        if (!m.ok) {
            // what the server thinks of the client, for the diagnosis
            m.detail += ` | ${JSON.stringify(await qmpOk('query-display-clients'))}`;
        }
        check('after the switches the noVNC canvas equals the QMP screendump bit for bit',
            m.ok, m.detail);

        // (e) what a user sees
        fs.rmSync(cfg.png, { force: true });
        await page.screenshot({ path: cfg.png });
        const png = fs.existsSync(cfg.png) ? fs.readFileSync(cfg.png) : Buffer.alloc(0);
        check('screenshot of the page saved',
            png.length > 1000 && png.subarray(1, 4).toString() === 'PNG',
            `${cfg.png}, ${png.length} bytes`);

        const errors = consoleLines.filter((l) => /^(error|pageerror)/.test(l));
        check('no errors in the page', errors.length === 0, errors.slice(0, 5).join(' | '));
        const stillConnected = await page.evaluate(() => window.vdi.state);
        check('noVNC is still connected at the end', stillConnected === 'connected',
            `state ${stillConnected}`);
        if (cfg.h264) {
            await h264Case(context);
        }
    } catch (e) {
        check('browser checks ran to the end', false, e.stack || e);
    } finally {
        if (context) {
            await Promise.race([context.close().catch(() => {}), sleep(10000)]);
        }
        fs.rmSync(profileDir, { recursive: true, force: true });
    }
}

// ---- (f) video as Open H.264, decoded by WebCodecs ----

// PSNR (dB) of two {width, height, rgb} images over a rect; 99 if equal
function psnr(a, b, x0, y0, w, h) {
    if (!a || !b || a.width !== b.width || a.height !== b.height) return 0;
    let se = 0;
    for (let y = y0; y < y0 + h; y++) {
        for (let i = (y * a.width + x0) * 3; i < (y * a.width + x0 + w) * 3; i++) {
            const e = a.rgb[i] - b.rgb[i];
            se += e * e;
        }
    }
    return se ? 10 * Math.log10(255 * 255 * 3 * w * h / se) : 99;
}

// A QEMU with a std VGA driven through qtest: the test writes its pixels
class QtestVga {
    constructor(sockPath) {
        this.sockPath = sockPath;
        this.buf = '';
        this.waiting = [];
    }

    listen() {
        return new Promise((resolve) => {
            this.server = net.createServer((c) => {
                this.conn = c;
                c.setEncoding('latin1');
                c.on('data', (d) => {
                    this.buf += d;
                    let nl;
                    while ((nl = this.buf.indexOf('\n')) >= 0) {
                        const line = this.buf.slice(0, nl);
                        this.buf = this.buf.slice(nl + 1);
                        if (line.startsWith('IRQ')) continue;
                        const w = this.waiting.shift();
                        if (w) w(line);
                    }
                });
                this.connected();
            });
            this.server.listen(this.sockPath, resolve);
        });
    }

    // Send commands; resolves to their answers
    send(...cmds) {
        const answers = cmds.map(() => new Promise((r) => this.waiting.push(r)));
        this.conn.write(cmds.map((c) => c + '\n').join(''));
        return Promise.all(answers);
    }

    async pciRead(dev, reg) {
        const [, a] = await this.send(`outl 0xcf8 ${0x80000000 | dev << 11 | reg}`,
                                      'inl 0xcfc');
        return parseInt(a.split(' ')[1], 16);
    }

    async setup(w, h, lfb) {
        let dev = 0;
        while (dev < 32 && await this.pciRead(dev, 0) !== 0x11111234) dev++;
        if (dev === 32) throw new Error('no std VGA');
        const cmd = await this.pciRead(dev, 4);
        const cfgw = (reg, v) => [`outl 0xcf8 ${0x80000000 | dev << 11 | reg}`,
                                  `outl 0xcfc ${v >>> 0}`];
        const vbe = (i, v) => [`outw 0x1ce ${i}`, `outw 0x1cf ${v}`];
        await this.send(...cfgw(0x10, lfb), ...cfgw(4, cmd | 3), ...vbe(4, 0),
                        ...vbe(1, w), ...vbe(2, h), ...vbe(3, 32), ...vbe(4, 0x41),
                        'outb 0x3c0 32');
        this.w = w;
        this.lfb = lfb;
    }

    // Rows of xRGB pixels (Uint32Array, width w) into the framebuffer
    blit(px, x, y, w, h) {
        const cmds = [];
        for (let j = 0; j < h; j++) {
            const row = Buffer.from(px.buffer, px.byteOffset + ((y + j) * this.w + x) * 4, w * 4);
            cmds.push(`b64write 0x${(this.lfb + ((y + j) * this.w + x) * 4).toString(16)} ` +
                      `0x${(w * 4).toString(16)} ${row.toString('base64')}`);
        }
        return this.send(...cmds);
    }
}

// Video-like content: smooth colour waves that move, mild noise
function videoFrame(px, stride, x0, y0, w, h, t) {
    for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
            const u = x * 0.031, v = y * 0.027, tt = t * 0.15;
            const n = ((x * 7 + y * 13 + t * 31) * 2654435761 >>> 28) - 8;
            const r = 128 + 90 * Math.sin(u + tt) * Math.cos(v * 0.7) + n;
            const g = 120 + 80 * Math.sin(u * 0.6 + v + tt * 0.7) + n;
            const b = 110 + 100 * Math.cos(v * 1.3 - tt * 0.5 + u * 0.2) + n;
            const c = (k) => Math.max(0, Math.min(255, Math.round(k)));
            px[(y0 + y) * stride + x0 + x] = c(r) << 16 | c(g) << 8 | c(b);
        }
    }
}

async function h264Case(context) {
    const W = 640, H = 480, VX = 160, VY = 120, VW = 320, VH = 240;
    const qsock = path.join(cfg.run, 'h264-qtest.sock');
    const qmpSock = path.join(cfg.run, 'h264-qmp.sock');
    const wsPort = await new Promise((r) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
            const p = s.address().port;
            s.close(() => r(p));
        });
    });
    const vga = new QtestVga(qsock);
    const up = new Promise((r) => { vga.connected = r; });
    await vga.listen();
    const { spawn } = await import('node:child_process');
    const qemu = spawn(cfg.h264.qemu, [
        '-machine', 'pc', '-nodefaults', '-vga', 'std', '-accel', 'qtest',
        '-qtest', `unix:${qsock}`, '-display', 'none',
        '-vnc', `unix:${path.join(cfg.run, 'h264-vnc.sock')},websocket=127.0.0.1:${wsPort},lossy=on`,
        '-qmp', `unix:${qmpSock},server=on,wait=off`,
    ], { stdio: ['ignore', 'ignore', fs.openSync(path.join(cfg.run, 'h264-qemu.log'), 'w')] });
    const page = await context.newPage();
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    try {
        await Promise.race([up, sleep(20000)]);
        if (!check('a QEMU with a std VGA driven through qtest starts', vga.conn)) return;
        const px = new Uint32Array(W * H);
        for (let y = 0; y < H; y++) {
            for (let x = 0; x < W; x++) {
                // a light desktop with dark "text" strokes around the video
                px[y * W + x] = (x >> 3) % 3 && (y >> 4) % 2 && (y & 15) > 4 &&
                    ((x * 31 + y * 7) & 63) < 20 ? 0x202020 : 0xf0f0f0;
            }
        }
        videoFrame(px, W, VX, VY, VW, VH, 0);
        await vga.setup(W, H, 0xe0000000);
        await vga.blit(px, 0, 0, W, H);
        await qmpOk('display-set-profile', { profile: 'wan' }, qmpSock);
        const url = cfg.url.replace(/port=\d+/, `port=${wsPort}`);
        await page.goto(url, { timeout: 15000 });
        const state = await waitFor(() => page.evaluate(() =>
            window.vdi && window.vdi.state !== 'connecting' && window.vdi.state), 20000);
        const h264 = await page.evaluate(async () =>
            (await import('./node_modules/@novnc/novnc/core/util/browser.js'))
                .supportsWebCodecsH264Decode);
        check('noVNC in Chromium decodes H.264 with WebCodecs and connects to a wan display',
              state === 'connected' && h264, `state ${state}, H.264 ${h264}`);
        if (state !== 'connected') return;
        await sleep(1000);
        // the video plays, 25 frames a second, for 3 s
        let shot = null;
        for (let t = 1; t <= 75; t++) {
            const t0 = Date.now();
            videoFrame(px, W, VX, VY, VW, VH, t);
            await vga.blit(px, VX, VY, VW, VH);
            if (t === 60) {
                fs.rmSync(cfg.h264.png, { force: true });
                await page.screenshot({ path: cfg.h264.png });
                shot = fs.existsSync(cfg.h264.png);
            }
            await sleep(Math.max(0, 40 - (Date.now() - t0)));
        }
        // the last frame, as the client shows it before the region ends
        await sleep(120);
        const canvas = await canvasPixels(page);
        const dump = await screendump(qmpSock);
        const info = (await qmpOk('query-display-clients', {}, qmpSock))[0];
        const t = info && info.tiles;
        const pv = psnr(canvas, dump, VX, VY, VW, VH), pa = psnr(canvas, dump, 0, 0, W, H);
        check('the video went to noVNC as Open H.264 (query-display-clients)',
              t && t.h264 > 20 && t['h264-failures'] === 0,
              JSON.stringify(t));
        check('noVNC draws the H.264 video: canvas against the screendump by PSNR',
              pv > 30 && pa > 35, `video ${pv.toFixed(1)} dB, whole ${pa.toFixed(1)} dB`);
        check('screenshot of the H.264 video in noVNC saved', shot, cfg.h264.png);
        // paused: the region ends and its area is sent again losslessly
        const m = await waitFor(async () =>
            diffPixels(await canvasPixels(page), await screendump(qmpSock)) === 0, 10000, 300);
        check('after the video pauses the canvas equals the screendump bit for bit', m);
        check('no errors in the H.264 page', errors.length === 0, errors.slice(0, 5).join(' | '));
    } catch (e) {
        check('the H.264 checks ran to the end', false, e.stack || e);
    } finally {
        await page.close().catch(() => {});
        qemu.kill('SIGKILL');
        vga.server.close();
    }
}

await main();
process.exit(0);
