"""The discrete-event substrate: a virtual clock, one seeded RNG, byte-identical ledgers per seed."""
