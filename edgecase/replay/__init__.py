"""Replay inspection: annotated video, bird's-eye view, HTML episode report, MCAP for Foxglove, re-simulation check."""
