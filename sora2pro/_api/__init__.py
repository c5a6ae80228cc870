"""The API's endpoints: one small typed method each, and every path in one place."""
