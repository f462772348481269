"""Runtime: what every other room stands on.

settings (one frozen object, env overrides, offline variables), errors (typed, with a hint),
models (the only loader of the generator and the embedder), generation (the one generation
path), jobs (the run-directory protocol for background work), workspace (what the data
directory holds). Imports nothing else from core.
"""
