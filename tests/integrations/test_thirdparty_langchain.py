"""langchain-community tools under toolsafe, offline: they work, copies stay cheap, reports are true.

JSON tools over a 20,000-key spec, requests tools against a local 127.0.0.1 server,
SQL tools on a local sqlite file, file-management tools in a temporary directory.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip(
    "langchain_community",
    reason="needs the thirdparty extra: pip install 'toolsafe[thirdparty]'",
)

from _local_http import LocalServer, local_server
from langchain_community.tools.file_management import (
    ListDirectoryTool,
    ReadFileTool,
    WriteFileTool,
)
from langchain_community.tools.json.tool import JsonGetValueTool, JsonListKeysTool, JsonSpec
from langchain_community.tools.requests.tool import RequestsGetTool, RequestsPostTool
from langchain_community.tools.sql_database.tool import (
    InfoSQLDatabaseTool,
    ListSQLDatabaseTool,
    QuerySQLDatabaseTool,
)
from langchain_community.utilities.requests import TextRequestsWrapper
from langchain_community.utilities.sql_database import SQLDatabase

import toolsafe
from toolsafe import ConfigurationError
from toolsafe.integrations.langchain import from_langchain, to_langchain

pytestmark = [
    pytest.mark.langchain,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:langchain_community.*"),
]


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


@pytest.fixture(scope="module")
def spec() -> JsonSpec:
    return JsonSpec(dict_={f"k{i}": {"v": i, "tags": [i, i + 1]} for i in range(20_000)})


@pytest.fixture
def database(tmp_path: Path) -> SQLDatabase:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table orders (id integer primary key, customer text, total real)")
        conn.executemany(
            "insert into orders (customer, total) values (?, ?)",
            [(f"c{i % 4}", i * 1.5) for i in range(40)],
        )
    return SQLDatabase.from_uri(f"sqlite:///{path}")


def test_json_tools_share_a_large_read_only_spec(spec: JsonSpec) -> None:
    get_value = from_langchain(JsonGetValueTool(spec=spec))
    list_keys = from_langchain(JsonListKeysTool(spec=spec))
    for tool in (get_value, list_keys):
        report = tool.isolation_report
        assert report is not None and report.mode == "copy"
        assert "spec" in report.shared and report.copied == ()  # calls only read it
        assert report.copy_ms < 5 and tool.warnings == ()
    with toolsafe.Runtime([get_value, list_keys]) as runtime:
        outcomes = runtime.call_many(
            [("json_spec_get_value", {"tool_input": f'data["k{i}"]["v"]'}) for i in range(32)]
        )
        assert [o.text for o in outcomes] == [str(i) for i in range(32)]
        keys = runtime.call("json_spec_list_keys", {"tool_input": 'data["k7"]'})
        assert keys.text == "['v', 'tags']"
    assert len(spec.dict_) == 20_000 and spec.dict_["k3"] == {"v": 3, "tags": [3, 4]}


def test_requests_tools_against_a_local_server(server: LocalServer) -> None:
    wrapper = TextRequestsWrapper()
    get = from_langchain(RequestsGetTool(requests_wrapper=wrapper, allow_dangerous_requests=True))
    post = from_langchain(RequestsPostTool(requests_wrapper=wrapper, allow_dangerous_requests=True))
    with toolsafe.Runtime([get, post], timeout=10) as runtime:
        outcomes = runtime.call_many(
            [("requests_get", {"url": f"{server.url}/doc{i}"}) for i in range(8)]
        )
        assert [o.text for o in outcomes] == [f"text for /doc{i}" for i in range(8)]
        body = f'{{"url": "{server.url}/echo", "data": {{"n": 1}}}}'
        assert runtime.call("requests_post", {"text": body}).text == '{"echo": {"n": 1}}'
    report = get.isolation_report
    assert report is not None and report.mode == "copy"
    # the wrapper is handed to code toolsafe does not follow (requests): copied per call
    assert report.copied == ("requests_wrapper",) and report.not_copyable == ()


def test_sql_tools_on_a_local_sqlite_file(database: SQLDatabase) -> None:
    query = from_langchain(QuerySQLDatabaseTool(db=database))
    info = from_langchain(InfoSQLDatabaseTool(db=database))
    tables = from_langchain(ListSQLDatabaseTool(db=database))
    with toolsafe.Runtime([query, info, tables], timeout=10) as runtime:
        outcomes = runtime.call_many(
            [
                ("sql_db_query", {"query": f"select count(*) from orders where customer = 'c{i}'"})
                for i in range(4)
            ]
            * 4
        )
        assert [o.text for o in outcomes] == ["[(10,)]"] * 16
        assert runtime.call("sql_db_list_tables", {}).text == "orders"
        assert (
            "CREATE TABLE orders" in runtime.call("sql_db_schema", {"table_names": "orders"}).text
        )
    # The database (an SQLAlchemy engine) cannot be copied: shared as is, and said so.
    assert query.not_isolated == ("db",) and info.not_isolated == ("db",)
    assert tables.isolation_report is not None and tables.not_isolated == ()


def test_file_management_tools(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text(f"content {i}")
    read = from_langchain(ReadFileTool(root_dir=str(tmp_path)))
    listing = from_langchain(ListDirectoryTool(root_dir=str(tmp_path)))
    write = from_langchain(WriteFileTool(root_dir=str(tmp_path)))
    with toolsafe.Runtime([read, listing, write]) as runtime:
        outcomes = runtime.call_many([("read_file", {"file_path": f"f{i}.txt"}) for i in range(5)])
        assert [o.text for o in outcomes] == [f"content {i}" for i in range(5)]
        written = runtime.call_many(
            [("write_file", {"file_path": f"new{i}.txt", "text": f"n{i}"}) for i in range(5)]
        )
        assert all(o.ok for o in written), [o.text for o in written]
        names = runtime.call("list_directory", {}).text.split("\n")
    assert sorted(names) == sorted(
        [*(f"f{i}.txt" for i in range(5)), *(f"new{i}.txt" for i in range(5))]
    )
    for tool in (read, listing, write):
        assert tool.isolation_report is not None and tool.isolation_report.copied == ()


def test_to_langchain_round_trip_keeps_policies(spec: JsonSpec) -> None:
    (wrapped,) = to_langchain([JsonGetValueTool(spec=spec)], timeout=3)
    assert wrapped.toolsafe_tool.options.timeout == 3
    assert wrapped.invoke({"tool_input": 'data["k9"]["tags"]'}) == "[9, 10]"


def test_toolsafe_tool_on_a_langchain_instance_points_to_from_langchain(spec: JsonSpec) -> None:
    with pytest.raises(ConfigurationError, match="from_langchain"):
        toolsafe.tool(JsonGetValueTool(spec=spec))
