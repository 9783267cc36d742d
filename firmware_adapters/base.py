"""The contract every firmware adapter implements."""

from __future__ import annotations

import abc
from typing import ClassVar


class AdapterError(Exception):
    """A device protocol failed; raised by adapters instead of transport errors."""


class DeviceAdapter(abc.ABC):
    """Translates one device protocol to and from Outpost's typed device messages.

    `type_key` names the protocol in config (`adapter.type`). An adapter is started once
    and stopped once; `stop()` must be safe after a failed `start()`.
    """

    type_key: ClassVar[str]

    @abc.abstractmethod
    async def start(self) -> None:
        """Open the transport and begin delivering messages."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Close the transport; pending work is dropped or flushed as the adapter documents."""
