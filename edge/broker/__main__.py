"""`python -m edge.broker`: the embedded broker alone in its own process (benchmarks, debugging).

Accounts come from a JSON file: a list of {"username", "password_hash", "publish": [...], "subscribe": [...]}.
Prints `listening on HOST:PORT` once clients can connect; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from edge.broker.directory import BrokerDirectory, BrokerUser
from edge.broker.server import EmbeddedBroker


def load_accounts(path: Path) -> BrokerDirectory:
    """Build a directory from an accounts JSON file."""
    directory = BrokerDirectory()
    for item in json.loads(path.read_text()):
        directory.add(
            BrokerUser(item["username"], item["password_hash"], tuple(item["publish"]), tuple(item["subscribe"]))
        )
    return directory


async def serve(directory: BrokerDirectory, host: str, port: int) -> None:
    """Run the broker until SIGTERM/SIGINT."""
    broker = EmbeddedBroker(directory, host=host, port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await broker.start()
    print(f"listening on {broker.client_host}:{broker.port}", flush=True)
    await stop.wait()
    await broker.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m edge.broker", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=Path, required=True, help="accounts JSON file")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    parser.add_argument("-v", "--verbose", action="store_true", help="info logging")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(load_accounts(args.accounts), args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
