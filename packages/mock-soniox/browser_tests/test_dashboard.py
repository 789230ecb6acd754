"""The dashboard in headless Chromium: what a developer sees and does, against the live mock.

Clients are plain aiohttp websockets on the test's loop; the browser is waited on from a thread
(``until``) so they keep running meanwhile. Every wait is a condition, never a sleep.

Run by ``nox -s ui``, with Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
them when missing; ``CHROMIUM`` / ``CHROMEDRIVER`` name others). Nothing is downloaded: Selenium
is given both paths.
``MOCK_SONIOX_UI_SCREENSHOT=path.png`` saves the screenshot the package README shows.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from mock_soniox.faults import FaultSpecError, parse_fault
from mock_soniox.fixtures.library import Library
from mock_soniox.testing.common import BEARER
from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.stt import BASIC_CONFIG, CHUNK_MS, RATE, chunks
from mock_soniox.testing.tts import open_tts, stream_config

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=1280,1000",
)


def _find(env: str, *names: str) -> str:
    path = os.environ.get(env) or next(filter(None, map(shutil.which, names)), None)
    if path is None:
        pytest.fail(
            f"{' or '.join(names)} not found: apt-get install chromium chromium-driver"
            f" (or set {env})"
        )
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    options = Options()
    options.binary_location = _find("CHROMIUM", "chromium", "chromium-browser", "google-chrome")
    with tempfile.TemporaryDirectory(prefix="mock-soniox-ui-") as profile:
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        service = Service(executable_path=_find("CHROMEDRIVER", "chromedriver"))
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_page_load_timeout(15)
        driver.set_script_timeout(15)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def screenshot_path() -> str | None:
    return os.environ.get("MOCK_SONIOX_UI_SCREENSHOT")


@pytest.fixture
def dashboard_url(mock_soniox: MockSoniox) -> str:
    return mock_soniox.admin_url + "/ui"


# The page re-renders live parts every second: an element found a moment ago may be replaced.
FLEETING = (NoSuchElementException, StaleElementReferenceException)
STT_CARD = '.conn[data-endpoint="stt"]'
TTS_CARD = '.conn[data-endpoint="tts"]'


async def until(
    driver: WebDriver, condition: Callable[[WebDriver], Any], within: float = 10
) -> Any:
    """``condition``'s first truthy value, polled off the event loop so clients keep running."""
    wait = WebDriverWait(driver, within, poll_frequency=0.05, ignored_exceptions=FLEETING)
    return await asyncio.to_thread(wait.until, condition)


def text(driver: WebDriver, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


async def click(driver: WebDriver, css: str) -> None:
    """Click ``css`` once, even if the page replaces it while we reach for it."""

    def clicked(d: WebDriver) -> bool:
        d.find_element(By.CSS_SELECTOR, css).click()
        return True

    await until(driver, clicked)


async def open_dashboard(driver: WebDriver, url: str) -> None:
    driver.get(url)
    await until(driver, lambda d: text(d, "#live") == "live")


async def connect_stt(
    http: aiohttp.ClientSession, url: str, *, seconds: float = 3.0
) -> aiohttp.ClientWebSocketResponse:
    """An STT session replaying ``stt-en-finalize`` that has sent its first ``seconds`` of audio."""
    fixture = Library.load().get("stt-en-finalize")
    assert fixture is not None
    ws = await http.ws_connect(url + "?fixture=stt-en-finalize", headers=BEARER)
    await ws.send_str(json.dumps({**BASIC_CONFIG, "model": "stt-rt-v4"}))
    audio = fixture.input_audio()[: int(RATE * 2 * seconds)]
    for chunk in chunks(audio, RATE * 2 * CHUNK_MS // 1000):
        await ws.send_bytes(chunk)
    return ws


async def closed(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """Read (and ignore) frames until the server ends the socket; its close code, if any."""
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            await ws.close()
            return msg.data if msg.type == aiohttp.WSMsgType.CLOSE else None


async def test_the_index_page_links_to_the_dashboard(
    browser: WebDriver, mock_soniox: MockSoniox
) -> None:
    browser.get(mock_soniox.base_url + "/")
    await click(browser, "#dashboard")
    await until(browser, lambda d: text(d, "#live") == "live")
    assert browser.title == "mock-soniox dashboard"
    await until(browser, lambda d: text(d, "#conn-empty").startswith("No live connections"))


async def test_live_sessions_appear_update_and_can_be_closed(
    browser: WebDriver,
    mock_soniox: MockSoniox,
    http: aiohttp.ClientSession,
    dashboard_url: str,
    screenshot_path: str | None,
) -> None:
    await open_dashboard(browser, dashboard_url)
    stt = await connect_stt(http, mock_soniox.stt_url)
    tts = await open_tts(http, mock_soniox.tts_url)
    await tts.send(**stream_config("s1"))
    await tts.send(stream_id="s1", text="Hello from the dashboard. ", text_end=False)

    await until(browser, lambda d: text(d, f"{STT_CARD} .audio-s") == "3.00 s of audio")
    assert "stt-rt-v4, pcm_s16le 16000 Hz" in text(browser, f"{STT_CARD} .config")
    assert "stt-en-finalize" in text(browser, f"{STT_CARD} .tag.match")
    await until(browser, lambda d: text(d, f"{STT_CARD} .transcript").startswith("Please"))
    stream = f'{TTS_CARD} tr.stream[data-stream="s1"]'
    await until(browser, lambda d: text(d, f"{stream} .state") == "speaking")
    await until(browser, lambda d: text(d, f"{stream} .text") == "Hello from the dashboard.")
    assert not text(browser, f"{stream} .audio").startswith("0 /")
    await until(browser, lambda d: text(d, "#conn-count") == "2")
    (stt_id,) = [c["id"] for c in mock_soniox.connections() if c["endpoint"] == "stt"]
    used_by = 'tr.fixture[data-name="stt-en-finalize"] .used-by'
    await until(browser, lambda d: text(d, used_by) == stt_id)
    if screenshot_path:
        mock_soniox.faults.add("drop:after_ms=60000,endpoint=stt,times=1")
        await until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.fault-rule"))
        await click(browser, "#journal-rows tr.entry[data-kind=result]")
        browser.save_screenshot(screenshot_path)

    await click(browser, f"{STT_CARD} .kill")
    assert await closed(stt) is None  # cut: no close frame, no code
    await until(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, STT_CARD))

    await click(browser, f"{TTS_CARD} .close")
    assert await closed(tts.ws) == 1000  # the code in the server's close frame
    await until(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, TTS_CARD))
    await until(browser, lambda d: text(d, "#conn-empty").startswith("No live connections"))


async def test_a_fault_armed_from_the_form_fires(
    browser: WebDriver, mock_soniox: MockSoniox, http: aiohttp.ClientSession, dashboard_url: str
) -> None:
    await open_dashboard(browser, dashboard_url)
    Select(browser.find_element(By.ID, "fault-name")).select_by_value("drop")
    browser.find_element(By.CSS_SELECTOR, "#fault-keys input[name=after_frames]").send_keys("2")
    browser.find_element(By.CSS_SELECTOR, "#fault-keys input[name=times]").send_keys("1")
    spec_input = browser.find_element(By.ID, "fault-spec")
    assert spec_input.get_attribute("value") == "drop:after_frames=2,times=1"

    # A bad spec: the API's own words come back.
    spec_input.clear()
    spec_input.send_keys("drop:after_frames=soon")
    with pytest.raises(FaultSpecError) as bad:
        parse_fault("drop:after_frames=soon")
    await click(browser, "#fault-arm")
    await until(browser, lambda d: text(d, "#fault-error") == str(bad.value))
    assert mock_soniox.faults.list() == []

    spec_input.clear()
    spec_input.send_keys("drop:after_frames=2,times=1")
    await click(browser, "#fault-arm")
    rule = "tr.fault-rule td.spec"
    await until(browser, lambda d: text(d, rule) == "drop:after_frames=2,times=1")
    assert not browser.find_element(By.ID, "fault-error").is_displayed()
    await until(browser, lambda d: text(d, "tr.fault-rule td.fired") == "0")

    stt = await http.ws_connect(mock_soniox.stt_url, headers=BEARER)
    await stt.send_str(json.dumps(BASIC_CONFIG))
    try:
        for _ in range(3):
            await stt.send_bytes(bytes(3840))
    except ConnectionError:
        pass  # dropped mid-send: that is the fault
    assert await closed(stt) is None  # dropped: no close frame

    await until(browser, lambda d: text(d, "tr.fault-rule td.fired") == "1")
    await click(browser, "#journal-rows tr.entry[data-kind=fault]")
    detail = json.loads(text(browser, "#entry-detail"))
    assert detail["fault"] == "drop:after_frames=2,times=1"
    assert detail["direction"] == "event"

    await click(browser, "tr.fault-rule button.disarm")
    await until(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "tr.fault-rule"))
    assert mock_soniox.faults.list() == []


async def test_the_journal_filters_opens_entries_and_exports(
    browser: WebDriver, mock_soniox: MockSoniox, http: aiohttp.ClientSession, dashboard_url: str
) -> None:
    await open_dashboard(browser, dashboard_url)
    tts = await open_tts(http, mock_soniox.tts_url)
    await tts.start("s1", text="One short line.")
    await tts.until_terminated("s1")
    (conn_id,) = mock_soniox.connection_ids()

    await until(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.entry[data-kind=terminated]")
    )
    Select(browser.find_element(By.ID, "f-conn")).select_by_value(conn_id)
    Select(browser.find_element(By.ID, "f-dir")).select_by_value("c2s")
    rows = browser.find_elements(By.CSS_SELECTOR, "#journal-rows tr.entry")
    assert [r.get_attribute("data-kind") for r in rows] == ["config", "text_end"]

    await click(browser, "#journal-rows tr.entry[data-kind=config]")
    detail = json.loads(text(browser, "#entry-detail"))
    assert detail["conn_id"] == conn_id
    assert detail["data"]["voice"] == "Synthetic-Test"

    export = browser.find_element(By.ID, "journal-export")
    assert export.get_attribute("download") == "journal.json"
    body = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.json()).then(done, e => done(String(e)));",
        export.get_attribute("href"),
    )
    assert [(e["conn"], e["dir"], e["kind"]) for e in body["entries"]] == [
        ("tts#1", "c2s", "config"),
        ("tts#1", "c2s", "text_end"),
    ]
    await tts.ws.close()


PLAY = """
const [audio, done] = [arguments[0], arguments[arguments.length - 1]];
audio.addEventListener("playing", () => done({state: "playing", duration: audio.duration}),
                       {once: true});
audio.addEventListener("error", () => done({state: "error", code: audio.error.code}),
                       {once: true});
audio.play().catch((e) => done({state: "refused", error: String(e)}));
"""


@pytest.mark.parametrize(
    ("fixture", "file"),
    [("stt-en-finalize", "stt-en-finalize.wav"), ("tts-maya", "tts-maya.s1.wav")],
)
async def test_a_fixture_plays(
    browser: WebDriver, mock_soniox: MockSoniox, dashboard_url: str, fixture: str, file: str
) -> None:
    await open_dashboard(browser, dashboard_url)
    css = f'tr.fixture[data-name="{fixture}"] audio[data-file="{file}"]'
    audio = await until(browser, lambda d: d.find_element(By.CSS_SELECTOR, css))
    played = browser.execute_async_script(PLAY, audio)
    assert played["state"] == "playing", played
    assert played["duration"] > 0.5
    browser.execute_script("arguments[0].pause()", audio)


async def test_settings_are_changed_through_the_admin_api(
    browser: WebDriver, mock_soniox: MockSoniox, dashboard_url: str
) -> None:
    await open_dashboard(browser, dashboard_url)
    row = 'tr.setting[data-name="time_scale"]'
    field = await until(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"{row} input"))
    field.clear()
    field.send_keys("0.5")
    await click(browser, f"{row} button.save")
    await until(browser, lambda d: mock_soniox.settings.time_scale == 0.5)

    with pytest.raises(ValueError, match="time_scale must be a number") as refused:
        mock_soniox.configure(time_scale="fast")
    field = browser.find_element(By.CSS_SELECTOR, f"{row} input")
    field.clear()
    field.send_keys("fast")
    await click(browser, f"{row} button.save")
    await until(browser, lambda d: text(d, "#settings-error") == f"time_scale: {refused.value}")
    assert mock_soniox.settings.time_scale == 0.5
    assert browser.find_element(
        By.CSS_SELECTOR, 'tr.setting[data-name="port"] input'
    ).get_attribute("disabled")
