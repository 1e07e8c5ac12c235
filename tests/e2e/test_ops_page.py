"""The local ops page (``/_ops``) in a real headless browser (Chromium from the system's packages, driven by
Playwright): it draws the template's dashboards with the metrics the functions emitted as EMF, the KPIs, and the
held-orders queue, whose Approve button calls the real admin API."""

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ORDERS_PLACED = re.compile(r"orders placed", re.IGNORECASE)

#: True once a widget whose title names the orders placed shows at least this test's four orders over the page's
#: range (the last 3 hours): a chart's legend figure is its statistic (Sum) over the range.
ORDERS_PLACED_SHOWN = """() => [...document.querySelectorAll('.board:not([hidden]) .widget')]
    .filter((w) => /orders placed/i.test(w.dataset.title || ''))
    .some((w) => [...w.querySelectorAll('[data-value]')].some((f) => Number(f.dataset.value) >= 4))"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the ops page is tested in Chromium from the system's packages "
                    "(apt-get install chromium)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


def place_orders(api, customer):
    """An order above the review amount, held for review, and three more; the held order's id once it is
    ON_HOLD."""
    expensive = api.product(price=120000, on_hand=2)
    answer = api.place(customer, expensive)  # first: its workflow runs while the others are placed
    assert answer.status_code == 201, answer.text
    held = answer.json()["order_id"]
    sku = api.product(price=1250, on_hand=10)
    for _ in range(3):
        answer = api.place(customer, sku)
        assert answer.status_code == 201, answer.text
    api.wait(customer, held, "ON_HOLD")
    return held


def test_the_ops_page_shows_the_dashboards_and_approves_a_held_order(api, local_stack, browser):
    customer = local_stack.token(f"ops-page-{uuid.uuid4().hex[:8]}@example.com")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # The orders are placed (and the workflow holds one) while the browser opens the page.
    with ThreadPoolExecutor(1) as pool:
        placing = pool.submit(place_orders, api, customer)
        try:
            page.goto(f"{local_stack.api_url}/_ops")
            page.wait_for_function("Number(document.body.dataset.loaded || 0) >= 1", timeout=10_000)
            tabs = page.locator("#tabs button").all_inner_texts()
            assert {"OMS-business", "OMS-health"} <= set(tabs), tabs
            # The business dashboard's own widgets, in its grid.
            titles = page.locator(".board:not([hidden]) .widget h3").all_inner_texts()
            assert any(ORDERS_PLACED.search(t) for t in titles), titles
            # The KPIs: figures, or why they are unavailable.
            page.wait_for_function("!document.querySelector('#kpi-today .body').textContent.includes('loading')",
                                   timeout=10_000)
            assert page.locator("#kpi-today [data-kpi-key=orders], #kpi-today .unavailable").count() >= 1
            held = placing.result(timeout=60)

            # The orders just placed, on the dashboard (their EMF shipped to CloudWatch) and the held one queued.
            page.click("#refresh")
            page.wait_for_function(ORDERS_PLACED_SHOWN, timeout=20_000)
            row = page.locator(f'tr[data-order-id="{held}"]')
            row.wait_for(timeout=10_000)
            assert "review" in row.inner_text()

            # Approve it from the page: the real review route moves it on.
            row.locator("button[data-action=approve]").click()
            page.wait_for_function(f"document.querySelector('#review-result').dataset.order === '{held}'",
                                   timeout=10_000)
            result = page.locator("#review-result")
            assert result.get_attribute("data-status") == "200", result.inner_text()
            assert api.wait(customer, held, "PROCESSING", timeout=20)["status"] == "PROCESSING"
            assert not errors, errors
        finally:
            page.close()
