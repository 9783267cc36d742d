"""docs/INSTALL.md's walkthrough, step by step, on loopback: the `outpost-provision` commands of its
`sh walkthrough` blocks run exactly as written, against a real cloud, a real RTSP camera and the real edge.

Only what a real site has and a test machine does not is swapped: the cloud URL, the code, the file's path and key
fingerprint, the camera's address, and output paths; and each command gets `--config` (and `--data-dir`,
`--broker-host`, `--json` where named below) so that the boxes live in the test's folder on free ports.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest
import tomli_w
from sqlalchemy import select

from cloud.app import started_cloud
from cloud.config import CloudConfig
from cloud.db.models import Record
from edge.app import EdgeRunner
from edge.config import load_config
from tests.cloud.cloud_helpers import make_tenant
from tests.edge.site import site_config_dict
from tests.net import free_port
from tests.paths import REPO
from tests.polling import eventually
from tests.provisioning.installer_helpers import issue_file, parse_settings, provision, rtsp_camera, write_vtest_frames

INSTALL_MD = REPO / "docs" / "INSTALL.md"
STEPS = ["enroll-online", "enroll-file", "init-local", "add-camera", "add-door", "pair-devices", "doctor"]


def walkthrough_blocks() -> dict[str, list[list[str]]]:
    """The `outpost-provision` commands of each `sh walkthrough STEP` block, as argument lists (sudo dropped)."""
    blocks: dict[str, list[list[str]]] = {}
    for step, body in re.findall(r"```sh walkthrough (\S+)\n(.*?)```", INSTALL_MD.read_text(), re.S):
        commands = []
        for line in body.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["sudo"]:
                words = words[1:]
            if words[:1] == ["outpost-provision"]:
                commands.append(words[1:])
        blocks[step] = commands
    return blocks


def swapped(words: list[str], swaps: dict[str, str]) -> list[str]:
    out = []
    for word in words:
        for old, new in swaps.items():
            word = word.replace(old, new)
        out.append(word)
    return out


async def run_step(commands: list[list[str]], swaps: dict[str, str], *extra: str) -> list[str]:
    """Run a step's commands; each must succeed. Returns their outputs."""
    outputs = []
    for words in commands:
        rc, out, err = await provision(*swapped(words, swaps), *extra)
        assert rc == 0, f"{' '.join(words)} failed:\n{err}"
        outputs.append(out)
    return outputs


def loopback_box(path: Path, data_dir: Path) -> None:
    """The ports a box on a test machine needs (a real box keeps 1883/8080); no site yet."""
    config = site_config_dict(data_dir, cloud={"sync_interval_s": 0.2, "max_backoff_s": 0.5})
    config["mqtt"]["port"] = free_port()
    for key in ("devices", "doors", "zones"):
        config.pop(key, None)
    config["site"] = {"id": "unenrolled"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(config))
    path.chmod(0o600)


@pytest.fixture
async def site_camera(tmp_path: Path) -> AsyncIterator[str]:
    """The doc's camera, served by a real RTSP server on loopback with the doc's user, password and path."""
    frames = write_vtest_frames(tmp_path / "frames", 20)
    async with rtsp_camera(
        frames, tmp_path / "rtsp.log", user="admin", password="PASSWORD", path="/Streaming/Channels/101"
    ) as address:
        yield address


async def test_the_installers_walkthrough_runs_as_documented(tmp_path: Path, site_camera: str) -> None:
    blocks = walkthrough_blocks()
    assert list(blocks) == STEPS, "docs/INSTALL.md's walkthrough steps changed: update this test with it"
    box = tmp_path / "box-a" / "edge.toml"
    loopback_box(box, tmp_path / "box-a")
    async with started_cloud(CloudConfig(data_dir=tmp_path / "cloud", host="127.0.0.1", port=0)) as cloud:
        tenant = await make_tenant(cloud, "Acme", site_name="Depot 7")
        raw, fingerprint = await issue_file(cloud.url, tenant.admin_email, "Quarry")
        usb = tmp_path / "usb" / "outpost-enrollment-site.json"
        usb.parent.mkdir()
        usb.write_bytes(raw)
        swaps = {
            "https://hq.example": cloud.url,
            "ABCD-EFGH-JKLM-NPQR": tenant.code,
            "/mnt/outpost-enrollment-site.json": str(usb),
            "1a2b 3c4d 5e6f 7a8b 9c0d 1e2f 3a4b 5c6d": fingerprint,
            "192.168.1.64:554": site_camera,
            "/root/": f"{tmp_path}/",
        }

        # W3: the three ways to enroll, on three boxes.
        await run_step(blocks["enroll-online"], swaps, "--config", str(box))
        assert tomllib.loads(box.read_text())["site"]["name"] == "Depot 7"
        box_b = tmp_path / "box-b" / "edge.toml"
        loopback_box(box_b, tmp_path / "box-b")
        [out] = await run_step(blocks["enroll-file"], swaps, "--config", str(box_b))
        assert "(as expected)" in out and tomllib.loads(box_b.read_text())["site"]["name"] == "Quarry"
        box_c = tmp_path / "box-c" / "edge.toml"
        await run_step(blocks["init-local"], swaps, "--config", str(box_c), "--data-dir", str(tmp_path / "box-c"))
        assert load_config(box_c, environ={}).cloud.url is None

        # W4, W5 on the online box.
        await run_step(blocks["add-camera"], swaps, "--config", str(box))
        assert (tmp_path / "gate.jpg").stat().st_size > 10_000
        await run_step(blocks["add-door"], swaps, "--config", str(box), "--broker-host", "127.0.0.1")
        outputs = await run_step(blocks["pair-devices"], swaps, "--config", str(box), "--broker-host", "127.0.0.1")
        assert [s["device"] for out in outputs for s in parse_settings(out)] == [
            "strike-back",
            "gate-relay",
            "z2m-bridge",
        ]
        config = load_config(box, environ={})
        assert [c.id for c in config.cameras] == ["gate"] and [d.id for d in config.doors] == ["front"]

        # W6: start the box (systemctl's part), check it, badge at the front door.
        edge = EdgeRunner(config)
        await edge.start()
        try:
            [out] = await run_step(blocks["doctor"], swaps, "--config", str(box), "--json")
            checks = {c["name"]: c["status"] for c in json.loads(out)["checks"]}
            for name in ("config", "broker port", "camera gate", "detector model", "database"):
                assert checks[name] == "pass", (name, out)
            assert all(status == "pass" for name, status in checks.items() if name.startswith(("cloud", "secret")))

            [reader] = [
                s for s in parse_settings((tmp_path / "front-door.txt").read_text()) if s["device"] == "reader-front"
            ]
            async with aiomqtt.Client(
                reader["broker host"], int(reader["broker port"]), username=reader["user"],
                password=reader["password"], identifier=reader["client id"], protocol=aiomqtt.ProtocolVersion.V311,
            ) as device:  # fmt: skip
                await device.publish(
                    "outpost/reader-front/event", json.dumps({"type": "badge", "credential": "0004217"}), qos=1
                )

            async def badge_at_hq() -> bool:
                async with cloud.db() as session:
                    rows = (await session.scalars(select(Record).where(Record.kind == "audit"))).all()
                return any("0004217" in json.dumps(r.payload) for r in rows)

            assert await eventually(badge_at_hq, timeout_s=30)
        finally:
            await edge.stop()
