"""Kehrwasser ledger service: the contribution ledger, balances, the balance policy and warnings."""
