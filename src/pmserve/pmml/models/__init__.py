"""The model compilers: one module per PMML model element (trees live in ``pmserve.pmml`` for now),
each registering itself with :func:`pmserve.pmml.compiler.register` for its element tag."""
