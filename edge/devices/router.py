"""Routes validated device messages to the component that owns them."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping

from edge.access.service import AccessService
from edge.devices.gateway import AdapterError, DeviceGateway, UnknownDevice
from edge.devices.state import SiteState
from firmware_adapters.messages import Ack, BadgeRead, ContactChange, DeviceMessage, Feedback, Status, Telemetry

log = logging.getLogger(__name__)
REMEMBERED_EVENTS = 256  # per device: event ids already handled, so a re-sent event is only confirmed again


class HandledEvents:
    """The ids of the last `size` events handled for each device (a bounded, insertion-ordered memory)."""

    def __init__(self, size: int = REMEMBERED_EVENTS) -> None:
        self._size = size
        self._order: dict[str, deque[str]] = {}
        self._ids: dict[str, set[str]] = {}

    def __contains__(self, key: tuple[str, str]) -> bool:
        device, event_id = key
        return event_id in self._ids.get(device, ())

    def add(self, device: str, event_id: str) -> None:
        """Remember that `event_id` of `device` is handled (its record on disk); forget the oldest past `size`."""
        order = self._order.setdefault(device, deque())
        ids = self._ids.setdefault(device, set())
        order.append(event_id)
        ids.add(event_id)
        if len(order) > self._size:
            ids.discard(order.popleft())

    def load(self, handled: Mapping[str, Iterable[str]]) -> None:
        """Remember the ids journaled per device, oldest first (`edge.storage.device_events`, at start)."""
        for device, event_ids in handled.items():
            for event_id in event_ids:
                self.add(device, event_id)


class DeviceRouter:
    """Dispatches by message type: state first (what the device reports), then access control.

    A badge read gets reader feedback (granted or not; a pending card+PIN or two-person read is 'not yet') and
    then its receipt, once the decision is on disk.

    Devices re-send an event whose receipt they did not get (docs/MQTT.md), also when only the receipt was lost (a
    broker restart between the commit and the receipt). An event id handled recently for the same device is
    therefore only confirmed again: no second decision, audit record or unlock. `handled` starts from the journal
    (the last ids stored per device), so this holds also for a re-send that crosses a restart of the edge.
    """

    def __init__(self, state: SiteState, access: AccessService, gateway: DeviceGateway, handled: HandledEvents) -> None:
        self._state = state
        self._access = access
        self._gateway = gateway
        self._handled = handled

    async def __call__(self, device: str, message: DeviceMessage) -> None:
        """Handle one device message."""
        match message:
            case Status():
                if await self._state.on_status(device, message):
                    await self._access.on_device_status(device, message.state == "online")
            case Telemetry():
                await self._state.on_telemetry(device, message)
                await self._access.on_telemetry(device, message)
            case BadgeRead() | ContactChange() if (device, message.id) in self._handled:
                log.info("%s re-sent event %s, already stored: confirmed again", device, message.id)
                await self._gateway.send(device, Ack(id=message.id))
            case BadgeRead():
                decision = await self._access.on_badge(device, message)
                self._handled.add(device, message.id)
                await self._feedback(
                    device, Feedback(id=message.id, granted=decision.granted, reason=decision.reason.value)
                )
                await self._gateway.send(device, Ack(id=message.id))
            case ContactChange():
                await self._state.on_contact(device, message)
                await self._access.on_contact(device, message)
                self._handled.add(device, message.id)
                await self._gateway.send(device, Ack(id=message.id))
            case Ack():
                await self._access.on_ack(device, message)
            case _:
                pass

    async def _feedback(self, reader: str, feedback: Feedback) -> None:
        # Best effort: a reader that cannot show the decision still gets its receipt.
        try:
            await self._gateway.send(reader, feedback)
        except (AdapterError, UnknownDevice) as err:
            log.debug("no feedback to %s: %s", reader, err)
