"""Reference data: the facilities gazetteer and code lookups."""
