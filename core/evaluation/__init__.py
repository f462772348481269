"""Evaluation: the four arms answering, and measuring them.

arms (base / rag / ft / hybrid through one interface), evalsets (the eval-set data model),
evalset_files (reading JSONL / JSON / CSV), cloze (generated questions), heldout (an adapter's
held-out rows), metrics (scores and paired-bootstrap CIs), evaluate (the evaluation job), report
(Markdown / JSON export), freshness (a fact changed after training), conversation (Compare's
exchanges); the statistics: verdict + disagreement (the metrics read together), concise (a fair
short-answer metric, answer lengths), power + planning (how many questions are enough), seeds
(seed groups, hierarchical CIs), review (blind human grades). May import core.training, core.knowledge and core.runtime; not core.decision.
"""
