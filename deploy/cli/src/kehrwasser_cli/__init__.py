"""Kehrwasser operator CLI."""
