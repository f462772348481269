"""Evaluation: the four arms answering, and measuring them.

arms (base / rag / ft / hybrid through one interface), evalsets (eval files, splits, cloze
questions), metrics (scores and paired-bootstrap CIs), evaluate (the evaluation job), report
(Markdown / JSON export), freshness (a fact changed after training), conversation (Compare's
exchanges). May import core.training, core.knowledge and core.runtime; not core.decision.
"""
