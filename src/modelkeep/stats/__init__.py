"""Statistics with no knowledge of the registry: data profiles, drift tests and significance tests."""
