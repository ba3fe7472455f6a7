"""Model versions: registering, bump proposal, diff, search, read views, metadata and input checks."""
