"""Sync ingest: verify a site's signed batch, store its records idempotently, acknowledge.

A revoked site's batches are refused with 403 `site_revoked`, before and (against a revocation racing the
batch) inside the storing transaction, so nothing from them is stored.

Replay protection beyond idempotency: the signed timestamp must be within `MAX_CLOCK_SKEW_S` of the cloud's
clock (401 `expired`), and the batch's nonce (in the signed body) must not have been seen from the site within
`NONCE_TTL_S` (409 `replayed`); seen nonces live in the database (`sync_nonces`) so every worker agrees, and are
recorded in the transaction that stores the batch. Each verified request updates the site's clock skew; each
batch its reported backlog (`site_sync_state`), which the portal shows.

Client input never causes a 500. Each record is validated on its own: a batch with invalid records is answered
422 `bad_records` naming them by seq (`sync.wire.BadRecordsBody`), nothing of it is stored, and the edge
quarantines those and sends the rest. Faults of the batch as a whole (not gzip JSON, a bad envelope, a seq out
of the signed 64-bit range) are 400 `bad_batch`. Text the database cannot hold is stored safely instead of
refused: a NUL character (PostgreSQL text and JSONB have none) becomes U+FFFD, and a non-finite number (not
JSON) becomes null, as the edge's own JSON encoder writes it.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import Table, case, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.analytics.facts import SiteZone, record_batch
from cloud.appkeys import DB
from cloud.billing.metering import invalid_inventory, meter_batch
from cloud.db.models import Record, Site, SiteSyncState, SyncNonce, utcnow
from cloud.db.tenant_context import enter_tenant, system_context
from cloud.offline_enrollment import ClaimRefused, claim_with_batch
from cloud.permissions import machine, public
from cloud.reconcile import reconcile_edit
from cloud.record_rows import insert_new_records, storable
from cloud.responses import error_response, json_model
from cloud.siteconfig import NOTIFIER, ConfigNotifier
from sync.codec import BatchDecodeError, decode_batch_records, describe
from sync.downlink import LocalEdit
from sync.signing import (
    CLAIM_HEADER,
    MAX_CLOCK_SKEW_S,
    SIGNATURE_HEADER,
    SITE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    StaleTimestamp,
    verify,
)
from sync.wire import BadRecordsBody, RecordRejection, SyncAck, SyncBatch

log = logging.getLogger(__name__)

RECORDS = cast(Table, Record.__table__)
SITES = cast(Table, Site.__table__)
NONCES = cast(Table, SyncNonce.__table__)
STATE = cast(Table, SiteSyncState.__table__)

# A request older than the window is refused by its timestamp; a nonce is kept for both sides of the window
# (a site's clock may run ahead) and a margin, so no replay falls between the two checks.
NONCE_TTL_S = 2 * MAX_CLOCK_SKEW_S + 60
# Expired nonces are deleted at most this often per site by one cloud process (a site's first batch after a
# start always prunes): the table holds about NONCE_TTL_S plus this of a site's batches, one statement less a batch.
NONCE_PRUNE_INTERVAL_S = 60.0


class NoncePruning:
    """When this process last deleted each site's expired nonces (`due` says whether a batch should)."""

    def __init__(self, interval_s: float = NONCE_PRUNE_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._last: dict[str, float] = {}

    def due(self, site_id: str) -> bool:
        """Whether to prune with this batch; counts it as done (a rolled-back prune waits for the next turn)."""
        now = time.monotonic()
        last = self._last.get(site_id)
        if last is not None and now - last < self._interval_s:
            return False
        self._last[site_id] = now
        return True


NONCE_PRUNING = web.AppKey("nonce_pruning", NoncePruning)


def _dialect_insert(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database dialect {dialect!r}")


class Replayed(Exception):
    """The batch's nonce was already seen from this site within `NONCE_TTL_S`."""


class SiteRevoked(Exception):
    """The site was revoked; its batches are refused."""

    def __init__(self, site_id: str, revoked_at: datetime | None) -> None:
        when = f" at {revoked_at:%Y-%m-%d %H:%M} UTC" if revoked_at else ""
        super().__init__(
            f"site {site_id} was revoked{when}; ask your tenant admin for a new enrollment code and "
            "enroll the box again (outpost-provision enroll --force)"
        )


async def _upsert_state(session: AsyncSession, dialect: str, site_id: str, values: dict[str, Any]) -> None:
    statement = _dialect_insert(dialect, STATE).values(site_id=site_id, **values)
    await session.execute(statement.on_conflict_do_update(index_elements=[STATE.c.site_id], set_=values))


def _state_of(batch: SyncBatch, now: datetime, skew_s: float | None) -> dict[str, Any]:
    values: dict[str, Any] = {"last_batch_at": now}
    if batch.software_version:
        values["software_version"] = batch.software_version
    if skew_s is not None:
        values.update(clock_skew_s=skew_s, clock_checked_at=now)
    if batch.status is not None:
        values.update(
            backlog=batch.status.backlog,
            oldest_pending_at=batch.status.oldest_pending_at,
            quarantined=batch.status.quarantined,
        )
        if batch.status.last_error:  # kept until the next error: HQ sees the last one, not only a current one
            values.update(edge_error=storable(batch.status.last_error), edge_error_at=batch.status.last_error_at)
    return values


async def record_refusal(
    db: async_sessionmaker[AsyncSession], site_id: str, reason: str, skew_s: float | None = None
) -> None:
    """Note the cloud's refusal of a batch signed by the site (and its clock skew) for the portal; best effort."""
    now = utcnow()
    values: dict[str, Any] = {"refusal": storable(reason)[:500], "refusal_at": now}
    if skew_s is not None:
        values.update(clock_skew_s=skew_s, clock_checked_at=now)
    try:
        async with db.begin() as session:
            await _upsert_state(session, session.get_bind().dialect.name, site_id, values)
    except SQLAlchemyError as err:  # the answer to the site matters more than this note
        log.warning("site %s: could not record the refusal: %s", site_id, err)


async def store_batch(
    db: async_sessionmaker[AsyncSession],
    batch: SyncBatch,
    skew_s: float | None = None,
    *,
    scrub: bool = True,
    prune: bool = True,
    notifier: ConfigNotifier | None = None,
) -> SyncAck:
    """Store the batch's new records, skip those already stored, and advance the site's checkpoint.

    Records the batch's nonce in the same transaction (and, with `prune`, deletes the site's expired ones), and
    the site's sync state (clock skew, backlog).
    Raises Replayed if the nonce was seen within `NONCE_TTL_S`, SiteRevoked if the site was revoked before
    the transaction commits; either way nothing is stored.
    New ``config_edit`` records are reconciled in the same transaction (`cloud.reconcile`); the long-polls of
    the sites whose version that bumped are woken through `notifier` after the commit.
    """
    now = utcnow()
    max_seq = batch.records[-1].seq if batch.records else 0
    new_seqs: set[int] = set()
    bumped: set[str] = set()
    async with db.begin() as session:
        # Writes only, starting with the insert: on SQLite the transaction takes the write lock at once
        # (waiting up to busy_timeout) instead of failing a read-to-write upgrade with SQLITE_BUSY_SNAPSHOT.
        dialect = session.get_bind().dialect.name
        payloads = [storable(r.payload) for r in batch.records] if scrub else [r.payload for r in batch.records]
        seen = await session.execute(
            _dialect_insert(dialect, NONCES)
            .values(site_id=batch.site_id, nonce=batch.nonce, seen_at=now)
            .on_conflict_do_nothing()
            .returning(NONCES.c.nonce)
        )
        if seen.first() is None:
            raise Replayed(f"nonce {batch.nonce} was already used by site {batch.site_id}")
        if prune:
            await session.execute(
                delete(NONCES).where(
                    NONCES.c.site_id == batch.site_id, NONCES.c.seen_at < now - timedelta(seconds=NONCE_TTL_S)
                )
            )
        conn = await session.connection()  # Core execution from here: the ORM's per-statement work buys nothing
        new_seqs.update(await insert_new_records(conn, batch, payloads, now))
        stored = len(new_seqs)
        # The site's checkpoint, and its tenant and time zone for what follows (one statement, not a lookup each).
        site = (
            await conn.execute(
                update(SITES)
                .where(SITES.c.id == batch.site_id, SITES.c.revoked_at.is_(None))
                .values(
                    # "Last sync" is the last batch that brought something new: a replay of stored records is not.
                    last_sync_at=now if stored else SITES.c.last_sync_at,
                    last_seq=case((SITES.c.last_seq < max_seq, max_seq), else_=SITES.c.last_seq),
                )
                .returning(SITES.c.tenant_id, SITES.c.timezone)
            )
        ).first()
        if site is None:
            # Revoked since the signature check: raising rolls the inserts back.
            raise SiteRevoked(batch.site_id, None)
        # Analytics (typed facts, rollups) of the records new to this batch, in the same transaction.
        await record_batch(
            session,
            dialect,
            batch.site_id,
            [
                {"seq": r.seq, "kind": r.kind, "occurred_at": r.occurred_at, "payload": payload}
                for r, payload in zip(batch.records, payloads, strict=True)
                if r.seq in new_seqs
            ],
            received_at=now,
            sent_at=batch.sent_at,
            status=batch.status,
            batch_size=len(batch.records),
            site=SiteZone(site.tenant_id, site.timezone),
        )
        # Billing's daily usage, from the new records only (the dedup above makes replays add nothing).
        await meter_batch(session, batch.site_id, batch.nonce, batch.records, new_seqs, tenant_id=site.tenant_id)
        # Box edits are reconciled with the record that carries them, once: a replayed record is not new.
        for record in batch.records:
            if record.kind == "config_edit" and record.seq in new_seqs:
                edit = LocalEdit.model_validate(record.payload)
                bumped |= await reconcile_edit(session, site.tenant_id, batch.site_id, record.seq, edit)
        await _upsert_state(session, dialect, batch.site_id, _state_of(batch, now, skew_s))
    if notifier is not None:
        notifier.notify(bumped)
    return SyncAck(acked_seq=max_seq, stored=stored, duplicates=len(batch.records) - stored)


class SiteCredentials(NamedTuple):
    """What ingest needs to know about a site before trusting its batch."""

    secret: str
    revoked_at: datetime | None
    previous_secret: str | None = None
    previous_secret_until: datetime | None = None

    def keys(self, now: datetime | None = None) -> list[str]:
        """The secrets that verify now: the current one, and the replaced one within its grace window."""
        if self.previous_secret and self.previous_secret_until and (now or utcnow()) < self.previous_secret_until:
            return [self.secret, self.previous_secret]
        return [self.secret]

    def verify(self, signed: bytes, timestamp: str | None, signature: str | None) -> tuple[str, float]:
        """Check a request's signature against `keys()`; return the key that signed it and the clock skew.

        Raises SignatureError (StaleTimestamp for a genuine but stale request) like `sync.signing.verify`.
        """
        keys = self.keys()
        for key in keys:
            try:
                return key, verify(key, signed, timestamp, signature)
            except StaleTimestamp:
                raise
            except SignatureError:
                if key is keys[-1]:
                    raise
        raise SignatureError("no key")  # unreachable: keys() is never empty


async def site_credentials(db: async_sessionmaker[AsyncSession], site_id: str) -> SiteCredentials | None:
    """Return the secrets and revocation of an enrolled site, or None (also for an id that is not printable ASCII).

    From then on the current request acts for the site's tenant (`cloud.db.tenant_context.enter_tenant`).
    """
    # Printable ASCII only: a header that is not (read with surrogate escapes) must not reach the database.
    if not _SITE_ID.fullmatch(site_id):
        return None
    columns = (Site.secret, Site.revoked_at, Site.previous_secret, Site.previous_secret_until, Site.tenant_id)
    with system_context():  # the box names its site, and so its tenant
        async with db() as session:
            row = (await session.execute(select(*columns).where(Site.id == site_id))).first()
    if row is None:
        return None
    # The rest of the request acts for the site's tenant (row-level security; cloud.db.tenant_context).
    enter_tenant(row.tenant_id)
    return SiteCredentials(row.secret, row.revoked_at, row.previous_secret, row.previous_secret_until)


def _invalid_edits(batch: SyncBatch) -> list[RecordRejection]:
    """Refuse `config_edit` records whose payload is not a `LocalEdit` (checked before anything is stored)."""
    rejected = []
    for record in batch.records:
        if record.kind == "config_edit":
            try:
                LocalEdit.model_validate(record.payload)
            except ValidationError as err:
                rejected.append(RecordRejection(seq=record.seq, error="invalid_record", detail=describe(err)))
    return rejected


GZIP_MAGIC = b"\x1f\x8b"
_SITE_ID = re.compile(r"[\x21-\x7e]{1,64}")


@machine
async def handle_sync_batch(request: web.Request) -> web.Response:
    """POST /api/v1/sync/batch: authenticate by HMAC over the raw body, then decode and store."""
    body = await request.read()
    site_id = request.headers.get(SITE_HEADER, "")
    claim = request.headers.get(CLAIM_HEADER)
    if claim is not None and _SITE_ID.fullmatch(site_id):
        # A box enrolled from a file claims its site with its first batch (cloud.offline_enrollment).
        try:
            with system_context():  # the site's id is all that is known yet; the claim is checked by signature
                await claim_with_batch(
                    request.app[DB],
                    site_id,
                    claim,
                    body,
                    request.headers.get(TIMESTAMP_HEADER),
                    request.headers.get(SIGNATURE_HEADER),
                )
        except ClaimRefused as err:
            log.warning("sync batch for site %s refused: %s", site_id, err.error)
            return error_response(err.status, err.error, err.detail)
    # Printable ASCII only: a header that is not (read with surrogate escapes) must not reach the database.
    site = await site_credentials(request.app[DB], site_id) if _SITE_ID.fullmatch(site_id) else None
    if site is None:
        log.warning("sync batch for unknown site %r rejected", site_id[:64])
        return error_response(401, "unknown_site", f"no enrolled site with the id in {SITE_HEADER}")
    if site.revoked_at is not None:
        # Before the signature check: revocation replaced the secret, so no signature could verify anyway.
        log.warning("sync batch from revoked site %s rejected", site_id)
        return error_response(403, "site_revoked", str(SiteRevoked(site_id, site.revoked_at)))
    db = request.app[DB]
    try:
        # Before decoding: nothing from an unauthenticated body is parsed.
        _key, skew = site.verify(body, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER))
    except StaleTimestamp as err:
        # Signed by the site, but outside the window: an old capture replayed, or the site's clock is off.
        log.warning("sync batch from site %s rejected: %s", site_id, err)
        await record_refusal(db, site_id, f"expired: {err}", skew_s=err.skew_s)
        return error_response(401, "expired", str(err))
    except SignatureError as err:
        log.warning("sync batch from site %s rejected: %s", site_id, err)
        if request.headers.get("Content-Encoding", "").lower() == "gzip" and not body.startswith(GZIP_MAGIC):
            # The server inflated the body first, so the signed bytes are gone (see cloud.app.make_runner).
            log.error("sync body arrived already decompressed; serve the app with auto_decompress=False")
        return error_response(401, "bad_signature", str(err))
    try:
        decoded = decode_batch_records(body)
    except BatchDecodeError as err:
        log.warning("sync batch from site %s rejected: %s", site_id, err)
        await record_refusal(db, site_id, f"bad_batch: {err}", skew_s=skew)
        return error_response(400, "bad_batch", str(err))
    batch = decoded.batch
    if batch.site_id != site_id:
        await record_refusal(db, site_id, "site_mismatch", skew_s=skew)
        return error_response(400, "site_mismatch", f"batch site_id does not match the {SITE_HEADER} header")
    rejected = sorted(decoded.rejected + _invalid_edits(batch) + invalid_inventory(batch.records), key=lambda r: r.seq)
    if rejected:
        seqs = [r.seq for r in rejected]
        log.warning("site %s: batch refused for %d bad record(s), seq %s", site_id, len(seqs), seqs[:20])
        await record_refusal(db, site_id, f"bad_records: seq {seqs[:20]}", skew_s=skew)
        body_model = BadRecordsBody(
            error="bad_records",
            detail=f"{len(seqs)} record(s) refused; nothing of this batch was stored: send it again without them",
            rejected=rejected,
        )
        return json_model(body_model, status=422)
    try:
        ack = await store_batch(
            db,
            batch,
            skew,
            scrub=decoded.needs_scrub,
            prune=request.app[NONCE_PRUNING].due(site_id),
            notifier=request.app[NOTIFIER],
        )
    except Replayed as err:
        log.warning("sync batch from site %s rejected: %s", site_id, err)
        await record_refusal(db, site_id, f"replayed: {err}", skew_s=skew)
        return error_response(409, "replayed", f"{err}; a batch is sent once (a retry carries a new nonce)")
    except SiteRevoked as err:
        log.warning("sync batch from site %s rejected: revoked while it was being stored", site_id)
        return error_response(403, "site_revoked", str(err))
    log.info(
        "site %s: batch of %d, stored %d, duplicates %d, acked seq %d",
        site_id,
        len(batch.records),
        ack.stored,
        ack.duplicates,
        ack.acked_seq,
    )
    return json_model(ack)


@public
async def handle_health(request: web.Request) -> web.Response:
    """GET /healthz: 200 once the cloud can reach its database (the edge sync agent probes it while backing off)."""
    try:
        async with request.app[DB]() as session:
            await session.execute(text("SELECT 1"))
    except (OSError, SQLAlchemyError) as err:
        log.warning("health probe: database unreachable: %s", err)
        return error_response(503, "database_unavailable", "the cloud cannot reach its database")
    return web.json_response({"status": "ok"})
