"""/metrics and /readyz on a real edge app: counters move when badges are decided; who may scrape."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from tests.edge.site import site_config_dict
from tests.polling import eventually


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(runner: EdgeRunner, host: str = "127.0.0.1", headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(f"http://{host}:{runner.web_port}/metrics", headers=headers or {})


async def test_counters_move_when_badges_are_decided(edge_app, devices) -> None:
    await edge_app.app[keys.CREDENTIALS].add_person("Ada Lovelace", ["0004217"])
    lock = await devices("lock-front", "lock")
    reader = await devices("reader-front", "reader")
    before = samples((await scrape(edge_app)).text)
    assert before.get(("outpost_edge_access_decisions_total", (("reason", "granted"), ("result", "granted")))) is None

    for credential in ("0004217", "9999999"):
        badge = await reader.present(credential)
        assert await reader.wait_receipt(badge.id)
    await lock.commands.get()  # the unlock for Ada

    async def latency_observed() -> dict:
        now = samples((await scrape(edge_app)).text)
        key = ("outpost_edge_door_command_latency_seconds_count", (("action", "unlock"),))
        return now if now.get(key, 0) >= 1 else {}

    after = await eventually(latency_observed)
    assert after[("outpost_edge_access_decisions_total", (("reason", "granted"), ("result", "granted")))] == 1
    denied = ("outpost_edge_access_decisions_total", (("reason", "unknown_credential"), ("result", "denied")))
    assert after[denied] == 1
    assert after[("outpost_edge_broker_messages_total", (("outcome", "accepted"),))] > before.get(
        ("outpost_edge_broker_messages_total", (("outcome", "accepted"),)), 0
    )
    # The two audit records wait in the outbox (this site has no cloud).
    assert after[("outpost_edge_outbox_backlog", ())] >= 2
    assert after[("outpost_edge_outbox_oldest_age_seconds", ())] >= 0
    assert ("outpost_edge_event_loop_lag_seconds", ()) in after
    assert after[("outpost_edge_sync_errors_total", ())] == 0
    # No personal data in labels: neither the name nor the badge number appears anywhere in the exposition.
    text = (await scrape(edge_app)).text
    assert "Ada" not in text and "0004217" not in text and "9999999" not in text


async def test_two_apps_in_one_process_keep_their_own_numbers(edge_app, devices, tmp_path: Path) -> None:
    other = EdgeRunner(EdgeConfig.model_validate(site_config_dict(tmp_path / "other")))
    await other.start()
    try:
        reader = await devices("reader-front", "reader")
        badge = await reader.present("9999999")
        assert await reader.wait_receipt(badge.id)
        key = ("outpost_edge_access_decisions_total", (("reason", "unknown_credential"), ("result", "denied")))
        assert samples((await scrape(edge_app)).text)[key] == 1
        assert key not in samples((await scrape(other)).text)
    finally:
        await other.stop()


async def test_readyz_needs_the_broker_and_the_database(edge_app) -> None:
    url = f"http://127.0.0.1:{edge_app.web_port}/readyz"
    async with httpx.AsyncClient() as http:
        ready = await http.get(url)
        assert ready.status_code == 200
        assert ready.json() == {"ready": True, "checks": {"web": True, "broker": True, "database": True}}
        assert (await http.get(f"http://127.0.0.1:{edge_app.web_port}/healthz")).status_code == 200
        await edge_app.app[keys.BROKER].stop()
        down = await http.get(url)
    assert down.status_code == 503
    assert down.json()["checks"]["broker"] is False


def lan_address() -> str | None:
    """An address of this machine that is not loopback (None if it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))  # no packet is sent: this only picks the outgoing interface
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


async def test_metrics_from_the_lan_need_the_token_from_a_private_file(tmp_path: Path) -> None:
    address = lan_address()
    # Never skipped: without a LAN address the scrape rule for remote clients would go untested.
    assert address is not None, "this test needs a non-loopback IPv4 address on the machine (a route to 192.0.2.0/24)"
    data_dir = tmp_path / "edge"
    config = site_config_dict(data_dir)
    config["web"]["host"] = address
    runner = EdgeRunner(EdgeConfig.model_validate(config))
    await runner.start()
    try:
        assert (await scrape(runner, address)).status_code == 403  # no token file: loopback only
        token_file = data_dir / "metrics-token"
        token_file.write_text("s3cret-scrape-token\n")
        token_file.chmod(0o644)
        good = {"Authorization": "Bearer s3cret-scrape-token"}
        assert (await scrape(runner, address, good)).status_code == 403  # readable by others: ignored
        token_file.chmod(0o600)
        assert (await scrape(runner, address, {"Authorization": "Bearer wrong"})).status_code == 403
        allowed = await scrape(runner, address, good)
        assert allowed.status_code == 200
        assert "outpost_edge_info" in allowed.text
    finally:
        await runner.stop()


async def test_detector_latency_and_frames_move_on_a_real_camera(
    tmp_path: Path, vtest_path: Path, nanodet_path: Path
) -> None:
    config = EdgeConfig.model_validate(
        site_config_dict(
            tmp_path / "edge",
            cameras=[{"id": "plaza", "name": "Plaza", "zone": "lobby", "source": str(vtest_path), "fps": 5}],
            vision={"detector": {"model_path": str(nanodet_path), "threads": 1}},
        )
    )
    runner = EdgeRunner(config)
    await runner.start()
    try:

        async def detector_ran() -> dict:
            now = samples((await scrape(runner)).text)
            runs = now.get(("outpost_edge_detector_latency_seconds_count", (("camera", "plaza"),)), 0)
            return now if runs >= 3 else {}

        found = await eventually(detector_ran, timeout_s=30)
    finally:
        await runner.stop()
    runs = found[("outpost_edge_detector_latency_seconds_count", (("camera", "plaza"),))]
    assert found[("outpost_edge_detector_latency_seconds_sum", (("camera", "plaza"),))] > 0
    frames = found[("outpost_edge_camera_frames_total", (("camera", "plaza"),))]
    gated = found[("outpost_edge_camera_frames_skipped_total", (("camera", "plaza"), ("why", "motion_gate")))]
    assert frames >= runs and gated == frames - runs
    assert ("outpost_edge_camera_frames_skipped_total", (("camera", "plaza"), ("why", "dropped"))) in found
