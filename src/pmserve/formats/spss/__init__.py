"""SPSS Modeler streams (``.str``): the archive, the Fast Infoset stream XML, the scoring branch,
the nodes pmserve runs on whole columns, and the model nuggets (mostly PMML) they hold.

``_model.py`` holds the types every part shares; see ``docs/architecture.md``.
"""
