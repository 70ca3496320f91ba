"""Static rules: each fires on the bug it names, and stays quiet on the fixed code."""

from __future__ import annotations

import textwrap

import pytest

from toolsafe.doctor import RULES, lint, lint_source


def rules(source: str) -> list[tuple[str, int, str]]:
    """(rule, line, severity) of every finding in a snippet."""
    found = lint_source(textwrap.dedent(source), "snippet.py")
    return [(f.rule, f.line, f.severity) for f in found]


def ids(source: str) -> set[str]:
    return {r for r, _, sev in rules(source) if sev != "info"}


def test_every_rule_has_why_and_fix() -> None:
    for rule in RULES.values():
        assert rule.severity in {"error", "warning", "info"}
        assert len(rule.why) > 40 and len(rule.fix) > 20


def test_state_written_on_instance_in_run_method_and_helpers() -> None:
    source = """
        from crewai.tools import BaseTool

        class Search(BaseTool):
            name: str = "search"
            def _run(self, query: str) -> str:
                self.last_query = query
                self._remember(query)
                return query
            def _remember(self, query):
                self.history.append(query)
    """
    found = rules(source)
    assert ("TS101", 7, "error") in found
    assert ("TS101", 11, "error") in found  # reached through self._remember()


def test_state_under_a_lock_and_state_in_init_are_not_flagged() -> None:
    source = """
        import threading

        class Counter:
            def __init__(self):
                self.lock = threading.Lock()
                self.count = 0
            def _run(self, step: int) -> int:
                with self.lock:
                    self.count += step
                return step
    """
    assert ids(source) == set()


def test_instance_state_is_info_when_toolsafe_copies_the_instance() -> None:
    source = """
        import toolsafe

        class Search:
            def _run(self, query: str) -> str:
                self.last_query = query
                return query

        search = toolsafe.tool(Search())
    """
    assert rules(source) == [("TS101", 6, "info")]
    shared = source.replace(
        "toolsafe.tool(Search())", 'toolsafe.tool(Search(), isolation="shared")'
    )
    assert rules(shared) == [("TS101", 6, "error")]


def test_module_globals_mutated_by_a_tool() -> None:
    source = """
        from collections import defaultdict
        BUFFER = []
        SEEN = defaultdict(int)
        TOTAL = 0

        def collect(line: str) -> str:
            \"\"\"Collect a line.\"\"\"
            global TOTAL
            BUFFER.append(line)
            SEEN[line] += 1
            TOTAL = TOTAL + 1
            return line
    """
    found = rules(source)
    assert [r for r in found if r[0] == "TS102"] == [
        ("TS102", 10, "error"),
        ("TS102", 11, "error"),
        ("TS102", 12, "error"),
    ]


def test_local_shadow_of_a_global_is_not_a_mutation() -> None:
    source = """
        BUFFER = []

        def collect(line: str) -> str:
            \"\"\"Collect a line.\"\"\"
            BUFFER = []
            BUFFER.append(line)
            return "".join(BUFFER)
    """
    assert ids(source) == set()


def test_shared_clients_files_and_db_cursors() -> None:
    source = """
        import sqlite3
        import requests
        from pydantic import Field

        DB = sqlite3.connect("app.db", check_same_thread=False)
        LOG = open("calls.log", "a")

        class Fetch:
            session: requests.Session = Field(default_factory=requests.Session)
            def _run(self, url: str) -> str:
                r = self.session.get(url, timeout=5)
                r.raise_for_status()
                DB.execute("insert into calls values (?)", (url,))
                LOG.write(url)
                return r.text
    """
    found = rules(source)
    assert ("TS103", 10, "error") in found
    assert ("TS402", 6, "error") in found
    assert ("TS401", 7, "warning") in found


def test_schema_and_signature_disagree() -> None:
    source = """
        from typing import Optional
        from crewai.tools import BaseTool
        from pydantic import BaseModel, Field

        class Input(BaseModel):
            text: str = Field(..., description="Text.")
            lang: Optional[str]
            limit: int = 10

        class Translate(BaseTool):
            args_schema: type[BaseModel] = Input
            def _run(self, query: str, lang: str = "en", limit: int = 5) -> str:
                return query
    """
    found = lint_source(textwrap.dedent(source), "snippet.py")
    by_rule = {(f.rule, f.line): f for f in found}
    assert "did you mean `query`" in by_rule[("TS201", 7)].message
    assert "requires `query`" in by_rule[("TS201", 13)].message
    assert ("TS203", 8) in by_rule  # Optional without a default is still required
    assert by_rule[("TS202", 8)].severity == "info"  # required in schema, default in code


def test_optional_in_schema_but_required_in_code_is_an_error() -> None:
    source = """
        from pydantic import BaseModel

        class Input(BaseModel):
            query: str = ""

        class Search:
            args_schema = Input
            def _run(self, query: str) -> str:
                return query
    """
    assert rules(source) == [("TS202", 5, "error")]


@pytest.mark.parametrize(
    ("call", "flagged"),
    [
        ("requests.get(url)", True),
        ("requests.get(url, timeout=5)", False),
        ("requests.request('GET', url, **options)", False),
        ("urllib.request.urlopen(url)", True),
        ("urllib.request.urlopen(url, None, 5)", False),
        ("httpx.get(url, timeout=None)", True),
        ("httpx.get(url)", False),  # httpx has a 5 s default
        ("http.client.HTTPConnection('example.com')", True),
        ("socket.create_connection(('example.com', 80))", True),
    ],
)
def test_network_calls_without_timeout(call: str, flagged: bool) -> None:
    source = f"""
        import http.client, socket, urllib.request
        import httpx, requests

        def fetch(url: str, options: dict) -> str:
            \"\"\"Fetch a URL.\"\"\"
            response = {call}
            return str(response.status_code)
    """
    assert ("TS301" in ids(source)) is flagged


def test_session_without_timeout_and_unchecked_status() -> None:
    source = """
        import requests

        def fetch(url: str) -> str:
            \"\"\"Fetch a URL.\"\"\"
            with requests.Session() as s:
                r = s.get(url)
            return r.text
    """
    assert [r[0] for r in rules(source)] == ["TS301", "TS302"]


def test_swallowed_exceptions() -> None:
    source = """
        import logging

        def read(path: str) -> str:
            \"\"\"Read a file.\"\"\"
            try:
                return open(path).read()
            except Exception:
                logging.exception("failed")
                return "Error"

        def parse(text: str) -> int:
            \"\"\"Parse a number.\"\"\"
            try:
                return int(text)
            except:
                raise

        def safe(text: str) -> int:
            \"\"\"Parse, or a clear error.\"\"\"
            try:
                return int(text)
            except ValueError:
                return 0
    """
    assert rules(source) == [("TS501", 7, "warning"), ("TS303", 8, "error"), ("TS303", 16, "error")]


def test_ignore_comments() -> None:
    source = """
        BUFFER = []

        def collect(line: str) -> str:
            \"\"\"Collect a line.\"\"\"
            BUFFER.append(line)  # toolsafe: ignore[TS102]
            return line
    """
    assert ids(source) == set()
    other = source.replace("ignore[TS102]", "ignore[TS301]")
    assert ids(other) == {"TS102"}


def test_non_tools_are_not_linted() -> None:
    source = """
        BUFFER = []

        def _helper(line):
            BUFFER.append(line)

        def main() -> None:
            \"\"\"Entry point.\"\"\"
            BUFFER.append("x")

        class Thread:
            def run(self):
                self.done = True
    """
    assert rules(source) == []


def test_tools_are_found_by_syntax_for_every_framework(tmp_path) -> None:
    (tmp_path / "tools.py").write_text(
        textwrap.dedent(
            """
            from crewai.tools import BaseTool, tool as crew_tool
            from langchain_core.tools import StructuredTool, tool
            import toolsafe

            class CrewSearch(BaseTool):
                name: str = "crew_search"
                def _run(self, q: str) -> str:
                    return q

            @crew_tool("Crew Lookup")
            def crew_lookup(q: str) -> str:
                \"\"\"Lookup.\"\"\"
                return q

            @tool
            def lc_search(q: str) -> str:
                \"\"\"Search.\"\"\"
                return q

            def lc_plain(q: str) -> str:
                return q

            lc_structured = StructuredTool.from_function(func=lc_plain, name="structured")

            @toolsafe.tool(timeout=3)
            def safe_search(q: str) -> str:
                \"\"\"Search.\"\"\"
                return q

            def plain(q: str) -> str:
                \"\"\"A plain typed function with a docstring.\"\"\"
                return q
            """
        )
    )
    sites, _ = lint(str(tmp_path))
    found = {(s.name, s.framework) for s in sites}
    assert found == {
        ("crew_search", "crewai"),
        ("Crew Lookup", "crewai"),
        ("lc_search", "langchain"),
        ("structured", "langchain"),
        ("safe_search", "toolsafe"),
        ("plain", None),
    }


def _package(tmp_path, files: dict[str, str]):
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def test_calls_are_followed_into_other_modules_and_held_objects(tmp_path) -> None:
    root = _package(
        tmp_path,
        {
            "wrapper.py": """
                import requests
                from pydantic import BaseModel

                class ApiWrapper(BaseModel):
                    last: str = ""
                    def run(self, query: str) -> str:
                        self.last = query
                        return fetch(query)

                def fetch(query):
                    try:
                        return requests.get("https://example.com", params={"q": query}).text
                    except Exception as exc:
                        return f"Error: {exc}"
            """,
            "tool.py": """
                from langchain_core.tools import BaseTool
                from .wrapper import ApiWrapper

                class Search(BaseTool):
                    name: str = "search"
                    api_wrapper: ApiWrapper
                    def _run(self, query: str) -> str:
                        return self.api_wrapper.run(query)
            """,
        },
    )
    sites, findings = lint(str(root))
    assert [s.name for s in sites] == ["search"]
    where = {(f.rule, f.path.rsplit("/", 1)[-1], f.line) for f in findings}
    assert ("TS101", "wrapper.py", 8) in where  # state on the object the tool holds
    assert ("TS301", "wrapper.py", 13) in where  # requests.get without timeout, two calls deep
    assert ("TS303", "wrapper.py", 14) in where
    held = next(f for f in findings if f.rule == "TS101")
    assert "self.api_wrapper" in held.message and held.tool == "search"


def test_inherited_run_method_in_another_module_is_linted(tmp_path) -> None:
    root = _package(
        tmp_path,
        {
            "base.py": """
                from crewai.tools import BaseTool

                class SearchBase(BaseTool):
                    def _run(self, query: str) -> str:
                        self.last_query = query
                        return query
            """,
            "concrete.py": """
                from .base import SearchBase

                class NewsSearch(SearchBase):
                    name: str = "news"
            """,
        },
    )
    _, findings = lint(str(root / "concrete.py"))
    assert [(f.rule, f.tool, f.line) for f in findings] == [("TS101", "news", 6)]


def test_instances_of_imported_tool_classes_are_linted_where_the_class_lives(tmp_path) -> None:
    root = _package(
        tmp_path,
        {
            "search.py": """
                from crewai.tools import BaseTool

                class Search(BaseTool):
                    name: str = "search"
                    def _run(self, query: str) -> str:
                        self.last_query = query
                        return query
            """,
        },
    )
    app = tmp_path / "app_tools.py"
    app.write_text("from pkg.search import Search\n\nsearch = Search()\ntools = [Search()]\n")
    sites, findings = lint(str(app))
    assert [(s.name, s.path) for s in sites] == [("search", root / "search.py")]
    assert [(f.rule, f.path, f.line) for f in findings] == [("TS101", str(root / "search.py"), 7)]


def test_an_installed_crewai_tool_is_found_through_the_package_reexport(tmp_path) -> None:
    pytest.importorskip("crewai_tools")
    app = tmp_path / "app_tools.py"
    app.write_text("from crewai_tools import FileReadTool\n\nreader = FileReadTool()\n")
    sites, _ = lint(str(app))
    assert [(s.qualname, s.path.name) for s in sites] == [("FileReadTool", "file_read_tool.py")]


def test_bases_of_tools_and_helper_functions_are_not_tools(tmp_path) -> None:
    root = _package(
        tmp_path,
        {
            "base.py": """
                from abc import abstractmethod
                from crewai.tools import BaseTool

                class SearchToolBase(BaseTool):
                    def _run(self, query: str) -> str:
                        return self.endpoint(query)

                class Abstract(BaseTool):
                    @abstractmethod
                    def _run(self, query: str) -> str: ...

                def clean(text: str) -> str:
                    \"\"\"A helper the tools call.\"\"\"
                    return text.strip()
            """,
            "news.py": """
                from .base import SearchToolBase, clean

                class NewsSearch(SearchToolBase):
                    name: str = "news"
                    def endpoint(self, query: str) -> str:
                        return clean(query)
            """,
        },
    )
    sites, _ = lint(str(root))
    assert [s.qualname for s in sites] == ["NewsSearch"]


def test_lazy_clients_memo_caches_and_nested_classes_are_not_per_call_state() -> None:
    source = """
        from crewai.tools import BaseTool

        class Browse(BaseTool):
            name: str = "browse"
            def _client(self):
                if self._api is None:
                    self._api = make_api()
                return self._api
            def _browser(self):
                if not self._page:
                    class Fake:
                        def __init__(self):
                            self.page = None
                    self._page = Fake()
                return self._page
            def _llm(self, model: str):
                if model not in self._llms:
                    self._llms[model] = make_api(model)
                return self._llms[model]
            def _run(self, model: str) -> str:
                return str((self._client(), self._browser(), self._llm(model)))
    """
    found = rules(source)
    assert ("TS103", 8, "info") in found  # a lazily made client: fine if it is thread-safe
    assert ("TS103", 15, "error") in found  # a browser page made once, shared by every call
    assert not [r for r in found if r[0] == "TS101"]  # no per-call state: lines 14, 19


def test_cached_errors_and_documents_added_to_a_shared_store() -> None:
    source = """
        from langchain_core.tools import BaseTool

        class Query(BaseTool):
            name: str = "query"
            def _run(self, question: str) -> str:
                self.vectorstore.add_texts([question])
                try:
                    return ask(question)
                except TimeoutError as exc:
                    self.cache[question] = f"Error: {exc}"
                    return self.cache[question]
    """
    messages = {f.line: f.message for f in lint_source(textwrap.dedent(source), "q.py")}
    assert "caches the error" in messages[11]
    assert "TS101" in {f.rule for f in lint_source(textwrap.dedent(source), "q.py")}


def test_new_rule_cases_files_downloads_engines_and_outputs() -> None:
    source = """
        import datetime, os, urllib.request
        from sqlalchemy import create_engine

        def save(text: str) -> str:
            \"\"\"Save text.\"\"\"
            name = f"out_{datetime.datetime.now().strftime('%H-%M-%S')}.txt"
            with open(name, "w") as f:
                f.write(text)
            urllib.request.urlretrieve("https://example.com/x", name)
            engine = create_engine("sqlite://")
            engine.execute("select 1")
            with open(name) as f:
                return f.read() + str(os.listdir("."))
    """
    found = {(r, line) for r, line, _ in rules(source)}
    assert ("TS401", 8) in found  # a file named after the time
    assert ("TS301", 10) in found  # urlretrieve has no timeout
    assert ("TS403", 11) in found  # an engine per call, never disposed
    assert {r for r, _ in found} >= {"TS501"}


def test_timeout_forwarded_through_kwargs_counts_only_when_a_caller_passes_it(tmp_path) -> None:
    root = _package(
        tmp_path,
        {
            "wrapper.py": """
                import requests
                from pydantic import BaseModel

                class Requests(BaseModel):
                    def get(self, url: str, **kwargs):
                        return requests.get(url, **kwargs)
            """,
            "tool.py": """
                from langchain_core.tools import BaseTool
                from .wrapper import Requests

                class Get(BaseTool):
                    name: str = "get"
                    requests_wrapper: Requests
                    def _run(self, url: str) -> str:
                        return self.requests_wrapper.get(url).text

                class TimedGet(Get):
                    name: str = "timed_get"
                    def _run(self, url: str) -> str:
                        return self.requests_wrapper.get(url, timeout=5).text
            """,
        },
    )
    _, findings = lint(str(root))
    timeouts = {f.tool for f in findings if f.rule == "TS301"}
    assert timeouts == {"get"}


def test_a_browser_field_used_by_every_call_is_shared() -> None:
    source = """
        from typing import Optional
        from langchain_core.tools import BaseTool
        from playwright.sync_api import Browser as SyncBrowser

        class Click(BaseTool):
            name: str = "click"
            sync_browser: Optional[SyncBrowser] = None
            def _run(self, selector: str) -> str:
                page = self.sync_browser.contexts[0].pages[0]
                page.click(selector)
                return "ok"
    """
    assert ("TS103", 8, "error") in rules(source)


def test_write_only_private_state_and_one_time_constants_are_not_flagged() -> None:
    source = """
        import time
        from crewai.tools import BaseTool

        class Search(BaseTool):
            name: str = "search"
            _last: float = 0.0
            def _run(self, query: str) -> str:
                self._result = query  # private and never read: no call sees it
                if not self.headers.get("X-Proxy"):
                    self.headers["X-Proxy"] = self.proxy  # the same value every time
                self.public = query  # public: callers may read it
                Search._last = time.time()  # the class is shared by every instance
                return query
    """
    found = [(r, line) for r, line, sev in rules(source) if sev != "info"]
    assert found == [("TS101", 12), ("TS101", 13)]


def test_sdk_clients_per_call_and_response_helpers() -> None:
    source = """
        import requests
        from openai import OpenAI

        def fetch(url: str) -> requests.Response:
            return requests.get(url, timeout=5)

        def page(url: str) -> str:
            \"\"\"Fetch a page.\"\"\"
            return fetch(url).text

        def draw(prompt: str) -> str:
            \"\"\"Draw.\"\"\"
            client = OpenAI()
            return client.images.generate(prompt=prompt).data[0].url
    """
    found = {(r, line) for r, line, _ in rules(source)}
    assert ("TS302", 10) in found  # the helper's response is used without a status check
    assert ("TS403", 14) in found  # a client (a connection pool) per call, never closed
