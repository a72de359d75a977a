"""examcast bench: many simulated candidates against a real server process."""
