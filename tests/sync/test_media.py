"""Snapshots and clips: chunked, resumable after the cloud stops and both sides restart, sha256-checked, clear
4xx on bad chunks, linked from the portal's event list and served only to the owning tenant.

Real parts: the edge's SQLite database, the real cloud app on loopback (SQLite and PostgreSQL), the real agent.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from aiohttp import web

from cloud.admin import bootstrap_tenant
from cloud.app import RunningCloud, started_cloud
from cloud.config import CloudConfig, load_config
from edge.storage.database import Database
from edge.storage.journal import Journal, Outbox
from edge.storage.media import MediaQueue
from provisioning.enroll import claim_site
from sync.agent import SyncAgent
from sync.media import MAX_CHUNK_BYTES, MEDIA_PATH, chunk_signing_bytes, media_id_for, media_name
from sync.media_uploader import MediaUpload, MediaUploader
from sync.signing import SITE_HEADER, sign
from sync.wire import EnrollResponse
from tests.cloud.cloud_helpers import login

PASSWORD = "correct-horse-1"
CHUNK = 256 * 1024


@pytest.fixture
def cloud_config(tmp_path: Path, db_url: str) -> CloudConfig:
    return CloudConfig(
        data_dir=tmp_path / "cloud", database_url=db_url, host="127.0.0.1", port=0, media_dir=tmp_path / "media"
    )


async def enroll(cloud: RunningCloud, tenant: str = "Acme") -> EnrollResponse:
    email = f"admin@{tenant.lower()}.example"
    boot = await bootstrap_tenant(cloud.db, tenant, email, PASSWORD, site_name=f"{tenant} depot")
    assert boot.enrollment is not None
    return await asyncio.to_thread(claim_site, cloud.url, boot.enrollment.code, "box-1")


@pytest.fixture
async def edge_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(tmp_path / "edge" / "edge.db")
    await db.migrate()
    yield db
    await db.close()


class CutAfter:
    """A media queue that stops before the `n`th chunk read until the test has stopped the cloud."""

    def __init__(self, queue: MediaQueue, n: int) -> None:
        self.queue = queue
        self.n = n
        self.reads: list[int] = []
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def next_upload(self) -> MediaUpload | None:
        return await self.queue.next_upload()

    async def read_chunk(self, media_id: str, offset: int, size: int) -> bytes:
        self.reads.append(offset)
        if len(self.reads) == self.n:
            self.reached.set()
            await self.release.wait()
        return await self.queue.read_chunk(media_id, offset, size)

    async def set_offset(self, media_id: str, offset: int) -> None:
        await self.queue.set_offset(media_id, offset)

    async def finish(self, media_id: str, error: str | None = None) -> None:
        await self.queue.finish(media_id, error)


async def test_a_clip_resumes_after_the_cloud_stops_and_both_restart(tmp_path: Path, cloud_config: CloudConfig) -> None:
    clip = tmp_path / "edge" / "clips" / "cam-1-t7.mp4"
    clip.parent.mkdir(parents=True)
    data = os.urandom(3 * 1024 * 1024 + 12345)
    clip.write_bytes(data)
    db = Database(tmp_path / "edge" / "edge.db")
    await db.migrate()
    journal = Journal(db)
    await journal.record("detection", {"kind": "track", "clip": clip.name}, source="cam-1")
    queue = MediaQueue(db)
    media_id = await queue.register(clip, "clip")
    assert media_id == media_id_for("clip", clip.name)
    assert await queue.next_upload() is None  # its event is not at HQ yet: metadata first

    async with started_cloud(cloud_config) as cloud:
        site = await enroll(cloud)
        cut = CutAfter(queue, n=5)
        agent = SyncAgent(Outbox(db), cloud_url=cloud.url, site_id=site.site_id, secret=site.secret, media=cut)
        assert agent.media is not None
        agent.media._chunk_bytes = CHUNK
        await agent.flush()
        upload = asyncio.create_task(agent.media.run())
        reached = asyncio.create_task(cut.reached.wait())
        await asyncio.wait({upload, reached}, return_when=asyncio.FIRST_COMPLETED)
        assert reached.done(), upload  # four chunks stored, the fifth about to be sent
    cut.release.set()  # the cloud is gone: the fifth chunk meets a closed port
    with pytest.raises(httpx.TransportError):
        await upload
    await agent.stop(flush_timeout_s=1)
    remembered = await queue.next_upload()
    assert remembered is not None and remembered.offset == 4 * CHUNK
    await db.close()

    # Restart both: a new edge process on the same database, a new cloud on the same data and media.
    db = Database(tmp_path / "edge" / "edge.db")
    await db.migrate()
    queue = MediaQueue(db)
    await queue.set_offset(media_id, 2 * CHUNK)  # as if the edge crashed before saving its last two offsets
    try:
        async with started_cloud(cloud_config) as cloud:
            resumed = CutAfter(queue, n=0)
            async with httpx.AsyncClient() as client:
                uploader = MediaUploader(
                    resumed, client, cloud_url=cloud.url, site_id=site.site_id, secret=site.secret, chunk_bytes=CHUNK
                )
                assert await uploader.run() == 1
        # The cloud answered 409 wrong_offset with what it had; the edge went on from there: nothing re-sent.
        assert resumed.reads[0] == 2 * CHUNK and resumed.reads[1] == 4 * CHUNK
        assert resumed.reads[1:] == list(range(4 * CHUNK, len(data), CHUNK))
        assert await queue.waiting() == 0
    finally:
        await db.close()
    stored = tmp_path / "media" / site.site_id / media_id
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert stat.S_IMODE((tmp_path / "media").stat().st_mode) == 0o700
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700


def _target(media_id: str, **query: object) -> str:
    return f"{MEDIA_PATH}/{media_id}?{urlencode(query)}"


async def _put(http: httpx.AsyncClient, site: EnrollResponse, target: str, body: bytes) -> httpx.Response:
    headers = {SITE_HEADER: site.site_id, **sign(site.secret, chunk_signing_bytes("PUT", target, body))}
    return await http.put(target, content=body, headers=headers)


async def test_bad_chunks_get_a_clear_4xx(cloud_config: CloudConfig) -> None:
    data = os.urandom(3000)
    good = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "kind": "snapshot"}
    good["content_type"] = "image/jpeg"
    media_id = media_id_for("snapshot", "a.jpg")
    async with started_cloud(cloud_config) as cloud, httpx.AsyncClient(base_url=cloud.url) as http:
        site = await enroll(cloud)
        answers = {
            "wrong offset": await _put(http, site, _target(media_id, offset=100, **good), data[100:200]),
            "past the end": await _put(http, site, _target(media_id, offset=0, **good), data + b"x"),
            "bad id": await _put(http, site, _target("NOT-AN-ID", offset=0, **good), data),
            "bad query": await _put(http, site, _target(media_id, offset=0, size=-1), data),
            "no offset": await _put(http, site, _target(media_id, **good), data),
        }
        async with httpx.AsyncClient(base_url=cloud.url) as own_connection:
            # Answered before its body is read, so the server closes that connection: keep it off the shared one.
            answers["too large"] = await own_connection.put(
                _target(media_id, offset=0, **good),
                content=b"x" * (MAX_CHUNK_BYTES + 1),
                headers={SITE_HEADER: site.site_id},
            )
        tampered = _target(media_id, offset=0, **good)
        headers = {SITE_HEADER: site.site_id, **sign(site.secret, chunk_signing_bytes("PUT", tampered, data))}
        answers["tampered"] = await http.put(tampered, content=data[:-1] + b"!", headers=headers)
        bad_sum = {**good, "sha256": "0" * 64}
        answers["bad checksum"] = await _put(
            http, site, _target(media_id_for("snapshot", "b.jpg"), offset=0, **bad_sum), data
        )
        first = await _put(http, site, _target(media_id, offset=0, **good), data[:1000])
        answers["other declaration"] = await _put(
            http, site, _target(media_id, offset=1000, **{**good, "size": 5000}), data[1000:2000]
        )
        rest = await _put(http, site, _target(media_id, offset=1000, **good), data[1000:])
        again = await _put(http, site, _target(media_id, offset=1000, **good), data[1000:])

    codes = {name: (r.status_code, r.json().get("error", r.text)) for name, r in answers.items()}
    assert codes == {
        "wrong offset": (409, "wrong_offset"),
        "past the end": (413, "past_end"),
        "bad id": (400, "bad_media_id"),
        "bad query": (400, "bad_media_request"),
        "no offset": (400, "bad_media_request"),
        "too large": (413, "chunk_too_large"),
        "tampered": (401, "bad_signature"),
        "bad checksum": (422, "bad_checksum"),
        "other declaration": (409, "media_mismatch"),
    }
    assert '"received":0' in answers["wrong offset"].json()["detail"]
    assert first.json()["received"] == 1000 and rest.json()["complete"] is True
    assert again.status_code == 200 and again.json()["complete"] is True  # a resend after a lost answer
    assert not list((cloud_config.media_path / site.site_id).glob(f"{media_id_for('snapshot', 'b.jpg')}*"))


async def test_snapshots_are_linked_from_events_and_served_to_their_tenant_only(
    tmp_path: Path, cloud_config: CloudConfig, edge_db: Database
) -> None:
    snapshot = tmp_path / "edge" / "snapshots" / "cam-1-0800-person.jpg"
    snapshot.parent.mkdir(parents=True)
    jpeg = b"\xff\xd8\xff\xe0" + os.urandom(5000) + b"\xff\xd9"
    snapshot.write_bytes(jpeg)
    journal = Journal(edge_db)
    await journal.record("detection", {"camera_id": "cam-1", "snapshot": snapshot.name}, source="cam-1")
    await journal.record("detection", {"camera_id": "cam-1", "snapshot": "never-uploaded.jpg"}, source="cam-1")
    queue = MediaQueue(edge_db)
    media_id = await queue.register(snapshot, "snapshot", media_name(snapshot.name, "cam-1"))
    assert media_id == media_id_for("snapshot", "cam-1/" + snapshot.name)
    async with started_cloud(cloud_config) as cloud:
        site = await enroll(cloud, "Acme")
        await enroll(cloud, "Globex")
        agent = SyncAgent(Outbox(edge_db), cloud_url=cloud.url, site_id=site.site_id, secret=site.secret, media=queue)
        try:
            await agent.flush()
            assert agent.media is not None and await agent.media.run() == 1
        finally:
            await agent.stop(flush_timeout_s=1)
        url = f"/portal/sites/{site.site_id}/media/{media_id}"
        async with httpx.AsyncClient(base_url=cloud.url) as acme, httpx.AsyncClient(base_url=cloud.url) as globex:
            anonymous = await acme.get(url)
            await login(acme, "admin@acme.example", PASSWORD)
            await login(globex, "admin@globex.example", PASSWORD)
            page = await acme.get(f"/portal/sites/{site.site_id}")
            own = await acme.get(url)
            other = await globex.get(url)
            other_page = await globex.get(f"/portal/sites/{site.site_id}")
            missing = await acme.get(f"/portal/sites/{site.site_id}/media/{'0' * 32}")
            traversal = await acme.get(f"/portal/sites/{site.site_id}/media/..%2F..%2Fcloud.db")

    assert anonymous.status_code in (302, 303, 401)
    assert page.status_code == 200
    assert f'<img src="{url}"' in page.text  # the event's thumbnail, linked to the file
    assert "never-uploaded.jpg (uploading)" in page.text
    assert own.status_code == 200 and own.content == jpeg and own.headers["Content-Type"] == "image/jpeg"
    assert other.status_code == 404 and other_page.status_code == 404  # another tenant: as if it did not exist
    assert missing.status_code == 404 and traversal.status_code == 404


def test_media_dir_is_configurable_and_relative_to_the_config_file(tmp_path: Path) -> None:
    config_file = tmp_path / "etc" / "cloud.toml"
    config_file.parent.mkdir()
    config_file.write_text('data_dir = "/var/lib/outpost-cloud"\nmedia_dir = "media-store"\n')
    assert load_config(config_file, environ={}).media_path == tmp_path / "etc" / "media-store"
    assert CloudConfig(data_dir=tmp_path).media_path == tmp_path / "media"


async def test_a_cloud_without_media_pauses_uploads_and_keeps_the_files(tmp_path: Path, edge_db: Database) -> None:
    snapshot = tmp_path / "snap.jpg"
    snapshot.write_bytes(b"\xff\xd8" + os.urandom(100))
    queue = MediaQueue(edge_db)
    await queue.register(snapshot, "snapshot")
    hits: list[str] = []

    async def not_found(request: web.Request) -> web.Response:
        hits.append(request.method)
        return web.Response(status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_found)  # an older cloud: no media endpoint
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with httpx.AsyncClient() as client:
            uploader = MediaUploader(queue, client, cloud_url=f"http://127.0.0.1:{port}", site_id="s", secret="00")
            assert await uploader.run() == 0
            assert await uploader.run() == 0  # paused: not asked again
    finally:
        await runner.cleanup()
    assert hits == ["GET"]
    assert await queue.waiting() == 1  # kept for a cloud that takes it
