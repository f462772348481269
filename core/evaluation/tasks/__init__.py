"""Classification and extraction as first-class tasks: their arms (base, retrieved examples,
fine-tuned, hybrid), metrics (accuracy / macro-F1 / confusion; entity F1 exact and lenient,
invalid JSON), paired-bootstrap CIs, verdict, k sweep and learning curve. Data and prompts live in
core.training.tasks / task_prompts / example_index."""
