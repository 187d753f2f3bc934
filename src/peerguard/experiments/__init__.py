"""Running scenarios, sweeps and the default study; storing and summarising their results."""
