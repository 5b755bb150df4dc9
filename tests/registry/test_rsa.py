"""The plain-Python RSASSA-PKCS1-v1_5 verifier agrees with the cryptography library (a test
dependency) on every message, accepts only the key's own signatures of exactly that message,
and reads KMS's public keys."""

from __future__ import annotations

from functools import cache

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.registry._rsa import (
    KeyFormatError,
    RsaPublicKey,
    expected_encoding,
    parse_public_key,
    verify_sha256,
)
from chalicelib.storage import AwsClients


@cache
def private_key(bits: int = 3072, seed: int = 0) -> rsa.RSAPrivateKey:
    del seed  # distinct keys per seed, made once each
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def der(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign(key: rsa.RSAPrivateKey, message: bytes) -> bytes:
    return key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def test_the_public_key_is_read_as_cryptography_reads_it() -> None:
    for bits in (2048, 3072, 4096):
        key = private_key(bits)
        numbers = key.public_key().public_numbers()
        assert parse_public_key(der(key)) == RsaPublicKey(numbers.n, numbers.e)


@settings(max_examples=200, deadline=None)
@given(message=st.binary(max_size=4096))
def test_every_signature_of_the_key_verifies(message: bytes) -> None:
    key = private_key()
    assert verify_sha256(parse_public_key(der(key)), message, sign(key, message))


@settings(max_examples=200, deadline=None)
@given(message=st.binary(max_size=512), other=st.binary(max_size=512))
def test_a_signature_of_another_message_does_not(message: bytes, other: bytes) -> None:
    key = private_key()
    verdict = verify_sha256(parse_public_key(der(key)), other, sign(key, message))
    assert verdict is (other == message)


@settings(max_examples=200, deadline=None)
@given(
    message=st.binary(max_size=256),
    position=st.integers(min_value=0, max_value=383),
    flip=st.integers(min_value=1, max_value=255),
)
def test_any_changed_byte_of_the_signature_is_refused(
    message: bytes, position: int, flip: int
) -> None:
    key = private_key()
    signature = bytearray(sign(key, message))
    signature[position] ^= flip
    assert not verify_sha256(parse_public_key(der(key)), message, bytes(signature))


def test_another_keys_signatures_and_other_paddings_are_refused() -> None:
    ours, theirs = private_key(), private_key(seed=1)
    public = parse_public_key(der(ours))
    message = b'{"model":"churn","version":1}'
    assert not verify_sha256(public, message, sign(theirs, message))
    pss = ours.sign(
        message,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )
    assert not verify_sha256(public, message, pss)
    sha512 = ours.sign(message, padding.PKCS1v15(), hashes.SHA512())
    assert not verify_sha256(public, message, sha512)
    assert not verify_sha256(public, message, b"")
    assert not verify_sha256(public, message, b"\x00" * 383 + b"\x01")
    too_big = (public.modulus + 1).to_bytes(384, "big")
    assert not verify_sha256(public, message, too_big)


def test_the_encoding_is_rfc_8017s() -> None:
    # RFC 8017, 9.2: 0x00 0x01 PS 0x00 T, with PS at least eight 0xff bytes.
    encoded = expected_encoding(b"abc", 256)
    assert len(encoded) == 256
    assert encoded[:2] == b"\x00\x01"
    assert encoded[2:-52] == b"\xff" * (256 - 3 - 51)
    assert encoded[-52:-51] == b"\x00"


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[:-1],  # truncated
        lambda d: d + b"\x00",  # trailing bytes
        lambda d: b"\x31" + d[1:],  # not a SEQUENCE
        lambda d: d.replace(
            bytes.fromhex("2a864886f70d010101"), bytes.fromhex("2a864886f70d010102")
        ),
    ],
)
def test_damaged_keys_are_refused(damage) -> None:
    with pytest.raises(KeyFormatError):
        parse_public_key(damage(der(private_key())))


def test_small_or_non_rsa_keys_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(KeyFormatError, match="at least 2048 bits"):
        parse_public_key(der(small))
    ecdsa = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = ecdsa.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyFormatError):
        parse_public_key(spki)


def test_kms_signatures_verify_locally(aws: AwsClients) -> None:
    # moto signs as KMS does (RAW message, RSASSA_PKCS1_V1_5_SHA_256); what KMS signs, the
    # functions verify with the public key alone.
    kms = aws.client("kms")
    message = b'{"files":{},"model":"churn","version":3}'
    signature = kms.sign(
        KeyId="alias/sklambda-signing",
        Message=message,
        MessageType="RAW",
        SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
    )["Signature"]
    public = parse_public_key(kms.get_public_key(KeyId="alias/sklambda-signing")["PublicKey"])
    assert verify_sha256(public, message, signature)
    assert not verify_sha256(public, message + b" ", signature)
