"""RSASSA-PKCS1-v1_5 verification with SHA-256 (RFC 8017, section 8.2.2), in plain Python.

KMS signs each registration with the registry's key; the functions check signatures with the
key's public half. Verifying is one modular exponentiation and one comparison, so it needs no
cryptography library in the Lambda package (about 10 MB unpacked). The signature is turned
back into the encoded message and compared, whole, with the one encoding the signer must have
produced: nothing inside it is parsed, which is what keeps out the forgeries that lenient
PKCS#1 parsers allowed (Bleichenbacher, 2006).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

# DER of DigestInfo { AlgorithmIdentifier { id-sha256, NULL }, OCTET STRING (32 bytes) }
# without the digest itself (RFC 8017, section 9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
_RSA_ENCRYPTION_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1
_SEQUENCE, _INTEGER, _BIT_STRING, _OID, _NULL = 0x30, 0x02, 0x03, 0x06, 0x05
MIN_MODULUS_BITS = 2048


class KeyFormatError(ValueError):
    """Bytes that are not a DER SubjectPublicKeyInfo of an RSA key we accept."""


@dataclass(frozen=True)
class RsaPublicKey:
    """An RSA public key: modulus and public exponent."""

    modulus: int
    exponent: int

    @property
    def size_bytes(self) -> int:
        """Length of the modulus, and so of every signature, in bytes."""
        return (self.modulus.bit_length() + 7) // 8


def parse_public_key(der: bytes) -> RsaPublicKey:
    """The key in a DER SubjectPublicKeyInfo, as KMS's GetPublicKey returns it."""
    tag, body, rest = _read(der)
    if tag != _SEQUENCE or rest:
        raise KeyFormatError("not a single DER SEQUENCE")
    tag, algorithm, body = _read(body)
    tag_bits, bits, trailing = _read(body)
    if tag != _SEQUENCE or tag_bits != _BIT_STRING or trailing:
        raise KeyFormatError("not a SubjectPublicKeyInfo")
    tag, oid, parameters = _read(algorithm)
    if tag != _OID or oid != _RSA_ENCRYPTION_OID or parameters not in (b"", b"\x05\x00"):
        raise KeyFormatError("not an RSA key")
    if not bits or bits[0] != 0:
        raise KeyFormatError("the key's BIT STRING has unused bits")
    tag, numbers, rest = _read(bits[1:])
    if tag != _SEQUENCE or rest:
        raise KeyFormatError("not an RSAPublicKey")
    modulus, numbers = _integer(numbers)
    exponent, rest = _integer(numbers)
    if rest:
        raise KeyFormatError("trailing bytes after the exponent")
    if modulus.bit_length() < MIN_MODULUS_BITS or exponent < 3 or exponent % 2 == 0:
        raise KeyFormatError(f"RSA keys need at least {MIN_MODULUS_BITS} bits and an odd exponent")
    return RsaPublicKey(modulus, exponent)


def verify_sha256(key: RsaPublicKey, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is `key`'s RSASSA-PKCS1-v1_5 signature of SHA-256(`message`)."""
    size = key.size_bytes
    if len(signature) != size:
        return False
    representative = int.from_bytes(signature, "big")
    if representative >= key.modulus:
        return False
    encoded = pow(representative, key.exponent, key.modulus).to_bytes(size, "big")
    return hmac.compare_digest(encoded, expected_encoding(message, size))


def expected_encoding(message: bytes, size: int) -> bytes:
    """EMSA-PKCS1-v1_5 of SHA-256(`message`) for a modulus of `size` bytes."""
    digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    padding = size - len(digest_info) - 3
    return b"\x00\x01" + b"\xff" * padding + b"\x00" + digest_info


def _read(data: bytes) -> tuple[int, bytes, bytes]:
    """(tag, contents, what follows) of the DER element at the start of `data`."""
    if len(data) < 2:
        raise KeyFormatError("truncated DER element")
    tag, first = data[0], data[1]
    if first < 0x80:
        length, start = first, 2
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or len(data) < 2 + count:
            raise KeyFormatError("bad DER length")
        length, start = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    end = start + length
    if end > len(data):
        raise KeyFormatError("truncated DER element")
    return tag, data[start:end], data[end:]


def _integer(data: bytes) -> tuple[int, bytes]:
    tag, contents, rest = _read(data)
    if tag != _INTEGER or not contents or contents[0] & 0x80:
        raise KeyFormatError("expected a positive INTEGER")
    return int.from_bytes(contents, "big"), rest
