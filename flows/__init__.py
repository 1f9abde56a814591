"""Prefect flows of accesswatch (thin: they wire the stage functions in accesswatch.*)."""
