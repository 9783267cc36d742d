"""A person's name is printable text: a NUL typed in the console is refused with a 400, not stored."""

from __future__ import annotations

import httpx

from tests.edge.console import console_headers


async def test_control_characters_in_a_name_are_refused(edge_app) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        headers = await console_headers(client)
        for name in ("Bob\x00by", "Line\nbreak", "Esc\x1b[31m"):
            response = await client.post("/api/v1/people", json={"name": name, "credentials": []}, headers=headers)
            assert response.status_code == 400, response.text
            assert response.json()["error"] == "invalid_body"
        created = await client.post("/api/v1/people", json={"name": "Zoë O'Neil-Ångström"}, headers=headers)
        assert created.status_code == 201, created.text
        person = f"/api/v1/people/{created.json()['id']}"
        renamed = await client.patch(person, json={"name": "Zoë\x00"}, headers=headers)
        assert renamed.status_code == 400
        assert (await client.get("/api/v1/people")).json()[0]["name"] == "Zoë O'Neil-Ångström"
