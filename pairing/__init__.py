"""Second-camera pairing: single-use tokens linking a phone to an attempt (issue: second camera)."""
