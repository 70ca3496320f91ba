"""JsonlRecorder: the line format, redaction, and no lost or torn lines under load."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import toolsafe
from toolsafe import FakeClock, JsonlRecorder, Redactor, Retry, Runtime, ToolFailure
from toolsafe.observe.recorder import result_digest


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@toolsafe.tool(max_output_chars=300)
def search(query: str) -> list[dict[str, Any]]:
    if query == "boom":
        raise ValueError("index missing for token=abc123")
    return [{"id": i, "title": f"{query} {i}"} for i in range(50)]


def test_call_line_format(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    with Runtime([search], listeners=[JsonlRecorder(path)]) as rt:
        ok = rt.call("search", '{"query": "cats"}', call_id="c1")
        bad = rt.call("search", {"query": "boom"}, call_id="c2")
    first, second = _lines(path)
    assert first["v"] == 1 and first["kind"] == "call" and first["call_id"] == "c1"
    assert first["tool"] == "search" and first["ok"] is True and first["error"] is None
    assert first["arguments"] == '{"query": "cats"}'  # as the model sent it
    assert ok.full_text is not None and first["result"] == ok.full_text  # untrimmed
    assert first["result_chars"] == len(ok.full_text) and first["trimmed"] is True
    assert first["result_sha256"] == result_digest(ok.full_text)
    assert first["attempts"] == 1 and first["elapsed_ms"] == ok.elapsed_ms
    assert first["in_flight"] == 1 and first["pid"] == os.getpid()
    assert first["versions"] == {
        "toolsafe": toolsafe.__version__,
        "python": ".".join(map(str, sys.version_info[:3])),
    }
    assert first["ts"].endswith("Z") and first["started"] > 1.7e9
    assert second["ok"] is False and second["arguments"] == {"query": "boom"}
    assert bad.error is not None and second["error"] == bad.error.to_dict()
    assert second["error"]["message"] == "index missing for token=[REDACTED]"


def test_attempt_lines_and_results_cap(tmp_path: Path) -> None:
    failures = iter([ToolFailure("busy", retryable=True)])

    @toolsafe.tool(retry=Retry(attempts=2, initial=1, jitter="none"), idempotent=True)
    def flaky(n: int) -> str:
        failure = next(failures, None)
        if failure:
            raise failure
        return "z" * n

    path = tmp_path / "rec.jsonl"
    recorder = JsonlRecorder(path, attempts=True, max_value_chars=100)
    with Runtime([flaky], listeners=[recorder], clock=FakeClock()) as rt:
        rt.call("flaky", {"n": 1000}, call_id="f")
    kinds = [(line["kind"], line.get("attempt"), line["ok"]) for line in _lines(path)]
    assert kinds == [("attempt", 1, False), ("attempt", 2, True), ("call", None, True)]
    call = _lines(path)[-1]
    assert len(call["result"]) == 100 and call["result_truncated"] is True
    assert call["result_chars"] == 1000 and call["result_sha256"] == result_digest("z" * 1000)


def test_a_recorder_with_its_own_rules_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    recorder = JsonlRecorder(path, redact=Redactor.disabled())
    with Runtime([search], listeners=[recorder]) as rt:
        rt.call("search", {"query": "boom"})
    # The model-facing error is redacted by the runtime; the raw arguments are kept.
    (line,) = _lines(path)
    assert line["arguments"] == {"query": "boom"}
    runtime_recorder = JsonlRecorder(tmp_path / "other.jsonl")
    with Runtime([search], listeners=[runtime_recorder], redact=[r"cats"]) as rt:
        assert runtime_recorder.redactor is rt.redactor


def test_threads_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    @toolsafe.tool
    def blob(i: int) -> str:
        return str(i) * (9000 if i % 5 == 0 else 10)  # some lines far above PIPE_BUF

    path = tmp_path / "rec.jsonl"
    recorder = JsonlRecorder(path)
    with Runtime([blob], listeners=[recorder]) as rt:

        def worker(t: int) -> None:
            for i in range(150):
                rt.call("blob", {"i": i}, call_id=f"t{t}-{i}")

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    recorder.close()
    lines = _lines(path)
    assert len(lines) == 8 * 150
    assert len({line["call_id"] for line in lines}) == 1200
    for line in lines:
        i = int(line["call_id"].split("-")[1])
        assert line["result"] == str(i) * (9000 if i % 5 == 0 else 10)


_WRITER = textwrap.dedent(
    """
    import os, sys, time
    import toolsafe

    path, n, tag, ready_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

    @toolsafe.tool
    def work(i: int) -> str:
        if i % 7 == 0:
            raise ValueError(f"bad input {i}")
        return "x" * 6000 if i % 10 == 0 else f"ok {i}"

    calls = [toolsafe.ToolCall(f"{tag}-{i}", "work", {"i": i}) for i in range(n)]
    with toolsafe.Runtime([work], listeners=[toolsafe.JsonlRecorder(path)]) as rt:
        open(os.path.join(ready_dir, tag), "w").close()
        deadline = time.monotonic() + 60
        while len(os.listdir(ready_dir)) < 2 and time.monotonic() < deadline:
            time.sleep(0.001)  # start together, to write at the same time
        outcomes = rt.call_many(calls)
    print(sum(o.ok for o in outcomes))
    """
)


def test_5000_concurrent_calls_from_2_processes_give_5000_valid_lines(
    tmp_path: Path, terminal_summary: list[str]
) -> None:
    path = tmp_path / "calls.jsonl"
    ready = tmp_path / "ready"
    ready.mkdir()
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), "2500", tag, str(ready)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    results = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    ok_per_process = 2500 - len(range(0, 2500, 7))
    assert [int(out) for out, _ in results] == [ok_per_process, ok_per_process]

    raw = path.read_bytes().split(b"\n")
    assert raw[-1] == b""  # every line ends with its newline
    lines = [json.loads(line) for line in raw[:-1]]  # each one valid JSON
    assert len(lines) == 5000
    ids = {line["call_id"] for line in lines}
    assert ids == {f"{tag}-{i}" for tag in "ab" for i in range(2500)}
    assert len({line["pid"] for line in lines}) == 2
    big = [line for line in lines if line["ok"] and len(line["result"]) == 6000]
    assert len(big) == 2 * len([i for i in range(0, 2500, 10) if i % 7])
    assert all(line["result"] == "x" * 6000 for line in big)
    failed = [line for line in lines if not line["ok"]]
    assert len(failed) == 2 * len(range(0, 2500, 7))
    assert all(line["error"]["type"] == "ValueError" for line in failed)
    switches = sum(1 for x, y in itertools.pairwise(lines) if x["pid"] != y["pid"])
    terminal_summary.append(
        f"recorder: 5000 calls from 2 processes -> {len(lines)} valid lines "
        f"({len(big)} over PIPE_BUF), writers alternated {switches} times"
    )


def test_closed_recorder_refuses_to_write(tmp_path: Path) -> None:
    recorder = JsonlRecorder(tmp_path / "r.jsonl")
    recorder.close()
    recorder.close()  # idempotent
    try:
        recorder.write({"kind": "call"})
    except ValueError as exc:
        assert "closed" in str(exc)
    else:
        raise AssertionError("write after close must fail")
    assert oct((tmp_path / "r.jsonl").stat().st_mode & 0o777) == "0o600"


def test_an_existing_file_readable_by_others_is_narrowed_to_0600(
    tmp_path: Path, caplog: Any
) -> None:
    path = tmp_path / "shared.jsonl"
    path.write_text('{"v": 1}\n')
    path.chmod(0o644)
    with caplog.at_level("WARNING", logger="toolsafe"):
        recorder = JsonlRecorder(path)
    recorder.write({"v": 1, "kind": "call"})
    recorder.close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert "was mode 644; narrowed to 0600" in caplog.text
    assert len(path.read_text().splitlines()) == 2  # appended, nothing lost


def test_a_private_existing_file_is_left_as_it_is_without_a_warning(
    tmp_path: Path, caplog: Any
) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text("")
    path.chmod(0o400 | 0o200)
    with caplog.at_level("WARNING", logger="toolsafe"):
        JsonlRecorder(path).close()
    assert path.stat().st_mode & 0o777 == 0o600 and caplog.text == ""


def test_a_symbolic_link_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    link = tmp_path / "calls.jsonl"
    link.symlink_to(target)
    with pytest.raises(toolsafe.ConfigurationError, match="symbolic link"):
        JsonlRecorder(link)
    assert target.read_text() == "precious\n"
    dangling = tmp_path / "dangling.jsonl"
    dangling.symlink_to(tmp_path / "not-yet.jsonl")
    with pytest.raises(toolsafe.ConfigurationError, match="symbolic link"):
        JsonlRecorder(dangling)
    assert not (tmp_path / "not-yet.jsonl").exists()  # the link's target was not created


def test_hostile_values_are_recorded_not_lost(tmp_path: Path) -> None:
    """A 5,000-digit int or a raising __repr__ still gives a valid line (issue 12)."""

    class ReprRaises:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    def rate(rating: int) -> int:
        """Rate."""
        return rating

    def echo(x: dict[str, Any]) -> str:
        """Echo."""
        return "ok"

    path = tmp_path / "calls.jsonl"
    with JsonlRecorder(path) as recorder, Runtime([rate, echo], listeners=[recorder]) as rt:
        assert rt.call("rate", {"rating": 10**5000}).ok
        assert rt.call("echo", {"x": {"r": ReprRaises()}}).ok
    calls = [line for line in _lines(path) if line["kind"] == "call"]
    assert len(calls) == 2, calls
    assert "<integer of about 5,001 digits>" in json.dumps(calls[0])
