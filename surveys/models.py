"""Surveys, invitations and responses."""
