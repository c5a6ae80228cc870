"""What users build and get back: requests, tasks, and the errors that carry them.

Plain frozen values with their own checks; no I/O, and nothing of the wire format.
The modules are ``_requests`` (one class per model), ``_task`` (a task's snapshot,
an uploaded file, a character) and ``_failures`` (errors carrying a task or request).
"""
