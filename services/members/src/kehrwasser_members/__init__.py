"""Kehrwasser members service: owns members' profile, contact, language and focus."""
