"""Headless batch sweeps: many (scenario, seed) episodes, a SQLite manifest, resume, retries, a report."""
