"""Runs and what they made: the run service, the handle a script holds, lineage, reproduce, standards export."""
