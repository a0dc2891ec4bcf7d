#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""QEMU's vfio-user-pci on `vfio-mig serve`, driven through QEMU's qtest protocol.

Starts QEMU (chroot ROOT qemu-system-x86_64 -accel qtest) with the device attached to
the server's socket, plays the guest over qtest (config space through 0xcf8/0xcfc, BAR0
through readl/writel, guest RAM through read/write) and prints one TAP line per check:
config space, BAR0 registers, the DMA engine writing and reading guest RAM (polling its
status register as a driver would, so register reads land while the server waits for
QEMU's answer to its own DMA requests), INTx and an MSI-X message landing in guest RAM.

Guest memory modes: memfd (share=on: DMA_MAP carries fds, the server maps guest RAM),
ram (ordinary RAM: DMA goes as DMA_READ/DMA_WRITE messages to QEMU), ram-noposted (the
same with x-no-posted-writes: every register write waits for its reply).
"""
import argparse
import json
import os
import random
import select
import socket
import subprocess
import sys
import time

M64 = (1 << 64) - 1
DEV = 4  # PCI slot of the device (00:04.0)
BAR = 0xC0000000  # where the test puts BAR0 (q35's PCI hole)
RAM_DMA = 0x100000  # guest RAM the DMA engine uses
RAM_MSI = 0x300000  # guest RAM the MSI-X message is written to
# include/vfio-mig/vfio-user.h
VENDOR, DEVICE = 0x4D56, 0x5444
REG_MAGIC, REG_VERSION, REG_STATE_SIZE, REG_DIRTY_RATE = 0x00, 0x04, 0x10, 0x18
REG_MIG_STATE, REG_DMA_ADDR, REG_DMA_LEN, REG_DMA_CTRL = 0x28, 0x40, 0x48, 0x50
REG_DMA_STATUS, REG_DMA_RESULT, REG_IRQ = 0x54, 0x58, 0x60
MAGIC, EINPROGRESS, MSIX_TABLE, MSIX_CAP = 0x544D4656, 115, 0x800, 0x40
WAIT_ROUNDS = 20000  # bound on every poll loop (each round is one qtest round trip)
WAIT_SECONDS = 30  # and on its time: a loop whose answers each take a timeout ends too


class QTestError(Exception):
    pass


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def testdev_hash(buf):
    """vfm_testdev_hash() (devices/testdev.c), for what the DMA engine reads."""
    a, b = [0] * 8, [0] * 8
    whole = len(buf) // 64 * 64
    for p in range(0, whole, 64):
        for i in range(8):
            a[i] = (a[i] + int.from_bytes(buf[p + 8 * i:p + 8 * i + 8], "little")) & M64
            b[i] = (b[i] + a[i]) & M64
    for i, byte in enumerate(buf[whole:]):
        a[i & 7] = (a[i & 7] + byte) & M64
        b[i & 7] = (b[i & 7] + a[i & 7]) & M64
    out = splitmix64(len(buf))
    for i in range(8):
        out = splitmix64(out ^ a[i]) ^ splitmix64((b[i] + i) & M64)
    return out


class QTest:
    def __init__(self, conn, timeout):
        self.s, self.buf, self.irqs, self.timeout = conn, b"", [], timeout

    def _line(self):
        while b"\n" not in self.buf:
            if not select.select([self.s], [], [], self.timeout)[0]:
                raise QTestError("QEMU did not answer within %d s" % self.timeout)
            data = self.s.recv(1 << 20)
            if not data:
                raise QTestError("QEMU closed the qtest connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\n")
        while True:
            line = self._line()
            if line.startswith("IRQ "):
                self.irqs.append(line)
                continue
            if line != "OK" and not line.startswith("OK "):
                raise QTestError("%s: %s" % (text.split(" 0x")[0], line))
            return line[3:]

    def num(self, text):
        return int(self.cmd(text), 16)

    def cfg_addr(self, reg):
        return 0x80000000 | (DEV << 11) | (reg & 0xFC)

    def cfg_read(self, reg, size=4):
        self.cmd("outl 0xcf8 0x%x" % self.cfg_addr(reg))
        op = {1: "inb", 2: "inw", 4: "inl"}[size]
        return self.num("%s 0x%x" % (op, 0xCFC + (reg & 3)))

    def cfg_write(self, reg, val, size=4):
        self.cmd("outl 0xcf8 0x%x" % self.cfg_addr(reg))
        op = {1: "outb", 2: "outw", 4: "outl"}[size]
        self.cmd("%s 0x%x 0x%x" % (op, 0xCFC + (reg & 3), val))

    def ram_read(self, addr, n):
        return bytes.fromhex(self.cmd("read 0x%x 0x%x" % (addr, n))[2:])

    def ram_write(self, addr, data):
        self.cmd("write 0x%x 0x%x 0x%s" % (addr, len(data), data.hex()))


class Run:
    def __init__(self):
        self.failed = 0

    def ok(self, cond, name, why=""):
        if cond:
            print("ok - %s" % name)
        else:
            self.failed += 1
            print("not ok - %s%s" % (name, " (%s)" % why if why else ""))
        sys.stdout.flush()
        return cond

    def note(self, text):
        print("# %s" % text)
        sys.stdout.flush()


def dma(q, run, cmd, addr, length, label):
    """Starts the DMA engine and polls DMA_STATUS; checks other registers meanwhile."""
    q.cmd("writeq 0x%x 0x%x" % (BAR + REG_DMA_ADDR, addr))
    q.cmd("writeq 0x%x 0x%x" % (BAR + REG_DMA_LEN, length))
    q.cmd("writel 0x%x 0x%x" % (BAR + REG_DMA_CTRL, cmd))
    busy = bad = 0
    end = time.monotonic() + WAIT_SECONDS
    for _ in range(WAIT_ROUNDS):
        if time.monotonic() > end:
            break
        status = q.num("readl 0x%x" % (BAR + REG_DMA_STATUS))
        if status != EINPROGRESS:
            break
        busy += 1
        if q.num("readl 0x%x" % (BAR + REG_MAGIC)) != MAGIC:
            bad += 1
    run.note("%s: DMA_STATUS read EINPROGRESS %d times" % (label, busy))
    run.ok(bad == 0, "%s: registers read correctly while the DMA was in flight" % label,
           "%d wrong magic reads" % bad)
    return status


def check_config(q, run):
    ids = q.cfg_read(0)
    run.ok(ids == (DEVICE << 16) | VENDOR, "config space: vendor and device id",
           "0x%08x" % ids)
    cap = q.cfg_read(0x34, 1)
    run.ok(cap == MSIX_CAP and q.cfg_read(MSIX_CAP, 1) == 0x11,
           "config space: the MSI-X capability", "pointer 0x%x" % cap)
    q.cfg_write(0x10, BAR)
    q.cfg_write(0x04, 0x0006, 2)  # memory space, bus master
    got = q.cfg_read(0x10) & ~0xF
    run.ok(got == BAR, "config space: BAR0 assigned", "0x%x" % got)


def check_bar0(q, run, size):
    magic = q.num("readl 0x%x" % (BAR + REG_MAGIC))
    version = q.num("readl 0x%x" % (BAR + REG_VERSION))
    state = q.num("readl 0x%x" % (BAR + REG_MIG_STATE))
    run.ok((magic, version, state) == (MAGIC, 1, 2), "BAR0: magic, version, RUNNING",
           "0x%x %d %d" % (magic, version, state))
    got = q.num("readq 0x%x" % (BAR + REG_STATE_SIZE))
    run.ok(got == size, "BAR0: state size register", "%d" % got)
    q.cmd("writeq 0x%x 0x%x" % (BAR + REG_DIRTY_RATE, 12345))
    got = q.num("readq 0x%x" % (BAR + REG_DIRTY_RATE))
    run.ok(got == 12345, "BAR0: a register write reads back", "%d" % got)
    q.cmd("writeq 0x%x 0x0" % (BAR + REG_DIRTY_RATE))


def check_dma(q, run, length):
    q.ram_write(RAM_DMA, bytes(length))
    status = dma(q, run, 2, RAM_DMA, length, "DMA write")
    want = bytes((i * 7 + 1) & 0xFF for i in range(length))
    got = q.ram_read(RAM_DMA, length) if status == 0 else b""
    run.ok(status == 0 and got == want, "DMA write: %d bytes land in guest RAM" % length,
           "status %d" % status)
    data = random.Random(length).randbytes(length)
    q.ram_write(RAM_DMA, data)
    status = dma(q, run, 1, RAM_DMA, length, "DMA read")
    got = q.num("readq 0x%x" % (BAR + REG_DMA_RESULT))
    run.ok(status == 0 and got == testdev_hash(data),
           "DMA read: the engine hashed the %d bytes in guest RAM" % length,
           "status %d" % status)


def wait_for(q, pred):
    end = time.monotonic() + WAIT_SECONDS
    for _ in range(WAIT_ROUNDS):
        if pred():
            return True
        if time.monotonic() > end:
            return False
        q.cmd("readl 0x%x" % (BAR + REG_MAGIC))
    return pred()


def check_irqs(q, run):
    q.cmd("irq_intercept_in ioapic")
    q.cmd("writel 0x%x 0x0" % (BAR + REG_IRQ))
    got = wait_for(q, lambda: any(l.startswith("IRQ raise") for l in q.irqs))
    run.ok(got, "INTx: the doorbell raises an interrupt line", "no IRQ line seen")
    if got:
        run.note("INTx: %s" % next(l for l in q.irqs if l.startswith("IRQ raise")))
    data = 0x4D534958
    q.ram_write(RAM_MSI, bytes(4))
    q.cmd("writel 0x%x 0x%x" % (BAR + MSIX_TABLE, RAM_MSI))
    q.cmd("writel 0x%x 0x0" % (BAR + MSIX_TABLE + 4))
    q.cmd("writel 0x%x 0x%x" % (BAR + MSIX_TABLE + 8, data))
    q.cmd("writel 0x%x 0x0" % (BAR + MSIX_TABLE + 12))
    ctl = q.cfg_read(MSIX_CAP + 2, 2)
    q.cfg_write(MSIX_CAP + 2, (ctl | 0x8000) & ~0x4000, 2)
    q.cmd("writel 0x%x 0x1" % (BAR + REG_IRQ))  # MSI-X vector 0
    got = wait_for(q, lambda: q.num("readl 0x%x" % RAM_MSI) == data)
    run.ok(got, "MSI-X: vector 0's message lands in guest RAM",
           "0x%x" % q.num("readl 0x%x" % RAM_MSI))


def qemu_cmdline(args, qt_path):
    dev = {"driver": "vfio-user-pci", "id": "vu0", "addr": "0x%x" % DEV,
           "socket": {"type": "unix", "path": args.socket}}
    if args.mode == "ram-noposted":
        dev["x-no-posted-writes"] = True
    mem = ["-machine", "q35", "-m", "64M"]
    if args.mode == "memfd":
        mem = ["-object", "memory-backend-memfd,id=mem,size=64M,share=on",
               "-machine", "q35,memory-backend=mem", "-m", "64M"]

    return ["chroot", args.root, "qemu-system-x86_64", "-accel", "qtest", "-nodefaults",
            "-display", "none", "-chardev", "socket,id=qt,path=%s" % qt_path,
            "-qtest", "chardev:qt", "-qtest-log", "/dev/null"] + mem + ["-device", json.dumps(dev)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="the Debian 13 root with QEMU 11.1")
    ap.add_argument("--dir", required=True, help="a folder inside the root (as QEMU sees it)")
    ap.add_argument("--socket", required=True, help="the server's socket, as QEMU sees it")
    ap.add_argument("--mode", choices=["memfd", "ram", "ram-noposted"], required=True)
    ap.add_argument("--state-size", type=int, required=True)
    ap.add_argument("--dma-len", type=int, default=256 << 10)
    ap.add_argument("--log", required=True, help="QEMU's stderr goes here")
    ap.add_argument("--timeout", type=int, default=30, help="bound on each qtest answer (s)")
    args = ap.parse_args()
    run = Run()
    qt_path = os.path.join(args.dir, "qtest.sock")
    host_qt = args.root + qt_path
    if os.path.exists(host_qt):
        os.unlink(host_qt)
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(host_qt)
    lsock.listen(1)
    with open(args.log, "w") as log:
        qemu = subprocess.Popen(qemu_cmdline(args, qt_path), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log)
    try:
        if not select.select([lsock], [], [], args.timeout)[0]:
            run.ok(False, "QEMU starts with vfio-user-pci attached",
                   "no qtest connection within %d s" % args.timeout)
            return 1
        conn, _ = lsock.accept()
        q = QTest(conn, args.timeout)
        run.ok(True, "QEMU starts with vfio-user-pci attached")
        try:
            check_config(q, run)
            check_bar0(q, run, args.state_size)
            check_dma(q, run, args.dma_len)
            check_irqs(q, run)
        except QTestError as e:
            run.ok(False, "qtest session", str(e))
        run.ok(qemu.poll() is None, "QEMU still running at the end")
    finally:
        # QEMU with qtest does not exit when the qtest socket closes: end it by its pid.
        if qemu.poll() is None:
            qemu.terminate()
        try:
            qemu.wait(timeout=10)
        except subprocess.TimeoutExpired:
            qemu.kill()
            qemu.wait()
        lsock.close()
        os.unlink(host_qt)
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
