"""Blind review in a real browser: grade 10 answers by keyboard, reload mid-way, finish, and read
the human metric and its agreement with contains / F1 in the report."""

import re

import pytest

from tests.e2e.conftest import screenshot, serve_app, wait_for_app

pytestmark = pytest.mark.e2e


@pytest.fixture
def review_app(data_dir):
    """One saved report of 10 answers (5 questions x base, rag; fake arms: no model needed)."""
    from tests.unit.test_review import _report

    report = _report(data_dir)
    with serve_app(data_dir) as server:
        yield server, report


def _graded(page, k: int) -> None:
    page.get_by_text(f"{k} of 10 answers graded").first.wait_for(timeout=60_000)
    wait_for_app(page)


def _grade_by_key(page, key: str, before: int) -> None:
    page.get_by_role("heading", name="Blind review").first.click()  # focus the page, not a widget
    page.keyboard.press(key)
    _graded(page, before + 1)


def test_grade_by_keyboard_reload_and_finish(review_app, page):
    server, report = review_app
    page.goto(f"{server.url}/review")
    wait_for_app(page)
    _graded(page, 0)
    for k in range(5):
        _grade_by_key(page, "1" if k % 2 else "3", k)
    page.reload()  # resumable: the five grades are in the report file
    wait_for_app(page)
    _graded(page, 5)
    for k in range(5, 10):
        _grade_by_key(page, "2" if k == 5 else "1", k)
    page.get_by_text("Review finished").first.wait_for(timeout=60_000)
    assert page.get_by_text(re.compile(r"Contains gold agrees with your grades on \d+% of 10 answers")).count() >= 1
    assert page.get_by_text(re.compile(r"Token F1 agrees with your grades on \d+% of 10 answers")).count() >= 1
    screenshot(page, "review-finished")
    page.get_by_test_id("stSidebarNav").get_by_text("Evaluate", exact=True).click()
    page.get_by_role("heading", name="Evaluate").first.wait_for(timeout=60_000)
    wait_for_app(page)
    assert page.get_by_text(re.compile("Scored by your own blind-review grades")).count() >= 1
    assert page.get_by_text(re.compile(r"Contains gold agrees with your grades")).count() >= 1
    assert page.get_by_test_id("stException").count() == 0
    assert server.network_violations() == []
