"""Who may do what and what happened: access (users, tokens, roles), audit log and checkpoints, promotions, webhooks."""
