#!/usr/bin/env python3
"""Independent reference for crypto/pedersen: derives H and computes commitments.

Regenerate the vectors (from the repository root):

    python3 crypto/pedersen/testdata/reference.py > crypto/pedersen/testdata/vectors.txt

Standard library only. P-256 arithmetic is written here from the curve
constants (SEC 2 / FIPS 186-4) with Python integers in affine coordinates; it
shares no code with the Go implementation (filippo.io/nistec).
"""

import hashlib
import struct

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
     0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)

LABEL = b"qasmat-pedersen-H-v1"
CHUNK_LABEL = b"qasmat-chunk-v1"


def on_curve(pt):
    x, y = pt
    return (y * y - (x * x * x + A * x + B)) % P == 0


def add(p1, p2):
    """Affine addition; None is the point at infinity."""
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    x1, y1 = p1
    x2, y2 = p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return (x3, (lam * (x1 - x3) - y1) % P)


def mul(k, pt):
    """Double-and-add from the most significant bit."""
    acc = None
    for bit in bin(k % N)[2:]:
        acc = add(acc, acc)
        if bit == "1":
            acc = add(acc, pt)
    return acc


def decompress(enc):
    """SEC 1 compressed decoding; None if it is not a curve point."""
    if len(enc) != 33 or enc[0] not in (2, 3):
        return None
    x = int.from_bytes(enc[1:], "big")
    if x >= P:
        return None
    rhs = (x * x * x + A * x + B) % P
    y = pow(rhs, (P + 1) // 4, P)  # P = 3 mod 4
    if y * y % P != rhs:
        return None
    if y & 1 != enc[0] & 1:
        y = P - y
    return (x, y)


def compress(pt):
    x, y = pt
    return bytes([2 | (y & 1)]) + x.to_bytes(32, "big")


def derive_h():
    i = 0
    while True:
        x = hashlib.sha256(LABEL + struct.pack(">I", i)).digest()
        pt = decompress(b"\x02" + x)
        if pt is not None:
            return i, pt
        i += 1


def commit_digest(h, digest, r):
    m = int.from_bytes(digest, "big") % N
    return compress(add(mul(m, G), mul(r, h)))


def commit(h, msg, r):
    return commit_digest(h, hashlib.sha256(msg).digest(), r)


def test_r(i):
    """Deterministic blinding values in [1, N)."""
    d = hashlib.sha256(b"qasmat-pedersen-test-r" + struct.pack(">I", i)).digest()
    return int.from_bytes(d, "big") % (N - 1) + 1


def main():
    assert on_curve(G)
    assert mul(N, G) is None
    counter, h = derive_h()
    assert on_curve(h) and h != G
    msgs = [
        b"",
        b"abc",
        b"\x00",
        bytes(range(256)),
        b"x" * 1000,
        CHUNK_LABEL + struct.pack(">I", 0),  # an empty chunk
        CHUNK_LABEL + struct.pack(">I", 7) + b"hello, qasmat",
    ]
    rs = [1, 2, N - 1, test_r(0), test_r(1), test_r(2), test_r(3)]
    print("# Pedersen commitment vectors for crypto/pedersen, written by testdata/reference.py.")
    print("# Regenerate: python3 crypto/pedersen/testdata/reference.py > crypto/pedersen/testdata/vectors.txt")
    print("# C = m*G + r*H on P-256, m = SHA-256(msg) mod n, all values hex (big-endian).")
    print("# 'vector' lines commit to msg; 'digest' lines give SHA-256(msg) = d directly.")
    print("# H = first valid compressed point 0x02 || SHA-256(label || BE uint32 counter).")
    print("label %s" % LABEL.hex())
    print("counter %d" % counter)
    print("H %s" % compress(h).hex())
    for j, msg in enumerate(msgs):
        for r in (rs[j], rs[(j + 3) % len(rs)]):
            print("vector msg=%s r=%064x c=%s" % (msg.hex(), r, commit(h, msg, r).hex()))
    # A SHA-256 output is >= n with probability about 2^-32, so the reduction
    # mod n is checked on chosen digests instead (Go: CommitDigest).
    for j, d in enumerate([N - 1, N, N + 1, 2**256 - 1]):
        digest = d.to_bytes(32, "big")
        r = rs[j + 3]
        print("digest d=%s r=%064x c=%s" % (digest.hex(), r, commit_digest(h, digest, r).hex()))


if __name__ == "__main__":
    main()
