"""Retention: which versions a policy keeps, which roots nothing may expire, and the plan of a
garbage collection before anything is deleted (``mk retention``, ``mk hold``, ``mk gc --dry-run``)."""
