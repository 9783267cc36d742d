"""Mosquitto's own command-line clients (mosquitto_pub/mosquitto_sub): an independent MQTT implementation."""

from __future__ import annotations

import asyncio


async def mosquitto(*args: str, timeout_s: float = 15.0) -> tuple[int, str, str]:
    """Run mosquitto_pub/mosquitto_sub with `args`; return (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
