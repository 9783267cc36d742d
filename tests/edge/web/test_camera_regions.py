"""Camera zones and lines saved from the console: validated, written into the config file atomically, admin only.

The camera here is disabled (no video is decoded): what is checked is the saving. Vision counting with what was
saved runs in tests/edge/web/test_cameras_browser.py.
"""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from edge import keys
from edge.app import EdgeRunner
from edge.config import load_config
from edge.web.auth import CONSOLE_AUTH
from edge.web.roles import required_role
from tests.edge.console import console_login
from tests.edge.site import site_config_dict
from tests.edge.web.camera_site import edge_from_file, write_camera_site

GUARD_PW = "guard-password-1"
VIEWER_PW = "viewer-password-1"
WALKWAY = {"name": "walkway", "polygon": [[0.1, 0.2], [0.9, 0.2], [0.9, 0.95], [0.1, 0.95]], "loiter_s": 30}
DOORWAY = {"name": "doorway", "polygon": [[0.0, 0.0], [0.3, 0.0], [0.3, 0.3]]}
MIDDLE = {"name": "middle", "a": [0.0, 0.5], "b": [1.0, 0.5]}


def test_only_an_admin_saves_regions_and_everyone_sees_them() -> None:
    assert required_role("PUT", "/api/v1/cameras/plaza/regions") == "admin"
    for path in ("/cameras", "/cameras/plaza", "/api/v1/cameras/plaza/regions", "/api/v1/cameras/plaza/tracks"):
        assert required_role("GET", path) == "viewer"
    assert required_role("GET", "/system") == "viewer"


async def test_regions_are_validated_saved_to_the_file_and_audited(tmp_path: Path, vtest_path: Path) -> None:
    camera = {"id": "plaza", "name": "Plaza", "source": str(vtest_path), "enabled": False, "zones": [DOORWAY]}
    # The front door watches the camera's "doorway" zone: removing that zone must be refused.
    doors = site_config_dict(tmp_path / "edge")["doors"]
    doors[0].update({"camera": "plaza", "camera_zone": "doorway"})
    config_path = write_camera_site(tmp_path, camera, doors=doors)
    async with edge_from_file(config_path) as edge:
        auth = edge.app[CONSOLE_AUTH]
        await auth.create_user("gina", GUARD_PW, "guard")
        await auth.create_user("victor", VIEWER_PW, "viewer")
        base = f"http://127.0.0.1:{edge.web_port}"
        async with (
            httpx.AsyncClient(base_url=base) as admin,
            httpx.AsyncClient(base_url=base) as guard,
            httpx.AsyncClient(base_url=base) as viewer,
        ):
            a = {"X-CSRF-Token": await console_login(admin)}
            g = {"X-CSRF-Token": await console_login(guard, GUARD_PW, "gina")}
            v = {"X-CSRF-Token": await console_login(viewer, VIEWER_PW, "victor")}
            url = "/api/v1/cameras/plaza/regions"
            seen = (await viewer.get(url)).json()
            assert [z["name"] for z in seen["zones"]] == ["doorway"] and seen["lines"] == []
            wanted = {"zones": [DOORWAY, WALKWAY], "lines": [MIDDLE]}
            for client, headers in ((viewer, v), (guard, g)):
                refused = await client.put(url, json=wanted, headers=headers)
                assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
                assert (await client.get("/cameras/plaza")).status_code == 200
            before = config_path.read_bytes()

            # Bad drawings: each a 400 naming the field; the file is untouched.
            for bad in (
                {"zones": [{"name": "off", "polygon": [[0.1, 0.1], [1.4, 0.1], [0.5, 0.9]]}]},
                {"zones": [{"name": "flat", "polygon": [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]}]},
                {"zones": [DOORWAY, DOORWAY]},
                {"lines": [{"name": "dot", "a": [0.5, 0.5], "b": [0.5, 0.5]}]},
                {"zones": [{"name": "../etc", "polygon": DOORWAY["polygon"]}]},
                {"zones": [], "extra": 1},
            ):
                answer = await admin.put(url, json=bad, headers=a)
                assert answer.status_code == 400, (bad, answer.text)
                assert answer.json()["error"] == "invalid_body"
            not_json = await admin.put(url, content=b"{", headers={**a, "Content-Type": "application/json"})
            assert not_json.status_code == 400
            assert (await admin.put("/api/v1/cameras/nope/regions", json=wanted, headers=a)).status_code == 404

            # A door still names the zone: the whole config would be invalid, so nothing is written.
            orphan = await admin.put(url, json={"zones": [WALKWAY]}, headers=a)
            assert orphan.status_code == 422, orphan.text
            assert "doors" in orphan.json()["detail"] and "doorway" in orphan.json()["detail"]
            assert config_path.read_bytes() == before

            saved = await admin.put(url, json=wanted, headers=a)
            assert saved.status_code == 200, saved.text
            assert [z["name"] for z in saved.json()["zones"]] == ["doorway", "walkway"]
            assert (await viewer.get(url)).json() == saved.json()
            page = (await viewer.get("/cameras/plaza")).text
            assert "walkway" in page and 'id="draw-zone"' not in page  # a viewer sees the zones, not the tools
            assert 'id="draw-zone"' in (await admin.get("/cameras/plaza")).text

    # The file holds the drawing (and reloads as a valid config); it stays private.
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    reloaded = load_config(config_path).cameras[0]
    assert [z.name for z in reloaded.zones] == ["doorway", "walkway"]
    assert reloaded.zones[1].polygon == [(0.1, 0.2), (0.9, 0.2), (0.9, 0.95), (0.1, 0.95)]
    assert reloaded.zones[1].loiter_s == 30
    assert [(ln.name, ln.a, ln.b) for ln in reloaded.lines] == [("middle", (0.0, 0.5), (1.0, 0.5))]
    assert not list(config_path.parent.glob(".edge.toml.tmp"))

    # The change is in the audit of console actions.
    async with edge_from_file(config_path) as edge:
        audit = await edge.app[keys.JOURNAL].recent(10, "audit")
        saves = [e for e in audit if e.payload.get("type") == "camera_regions_saved"]
        assert len(saves) == 1
        assert saves[0].source == "console:admin"
        assert saves[0].payload["zones"] == ["doorway", "walkway"] and saves[0].payload["lines"] == ["middle"]
        assert edge.app[keys.CONFIG].cameras[0].lines[0].name == "middle"  # what a restart counts with


async def test_without_a_config_file_nothing_is_saved(tmp_path: Path, vtest_path: Path) -> None:
    camera = {"id": "plaza", "name": "Plaza", "source": str(vtest_path), "enabled": False}
    runner = EdgeRunner(load_config(write_camera_site(tmp_path, camera)))  # built in memory, as tests and benches do
    await runner.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.web_port}") as admin:
            a = {"X-CSRF-Token": await console_login(admin)}
            answer = await admin.put("/api/v1/cameras/plaza/regions", json={"zones": [WALKWAY]}, headers=a)
            assert answer.status_code == 409 and answer.json()["error"] == "no_config_file"
            assert (await admin.get("/api/v1/cameras/plaza/regions")).json()["zones"] == []
            assert "the box was started without a config file" in (await admin.get("/cameras/plaza")).text
            for path in ("/api/v1/cameras/nope/regions", "/api/v1/cameras/nope/tracks", "/cameras/nope"):
                assert (await admin.get(path)).status_code == 404
            listing = (await admin.get("/cameras")).text
            assert 'href="/cameras/plaza"' in listing and "disabled" in listing
    finally:
        await runner.stop()
