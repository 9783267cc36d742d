"""MQTT password hashes in the two formats Outpost's brokers understand (pure functions).

- ``argon2`` (``$argon2id$...``): the default; checked by the embedded broker.
- ``mosquitto`` (``$7$<iterations>$<base64 salt>$<base64 hash>``, PBKDF2-SHA512): the format of
  ``mosquitto_passwd`` (Mosquitto 2.0). Required when the site runs an external Mosquitto, which cannot
  check argon2; the embedded broker checks it too, so one config works with either broker.

Hashes are one-way: an argon2 hash cannot be turned into a Mosquitto one. A site that moves to an external
Mosquitto re-hashes its device passwords (``outpost-edge hash-password --format mosquitto``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HashScheme = Literal["argon2", "mosquitto"]

# mosquitto_passwd's own defaults (Mosquitto 2.0): 12-byte salt, 101 iterations, 64-byte SHA-512 digest.
# Mosquitto checks passwords on its single broker thread, so the cost is kept at its default; device
# passwords are random tokens (provisioning generates them), for which a slow KDF adds nothing.
MOSQUITTO_ITERATIONS = 101
_SALT_BYTES = 12
_DIGEST_BYTES = 64

_argon2 = PasswordHasher()


def scheme_of(password_hash: str) -> HashScheme | None:
    """Return which scheme produced `password_hash`, or None if it is neither."""
    if password_hash.startswith("$argon2"):
        return "argon2"
    if _parse_mosquitto(password_hash) is not None:
        return "mosquitto"
    return None


def hash_password(password: str, scheme: HashScheme = "argon2") -> str:
    """Return a hash of `password` in `scheme`."""
    if scheme == "argon2":
        return _argon2.hash(password)
    return mosquitto_hash(password)


def mosquitto_hash(password: str, iterations: int = MOSQUITTO_ITERATIONS, salt: bytes | None = None) -> str:
    """Return a Mosquitto 2.0 `$7$` PBKDF2-SHA512 hash, as `mosquitto_passwd` writes it."""
    salt = os.urandom(_SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, _DIGEST_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password_hash: str, password: str) -> bool:
    """Return True if `password` matches `password_hash` (either scheme); slow by design, run off the loop."""
    if password_hash.startswith("$argon2"):
        try:
            return _argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
    parsed = _parse_mosquitto(password_hash)
    if parsed is None:
        return False
    iterations, salt, digest = parsed
    candidate = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(digest))
    return hmac.compare_digest(candidate, digest)


def _parse_mosquitto(password_hash: str) -> tuple[int, bytes, bytes] | None:
    parts = password_hash.split("$")
    # "$7$101$salt$hash" splits into ["", "7", "101", salt, hash].
    if len(parts) != 5 or parts[0] or parts[1] != "7" or not parts[2].isdigit():
        return None
    try:
        salt = base64.b64decode(parts[3], validate=True)
        digest = base64.b64decode(parts[4], validate=True)
    except (binascii.Error, ValueError):
        return None
    iterations = int(parts[2])
    if not salt or len(digest) != _DIGEST_BYTES or not 1 <= iterations <= 10_000_000:
        return None
    return iterations, salt, digest
