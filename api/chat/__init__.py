"""The chat edge: a run's numbers as facts, the prompt, grounding, the fallback, and a thin Ollama client.

The modules, along their seams (all pure but the client):

* ``context``: the run's strategies as ``StrategyFacts`` (the prototype's display strings parsed),
  the question checked, its language;
* ``prompt``: the rules, the facts table, the delimited question, the ``what_if``/``compare`` tools;
* ``grounding``: whether every number of an answer follows from the facts; prompt-leak checks;
* ``fallback``: the deterministic answer from the numbers alone;
* ``client``: ``ChatService`` and ``ChatStream`` on the official ``ollama`` client, which never raise
  for an Ollama failure but answer with the fallback.

Only what callers outside the package use is re-exported here.
"""
from api.chat.client import FALLBACK_MODEL, SOURCE_HEADER, ChatAnswer, ChatService
from api.chat.context import MAX_QUESTION_CHARS, ContextError, StrategyFacts, detect_language, \
    facts_from_legacy_context, validate_question
from api.chat.fallback import INTERRUPTED_NOTE, fallback_answer
from api.chat.grounding import LEAK_WINDOW_CHARS, check_grounding, grounding_note
from api.chat.prompt import CANARY, QUESTION_CLOSE, QUESTION_OPEN, build_messages, compare_strategies, \
    system_instructions

__all__ = ["CANARY", "FALLBACK_MODEL", "INTERRUPTED_NOTE", "LEAK_WINDOW_CHARS", "MAX_QUESTION_CHARS", "QUESTION_CLOSE",
           "QUESTION_OPEN", "SOURCE_HEADER", "ChatAnswer", "ChatService", "ContextError", "StrategyFacts",
           "build_messages", "check_grounding", "compare_strategies", "detect_language", "facts_from_legacy_context",
           "fallback_answer", "grounding_note", "system_instructions", "validate_question"]
