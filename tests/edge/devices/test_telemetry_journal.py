"""Telemetry reaches the journal on a significant change as well as once per interval (real broker, SQLite)."""

from __future__ import annotations

from edge import keys
from edge.devices.telemetry import significant_changes
from firmware_adapters.messages import Telemetry
from tests.polling import eventually


async def test_a_battery_dropping_to_12_percent_is_journaled_within_the_minute(edge_app, devices) -> None:
    journal = edge_app.app[keys.JOURNAL]
    # A simulated device that reports only what the test publishes (SimulatedSensor adds its own timed reports).
    sensor = await devices("temp-lobby", "contact")

    async def batteries() -> list[float]:
        entries = await journal.recent(20, "telemetry")
        return [e.payload["values"]["battery_pct"] for e in entries if "battery_pct" in e.payload["values"]]

    async def journaled(value: float) -> bool:
        return value in await batteries()

    await sensor.publish("telemetry", Telemetry(values={"battery_pct": 84.0, "temperature_c": 21.0}))
    await eventually(lambda: journaled(84.0))
    await sensor.publish("telemetry", Telemetry(values={"battery_pct": 83.0, "temperature_c": 21.2}))  # noise
    await sensor.publish("telemetry", Telemetry(values={"battery_pct": 12.0, "temperature_c": 21.2}))
    await eventually(lambda: journaled(12.0))
    # Handled in order per device: the 83 % sample came before the 12 % one and was not worth a record.
    assert await batteries() == [12.0, 84.0]
    newest = (await journal.recent(1, "telemetry"))[0]
    assert newest.payload["changed"] == ["battery_pct"]


def test_what_counts_as_significant() -> None:
    assert significant_changes({}, {"battery_pct": 90.0}) == ["battery_pct"]
    assert significant_changes({"battery_pct": 90.0}, {"battery_pct": 87.0}) == []
    assert significant_changes({"battery_pct": 22.0}, {"battery_pct": 19.0}) == ["battery_pct"]  # now low
    assert significant_changes({"locked": 1.0, "lock_jammed": 0.0}, {"locked": 0.0, "lock_jammed": 1.0}) == [
        "locked",
        "lock_jammed",
    ]
    assert significant_changes({"linkquality": 200.0}, {"linkquality": 20.0}) == []
    assert significant_changes({"voltage": 12.0}, {"voltage": 12.5}) == []
    assert significant_changes({"voltage": 12.0}, {"voltage": 10.0}) == ["voltage"]
