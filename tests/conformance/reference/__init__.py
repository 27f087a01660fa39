"""Checks on the stored JPMML reference outputs."""
