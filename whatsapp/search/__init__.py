"""Full-text message search (SPEC §8, reference/mcp-tools.md §2.6), the same on PostgreSQL and SQLite.

* :mod:`~whatsapp.search.tokenizer` — the one tokenizer of indexed text and of queries;
* :mod:`~whatsapp.search.parser` — user query text → an AST (:mod:`~whatsapp.search.nodes`), never
  raising on what a user types;
* :mod:`~whatsapp.search.evaluate` — the AST evaluated over a token list in pure Python (the reference
  semantics, and how rows not yet indexed are matched);
* :mod:`~whatsapp.search.compile` — the AST as an FTS5 ``MATCH``, a ``tsquery`` or a LIKE condition;
* :mod:`~whatsapp.search.index` — the index structures per vendor (triggers, FTS5 table, GIN),
  checking and rebuilding them;
* :mod:`~whatsapp.search.service` — ``search_messages`` and ``context_of``.

This package's ``__init__`` imports nothing: the model field (:mod:`~whatsapp.search.fields`) is
imported by ``whatsapp.models`` and must not pull the service (and with it the models) in.
"""
