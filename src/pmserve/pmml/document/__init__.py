"""The document model: reading PMML bytes into immutable elements, the problems found, the limits.

Stage 1 of parse -> compile -> score; nothing here knows numpy or a model type.
"""
