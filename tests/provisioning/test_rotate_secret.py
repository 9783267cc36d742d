"""`outpost-provision rotate-secret` against a real cloud on loopback, with a real edge syncing meanwhile: the old
secret works during the grace window and is refused after it; the edge signs with the new one without a restart."""

from __future__ import annotations

import asyncio
import stat
import tomllib
from pathlib import Path

import httpx
import tomli_w

from cloud.app import RunningCloud, started_cloud
from cloud.config import CloudConfig
from edge import keys
from edge.app import EdgeRunner
from edge.config import load_config
from provisioning.rotate import rotate_secret
from sync.rotation import ROTATE_PATH, SITE_STATUS_PATH, RotateSecretRequest
from sync.signing import SITE_HEADER, request_target_bytes, sign
from tests.cloud.cloud_helpers import portal_login
from tests.polling import eventually
from tests.provisioning.test_backup_restore import _all_in, enrolled_config, provision


async def status_with(cloud: RunningCloud, site_id: str, secret: str) -> httpx.Response:
    headers = {SITE_HEADER: site_id, **sign(secret, request_target_bytes("GET", SITE_STATUS_PATH))}
    async with httpx.AsyncClient() as client:
        return await client.get(cloud.url + SITE_STATUS_PATH, headers=headers)


async def test_rotation_with_a_running_edge_grace_window_then_old_key_refused(tmp_path: Path, db_url: str) -> None:
    cloud_config = CloudConfig(data_dir=tmp_path / "cloud", database_url=db_url, host="127.0.0.1", port=0)
    async with started_cloud(cloud_config) as cloud:
        config_path, site_id, old = await enrolled_config(cloud, tmp_path / "box")
        config = load_config(config_path, environ={})
        edge = EdgeRunner(config)
        await edge.start()
        try:
            journal = edge.app[keys.JOURNAL]
            await journal.record("event", {"type": "test"}, source="t", summary="before rotation")
            await eventually(lambda: _all_in(cloud, site_id, {"before rotation"}), timeout_s=20)

            rotated = await asyncio.to_thread(rotate_secret, config_path, config, 3)
            assert config.cloud.secret_file is not None and rotated.secret_file == config.cloud.secret_file
            new = rotated.secret_file.read_text().strip()  # noqa: ASYNC240 - a small file, once
            assert new != old and len(new) == 64
            assert stat.S_IMODE(rotated.secret_file.stat().st_mode) == 0o600
            assert not rotated.secret_file.with_name("sync-secret.new").exists()
            assert not rotated.config_rewritten

            # Within the grace window both keys verify; the status says which one signed.
            during = await status_with(cloud, site_id, old)
            assert during.status_code == 200 and during.json()["signed_with"] == "previous"
            now = await status_with(cloud, site_id, new)
            assert now.status_code == 200 and now.json()["signed_with"] == "current"

            # The running edge re-reads its secret file: sync goes on without a restart.
            await journal.record("event", {"type": "test"}, source="t", summary="after rotation")
            await eventually(lambda: _all_in(cloud, site_id, {"after rotation"}), timeout_s=20)

            async def old_refused() -> bool:
                return (await status_with(cloud, site_id, old)).status_code == 401

            await eventually(old_refused, timeout_s=20, interval_s=0.2)
            # The old key can no longer rotate either.
            body = RotateSecretRequest(new_secret="ab" * 32, grace_s=60).model_dump_json().encode()
            async with httpx.AsyncClient() as client:
                refused = await client.post(
                    cloud.url + ROTATE_PATH, content=body, headers={SITE_HEADER: site_id, **sign(old, body)}
                )
            assert refused.status_code == 401 and refused.json()["error"] == "bad_signature"
            await journal.record("event", {"type": "test"}, source="t", summary="after grace")
            await eventually(lambda: _all_in(cloud, site_id, {"after grace"}), timeout_s=20)
            assert (await status_with(cloud, site_id, new)).json()["previous_valid_until"] is None
        finally:
            await edge.stop()


async def test_the_cli_moves_an_inline_secret_to_a_file_and_an_answer_lost_is_repeated(tmp_path: Path) -> None:
    async with started_cloud(CloudConfig(data_dir=tmp_path / "cloud", host="127.0.0.1", port=0)) as cloud:
        config_path, site_id, old = await enrolled_config(cloud, tmp_path / "box")
        data = tomllib.loads(config_path.read_text())  # noqa: ASYNC240 - a small file, once
        secret_file = Path(data["cloud"].pop("secret_file"))
        secret_file.unlink()  # noqa: ASYNC240 - a small file, once
        data["cloud"]["secret"] = old  # as `enroll` writes it
        config_path.write_text(tomli_w.dumps(data))  # noqa: ASYNC240 - a small file, once

        rc, out, err = await provision("rotate-secret", "--config", str(config_path), "--grace", "600")
        assert rc == 0, err
        assert "restart it before" in out and f"new secret is in {secret_file}" in out
        rewritten = load_config(config_path, environ={})
        assert rewritten.cloud.secret is None and rewritten.cloud.secret_file == secret_file
        new = rewritten.cloud.read_secret()
        assert new is not None and new != old
        assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600  # noqa: ASYNC240 - a small file, once

        # The cloud's answer lost: the same request, signed with the old key, is answered the same way.
        body = RotateSecretRequest(new_secret=new, grace_s=600).model_dump_json().encode()
        async with httpx.AsyncClient() as client:
            again = await client.post(
                cloud.url + ROTATE_PATH, content=body, headers={SITE_HEADER: site_id, **sign(old, body)}
            )
            other = RotateSecretRequest(new_secret="cd" * 32, grace_s=600).model_dump_json().encode()
            hijack = await client.post(
                cloud.url + ROTATE_PATH, content=other, headers={SITE_HEADER: site_id, **sign(old, other)}
            )
        assert again.status_code == 200, again.text
        assert hijack.status_code == 409 and hijack.json()["error"] == "rotation_in_progress"
        assert (await status_with(cloud, site_id, new)).json()["signed_with"] == "current"

        # HQ sees the rotation on the site's page and in the API.
        async with httpx.AsyncClient(base_url=cloud.url) as http:
            assert (await portal_login(http, "admin@acme.example", "correct-horse-1")).status_code in (200, 303)
            page = (await http.get(f"/portal/sites/{site_id}")).text
            api = (await http.get(f"/api/v1/sites/{site_id}")).json()
        assert '<dd data-testid="secret-rotation">rotated ' in page and "the old one is accepted until" in page
        assert api["secret_rotated_at"] is not None and api["previous_secret_until"] is not None

        # Not enrolled: a clear refusal.
        bare = tmp_path / "bare.toml"
        bare.write_text("")  # noqa: ASYNC240 - a small file, once
        bare.chmod(0o600)
        rc, _, err = await provision("rotate-secret", "--config", str(bare))
        assert rc == 1 and "enroll the box first" in err


async def test_a_rotation_interrupted_after_the_cloud_accepted_it_is_finished_by_running_it_again(
    tmp_path: Path,
) -> None:
    async with started_cloud(CloudConfig(data_dir=tmp_path / "cloud", host="127.0.0.1", port=0)) as cloud:
        config_path, site_id, old = await enrolled_config(cloud, tmp_path / "box")
        config = load_config(config_path, environ={})
        assert config.cloud.secret_file is not None
        # The first run wrote .new and the cloud installed it; then the box lost power before the secret file.
        new = "5e" * 32
        pending = config.cloud.secret_file.with_name("sync-secret.new")
        pending.write_text(new + "\n")  # noqa: ASYNC240 - a small file
        pending.chmod(0o600)  # noqa: ASYNC240
        body = RotateSecretRequest(new_secret=new, grace_s=600).model_dump_json().encode()
        async with httpx.AsyncClient() as client:
            first = await client.post(
                cloud.url + ROTATE_PATH, content=body, headers={SITE_HEADER: site_id, **sign(old, body)}
            )
        assert first.status_code == 200, first.text
        assert config.cloud.read_secret() == old  # the box still holds the old one

        messages: list[str] = []
        rotated = await asyncio.to_thread(rotate_secret, config_path, config, 600, messages.append)
        assert any("finishing the interrupted rotation" in m for m in messages)
        assert rotated.secret_file.read_text().strip() == new  # noqa: ASYNC240 - a small file
        assert not pending.exists()  # noqa: ASYNC240
        assert (await status_with(cloud, site_id, new)).json()["signed_with"] == "current"
