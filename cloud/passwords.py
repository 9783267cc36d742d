"""Argon2id password hashing, run off the event loop (each hash costs tens of milliseconds of CPU)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Stateless: holds only the cost parameters (argon2-cffi defaults, RFC 9106 low-memory profile).
_HASHER = PasswordHasher()

MIN_PASSWORD_LENGTH = 8


async def hash_password(password: str) -> str:
    """Return the argon2id hash of `password`."""
    return await asyncio.to_thread(_HASHER.hash, password)


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str, password: str) -> bool:
    """Return whether `password` matches `stored_hash`."""
    return await asyncio.to_thread(_verify, stored_hash, password)


def needs_rehash(stored_hash: str) -> bool:
    """Return whether the hash was made with weaker parameters than the current ones."""
    return _HASHER.check_needs_rehash(stored_hash)
