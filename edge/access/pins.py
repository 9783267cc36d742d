"""PIN hashing with a per-site key: PINs are never stored, only HMAC-SHA256(site key, salt + PIN).

A 4-8 digit PIN has too few values for a plain hash to protect it; keying the hash with a secret that lives
only on the box (a 0600 file beside the database, never synced) means a stolen database alone does not give
the PINs away. A random salt per hash means PINs cannot be looked up or compared across people: a PIN is only
ever checked against the person the card identified. HMAC is fast enough to run on the event loop, unlike
argon2, so a card+PIN decision never waits on a worker thread.

Back the key file up with the database: without it every stored PIN is unusable (people must re-enrol them).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from edge.config import ConfigError, check_private

_SCHEME = "hmac-sha256"
PIN_PATTERN = r"^[0-9]{4,12}$"


class PinHasher:
    """Hashes and verifies PINs with the site key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("PIN key must be at least 16 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "PinHasher(<key hidden>)"

    @classmethod
    def from_file(cls, path: Path) -> PinHasher:
        """Load the key from `path`, creating it (mode 0600) on first use."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # created meanwhile by another process: read that one
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_hex(32) + "\n")
        check_private(path)
        try:
            key = bytes.fromhex(path.read_text().strip())
        except ValueError as err:
            raise ConfigError(f"{path}: the PIN key must be hex") from err
        return cls(key)

    def hash(self, pin: str) -> str:
        """Return the stored form of `pin`: scheme$salt$digest."""
        salt = secrets.token_hex(16)
        return f"{_SCHEME}${salt}${self._digest(salt, pin)}"

    def verify(self, pin: str, stored: str | None) -> bool:
        """Return True if `pin` matches `stored` (constant-time)."""
        if not stored:
            return False
        try:
            scheme, salt, digest = stored.split("$")
        except ValueError:
            return False
        if scheme != _SCHEME:
            return False
        return hmac.compare_digest(digest, self._digest(salt, pin))

    def _digest(self, salt: str, pin: str) -> str:
        return hmac.new(self._key, f"{salt}\0{pin}".encode(), hashlib.sha256).hexdigest()
