"""Kehrwasser notify service: emails members balance warnings and meeting invitations."""
