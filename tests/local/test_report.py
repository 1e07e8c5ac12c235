"""``oms report``: the KPI table, the HTML report with its charts, and the command against a tiny HTTP server."""

import copy
import json
import re
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from local import cli
from local.report import format_minutes, format_money, format_rate, render_html, render_table

SAMPLE = {
    "from": "2026-11-01", "to": "2026-11-30", "generated_at": "2026-12-03T12:00:00Z",
    "orders": 120,
    "revenue": [{"currency": "USD", "orders": 100, "amount": 1234000, "average_order_value": 12340}],
    "fulfillment_time": {"orders": 80, "p50_minutes": 240, "p90_minutes": 1440},
    "delivery_time": {"orders": 60, "p50_minutes": 2880, "p90_minutes": 5760},
    "on_time_delivery": {"delivered": 60, "on_time": 55, "rate": 0.9167},
    "cancellations": {"orders": 10, "rate": 0.0833,
                      "by_reason": [{"reason": "changed_mind", "orders": 4, "rate": 0.0333}]},
    "returns": {"orders": 5, "rate": 0.0625, "by_reason": [{"reason": "WRONG_ITEM", "orders": 2, "rate": 0.025}]},
    "backorders": {"orders": 3, "rate": 0.025},
    "holds": {"orders": 8, "rate": 0.0667, "reviewed": 7, "median_review_minutes": 42},
    "order_accuracy": {"shipped": 80, "accurate": 78, "rate": 0.975},
    "daily": [{"date": (date(2026, 11, 1) + timedelta(days=n)).isoformat(), "orders": n % 5, "cancelled": n % 2,
               "shipped": n % 3, "delivered": 0, "revenue": [{"currency": "USD", "amount": 40000}] if n % 5 else []}
              for n in range(30)],
}

#: Placed two days ago, nothing shipped yet: no durations, no shipped-based rates, no reasons; two currencies.
FRESH = {
    "from": "2026-12-01", "to": "2026-12-02", "generated_at": "2026-12-03T12:00:00Z",
    "orders": 3,
    "revenue": [{"currency": "EUR", "orders": 2, "amount": 129900, "average_order_value": 64950},
                {"currency": "JPY", "orders": 1, "amount": 1234, "average_order_value": 1234}],
    "fulfillment_time": {"orders": 0, "p50_minutes": None, "p90_minutes": None},
    "delivery_time": {"orders": 0, "p50_minutes": None, "p90_minutes": None},
    "on_time_delivery": {"delivered": 0, "on_time": 0, "rate": None},
    "cancellations": {"orders": 0, "rate": 0.0, "by_reason": []},
    "returns": {"orders": 0, "rate": None, "by_reason": []},
    "backorders": {"orders": 0, "rate": 0.0},
    "holds": {"orders": 0, "rate": 0.0, "reviewed": 0, "median_review_minutes": None},
    "order_accuracy": {"shipped": 0, "accurate": 0, "rate": None},
    "daily": [{"date": "2026-12-01", "orders": 2, "cancelled": 0, "shipped": 0, "delivered": 0,
               "revenue": [{"currency": "EUR", "amount": 129900}]},
              {"date": "2026-12-02", "orders": 1, "cancelled": 0, "shipped": 0, "delivered": 0,
               "revenue": [{"currency": "JPY", "amount": 1234}]}],
}


def _row(table: str, label: str) -> str:
    return next(line for line in table.splitlines() if line.strip().startswith(label))


# -- formatting ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("minutes", "text"), [
    (0, "0 min"), (42, "42 min"), (240, "4 h 0 min"), (1439, "23 h 59 min"), (1440, "1 d 0 h"),
    (2 * 1440 + 3 * 60, "2 d 3 h"), (2 * 1440 + 3 * 60 + 40, "2 d 4 h"), (None, "—"),
])
def test_minutes_read_as_days_hours_and_minutes(minutes, text):
    assert format_minutes(minutes) == text


def test_money_comes_from_minor_units_in_the_currency_s_precision():
    assert format_money(1234000, "USD") == "$12,340.00"
    assert format_money(129900, "EUR") == "€1,299.00"
    assert format_money(1234, "JPY") == "¥1,234"  # no minor unit


def test_rates_are_percentages_with_one_decimal():
    assert [format_rate(r) for r in (0.9167, 0.0625, 0.0, 1.0, None)] == ["91.7%", "6.3%", "0.0%", "100.0%", "—"]


# -- the table ----------------------------------------------------------------------------------------------------


def test_the_table_shows_every_kpi_formatted_and_aligned():
    table = render_table(SAMPLE)

    assert table.startswith("Order KPIs, 2026-11-01 to 2026-11-30\n")
    expected = {
        "Orders placed": "120", "Revenue USD": "$12,340.00", "Average order value USD": "$123.40",
        "Fulfilment time p50": "4 h 0 min", "Fulfilment time p90": "1 d 0 h", "Delivery time p50": "2 d 0 h",
        "Delivery time p90": "4 d 0 h", "On-time delivery": "91.7%", "Cancellations": "8.3%", "changed_mind": "3.3%",
        "Returns": "6.3%", "WRONG_ITEM": "2.5%", "Backorders": "2.5%", "Held for review": "6.7%",
        "Median review time": "42 min", "Order accuracy": "97.5%",
    }
    ends = set()
    for label, figure in expected.items():
        line = _row(table, label)
        assert f"  {figure}" in line, line
        ends.add(line.index(figure) + len(figure))
    assert len(ends) == 1  # figures right-aligned in one column
    assert "55 of 60 delivered" in _row(table, "On-time delivery")
    assert "5 of 80 shipped" in _row(table, "Returns")
    assert "78 of 80 shipped" in _row(table, "Order accuracy")
    # the daily figures, one line per day
    assert re.search(r"^2026-11-02\s+1\s+1\s+1\s+0\s+\$400\.00$", table, re.M)
    assert len(re.findall(r"^2026-11-\d\d ", table, re.M)) == 30
    assert all(len(line) <= 120 for line in table.splitlines())


def test_the_table_shows_nulls_as_dashes_and_each_currency():
    table = render_table(FRESH)

    for label in ("Fulfilment time p50", "Delivery time p90", "On-time delivery", "Returns", "Median review time",
                  "Order accuracy"):
        assert "  —" in _row(table, label), label
    assert "€1,299.00" in _row(table, "Revenue EUR")
    assert "€649.50" in _row(table, "Average order value EUR")
    assert "¥1,234" in _row(table, "Revenue JPY")
    assert "0.0%" in _row(table, "Cancellations")
    assert re.search(r"^2026-12-02\s+1\s+0\s+0\s+0\s+¥1,234$", table, re.M)


def test_a_missing_section_is_a_dash_not_a_crash():
    table = render_table({"from": "2026-11-01", "to": "2026-11-01", "orders": 0})

    assert "—" in _row(table, "Revenue")
    assert "—" in _row(table, "Order accuracy")


# -- the HTML report ----------------------------------------------------------------------------------------------


def test_the_html_report_is_self_contained_with_one_bar_per_day():
    html = render_html(SAMPLE)

    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and "http://" not in html and "https://" not in html and "<link" not in html
    assert len(re.findall(r'<rect class="day-bar"', html)) == 30  # zero-order days included
    # cancelled parts over the days that had cancellations
    assert len(re.findall(r'<rect class="day-cancelled"', html)) == 12
    assert "<title>2026-11-05: 4 orders, 0 cancelled, 1 shipped, 0 delivered</title>" in html
    assert html.count('<polyline class="line"') == 1  # revenue: one line, USD
    for figure in ("$12,340.00", "$123.40", "4 h 0 min", "2 d 0 h", "91.7%", "97.5%", "8.3%", "42 min"):
        assert figure in html, figure
    assert "changed_mind" in html and "WRONG_ITEM" in html


def test_the_html_report_has_a_line_per_currency_and_says_what_is_missing():
    html = render_html(FRESH)

    assert html.count('<polyline class="line"') == 2
    assert "€1,299.00" in html and "¥1,234" in html
    assert html.count("None in this range.") == 2  # no cancellation or return reasons
    assert html.count('<rect class="day-bar"') == 2


def test_the_html_report_escapes_what_the_api_sends():
    kpis = copy.deepcopy(SAMPLE)
    kpis["cancellations"]["by_reason"].append({"reason": "<script>alert(1)</script>", "orders": 1, "rate": 0.0083})
    kpis["daily"][0]["date"] = '2026-11-01"><b>'

    html = render_html(kpis)

    assert "<script" not in html and '"><b>' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# -- the command --------------------------------------------------------------------------------------------------


class _Api(BaseHTTPRequestHandler):
    requests: list[dict] = []
    answer: tuple[int, dict] = (200, SAMPLE)

    def do_GET(self):
        url = urlsplit(self.path)
        type(self).requests.append({"path": url.path, "query": parse_qs(url.query),
                                    "authorization": self.headers.get("Authorization")})
        status, body = type(self).answer
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def api(tmp_path, monkeypatch):
    """A local 'API' answering the KPI JSON, and a state dir pointing at it; the current dir is tmp_path."""
    handler = type("Api", (_Api,), {"requests": [], "answer": (200, SAMPLE)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state = tmp_path / ".oms"
    state.mkdir()
    (state / "local.json").write_text(json.dumps({"api_url": f"http://127.0.0.1:{server.server_port}"}))
    monkeypatch.chdir(tmp_path)
    yield handler
    server.shutdown()
    server.server_close()


def _report(*args):
    return cli.main(["--state-dir", ".oms", "report", "--token", "ops-token", *args])


@pytest.mark.parametrize(("args", "field"), [
    (["--from", "2026-13-01"], "--from"), (["--to", "yesterday"], "--to"), (["--from", "20261101"], "--from"),
])
def test_a_bad_date_exits_2_naming_the_field(args, field, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--state-dir", "/nonexistent", "report", *args])

    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {field}: not a date (YYYY-MM-DD)" in err


def test_from_after_to_exits_2_without_calling_the_api(api, capsys):
    assert _report("--from", "2026-12-01", "--to", "2026-11-01") == 2

    assert "--from 2026-12-01 is after --to 2026-11-01" in capsys.readouterr().err
    assert api.requests == []


def test_report_prints_the_table_and_writes_the_html(api, tmp_path, capsys):
    assert _report("--from", "2026-11-01", "--to", "2026-11-30") == 0

    assert api.requests == [{"path": "/admin/reports/kpis", "query": {"from": ["2026-11-01"], "to": ["2026-11-30"]},
                             "authorization": "Bearer ops-token"}]
    out = capsys.readouterr().out
    assert "$12,340.00" in _row(out, "Revenue USD")
    written = tmp_path / "oms-report-2026-11-01-2026-11-30.html"
    assert f"HTML report: {written}" in out
    assert written.read_text().count('<rect class="day-bar"') == 30


def test_report_defaults_to_the_last_30_days_and_takes_an_html_path(api, tmp_path, capsys):
    assert _report("--html", "out/kpis.html") == 0

    today = datetime.now(UTC).date()
    query = api.requests[0]["query"]
    assert query["to"] == [today.isoformat()]
    assert query["from"] == [(today - timedelta(days=29)).isoformat()]
    assert (tmp_path / "out" / "kpis.html").exists()
    assert f"HTML report: {tmp_path / 'out' / 'kpis.html'}" in capsys.readouterr().out


def test_report_json_prints_the_answer_only(api, tmp_path, capsys):
    assert _report("--from", "2026-11-01", "--to", "2026-11-30", "--json") == 0

    assert json.loads(capsys.readouterr().out) == SAMPLE
    assert not list(tmp_path.glob("*.html"))


def test_an_api_error_is_printed_and_exits_1(api, tmp_path, capsys):
    api.answer = (422, {"code": "validation_error", "message": "The range is longer than 366 days.",
                        "errors": [{"field": "from", "message": "at most 366 days before to"}]})

    assert _report("--from", "2020-01-01", "--to", "2026-11-30") == 1

    captured = capsys.readouterr()
    assert "the API answered 422: The range is longer than 366 days. (from: at most 366 days before to)" \
        in captured.err
    assert captured.out == ""
    assert not list(tmp_path.glob("*.html"))
