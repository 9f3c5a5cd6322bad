"""The shared kernel every service builds on: settings, database, errors, keys, health, IM client."""
