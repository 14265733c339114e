"""Browser flows of the frontend against the real stack (INT-301..INT-308, INT-311)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.integration.support import RC_FILTER

pytestmark = pytest.mark.integration_frontend
TIMEOUT = 60_000


@pytest.mark.int_id("INT-301")
def test_int_301_layout_has_three_columns_side_by_side(fresh_page):
    boxes = [
        fresh_page.get_by_test_id(t).bounding_box() for t in ("episodes-column", "episode-column", "viewer-column")
    ]
    assert all(b and b["width"] > 100 for b in boxes)
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
    assert abs(boxes[0]["y"] - boxes[2]["y"]) < 2


@pytest.mark.int_id("INT-302")
def test_int_302_new_episode_appears_in_the_list(fresh_page, stack):
    fresh_page.get_by_test_id("new-episode").click()
    expect(fresh_page.get_by_test_id("episode-status")).to_have_text("created", timeout=TIMEOUT)
    episode_id = fresh_page.url.rsplit("/", 1)[-1]
    item = fresh_page.locator(f'[data-testid="episode-item"][data-episode-id="{episode_id}"]')
    expect(item).to_be_visible()
    expect(item).to_have_class("selected")
    expect(item.get_by_test_id("episode-item-status")).to_have_text("created")
    expect(fresh_page.locator('[data-testid="episode-item"].selected')).to_have_count(1)
    assert stack.episode(episode_id).status == "created"


@pytest.mark.int_id("INT-303")
def test_int_303_events_update_live_without_reload(fresh_page, stack):
    fresh_page.get_by_test_id("new-episode").click()
    expect(fresh_page.get_by_test_id("episode-status")).to_have_text("created", timeout=TIMEOUT)
    fresh_page.get_by_test_id("netlist-input").fill(RC_FILTER)
    fresh_page.get_by_test_id("simulate").click()
    expect(fresh_page.get_by_test_id("episode-status")).to_have_text("completed", timeout=TIMEOUT)
    shown = fresh_page.get_by_test_id("event-item").evaluate_all(
        "els => els.map(e => [Number(e.dataset.eventId), e.dataset.kind])"
    )
    assert {"status", "bundled", "validated", "simulated", "artifact"} <= {kind for _, kind in shown}
    episode_id = fresh_page.url.rsplit("/", 1)[-1]
    # Exactly the controller's events, in its order: every one shown, none invented or repeated.
    assert shown == [[e.id, e.kind] for e in stack.events(episode_id)]


@pytest.mark.int_id("INT-304")
def test_int_304_waveform_and_netlist_appear_in_the_viewer(fresh_page, stack, session_id):
    episode = stack.new_episode(session_id, "viewer")
    stack.write(session_id, "circuit.cir", RC_FILTER)
    assert stack.start_simulation(episode).status_code == 202
    assert stack.wait_final(episode.id).status == "completed"
    fresh_page.goto(f"{fresh_page.url.rstrip('/')}/episodes/{episode.id}")
    image = fresh_page.get_by_test_id("waveform")
    expect(image).to_be_visible(timeout=TIMEOUT)
    fresh_page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => img.naturalWidth") == 640
    expect(fresh_page.get_by_test_id("netlist-view")).to_contain_text("RC low-pass filter")


@pytest.mark.int_id("INT-305")
def test_int_305_theme_survives_reload(fresh_page):
    assert fresh_page.evaluate("document.documentElement.dataset.theme") == "light"
    fresh_page.get_by_test_id("theme-toggle").click()
    assert fresh_page.evaluate("document.documentElement.dataset.theme") == "dark"
    fresh_page.reload()
    fresh_page.wait_for_selector('[data-testid="app-layout"]')
    assert fresh_page.evaluate("document.documentElement.dataset.theme") == "dark"


@pytest.mark.int_id("INT-306")
def test_int_306_column_widths_survive_reload(fresh_page):
    column = fresh_page.get_by_test_id("episodes-column")
    before = column.bounding_box()["width"]
    handle = fresh_page.get_by_test_id("resize-handle-1").bounding_box()
    fresh_page.mouse.move(handle["x"] + 3, handle["y"] + 100)
    fresh_page.mouse.down()
    fresh_page.mouse.move(handle["x"] + 123, handle["y"] + 100, steps=5)
    fresh_page.mouse.up()
    after = column.bounding_box()["width"]
    assert after == pytest.approx(before + 120, abs=2)
    fresh_page.reload()
    fresh_page.wait_for_selector('[data-testid="app-layout"]')
    assert fresh_page.get_by_test_id("episodes-column").bounding_box()["width"] == pytest.approx(after, abs=1)


@pytest.mark.int_id("INT-307")
@pytest.mark.allow_browser_errors(r"status of 404")  # the missing episode's 404, which the test asks for
def test_int_307_controller_errors_are_shown(fresh_page, app_url):
    missing = "0" * 32
    fresh_page.goto(f"{app_url}/episodes/{missing}")
    banner = fresh_page.get_by_test_id("error-banner")
    expect(banner).to_be_visible(timeout=TIMEOUT)
    # The controller's own message, not the frontend's "404 fetching ..." text.
    expect(banner).to_contain_text(f"404: no episode '{missing}'")


@pytest.mark.int_id("INT-308")
def test_int_308_deep_link_loads_the_episode(page, app_url, stack, session_id):
    episode = stack.new_episode(session_id, "deep link target")
    page.goto(f"{app_url}/episodes/{episode.id}")
    expect(page.get_by_test_id("episode-name")).to_have_text("deep link target", timeout=TIMEOUT)
    expect(page.get_by_test_id("episode-status")).to_have_text("created")
    selected = page.locator(f'[data-testid="episode-item"][data-episode-id="{episode.id}"]')
    expect(selected).to_have_class("selected")


@pytest.mark.int_id("INT-311")
@pytest.mark.allow_browser_errors(r"WebSocket")  # the socket the test drops on purpose
def test_int_311_events_arrive_over_the_websocket_and_polling_takes_over_when_it_drops(
    page, app_url, stack, session_id
):
    sockets, frames = [], []
    refuse = []  # once set, the page cannot open a socket again: only polling can show events

    def through(ws):
        if refuse:
            ws.close(code=1011, reason="refused by the test")
            return
        server = ws.connect_to_server()
        ws.on_message(server.send)

        def to_page(message):
            frames.append(message)
            ws.send(message)

        server.on_message(to_page)
        sockets.append(ws)

    page.route_web_socket(re.compile(r".*/events/stream.*"), through)
    episode = stack.new_episode(session_id, "websocket")
    stack.write(session_id, "circuit.cir", RC_FILTER)
    page.goto(f"{app_url}/episodes/{episode.id}")
    expect(page.get_by_test_id("episode-status")).to_have_text("created", timeout=TIMEOUT)
    assert sockets, "the episode view opened the event stream"
    # Live: the simulation's events reach the page through the socket, no reload.
    assert stack.start_simulation(episode).status_code == 202
    expect(page.get_by_test_id("episode-status")).to_have_text("completed", timeout=TIMEOUT)
    through_socket = {json.loads(f)["id"] for f in frames}
    assert {e.id for e in stack.events(episode.id)} <= through_socket
    # Dropped and refused: polling shows the next simulation's events all the same.
    refuse.append(True)
    for ws in sockets:
        ws.close(code=4000, reason="dropped by the test")
    seen = len(frames)
    assert stack.start_simulation(episode).status_code == 202
    assert stack.wait_final(episode.id).status == "completed"
    expect(page.get_by_test_id("event-item")).to_have_count(len(stack.events(episode.id)), timeout=TIMEOUT)
    shown = page.get_by_test_id("event-item").evaluate_all("els => els.map(e => Number(e.dataset.eventId))")
    assert shown == [e.id for e in stack.events(episode.id)], "every event once, in order"
    assert len(frames) == seen, "none of the second simulation's events came through a socket"
