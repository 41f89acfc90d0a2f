"""Fixtures of the API tests: a real Ollama-protocol server on 127.0.0.1."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ollama_server import OllamaTestServer


@pytest.fixture
def ollama_server() -> Iterator[OllamaTestServer]:
    """A started :class:`OllamaTestServer` listing qwen2.5:7b, with an empty reply script."""
    with OllamaTestServer() as server:
        yield server
