"""Scoring predicted animations against real ones (LMD, sync and the other metrics)."""
