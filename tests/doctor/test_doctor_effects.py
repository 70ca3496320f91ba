"""TS601 side-effect-without-key and TS602 retry-not-idempotent: each fires on what it names,
and stays quiet on reads that look like writes and on tools that declare a key."""

from __future__ import annotations

import io
import textwrap

import pytest
from rich.console import Console

from toolsafe.doctor import diagnose, lint, lint_source
from toolsafe.doctor.report import print_report


def findings(source: str, rule: str = "TS601") -> list[tuple[int, str, str]]:
    """(line, severity, message) of each finding of ``rule`` in a snippet."""
    found = lint_source(textwrap.dedent(source), "snippet.py")
    return [(f.line, f.severity, f.message) for f in found if f.rule == rule]


FIRING = {
    "http-post-to-a-charges-url": """
        import requests
        import toolsafe

        @toolsafe.tool(timeout=5)
        def charge(order_id: str, amount_cents: int) -> str:
            r = requests.post("https://api.example.com/v1/charges", json={}, timeout=5)
            r.raise_for_status()
            return r.text
    """,
    "http-post-from-a-tool-named-send": """
        import httpx

        def send_invoice(customer: str) -> str:
            \"\"\"Email the customer their invoice.\"\"\"
            return httpx.post(BASE, json={"to": customer}).text

        BASE = "https://billing.example.com/api"
    """,
    "http-put": """
        import requests

        def set_status(ticket: int, status: str) -> str:
            \"\"\"Set a ticket's status.\"\"\"
            return requests.put(f"https://t.example.com/{ticket}", json={}, timeout=5).text
    """,
    "http-delete-on-a-session": """
        import requests

        def drop_user(user: str) -> str:
            \"\"\"Remove a user.\"\"\"
            with requests.Session() as session:
                return session.delete(f"https://u.example.com/{user}", timeout=5).text
    """,
    "http-client-patch": """
        import http.client

        def rename(item: str, name: str) -> str:
            \"\"\"Rename an item.\"\"\"
            conn = http.client.HTTPSConnection("api.example.com", timeout=5)
            conn.request("PATCH", f"/items/{item}", body=name)
            return conn.getresponse().read().decode()
    """,
    "urllib-request-with-data-to-a-send-url": """
        import urllib.request

        def notify(text: str) -> str:
            \"\"\"Tell the team.\"\"\"
            req = urllib.request.Request("https://hooks.example.com/send", data=text.encode())
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.read().decode()
    """,
    "sql-insert": """
        import sqlite3

        def add_note(text: str) -> str:
            \"\"\"Save a note.\"\"\"
            with sqlite3.connect("notes.db") as db:
                db.execute("INSERT INTO notes(text) VALUES (?)", (text,))
            return "saved"
    """,
    "sql-update-in-a-local-name": """
        def close_account(db: object, account: int) -> str:
            \"\"\"Close an account.\"\"\"
            sql = '''
                UPDATE accounts SET open = 0 WHERE id = ?
            '''
            db.cursor().execute(sql, (account,))
            return "closed"
    """,
    "sqlalchemy-delete": """
        from sqlalchemy import text

        def purge(engine: object, day: str) -> str:
            \"\"\"Purge a day of events.\"\"\"
            with engine.begin() as conn:
                conn.execute(text(f"DELETE FROM events WHERE day = '{day}'"))
            return "ok"
    """,
    "smtplib": """
        import smtplib

        def mail(to: str, body: str) -> str:
            \"\"\"Mail someone.\"\"\"
            with smtplib.SMTP("localhost", timeout=5) as server:
                server.sendmail("bot@example.com", [to], body)
            return "sent"
    """,
    "slack": """
        from slack_sdk import WebClient

        def say(channel: str, text: str) -> str:
            \"\"\"Say something on Slack.\"\"\"
            WebClient(token="x").chat_postMessage(channel=channel, text=text)
            return "ok"
    """,
    "twilio": """
        from twilio.rest import Client

        def text_customer(number: str, body: str) -> str:
            \"\"\"Text a customer.\"\"\"
            Client().messages.create(to=number, from_="+15550100", body=body)
            return "ok"
    """,
    "ses": """
        import boto3

        def email(to: str, body: str) -> str:
            \"\"\"Email someone.\"\"\"
            boto3.client("ses").send_email(Source="a@example.com", Destination={}, Message={})
            return "ok"
    """,
    "stripe": """
        import stripe

        def refund(charge: str) -> str:
            \"\"\"Refund a charge.\"\"\"
            return stripe.Refund.create(charge=charge).id
    """,
    "gmail-draft": """
        def draft(service: object, body: dict) -> str:
            \"\"\"Draft a reply.\"\"\"
            return service.users().drafts().create(userId="me", body=body).execute()["id"]
    """,
    "a-command-the-call-chooses": """
        import subprocess

        def shell(command: str) -> str:
            \"\"\"Run a shell command.\"\"\"
            return subprocess.run(command, shell=True, capture_output=True, text=True).stdout
    """,
    "append-to-a-file": """
        def journal(entry: str, append: bool = True) -> str:
            \"\"\"Write an entry to the journal.\"\"\"
            mode = "a" if append else "w"
            with open("/var/lib/app/journal.md", mode) as f:
                f.write(entry)
            return "ok"
    """,
}


@pytest.mark.parametrize("case", sorted(FIRING))
def test_side_effects_without_a_key_are_flagged(case: str) -> None:
    found = findings(FIRING[case])
    assert len(found) == 1, found
    _, severity, message = found[0]
    assert severity == "warning"
    assert " at line " in message and "idempotency_key=" in message
    assert "docs/exactly-once.md" in message


def test_the_message_says_what_was_seen_and_where() -> None:
    [(line, _, message)] = findings(FIRING["http-post-to-a-charges-url"])
    assert line == 6  # the def, where the key is declared (and ignored)
    assert message.startswith("calls requests.post (HTTP POST) at line 7, ")
    assert "add idempotency_key=" in message and "to its toolsafe options" in message
    [(_, _, message)] = findings(FIRING["http-put"])
    assert "(an HTTP PUT or DELETE usually is)" in message
    [(_, _, message)] = findings(FIRING["sql-insert"])
    assert message.startswith("runs an SQL INSERT (db.execute) at line 7")
    [(_, _, message)] = findings(FIRING["a-command-the-call-chooses"])
    assert message.startswith("runs a command the call chooses (subprocess.run)")
    [(_, _, message)] = findings(FIRING["smtplib"])
    assert "make it a toolsafe tool, @toolsafe.tool(idempotency_key=" in message


def test_framework_tools_are_told_to_wrap_with_toolsafe() -> None:
    crewai = """
        import requests
        from crewai.tools import BaseTool

        class SendMessageTool(BaseTool):
            name: str = "send_message"
            description: str = "Send a message to a customer."

            def _run(self, to: str, text: str) -> str:
                return requests.post(API, json={"to": to}, timeout=5).text

        API = "https://api.example.com/messages"
    """
    [(line, _, message)] = findings(crewai)
    assert line == 5
    assert "wrap it with toolsafe, harden(tool, idempotency_key=" in message
    langchain = """
        import requests
        from langchain_core.tools import BaseTool

        class Deleter(BaseTool):
            name: str = "delete_record"
            description: str = "Delete a record."

            def _run(self, record: str) -> str:
                return requests.delete(f"https://db.example.com/{record}", timeout=5).text
    """
    [(_, _, message)] = findings(langchain)
    assert "to_langchain([toolsafe.tool(tool, idempotency_key=" in message


NOT_FIRING = {
    "a-search-api-read-over-post": """
        import requests
        from crewai.tools import BaseTool

        class SerperSearch(BaseTool):
            name: str = "search"
            description: str = "Search the web."

            def _run(self, query: str) -> str:
                r = requests.post("https://google.serper.dev/search", json={"q": query},
                                  timeout=5)
                r.raise_for_status()
                return r.text
    """,
    "a-proxy-post-whose-method-argument-says-post": """
        import requests

        def webpage_to_markdown(url: str) -> str:
            \"\"\"Fetch a page as markdown.\"\"\"
            r = requests.request("POST", "https://api.serply.io/v1/request",
                                 json={"url": url}, timeout=5)
            r.raise_for_status()
            return r.text
    """,
    "a-processing-upload": """
        import requests

        def understand(path: str) -> str:
            \"\"\"Extract the text of a document.\"\"\"
            with open(path, "rb") as f:
                r = requests.post(BACKEND + "/processing/upload", data=f.read(), timeout=5)
            r.raise_for_status()
            return r.text

        BACKEND = "https://nuclia.example.com/api/v1"
    """,
    "an-llm-messages-create": """
        import anthropic

        def summarize(text: str) -> str:
            \"\"\"Summarize a text.\"\"\"
            client = anthropic.Anthropic()
            return client.messages.create(model="m", max_tokens=100, messages=[]).content
    """,
    "sql-reads": """
        def count(db: object, table: str) -> int:
            \"\"\"Count rows.\"\"\"
            sql = "SELECT count(*) FROM t"
            db.execute(sql)
            db.execute("  select 1")
            return db.fetchone()[0]
    """,
    "a-fixed-program": """
        import subprocess

        def pdf_text(path: str) -> str:
            \"\"\"The text of a PDF.\"\"\"
            return subprocess.run(["pdftotext", path, "-"], capture_output=True).stdout
    """,
    "an-overwrite-and-a-temp-append": """
        import tempfile

        def export(rows: list[str], out: str) -> str:
            \"\"\"Export rows to a file.\"\"\"
            with open(out, "w") as f:
                f.write("\\n".join(rows))
            with open(tempfile.gettempdir() + "/export.log", "a") as log:
                log.write(out)
            return out
    """,
    "a-get": """
        import requests

        def send_status(job: str) -> str:
            \"\"\"Whether a send job finished.\"\"\"
            return requests.get(f"https://j.example.com/{job}", timeout=5).text
    """,
}


@pytest.mark.parametrize("case", sorted(NOT_FIRING))
def test_reads_are_not_side_effects(case: str) -> None:
    assert findings(NOT_FIRING[case]) == []


@pytest.mark.parametrize(
    "declaration",
    [
        'idempotency_key=lambda args: args["order_id"]',
        'idempotency_key="call_id"',
        "idempotent=True",
        'idempotent="keyed"',
    ],
)
def test_a_key_or_an_idempotent_declaration_silences_it(declaration: str) -> None:
    source = FIRING["http-post-to-a-charges-url"].replace("timeout=5)\n", f"{declaration})\n", 1)
    assert declaration in source
    assert findings(source) == []


def test_idempotent_false_is_not_a_key() -> None:
    source = FIRING["http-post-to-a-charges-url"].replace(
        "@toolsafe.tool(timeout=5)", "@toolsafe.tool(idempotent=False)"
    )
    assert len(findings(source)) == 1


def test_keys_given_where_a_framework_tool_is_wrapped() -> None:
    tool = """
        import requests
        import toolsafe
        from crewai.tools import BaseTool
        from toolsafe.integrations.crewai import harden

        class ChargeTool(BaseTool):
            name: str = "charge"
            description: str = "Charge a card."

            def _run(self, order_id: str) -> str:
                return requests.post(URL, json={"order": order_id}, timeout=5).text

        URL = "https://pay.example.com/charges"
    """
    tool = textwrap.dedent(tool)
    assert len(findings(tool)) == 1
    for wrapping in (
        'charge = harden(ChargeTool(), idempotency_key=lambda a: a["order_id"])',
        'tools = harden([ChargeTool()], idempotency_key=lambda a: a["order_id"])',
        'charge = toolsafe.tool(ChargeTool(), idempotency_key="call_id")',
        'plain = ChargeTool()\nsafe = toolsafe.tool(plain, idempotent="keyed")',
    ):
        assert findings(tool + "\n" + wrapping + "\n") == [], wrapping
    wrapped_without_key = findings(tool + "\ncharge = harden(ChargeTool(), timeout=5)\n")
    assert "to its toolsafe options" in wrapped_without_key[0][2]


def test_an_effect_in_a_helper_module_names_its_file(tmp_path) -> None:
    (tmp_path / "billing.py").write_text(
        textwrap.dedent(
            """
            import stripe

            def make_charge(order_id):
                return stripe.Charge.create(amount=500, currency="eur", metadata={"o": order_id})
            """
        )
    )
    (tmp_path / "tools.py").write_text(
        textwrap.dedent(
            """
            import toolsafe
            from billing import make_charge

            @toolsafe.tool
            def charge(order_id: str) -> str:
                return make_charge(order_id).id
            """
        )
    )
    _, found = lint(str(tmp_path))
    [finding] = [f for f in found if f.rule == "TS601"]
    assert finding.path.endswith("tools.py") and finding.line == 6
    assert finding.message.startswith("calls stripe.Charge.create at billing.py:5")


def test_ignore_comment_on_the_definition() -> None:
    source = FIRING["http-put"].replace(
        "def set_status(ticket: int, status: str) -> str:",
        "def set_status(ticket: int, status: str) -> str:  # toolsafe: ignore[TS601]",
    )
    assert findings(source) == []


RETRY = """
    import toolsafe

    @toolsafe.tool({options})
    def lookup(sku: str) -> str:
        \"\"\"Look up a price.\"\"\"
        return sku
"""


@pytest.mark.parametrize(
    "options",
    ["retry=3", "timeout=2, retry=toolsafe.Retry(attempts=4)", "retry=toolsafe.Retry()"],
)
def test_retry_without_idempotent_is_noted(options: str) -> None:
    [(line, severity, message)] = findings(RETRY.format(options=options), "TS602")
    assert (line, severity) == (4, "info")
    assert "retries a call only while its body certainly has not run" in message
    assert "idempotent=True" in message and "idempotent='keyed'" in message


@pytest.mark.parametrize(
    "options",
    [
        "retry=3, idempotent=True",
        "retry=3, idempotent=False",
        'retry=3, idempotent="keyed"',
        "retry=1",
        "retry=toolsafe.Retry(attempts=1)",
        "timeout=3",
        "",
    ],
)
def test_retry_note_not_given(options: str) -> None:
    assert findings(RETRY.format(options=options), "TS602") == []


def test_retry_note_on_a_wrapped_instance_points_at_the_wrapping_call() -> None:
    source = """
        import toolsafe

        class Lookup:
            name = "lookup"
            def _run(self, sku: str) -> str:
                return sku

        lookup = toolsafe.tool(
            Lookup(),
            retry=toolsafe.Retry(attempts=3),
        )
    """
    [(line, severity, _)] = findings(source, "TS602")
    assert (line, severity) == (11, "info")


def test_the_doctor_reports_both(tmp_path) -> None:
    path = tmp_path / "pay.py"
    path.write_text(
        textwrap.dedent(
            """
            import requests
            import toolsafe

            @toolsafe.tool(timeout=5, retry=3)
            def refund(order_id: str) -> str:
                \"\"\"Refund an order.\"\"\"
                r = requests.post(f"{API}/refunds", json={"order": order_id}, timeout=5)
                r.raise_for_status()
                return r.text

            API = "https://pay.example.com/v1"
            """
        )
    )
    report = diagnose(str(path), stress=False)
    [tool] = report.tools
    assert {(f.rule, f.severity) for f in tool.findings} == {
        ("TS601", "warning"),
        ("TS602", "info"),
    }
    assert tool.verdict == "at-risk" and report.exit_code == 1
    out = io.StringIO()
    print_report(Console(file=out, width=200, color_system=None), report)
    text = out.getvalue()
    assert "TS601" in text and "side-effect-without-key" in text
    assert "TS602" in text and "retry=3" in text and "body certainly has not run" in text
