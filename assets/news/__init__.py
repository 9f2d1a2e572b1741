"""News metadata: GDELT 2.0 files and RSS/Atom feeds, matched to facilities before loading."""
