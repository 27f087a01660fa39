"""Expressions: DerivedField transformations, Apply and the built-in function library, predicates,
TextIndex and Java regular expressions, and the vectorised math the model types share."""
