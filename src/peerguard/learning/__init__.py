"""Learning agents on the simulator: a PettingZoo environment over the same world, ledger and dashboard as
every other run, independent tabular Q-learners, and the emergence study that asks when they learn to
relaunch and cover for each other without being told to."""
