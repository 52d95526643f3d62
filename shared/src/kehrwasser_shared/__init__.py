"""Kehrwasser shared library: event contracts, reliable messaging and persistence plumbing.

Imported by every service; never run on its own and never imports a service.
"""
