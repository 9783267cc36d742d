"""amqtt's broker with Outpost's ACL decision called directly, direct fan-out, and in-process clients.

amqtt 0.12.1 is pinned; each override below names the amqtt behaviour it replaces and keeps its semantics
(delivery at the subscription's QoS, queueing for offline persistent sessions, retained messages, events
for plugins that listen). What changes is how many event-loop hand-offs a message takes:

- topic checks: amqtt runs them through its plugin manager (a task per plugin plus a gather, for the publish
  check and again per subscriber); `_topic_filtering` makes the same decision inline.
- intake: `OutpostProtocolHandler` hands QoS 0/1 PUBLISHes to `accept_publish` from the reader loop instead of
  through a task, the session's delivery queue and the client loop.
- fan-out: amqtt queues each message for a broadcast task, which starts one task per subscriber to write it.
  `_broadcast_message` here writes the PUBLISH to each connected subscriber's socket at once (QoS 0/1, while
  nothing is queued before it for that connection) and lets the PUBACK resolve a future; a subscriber whose
  socket is backed up, or a QoS 2 delivery, goes through amqtt's own `mqtt_publish` task as before.
- the site core's adapters are `LocalConnection`s (edge.broker.local): no socket at all.
- connecting: the CONNECT is read and checked by `edge.broker.connect` (MQTT 3.1.1 and 3.1 served, MQTT 5
  refused with its own reason code), and the client authenticated, before any session of its client id is
  touched (`_serve_connection`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import Counter
from typing import Any

from amqtt.adapters import ReaderAdapter, StreamWriterAdapter, WriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import AMQTTError, BrokerError, MQTTError, NoDataError, ProtocolHandlerError
from amqtt.events import BrokerEvents, MQTTEvents
from amqtt.mqtt.connack import CONNECTION_ACCEPTED, ConnackPacket
from amqtt.mqtt.constants import QOS_0, QOS_1, QOS_2
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import IncomingApplicationMessage, OutgoingApplicationMessage, Session

from edge.broker.connect import CONNECT_TIMEOUT_S, NOT_AUTHORIZED, ConnectRefused, read_connect
from edge.broker.directory import BrokerDirectory
from edge.broker.local import LocalHub
from edge.broker.plugin import topic_allowed
from edge.broker.protocol_handler import OutpostProtocolHandler

log = logging.getLogger(__name__)

PUBACK_TIMEOUT_S = 5.0
"""As amqtt: an unacknowledged QoS 1 delivery is given up (and logged) after this long."""
WRITE_BUFFER_LIMIT = 64 * 1024
"""A subscriber with more than this unsent in its socket buffer gets amqtt's flow (which awaits drain)."""
TAKEOVER_TIMEOUT_S = 5.0
"""How long a client id's previous connection may take to wind down before it is stopped outright."""
CLOSE_TIMEOUT_S = 2.0
"""Writing a refusal and closing: a peer that does not read does not hold the connection open."""


class OutpostBroker(Broker):
    """The embedded site broker (see the module docstring)."""

    def __init__(
        self,
        config: dict[str, Any],
        directory: BrokerDirectory,
        local: LocalHub,
        refused_connects: Counter[str] | None = None,
    ) -> None:
        super().__init__(config)
        self._directory = directory
        self.local = local
        self._slow_deliveries: set[asyncio.Task[Any]] = set()
        self._queued_per_handler: dict[int, int] = {}
        self._packet_sent_observed = False
        self.connect_timeout_s = CONNECT_TIMEOUT_S
        self.refused_connects: Counter[str] = Counter() if refused_connects is None else refused_connects
        """CONNECTs refused, by reason (`edge.broker.connect.RefusalReason`, `not_authorized`, `error`)."""
        self._claims: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def start(self) -> None:
        """Start listening; local connections can publish from now on."""
        await super().start()
        # Direct writes skip amqtt's PACKET_SENT event; if a plugin listens to it, keep amqtt's path.
        self._packet_sent_observed = MQTTEvents.PACKET_SENT in getattr(
            self.plugins_manager, "_event_plugin_callbacks", {MQTTEvents.PACKET_SENT: None}
        )
        self.local.bind(self._publish_local, self._retained_payloads)

    async def shutdown(self) -> None:
        """Refuse local publishes, stop amqtt, cancel deliveries still waiting for a socket."""
        self.local.unbind()
        await super().shutdown()
        for task in list(self._slow_deliveries):
            task.cancel()
        await asyncio.gather(*self._slow_deliveries, return_exceptions=True)

    # --- topic checks -------------------------------------------------------------------------------------

    async def _topic_filtering(self, session: Session, topic: str, action: Action) -> bool:
        return topic_allowed(self._directory, session, topic, action)

    # --- intake -------------------------------------------------------------------------------------------

    async def _client_connected(self, listener_name: str, reader: ReaderAdapter, writer: WriterAdapter) -> None:
        """One TCP connection, start to end (amqtt's `_client_connected`, with the CONNECT checked first)."""
        server = self._servers.get(listener_name)
        if server is None:
            raise BrokerError(f"Invalid listener name {listener_name!r}")
        await server.acquire_connection()
        try:
            await self._serve_connection(listener_name, reader, writer)
        except (AMQTTError, MQTTError, NoDataError, ConnectionError) as err:
            log.info("connection ended: %s", err)
        except Exception as err:  # supervision point: a client must never crash the broker or log a traceback
            self.refused_connects["error"] += 1
            log.warning("connection ended by an unexpected error: %r", err)
        finally:
            server.release_connection()

    async def _serve_connection(self, listener_name: str, reader: ReaderAdapter, writer: WriterAdapter) -> None:
        """Check the CONNECT and its credentials, then (and only then) take the client id's session.

        amqtt 0.12.1 deletes the client id's old session (clean session) or overwrites its credentials and will
        (persistent session) before it authenticates, and closes a connected client's handler on a mere CONNECT:
        anyone could cut a device off by connecting with its client id. Here nothing is touched until the
        client has proved it may use the id.
        """
        peer = writer.get_peer_info()
        if peer is None:
            await writer.close()
            return
        address, port = peer
        try:
            request = await read_connect(reader, self.connect_timeout_s)
        except ConnectRefused as refusal:
            await self._refuse(writer, refusal, f"{address}:{port}")
            return
        await self.plugins_manager.fire_event(MQTTEvents.PACKET_RECEIVED, packet=request.packet)
        incoming = request.session(address, port)
        incoming.ssl_object = writer.get_ssl_info()
        if not await self._authenticate(incoming, self.listeners_config[listener_name]):
            denied = ConnectRefused("not_authorized", "not authorized", request.connack(NOT_AUTHORIZED))
            await self._refuse(writer, denied, f"{request.client_id!r} from {address}:{port}")
            return
        client_id = request.client_id
        lock = self._claims.setdefault(client_id, asyncio.Lock())
        async with lock:  # one CONNECT per client id at a time takes over, so two cannot both win
            session = await self._claim_session(incoming)
            handler = self._new_handler()
            session.transitions.connect()
            handler.attach(session, reader, writer)
            self._sessions[client_id] = (session, handler)
        try:
            present = session.parent == 1 and request.level >= 4  # MQTT 3.1 has no session-present flag
            await handler._send_packet(ConnackPacket.build(int(present), CONNECTION_ACCEPTED))
            await self.plugins_manager.fire_event(
                BrokerEvents.CLIENT_CONNECTED, client_id=client_id, client_session=session
            )
            await handler.start()
            await self._publish_session_retained_messages(session)
            for topic_filter in list(self._subscriptions):
                await self._publish_retained_messages_for_subscription((topic_filter, QOS_0), session)
            await self._client_message_loop(session, handler)
        finally:
            if session.transitions.is_connected() and self._sessions.get(client_id, (None, None))[1] is handler:
                # Ended by an error, not through amqtt's disconnect handling: the session must not stay
                # "connected" to a dead handler (the device's next CONNECT would wait for it to end).
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(CLOSE_TIMEOUT_S):
                        await handler.stop()
                session.transitions.disconnect()
            handler.ended.set()

    async def _refuse(self, writer: WriterAdapter, refusal: ConnectRefused, who: str) -> None:
        """Count and log a refused CONNECT, answer it as its protocol expects, close."""
        self.refused_connects[refusal.reason] += 1
        level = logging.DEBUG if refusal.reason == "no_connect" else logging.WARNING
        log.log(level, "MQTT connection from %s refused (%s): %s", who, refusal.reason, refusal.detail)
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                if refusal.reply:
                    writer.write(refusal.reply)
                await writer.close()
        except (TimeoutError, ConnectionError) as err:
            log.debug("closing a refused connection from %s: %r", who, err)

    async def _claim_session(self, incoming: Session) -> Session:
        """The session an authenticated CONNECT continues or starts (amqtt's session part of connecting).

        A client already connected with this id is disconnected first [MQTT-3.1.4-2]; a clean session, or a
        previous session that was clean, starts empty [MQTT-3.1.2-6].
        """
        client_id = incoming.client_id
        assert client_id is not None  # read_connect always sets one
        held = self._sessions.get(client_id)
        if held is not None and held[0].transitions.is_connected():
            await self._disconnect_previous(client_id, held[0], held[1])
        held = self._sessions.get(client_id)
        if incoming.clean_session or held is None or held[0].clean_session:
            await self._delete_session(client_id)
            incoming.parent = 0
            session = incoming
        else:
            session = held[0]
            for name in ("will_flag", "will_message", "will_topic", "will_qos", "will_retain", "keep_alive"):
                setattr(session, name, getattr(incoming, name))
            session.username, session.password = incoming.username, incoming.password
            session.remote_address, session.remote_port = incoming.remote_address, incoming.remote_port
            session.parent = 1
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        return session

    async def _disconnect_previous(self, client_id: str, session: Session, handler: BrokerProtocolHandler) -> None:
        """Close the connection a client id had until now, and wait until it is wound down."""
        log.info("%s connected again: closing its previous connection", client_id)
        # The same account is taking its connection back: the device is not gone, so its Last Will
        # ("offline") must not be published, possibly after the new connection's "online".
        session.will_flag = False
        await handler.handle_connection_closed()
        ended: asyncio.Event | None = getattr(handler, "ended", None)
        if ended is not None and await _within(ended, TAKEOVER_TIMEOUT_S):
            return
        # Its wind-down is stuck (e.g. a write to a peer that no longer reads): cut the socket, which ends
        # every wait on it, rather than a graceful stop that would wait on the same write.
        log.warning("%s: previous connection did not end within %.0f s; aborting it", client_id, TAKEOVER_TIMEOUT_S)
        writer = handler.writer
        if isinstance(writer, StreamWriterAdapter) and writer._writer.transport is not None:
            writer._writer.transport.abort()
        if ended is None or not await _within(ended, TAKEOVER_TIMEOUT_S):
            log.warning("%s: previous connection still winding down; its session is taken over anyway", client_id)
        if session.transitions.is_connected():
            session.transitions.disconnect()

    def _new_handler(self) -> OutpostProtocolHandler:
        return OutpostProtocolHandler(self.plugins_manager, self.accept_publish, loop=asyncio.get_running_loop())

    async def accept_publish(self, session: Session, message: IncomingApplicationMessage) -> bool:
        """Route one PUBLISH a client sent (amqtt's `_handle_message_delivery`); False closes the connection."""
        await self.plugins_manager.fire_event(
            BrokerEvents.MESSAGE_RECEIVED, client_id=session.client_id, message=message
        )
        topic = message.topic
        if not topic or "#" in topic or "+" in topic:
            log.warning("[MQTT-3.3.2-2] %s published to invalid topic %r; closing", session.client_id, topic)
            return False
        if topic.startswith("$"):
            log.warning("[MQTT-4.7.2-1] %s published to a $ topic %r; closing", session.client_id, topic)
            return False
        if not topic_allowed(self._directory, session, topic, Action.PUBLISH):
            log.info("%s not allowed to publish to %s", session.client_id, topic)
            return True
        await self.plugins_manager.fire_event(
            BrokerEvents.MESSAGE_BROADCAST, client_id=session.client_id, message=message
        )
        await self._broadcast_message(session, topic, message.data)
        if message.publish_packet is not None and message.publish_packet.retain_flag:
            await self.retain_message(session, topic, message.data, message.qos)
        return True

    async def _publish_local(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """A local connection's publish (already checked against its account)."""
        await self._broadcast_message(None, topic, payload)
        if retain:
            await self.retain_message(None, topic, payload, qos)

    def _retained_payloads(self) -> dict[str, bytes]:
        return {topic: bytes(m.data) for topic, m in self._retained_messages.items() if m.data}

    # --- fan-out ------------------------------------------------------------------------------------------

    async def _broadcast_message(
        self,
        session: Session | None,
        topic: str | None,
        data: bytes | bytearray | None,
        force_qos: int | None = None,
    ) -> None:
        """Deliver to every matching subscriber now (amqtt's `_run_broadcast`, without its queue and tasks)."""
        if topic is None or data is None:
            return
        for topic_filter, subscriptions in list(self._subscriptions.items()):
            if not self._matches(topic, topic_filter):
                continue
            for target, sub_qos in list(subscriptions):
                qos = sub_qos if force_qos is None else force_qos
                if not topic_allowed(self._directory, target, topic, Action.RECEIVE):
                    continue
                if target.transitions.state != "connected":
                    # Kept for a persistent session that is away (MQTT 3.1.2.4), as amqtt does.
                    if not target.clean_session and qos in (QOS_1, QOS_2) and not target.is_anonymous:
                        broadcast = {"session": session, "topic": topic, "data": data}
                        await self._retain_broadcast_message(broadcast, qos, target)
                    continue
                handler = self._get_handler(target)
                if handler is not None:
                    self._deliver(handler, topic, data, qos)
        self.local.route(topic, bytes(data))

    def _deliver(self, handler: BrokerProtocolHandler, topic: str, data: bytes | bytearray, qos: int) -> None:
        """Write one PUBLISH to a subscriber now if its connection allows it, else through amqtt's flow."""
        if not self._write_directly(handler, topic, data, qos):
            key = id(handler)
            self._queued_per_handler[key] = self._queued_per_handler.get(key, 0) + 1
            task = asyncio.ensure_future(handler.mqtt_publish(topic, data, qos, retain=False))
            self._slow_deliveries.add(task)
            task.add_done_callback(lambda t: self._slow_delivery_done(t, key))

    def _slow_delivery_done(self, task: asyncio.Task[Any], key: int) -> None:
        self._slow_deliveries.discard(task)
        remaining = self._queued_per_handler.get(key, 1) - 1
        if remaining > 0:
            self._queued_per_handler[key] = remaining
        else:
            self._queued_per_handler.pop(key, None)
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        # A connection that closes with deliveries queued ends each of them this way: one line per message
        # would bury the log (a takeover of a backed-up subscriber logged hundreds), so only at debug.
        level = logging.DEBUG if isinstance(error, ProtocolHandlerError) else logging.WARNING
        log.log(level, "delivery failed: %r", error)

    def _write_directly(self, handler: BrokerProtocolHandler, topic: str, data: bytes | bytearray, qos: int) -> bool:
        """Write a QoS 0/1 PUBLISH to the subscriber's socket now; False if amqtt's flow must do it.

        Only when nothing can be ahead of it for that connection (no delivery queued, no write in progress)
        and its socket buffer is not backed up, so per-connection order and back-pressure are kept.
        """
        session = handler.session
        writer = handler.writer
        if (
            qos not in (QOS_0, QOS_1)
            or session is None
            or self._packet_sent_observed
            or not isinstance(writer, StreamWriterAdapter)
            or writer.is_closed
            or self._queued_per_handler.get(id(handler))
            or handler._write_lock.locked()
        ):
            return False
        transport = writer._writer.transport
        if transport is None or transport.is_closing() or transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            return False
        if qos == QOS_0:
            writer.write(OutgoingApplicationMessage(None, topic, QOS_0, data, False).build_publish_packet().to_bytes())
            return True
        try:
            packet_id = session.next_packet_id
        except AMQTTError:  # 65535 deliveries unacknowledged: amqtt's flow reports it
            return False
        message = OutgoingApplicationMessage(packet_id, topic, QOS_1, data, False)
        message.publish_packet = message.build_publish_packet()
        session.inflight_out[packet_id] = message
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        handler._puback_waiters[packet_id] = waiter
        timer = asyncio.get_running_loop().call_later(PUBACK_TIMEOUT_S, _expire, waiter)

        def acknowledged(done: asyncio.Future[Any]) -> None:
            # As amqtt's QoS 1 flow ends: the waiter goes, the message leaves the in-flight window.
            timer.cancel()
            if handler._puback_waiters.get(packet_id) is done:
                del handler._puback_waiters[packet_id]
            if session.inflight_out.get(packet_id) is message:
                del session.inflight_out[packet_id]
            if done.cancelled():
                return  # connection stopped: amqtt's flow ends the same way
            error = done.exception()
            if error is not None:
                log.warning("%s: no PUBACK for packet %d within %.0f s", session.client_id, packet_id, PUBACK_TIMEOUT_S)
            else:
                message.puback_packet = done.result()

        waiter.add_done_callback(acknowledged)
        writer.write(message.publish_packet.to_bytes())
        return True

    # --- retained messages --------------------------------------------------------------------------------
    async def _publish_session_retained_messages(self, session: Session) -> None:
        """Deliver what was queued for a persistent session while it was away, in order, before live traffic.

        amqtt starts a task per queued message, so a live message routed meanwhile could overtake them, and
        sends them with RETAIN=1 (MQTT-3.3.1-9 says 0: they match an existing subscription). Here they go
        through the same per-connection path as live messages, which keeps their order, with RETAIN=0.
        """
        handler = self._get_handler(session)
        if handler is None:
            return
        while not session.retained_messages.empty():
            queued = session.retained_messages.get_nowait()
            self._deliver(handler, queued.topic, queued.data, queued.qos if queued.qos is not None else QOS_1)

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        """Send retained messages only for the session's own subscriptions, and only what it may receive.

        amqtt 0.12.1 calls this on every connect for every filter *any* client subscribed to, and sends the
        matching retained messages without a receive check: a reader could read the bridge's and every
        device's retained status. Here the filter must be one this session holds, and each retained topic
        must pass the RECEIVE check.
        """
        topic_filter, _qos = subscription
        holders = self._subscriptions.get(topic_filter, [])
        if not any(held.client_id == session.client_id for held, _ in holders):
            return
        handler = self._get_handler(session)
        if handler is None:
            return
        tasks = [
            asyncio.ensure_future(
                handler.mqtt_publish(
                    retained.topic, retained.data, min(subscription[1], retained.qos or subscription[1]), retain=True
                )
            )
            for topic, retained in list(self._retained_messages.items())
            if self._matches(topic, topic_filter) and topic_allowed(self._directory, session, topic, Action.RECEIVE)
        ]
        if tasks:
            await asyncio.wait(tasks)


async def _within(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for `event` at most `timeout_s`; True if it is set."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no PUBACK"))
