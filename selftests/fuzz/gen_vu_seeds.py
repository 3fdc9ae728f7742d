#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write the seed corpus of vhost_user_fuzz (selftests/fuzz/vu-corpus/).

Each seed is a front-end's conversation that gets deep into the back-end:
negotiation, a memory table on the guest memfd, rings set up and started;
see vhost_user_fuzz.c for the record format. Message numbers and layouts
are those of QEMU's docs/interop/vhost-user.rst.
"""
import os
import struct

GPA, UVA, SIZE = 0x100000, 0x7f0000000000, 64 << 10
PROTO_F = 30
PROTO = (1 << 0) | (1 << 3) | (1 << 9) | (1 << 13) | (1 << 15) | (1 << 16)
INFLIGHT_SHMFD = 1 << 12
VERSION_1, PACKED, EVENT_IDX = 32, 34, 29
NEED_REPLY = 1 << 3
# fd kinds of the record code: 0 guest memfd, 1 eventfd, 2 page, 3 a
# directory (cannot be mapped).
MEMFD, EVENTFD, PAGE, DIRFD = 0, 1, 2, 3


def rec(code, data):
    return struct.pack('<BH', code, len(data)) + data


def msg(req, payload=b'', nfds=0, kind=MEMFD, flags=NEED_REPLY):
    hdr = struct.pack('<III', req, 1 | flags, len(payload))
    return rec((kind << 2) | nfds, hdr + payload)


def u64(v):
    return struct.pack('<Q', v)


def state(i, n):
    return struct.pack('<II', i, n)


def mem_table(regions):
    p = struct.pack('<II', len(regions), 0)
    for gpa, size, uva, off in regions:
        p += struct.pack('<QQQQ', gpa, size, uva, off)
    return p


def ring_addr(i, desc, avail, used):
    return struct.pack('<IIQQQQ', i, 0, UVA + desc, UVA + used,
                       UVA + avail, 0)


def inflight(size, offset, queues=2, qsize=64):
    return struct.pack('<QQHH', size, offset, queues, qsize) + bytes(4)


def boot(features, base=0, image=b'', proto=PROTO, pre=b''):
    s = b''
    if image:
        s += rec(0xff, image)
    s += msg(1, flags=0)
    s += msg(2, u64(features | (1 << PROTO_F)), flags=0)
    s += msg(15, flags=0)
    s += msg(16, u64(proto), flags=0)
    s += msg(3)
    s += msg(5, mem_table([(GPA, SIZE, UVA, 0)]), nfds=1, kind=MEMFD)
    s += pre
    for i in range(2):
        off = 0x1000 + i * 0x2000
        s += msg(8, state(i, 64))
        s += msg(10, state(i, base))
        s += msg(9, ring_addr(i, off, off + 0x400, off + 0x800))
        s += msg(13, u64(i), nfds=1, kind=EVENTFD)
        s += msg(12, u64(i), nfds=1, kind=EVENTFD)
        s += msg(18, state(i, 1))
    return s


def split_image():
    """Queue 0 with one two-descriptor chain at avail index 0."""
    img = bytearray(0x3000)
    d = 0x1000
    img[d:d + 16] = struct.pack('<QIHH', GPA + 0x8000, 64, 1, 1)
    img[d + 16:d + 32] = struct.pack('<QIHH', GPA + 0x8100, 64, 2, 0)
    a = d + 0x400
    img[a:a + 6] = struct.pack('<HHH', 0, 1, 0)
    return bytes(img).rstrip(b"\0")


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       'vu-corpus')
    os.makedirs(out, exist_ok=True)
    split = (1 << VERSION_1) | (1 << EVENT_IDX)
    seeds = {
        'negotiate': msg(1, flags=0) + msg(15, flags=0) +
                     msg(16, u64(PROTO), flags=0) + msg(17, flags=0) +
                     msg(36, flags=0) + msg(24, struct.pack('<III', 0, 8, 0)
                                            + bytes(8), flags=0),
        'boot-split': boot(split, image=split_image()),
        'boot-packed': boot(split | (1 << PACKED), base=0x8000),
        'stop-restart': boot(split, image=split_image()) +
                        msg(11, state(1, 0), flags=0) +
                        msg(10, state(1, 0)) +
                        msg(12, u64(1), nfds=1, kind=EVENTFD),
        'mem-slots': boot(split) +
                     msg(37, u64(0) + struct.pack('<QQQQ', 0x200000, 4096,
                                                  UVA + SIZE, 0),
                         nfds=1, kind=PAGE) +
                     msg(38, u64(0) + struct.pack('<QQQQ', 0x200000, 4096,
                                                  UVA + SIZE, 0)),
        'reset-device': boot(split) + msg(34) + boot(split),
        # A fresh inflight region (GET_INFLIGHT_FD), then one from the
        # guest memfd at 48 KiB: its contents are the fuzzer's (SET).
        'inflight-get': boot(split, image=split_image(),
                             proto=PROTO | INFLIGHT_SHMFD,
                             pre=msg(31, inflight(0, 0), flags=0)),
        'inflight-set': boot(split, image=split_image(),
                             proto=PROTO | INFLIGHT_SHMFD,
                             pre=msg(32, inflight(2 * 2112, 0xc000),
                                     nfds=1, kind=MEMFD)),
        'inflight-packed': boot(split | (1 << PACKED), base=0x8000,
                                proto=PROTO | INFLIGHT_SHMFD,
                                pre=msg(32, inflight(2 * 2112, 0xc000),
                                        nfds=1, kind=MEMFD)),
        'bad-fd': msg(5, mem_table([(GPA, SIZE, UVA, 0)]), nfds=1,
                      kind=DIRFD),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
