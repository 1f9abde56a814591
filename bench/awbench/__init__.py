"""Helpers for bench/run.py (corpus pool, local feed server, extraction workers, RSS sampler)."""
