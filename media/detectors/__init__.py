"""Signal detectors: conditions noticed in the media flow without decoding it (the audio
level header extension, media that stopped, a second camera gone), each a small state
machine on :class:`exams.proctoring.conditions.Condition`, fed by :mod:`.signals`."""
