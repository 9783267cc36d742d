"""amqtt's broker-side protocol handler with a direct path for PUBLISH (QoS 0/1) and PUBACK.

amqtt 0.12.1 (pinned) moves every received PUBLISH through three event-loop hand-offs before the broker even
looks at it: a task around each fixed-header read (`asyncio.wait_for`), a task per packet (`handle_publish`),
and the session's delivery queue, which wakes the client loop's `asyncio.wait`. Under device load each hand-off
waits behind everything else queued on the loop. Here a PUBLISH at QoS 0/1 is handed to the broker inside the
reader loop (`accept_publish`), in the order it arrived, and acknowledged after; PUBACKs resolve their waiter
inline. Everything else (SUBSCRIBE, PINGREQ, QoS 2 flows, DISCONNECT) still runs exactly as amqtt runs it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from amqtt.errors import MQTTError, NoDataError
from amqtt.events import MQTTEvents
from amqtt.mqtt import packet_class
from amqtt.mqtt.constants import QOS_0, QOS_1
from amqtt.mqtt.packet import (
    CONNACK,
    CONNECT,
    DISCONNECT,
    PINGREQ,
    PINGRESP,
    PUBACK,
    PUBCOMP,
    PUBLISH,
    PUBREC,
    PUBREL,
    RESERVED_0,
    RESERVED_15,
    SUBACK,
    SUBSCRIBE,
    UNSUBACK,
    UNSUBSCRIBE,
    MQTTFixedHeader,
)
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.puback import PubackPacket
from amqtt.mqtt.publish import PublishPacket
from amqtt.plugins.manager import PluginManager
from amqtt.session import IncomingApplicationMessage, Session

log = logging.getLogger(__name__)

YIELD_EVERY = 16
"""A connection's reader loop lets the rest of the event loop run after this many PUBLISHes in a row."""

AcceptPublish = Callable[[Session, IncomingApplicationMessage], Awaitable[bool]]
"""The broker's intake: route one received message; False = protocol violation, close the connection."""

# Packet types handled in their own task, as amqtt does (handle_<name>).
_TASK_HANDLERS: dict[int, str] = {
    CONNACK: "handle_connack",
    SUBSCRIBE: "handle_subscribe",
    UNSUBSCRIBE: "handle_unsubscribe",
    SUBACK: "handle_suback",
    UNSUBACK: "handle_unsuback",
    PUBREC: "handle_pubrec",
    PUBREL: "handle_pubrel",
    PUBCOMP: "handle_pubcomp",
    PINGREQ: "handle_pingreq",
    PINGRESP: "handle_pingresp",
    PUBLISH: "handle_publish",  # QoS 2 only: its flow waits for PUBREL, which this loop must read meanwhile
    DISCONNECT: "handle_disconnect",
}


class OutpostProtocolHandler(BrokerProtocolHandler):
    """One client connection of the embedded broker (see the module docstring)."""

    def __init__(
        self, plugins_manager: PluginManager[Any], accept_publish: AcceptPublish, loop: asyncio.AbstractEventLoop | None
    ) -> None:
        super().__init__(plugins_manager, loop=loop)
        self._accept_publish = accept_publish
        self.ended = asyncio.Event()
        """Set when the broker is done with this connection (a takeover waits for it)."""

    async def handle_publish(self, publish_packet: PublishPacket) -> None:
        """QoS 0/1: route, then acknowledge (QoS 1). QoS 2: amqtt's own flow."""
        qos = publish_packet.qos
        if qos not in (QOS_0, QOS_1):
            await super().handle_publish(publish_packet)
            return
        session = self.session
        if session is None or publish_packet.topic_name is None or publish_packet.data is None:
            return
        if qos == QOS_0 and publish_packet.dup_flag:
            log.warning("[MQTT-3.3.1-2] DUP flag set on a QoS 0 message from %s; ignored", session.client_id)
            return
        packet_id = publish_packet.variable_header.packet_id if publish_packet.variable_header else None
        message = IncomingApplicationMessage(
            packet_id, publish_packet.topic_name, qos, publish_packet.data, publish_packet.retain_flag
        )
        message.publish_packet = publish_packet
        if not await self._accept_publish(session, message):
            await self.handle_connection_closed()  # the client loop then disconnects the session
            return
        if qos == QOS_1 and packet_id is not None:
            puback = PubackPacket.build(packet_id)
            await self._send_packet(puback)
            message.puback_packet = puback

    async def _reader_loop(self) -> None:
        """amqtt's reader loop, minus the task per read and per PUBLISH/PUBACK (same errors, same shutdown)."""
        session = self.session
        if session is None or self._reader_ready is None:
            raise MQTTError("reader loop started without a session")
        running_tasks: collections.deque[asyncio.Task[None]] = collections.deque()
        handled = 0
        keepalive_timeout: float | None = session.keep_alive if session.keep_alive > 0 else None
        while True:
            try:
                self._reader_ready.set()
                while running_tasks and running_tasks[0].done():
                    running_tasks.popleft()
                reader = self.reader
                if reader is None:
                    break
                async with asyncio.timeout(keepalive_timeout):
                    fixed_header = await MQTTFixedHeader.from_stream(reader)
                if not fixed_header:
                    break  # EOF
                packet_type = fixed_header.packet_type
                if packet_type in (RESERVED_0, RESERVED_15):
                    log.warning("%s sent a reserved packet type; closing", session.client_id)
                    await self.handle_connection_closed()
                    continue
                packet = await packet_class(fixed_header).from_stream(reader, fixed_header=fixed_header)
                await self.plugins_manager.fire_event(MQTTEvents.PACKET_RECEIVED, packet=packet, session=session)
                if packet_type == PUBLISH and isinstance(packet, PublishPacket) and packet.qos in (QOS_0, QOS_1):
                    await self.handle_publish(packet)
                    handled += 1
                    if handled % YIELD_EVERY == 0:
                        # Reads from a full socket buffer never suspend: without this a flooding client would
                        # route hundreds of messages per turn while the site core (one step per turn) starves.
                        await asyncio.sleep(0)
                elif packet_type == PUBACK and isinstance(packet, PubackPacket):
                    await self.handle_puback(packet)
                elif packet_type == CONNECT:
                    await self.handle_connect(packet)
                elif (name := _TASK_HANDLERS.get(packet_type)) is not None:
                    running_tasks.append(asyncio.create_task(getattr(self, name)(packet)))
                else:
                    log.warning("%s sent an unhandled packet type %d", session.client_id, packet_type)
            except MQTTError as err:
                # A packet that does not decode (e.g. a PUBLISH to a wildcard topic) leaves the rest of it unread:
                # what follows would be parsed as packets. amqtt drops just the packet; MQTT says close (4.8).
                log.warning("%s sent a malformed packet (%s); closing", session.client_id, err)
                break
            except asyncio.CancelledError:
                break
            except TimeoutError:
                self.handle_read_timeout()
            except NoDataError:
                log.debug("%s: no data", session.client_id)
            except Exception as err:  # supervision point: a broken connection must not take the broker down
                log.warning("%s: reader loop ended: %r", session.client_id, err)
                break
        while running_tasks:
            running_tasks.popleft().cancel()
        await self.handle_connection_closed()
        self._reader_stopped.set()
        await self.stop()
