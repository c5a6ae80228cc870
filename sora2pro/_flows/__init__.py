"""What the Client does, step by step: submit, wait, upload, download, batch.

Each flow gets its collaborators passed in (a ``Context``, or the transport and the
policies it needs); none imports the Client.
"""
