"""Fields and columns: PMML data types, the column frame a plan scores, categories, the
DataDictionary / MiningSchema (what a field is and how its inputs are treated)."""
