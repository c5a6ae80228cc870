"""The server's completion callbacks: ``_signing`` (pure) and ``_receiver`` (a server)."""
