"""Decision: the recommendation wizard's engine.

Questions and rules are data; the engine scores answers, applies gates, weighs measured
evidence (evaluation reports) and projects cost and latency; inputs reads answers files,
reports, adapter meta and manifests. May import core.training, core.knowledge and
core.runtime; not core.evaluation (reports are read as JSON files).
"""
