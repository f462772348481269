"""Decision: the recommendation wizard, from answers (+ measured evidence) to a choice.

Data: questions (what the wizard asks, the options, the steps) and rules (sources, thresholds,
weights, gates). Pure code: answers (normalise, derive factors, fire gates), evidence (read an
evaluation report's comparisons), engine (score, gate, override, confidence, what-if),
next_steps, projection (cost and latency from measured numbers), decision_report (Markdown).
I/O: inputs (answers files, reports, adapter meta, manifests) and wizard_file (the wizard's
saved answers). May import core.training, core.knowledge and core.runtime; not
core.evaluation (reports are read as JSON files).
"""
