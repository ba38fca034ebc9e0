#!/usr/bin/env python3
"""Independent reference for the chunk and share-chunk layout of crypto/shamir.

Regenerate the fixture (from the repository root):

    python3 crypto/shamir/testdata/chunk_reference.py > crypto/shamir/testdata/chunk-v1.txt

Standard library only, Python integers throughout; shares no code with the Go
implementation. It rebuilds the RFC 3526 8192-bit prime from its formula, cuts
a file into chunks (data parts + trailer part), splits every part with Shamir
at x = 1..n using coefficients from a deterministic stream, encodes the share
chunks (12-byte header + shares) and computes the Pedersen chunk commitments
(with crypto/pedersen/testdata/reference.py) and the file hash.

Deterministic streams stand in for the CSPRNGs so the Go test can reproduce
the bytes: stream(seed) = SHA-256(seed || BE uint64 0) || SHA-256(seed || BE uint64 1) || ...
Coefficients are drawn as 1024-byte little-endian values, rejected if >= P, in
the order a_1 .. a_{k-1} for each part; blinding values as 32-byte big-endian
values, rejected unless in [1, n).
"""

import hashlib
import os
import struct
import sys

sys.dont_write_bytecode = True  # keep testdata free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "pedersen", "testdata"))
import reference as pedersen  # noqa: E402

PART_SIZE = 1023
SHARE_SIZE = 1024
CHUNK_DATA_PARTS = 1023
CHUNK_PLAIN_SIZE = CHUNK_DATA_PARTS * PART_SIZE


def arctan_inv(x, scale):
    total, power, k = 0, (1 << scale) // x, 0
    while power:
        term = power // (2 * k + 1)
        total += -term if k % 2 else term
        power //= x * x
        k += 1
    return total


def rfc3526_prime():
    guard = 64
    scale = 8062 + guard
    pi = (16 * arctan_inv(5, scale) - 4 * arctan_inv(239, scale)) >> guard
    return 2**8192 - 2**8128 - 1 + 2**64 * (pi + 4743158)


P = rfc3526_prime()


class Stream:
    def __init__(self, seed):
        self.seed, self.counter, self.buf = seed, 0, b""

    def read(self, n):
        while len(self.buf) < n:
            self.buf += hashlib.sha256(self.seed + struct.pack(">Q", self.counter)).digest()
            self.counter += 1
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def draw_coefficient(stream):
    while True:
        v = int.from_bytes(stream.read(SHARE_SIZE), "little")
        if v < P:
            return v


def draw_blinding(stream):
    while True:
        v = int.from_bytes(stream.read(32), "big")
        if 0 < v < pedersen.N:
            return v


def split_parts(plain, k, xs, coef):
    """Shares of every PART_SIZE-byte part of plain; out[i] for xs[i]."""
    out = [bytearray() for _ in xs]
    for j in range(0, len(plain), PART_SIZE):
        secret = int.from_bytes(plain[j:j + PART_SIZE], "little")
        a = [draw_coefficient(coef) for _ in range(k - 1)]
        for i, x in enumerate(xs):
            y = 0
            for c in reversed([secret] + a):
                y = (y * x + c) % P
            out[i] += y.to_bytes(SHARE_SIZE, "little")
    return out


def chunks_of(data):
    chunks = [data[i:i + CHUNK_PLAIN_SIZE] for i in range(0, len(data), CHUNK_PLAIN_SIZE)]
    return chunks or [b""]


def emit_case(name, data, k, xs, coef_seed, blind_seed):
    coef, blind = Stream(coef_seed), Stream(blind_seed)
    h = pedersen.derive_h()[1]
    print("case %s k=%d xs=%s coefseed=%s blindseed=%s" % (
        name, k, ",".join(map(str, xs)), coef_seed.hex(), blind_seed.hex()))
    print("data %s" % data.hex())
    commitments = []
    for index, chunk in enumerate(chunks_of(data)):
        data_parts = -(-len(chunk) // PART_SIZE)
        parts = data_parts + 1
        r = draw_blinding(blind)
        trailer = bytes([1]) + struct.pack(">II", index, len(chunk)) + r.to_bytes(32, "big")
        plain = chunk + bytes(data_parts * PART_SIZE - len(chunk)) + trailer + bytes(PART_SIZE - len(trailer))
        c = pedersen.commit(h, b"qasmat-chunk-v1" + struct.pack(">I", index) + chunk, r)
        commitments.append(c)
        print("chunk index=%d len=%d r=%064x commitment=%s" % (index, len(chunk), r, c.hex()))
        for x, share in zip(xs, split_parts(plain, k, xs, coef)):
            enc = bytes([1, 0]) + struct.pack(">HII", x, index, parts) + bytes(share)
            print("share x=%d digest=%s bytes=%s" % (x, hashlib.sha256(enc).hexdigest(), enc.hex()))
    file_hash = hashlib.sha256(b"qasmat-file-v1" + struct.pack(">Q", len(data)) + b"".join(commitments)).hexdigest()
    print("filehash %s" % file_hash)


def main():
    assert P.bit_length() == 8192 and P >> 8128 == 2**64 - 1 and P % 2**64 == 2**64 - 1
    print("# Chunk and share-chunk fixtures for crypto/shamir, written by testdata/chunk_reference.py.")
    print("# Regenerate: python3 crypto/shamir/testdata/chunk_reference.py > crypto/shamir/testdata/chunk-v1.txt")
    print("# Streams: SHA-256(seed || BE uint64 counter) blocks; see the script's docstring.")
    print("# A 'case' is followed by its data, then per chunk one 'chunk' line and n 'share' lines, then 'filehash'.")
    small = Stream(b"qasmat-chunk-fixture-data").read(2100)
    emit_case("three-parts", small, 2, [1, 2, 3], b"coef-1", b"blind-1")
    emit_case("empty", b"", 3, [1, 2, 3, 4], b"coef-2", b"blind-2")
    emit_case("one-part-x-gaps", b"qasmat", 2, [7, 300, 65535], b"coef-3", b"blind-3")


if __name__ == "__main__":
    main()
