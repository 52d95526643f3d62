"""Kehrwasser alliances service: purpose, focus, members and roles, moderation, meetings."""
