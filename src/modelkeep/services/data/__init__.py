"""Datasets: staging and recording versions, status, diff, push/pull, integrity and GC roots."""
