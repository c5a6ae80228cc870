"""The state a client's flows share, behind a seam: pacing, pending tasks, journals.

``_protocols`` says what a coordination backend provides; ``_local`` is the one every
client gets by default (one process); ``_pacer`` and ``_journal`` are its parts. A
backend shared by several processes (Redis, say) implements the same protocols.
"""
