# make demo   - create .venv, install toolsafe with its CLI (and CrewAI, LangChain), run the doctor on the bundled examples
# make test   - create .venv, install toolsafe with test and framework extras, run lint, types, tests;
#               then the adapter suites on the newest (.venv-latest) and oldest (.venv-oldest)
#               supported framework releases, the MCP suites on MCP SDK 2.x (.venv-mcp2),
#               and README's table of tested versions
# make test-fast - lint, types and the main suite only
# make chaos - the chaos suite at full size (100,000 hostile calls), figures into BENCHMARKS.md
#
# Everything pip downloads is cached inside the repo (.cache/), never in $HOME.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
export PIP_CACHE_DIR := $(CURDIR)/.cache/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_PROGRESS_BAR := off

.PHONY: demo test test-fast lint typecheck pytest pytest-latest pytest-oldest test-mcp2 versions bench chaos clean venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Base install: the package, its CLI and the test tools.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test,cli,tokens,otel,redis]"
	touch $@

# Framework extras (CrewAI alone pulls ~1 GB) and the pinned third-party tools the doctor's
# corpus test lints (crewai-tools, langchain-community): one pip step. Lint and types run
# with them installed: mypy checks the integrations against the real framework types.
$(VENV)/.installed-frameworks: pyproject.toml $(VENV)/.installed-test
	$(BIN)/pip install -q -e ".[test,cli,tokens,otel,redis,frameworks,thirdparty]"
	touch $@

# The demo stresses CrewAI and LangChain example tools through their own frameworks.
$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[cli,crewai,langchain]"
	touch $@

# The version matrix. CrewAI pins openai<3, mcp<2 and pydantic<2.13, so the newest
# releases of the other frameworks (the OpenAI Agents SDK needs openai 3.x) get a venv
# of their own, and the oldest releases each extra claims (.ci/oldest.txt, pyproject's
# lower bounds) another. Both run the adapter suites; in .venv the ones whose
# framework is absent skip.
LATEST := .venv-latest
OLDEST := .venv-oldest
ADAPTER_TESTS := tests/integrations/test_openai.py tests/integrations/test_anthropic.py \
                 tests/integrations/test_langchain.py tests/integrations/test_langchain_lazy_imports.py
# The MCP SDK's oldest supported release: the server, the client and `toolsafe serve`.
OLDEST_MCP_TESTS := tests/integrations/test_mcp.py tests/integrations/test_mcp_client.py \
                    tests/integrations/test_mcp_serve.py
LATEST_TESTS := $(ADAPTER_TESTS) tests/integrations/test_langchain_standard.py \
                tests/integrations/test_openai_agents.py tests/integrations/test_pydantic_ai.py \
                tests/integrations/test_docs_agents.py

$(LATEST)/.installed: pyproject.toml
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install -q --upgrade pip
	$(LATEST)/bin/pip install -q --upgrade -e ".[test,openai-agents,pydantic-ai,openai,anthropic,langchain]" langchain-tests
	touch $@

$(OLDEST)/.installed: pyproject.toml .ci/oldest.txt
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install -q --upgrade pip
	$(OLDEST)/bin/pip install -q -e ".[test,cli,openai,anthropic,langchain,mcp]" -c .ci/oldest.txt
	touch $@

venv: $(VENV)/.installed-test

# The broken run finds problems and exits 1 by design: the leading '-' lets the demo go on.
demo: $(VENV)/.installed-demo
	@echo "== toolsafe doctor examples/broken: one tool per failure mode (exits 1: problems found, expected) =="
	-$(BIN)/toolsafe doctor examples/broken
	@echo
	@echo "== toolsafe doctor examples/fixed: the same tools done right, and wrapped by toolsafe (exits 0) =="
	$(BIN)/toolsafe doctor examples/fixed

lint: $(VENV)/.installed-frameworks
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src

typecheck: $(VENV)/.installed-frameworks
	$(BIN)/mypy

# Real MCP servers nobody here wrote, launched as upstreams by the from_mcp / proxy tests
# (they need mcp>=2.3, so they live apart; the tests skip when this venv is absent).
MCP_SERVERS_VENV := .venv-mcp-servers

$(MCP_SERVERS_VENV)/.installed:
	test -x $(MCP_SERVERS_VENV)/bin/python || $(PYTHON) -m venv $(MCP_SERVERS_VENV)
	$(MCP_SERVERS_VENV)/bin/pip install -q "mcp-server-time==2026.10.19" "mcp-server-git==2026.10.19"
	touch $@

# The tests launching real third-party MCP servers (mcp_servers: npm server-everything and
# server-filesystem, PyPI mcp-server-time and -git; ~40 s) run once, in test-mcp2 on the
# newest SDK; a plain `pytest` in .venv still runs them.
pytest: $(VENV)/.installed-frameworks
	TOOLSAFE_RECORD_VERSIONS=1 $(BIN)/python -m pytest -q -m "not mcp_servers"

pytest-latest: $(LATEST)/.installed
	TOOLSAFE_RECORD_VERSIONS=1 $(LATEST)/bin/python -m pytest -q $(LATEST_TESTS)

pytest-oldest: $(OLDEST)/.installed
	TOOLSAFE_RECORD_VERSIONS=1 $(OLDEST)/bin/python -m pytest -q $(ADAPTER_TESTS) $(OLDEST_MCP_TESTS)

# The frameworks extra keeps the MCP SDK on 1.x (crewai pins mcp<2); the MCP suites run
# again here on the newest 2.x, in a venv holding only what they need.
MCP2_VENV := .venv-mcp2

$(MCP2_VENV)/.installed: pyproject.toml
	test -x $(MCP2_VENV)/bin/python || $(PYTHON) -m venv $(MCP2_VENV)
	$(MCP2_VENV)/bin/pip install -q --upgrade "mcp>=2,<3" -e ".[test,cli,mcp]"
	touch $@

test-mcp2: $(MCP2_VENV)/.installed $(MCP_SERVERS_VENV)/.installed
	$(MCP2_VENV)/bin/python -c "import mcp.server.lowlevel as s, inspect; assert 'on_call_tool' in inspect.signature(s.Server).parameters, 'not MCP SDK 2.x'"
	TOOLSAFE_RECORD_VERSIONS=1 $(MCP2_VENV)/bin/python -m pytest -q -p no:cacheprovider $(wildcard tests/integrations/test_mcp*.py)

# README's table of tested versions, from what the runs above recorded.
versions:
	$(BIN)/python .ci/versions.py

# The whole suite: lint, types, the main venv, then the version matrix.
test: lint typecheck pytest pytest-latest pytest-oldest test-mcp2
	$(MAKE) --no-print-directory versions

# Local work: the main venv only (no version matrix).
test-fast: lint typecheck pytest

bench: $(VENV)/.installed-frameworks
	$(BIN)/python -m bench

# The chaos suite's full size (tests/chaos runs it small in make test).
chaos: $(VENV)/.installed-test
	$(BIN)/python -m bench chaos

clean:
	rm -rf $(VENV) $(LATEST) $(OLDEST) $(MCP2_VENV) .cache .pytest_cache .mypy_cache .ruff_cache
