"""Discrete-event simulator and weight tuning; calls the same solver as the service."""
