"""The shared model: agents, actions, observations, the ledger, the dashboard and scenarios."""
