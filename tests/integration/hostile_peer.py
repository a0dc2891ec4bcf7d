#!/usr/bin/env python3
"""A migration source that misbehaves on purpose, for tests/integration/peers.sh.

    hostile_peer.py MODE HOST:PORT [STREAM [READY_FILE]]

creates READY_FILE once it runs, connects (retrying for 20 s until something listens)
to a 'vfio-mig receive --listen tcp:HOST:PORT' and, by MODE:
  quiet        sends the first 3 bytes of a stream header, then nothing
  commit-byte  sends STREAM (a saved stream), waits for READY, sends 1 byte of COMMIT
  side-more    one side channel that announces 4096 bytes of pre-copy data on the main
               channel, which then carries none and ends
  two-writers  a side channel takes the device, then the main channel sends it data
  abort-mid    a device section begins, then ABORT arrives in the middle of it
After its act it stays connected and silent for 60 s (the test kills it sooner).
"""
import socket
import struct
import sys
import time

MAGIC = b"QEVM" + struct.pack(">I", 3)
START, PART, END, EOF = 1, 2, 3, 0
SETUP = 0xFFFFFFFFEF100003
END_OF_STATE = 0xFFFFFFFFEF100001
DATA = 0xFFFFFFFFEF100004
CTL = b"VMC1"
CTL_READY, CTL_COMMIT, CTL_ABORT = 2, 3, 4
TD_HEADER, TD_DATA = 0x54440001, 0x54440002  # the sample device's records (testdev.h)


def marker(m):
    return struct.pack(">Q", m)


def footer(sid):
    return b"\x7e" + struct.pack(">I", sid)


def start(sid, idstr, instance):
    b = idstr.encode()
    return (bytes([START]) + struct.pack(">I", sid) + bytes([len(b)]) + b +
            struct.pack(">II", instance, 1) + marker(SETUP) + marker(END_OF_STATE) +
            footer(sid))


def section(kind, sid):
    return bytes([kind]) + struct.pack(">I", sid)


def ctl(kind):
    return CTL + bytes([kind, 0]) + struct.pack(">H", 0)


def connect(hp):
    host, port = hp.rsplit(":", 1)
    for _ in range(400):
        try:
            s = socket.create_connection((host, int(port)))
            break
        except ConnectionRefusedError:
            time.sleep(0.05)
    else:
        sys.exit("nothing listens on " + hp)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def side(hp, dev):
    s = connect(hp)
    s.sendall(b"VFMSIDE1" + struct.pack(">I", dev))
    return s


def read_ctl(s):
    h = b""
    while len(h) < 8:
        b = s.recv(8 - len(h))
        if not b:
            sys.exit("receive closed the connection")
        h += b
    n = struct.unpack(">H", h[6:8])[0]
    while n:
        n -= len(s.recv(n))
    return h[4]


def main():
    mode, hp = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 4:
        open(sys.argv[4], "w").close()
    main_ch = connect(hp)
    keep = [main_ch]
    if mode == "quiet":
        main_ch.sendall(MAGIC[:3])
    elif mode == "commit-byte":
        with open(sys.argv[3], "rb") as f:
            main_ch.sendall(f.read())
        while read_ctl(main_ch) != CTL_READY:
            pass
        main_ch.sendall(ctl(CTL_COMMIT)[:1])
    elif mode in ("side-more", "two-writers"):
        sd = side(hp, 0)
        keep.append(sd)
        main_ch.sendall(MAGIC + start(1, "vfio", 0) + start(0x2000, "vfio-mig-channels", 1))
        if mode == "side-more":
            sd.sendall(struct.pack(">Q", 4096))
            main_ch.sendall(section(END, 1) + marker(END_OF_STATE) + footer(1) + bytes([EOF]))
        else:
            # the side channel takes the device (nothing before it on the main channel)
            # and begins a block it never finishes, with a valid start of the 64 KiB
            # sample device's state (its HEADER record, then chunk 0's DATA record cut
            # short) that the device takes and waits on; then the main channel writes too
            records = (struct.pack("<IIQ", TD_HEADER, 0, 65536) +
                       struct.pack("<IIQ", TD_DATA, 65536, 0) + b"\x00" * 480)
            sd.sendall(struct.pack(">Q", 0) + marker(DATA) + struct.pack(">Q", 65536) +
                       records)
            time.sleep(0.5)
            main_ch.sendall(section(PART, 1) + marker(DATA) + struct.pack(">Q", 4096) +
                            b"\x00" * 4096 + marker(END_OF_STATE) + footer(1))
    elif mode == "abort-mid":
        main_ch.sendall(MAGIC + start(1, "vfio", 0) + section(PART, 1) + ctl(CTL_ABORT))
    else:
        sys.exit("unknown mode " + mode)
    time.sleep(60)


if __name__ == "__main__":
    main()
