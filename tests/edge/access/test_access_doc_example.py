"""The configuration example in docs/ACCESS.md is valid (with its devices added)."""

from __future__ import annotations

import re
import tomllib

from edge.config import EdgeConfig
from tests.paths import REPO


def test_access_doc_config_example_validates() -> None:
    text = (REPO / "docs" / "ACCESS.md").read_text()
    block = re.search(r"## Configuration example\n\n```toml\n(.*?)```", text, re.S)
    assert block, "docs/ACCESS.md lost its TOML example"
    data = tomllib.loads(block.group(1))
    kinds = {
        "lock-front": "lock",
        "reader-front": "reader",
        "reader-front-exit": "reader",
        "contact-front": "contact",
        "rex-front": "contact",
        "lock-vault": "lock",
        "reader-vault": "reader",
        "contact-vault": "contact",
    }
    data["devices"] = [
        {"id": dev, "kind": kind, "zone": "vault" if "vault" in dev else "lobby"} for dev, kind in kinds.items()
    ]
    config = EdgeConfig.model_validate(data)
    assert config.doors[0].first_person_in and config.doors[1].two_person
    assert [(r.device, r.direction) for r in config.doors[1].readers] == [("reader-vault", "in")]
    assert set(config.access.levels) == {"staff", "nights", "vault", "security"}
