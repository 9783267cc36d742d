"""The site's sync secret as the sync agent and config puller read it: re-read when its file changes.

`outpost-provision rotate-secret` replaces `cloud.secret_file` atomically while the edge runs; the cloud still
accepts the old secret for a grace window, within which the edge's next request picks the new one up (no restart).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from edge.config import ConfigError
from edge.config.base import check_private

log = logging.getLogger(__name__)


class SecretFile:
    """Callable returning the secret in `path`: read again when the file changes, the last good one on errors."""

    def __init__(self, path: Path, initial: str) -> None:
        self.path = path
        self._secret = initial
        self._seen = self._identity()

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_size

    def __call__(self) -> str:
        identity = self._identity()
        if identity is None or identity == self._seen:
            return self._secret
        try:
            check_private(self.path)
            secret = self.path.read_text().strip()
        except (ConfigError, OSError) as err:
            # Keep signing with the key that worked; the console and the cloud show the sync error if it is stale.
            log.error("cannot read the new sync secret in %s (%s): keeping the previous one", self.path, err)
            return self._secret
        self._seen = identity
        if secret and secret != self._secret:
            log.info("sync secret in %s changed: signing with the new one", self.path)
            self._secret = secret
        return self._secret
