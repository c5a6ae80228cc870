"""Benchmarks of sora2pro against plain aiohttp and hand-written polling loops.

Run them with ``make bench`` or ``python -m benchmarks``; ``benchmarks/README.md``
says what each one measures and how.
"""
