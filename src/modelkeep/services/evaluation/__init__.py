"""Evaluations, the comparison of two versions on one pinned dataset (gate, merge), notes and cards."""
