"""The dashboard's files and the index page; the browser tests (``nox -s ui``) drive the page."""

from __future__ import annotations

import aiohttp

from mock_soniox.server import ui
from mock_soniox.testing.pytest_plugin import MockSoniox


async def test_the_index_page_links_to_the_dashboard(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    async with http.get(mock_soniox.base_url + "/") as resp:
        assert resp.status == 200
        page = await resp.text()
    assert 'href="/__admin/ui"' in page
    assert mock_soniox.stt_url in page and mock_soniox.tts_url in page


async def test_the_dashboard_and_its_files_are_served_with_a_strict_policy(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    base = mock_soniox.admin_url + "/ui"
    for url, kind in (
        (base, "text/html"),
        (base + "/app.js", "text/javascript"),
        (base + "/style.css", "text/css"),
    ):
        async with http.get(url) as resp:
            assert resp.status == 200, url
            assert resp.content_type == kind
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
            assert resp.headers["X-Frame-Options"] == "DENY"
    page = (ui.STATIC_DIR / "index.html").read_text()
    assert "/__admin/ui/app.js" in page  # no framework, nothing from elsewhere
    assert "http://" not in page and "https://" not in page


async def test_only_the_dashboard_files_are_served(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    for name in ("nope.js", "..%2Fadmin.py", "%2E%2E"):
        async with http.get(f"{mock_soniox.admin_url}/ui/{name}") as resp:
            assert resp.status == 404, name


async def test_the_dashboard_is_refused_to_a_page_of_another_origin(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    async with http.get(
        mock_soniox.admin_url + "/ui", headers={"Origin": "http://evil.example"}
    ) as resp:
        assert resp.status == 403
    async with http.get(mock_soniox.admin_url + "/ui", headers={"Host": "evil.example"}) as resp:
        assert resp.status == 403


def test_the_dashboard_files_ship_in_the_package() -> None:
    for name in ui.ASSETS:
        assert (ui.STATIC_DIR / name).is_file(), name
