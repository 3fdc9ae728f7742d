#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write the seed corpus of queue_fuzz (selftests/fuzz/corpus/).

Each seed is a well-formed ring, so the fuzzer starts from inputs that
reach deep into the chain walk; see queue_fuzz.c for the input layout.
"""
import os
import struct

R0 = 0x1000
# R0, R1, R2 and the read-only R3 (adjacent to R2).
IMG = 0x4000 + 0x1000 + 0x2000 + 0x1000
ROM = 0x12000
DESC, AVAIL, USED = 0x1000, 0x1100, 0x1200
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
# Packed ring: feature bit 3 of the header, AVAIL/USED descriptor flags.
F_PACKED, F_AVAIL, F_USED = 8, 1 << 7, 1 << 15


def seed(size, feat, ops, descs, heads, extra=(), niov=63, iova=0,
         desc=DESC, avail=AVAIL, used=USED):
    img = bytearray(IMG)

    def put(gpa, data):
        off = gpa - R0 if gpa < 0x10000 else 0x5000 + gpa - 0x10000
        img[off:off + len(data)] = data

    for i, (addr, ln, flags, nxt) in enumerate(descs):
        put(desc + 16 * i, struct.pack('<QIHH', addr, ln, flags, nxt))
    put(avail, struct.pack('<HH', 0, len(heads)))
    for i, h in enumerate(heads):
        put(avail + 4 + 2 * i, struct.pack('<H', h))
    for gpa, data in extra:
        put(gpa, data)
    hdr = struct.pack('<HBBHHH', size, feat, niov, (iova + desc) // 2,
                      (iova + avail) // 2, (iova + used) // 2)
    ops = bytes(ops) + bytes(16 - len(ops))
    # Guest memory past the input reads as zeros: keep seeds small.
    return hdr + ops + bytes(img).rstrip(b'\0')


def pseed(size, feat, ops, descs, extra=(), niov=63, desc=DESC,
          driver=AVAIL, device=USED):
    """A packed ring: descs are (addr, len, id, flags) from slot 0."""
    img = bytearray(IMG)

    def put(gpa, data):
        off = gpa - R0 if gpa < 0x10000 else 0x5000 + gpa - 0x10000
        img[off:off + len(data)] = data

    for i, (addr, ln, bid, flags) in enumerate(descs):
        put(desc + 16 * i, struct.pack('<QIHH', addr, ln, bid, flags))
    for gpa, data in extra:
        put(gpa, data)
    hdr = struct.pack('<HBBHHH', size, feat | F_PACKED, niov, desc // 2,
                      driver // 2, device // 2)
    ops = bytes(ops) + bytes(16 - len(ops))
    return hdr + ops + bytes(img).rstrip(b'\0')


def indirect_table(entries):
    return b''.join(struct.pack('<QIHH', *e) for e in entries)


seeds = {
    'direct-rw': seed(16, 0, [0x0c, 1, 2],
                      [(0x2000, 16, F_NEXT, 1), (0x2100, 16, F_WRITE, 0)],
                      [0]),
    'direct-3': seed(16, 1, [0x00, 1, 0x04, 1, 2, 3, 0x08],
                     [(0x2000, 8, 0, 0), (0x2010, 8, F_NEXT, 2),
                      (0x2020, 8, F_WRITE, 0)],
                     [0, 1]),
    'indirect': seed(16, 2, [0x04, 1],
                     [(0x3000, 48, F_INDIRECT, 0)], [0],
                     extra=[(0x3000, indirect_table(
                         [(0x2000, 4, F_NEXT, 1), (0x2004, 4, F_NEXT, 2),
                          (0x2100, 4, F_WRITE, 0)]))]),
    'span-regions': seed(16, 3, [0x00, 1],
                         [(0x4ff0, 0x20, F_WRITE, 0)], [0]),
    'region2': seed(8, 1, [0x00, 1, 2],
                    [(0x10100, 64, 0, 0)], [0]),
    # Access platform: every address is an IOVA, GPA + 0x10000.
    'iommu': seed(16, 5, [0x04, 1, 2],
                  [(0x12000, 16, F_NEXT, 1), (0x12100, 16, F_WRITE, 0)],
                  [0], iova=0x10000),
    # Read-only R3: read there (fine), write there or put the used ring
    # there (refused), driver rings there (fine).
    'rom-read': seed(16, 1, [0x04, 1, 2],
                     [(ROM + 0x100, 64, F_NEXT, 1), (0x2100, 16, F_WRITE, 0)],
                     [0], extra=[(ROM + 0x100, b'rom' * 8)]),
    'rom-write': seed(16, 0, [0x04, 1],
                      [(0x2000, 16, F_NEXT, 1), (ROM + 0x200, 16, F_WRITE, 0)],
                      [0]),
    'rom-span': seed(16, 0, [0x04, 1],
                     [(ROM - 0x10, 0x20, F_WRITE, 0)], [0]),
    'rom-used': seed(16, 1, [0x04, 1, 2], [(0x2000, 16, 0, 0)], [0],
                     used=ROM + 0x400),
    'rom-rings': seed(16, 3, [0x04, 1, 2],
                      [(ROM + 0x800, 48, F_INDIRECT, 0)], [0],
                      desc=ROM, avail=ROM + 0x200,
                      extra=[(ROM + 0x800, indirect_table(
                          [(ROM + 0x900, 8, F_NEXT, 1),
                           (0x2100, 8, F_WRITE, 0)]))]),
    'packed-rw': pseed(16, 1, [0x0c, 1, 2, 0x05, 3],
                       [(0x2000, 16, 0, F_AVAIL | F_NEXT),
                        (0x2100, 16, 3, F_AVAIL | F_WRITE),
                        (0x2200, 8, 1, F_AVAIL)]),
    'packed-indirect': pseed(16, 2, [0x04, 1],
                             [(0x3000, 48, 5, F_AVAIL | F_INDIRECT)],
                             extra=[(0x3000, indirect_table(
                                 [(0x2000, 4, 0, 0), (0x2004, 4, 0, 0),
                                  (0x2100, 4, 0, F_WRITE)]))]),
    # Size 3: the chain at slot 2 continues into slot 0 of the next lap,
    # still the used descriptor of the first (the queue breaks there).
    'packed-wrap': pseed(3, 1, [0x00, 1, 0x04, 1, 0x05, 1, 3, 0x08],
                         [(0x2000, 8, 0, F_AVAIL | F_NEXT),
                          (0x2010, 8, 0, F_AVAIL | F_WRITE),
                          (0x2020, 8, 1, F_AVAIL | F_NEXT)]),
    'packed-rom': pseed(16, 0, [0x04, 1],
                        [(ROM + 0x100, 16, 0, F_AVAIL | F_NEXT),
                         (0x2100, 16, 0, F_AVAIL | F_WRITE)],
                        driver=ROM),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
