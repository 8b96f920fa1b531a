"""Business logic and SQL: plain async functions, no web framework imports."""
