"""Conformance of the PMML engine against the shared corpus (see docs/conformance.md)."""
