"""`python -m core recommend --answers ANSWERS.json [--evidence REPORT]`: the wizard, headless.

Prints the recommendation record as JSON (choice, confidence, scores, reasons with sources,
gates, overrides, evidence, next steps, projection). `--markdown FILE` also writes the
decision report.
"""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "recommend",
        help="RAG, fine-tune, hybrid or prompt first? From a JSON answers file (+ an eval report)",
        description="Score the wizard's answers (see README, 'Recommendation wizard') and, when "
        "given, the measured evidence of an evaluation report. Prints JSON.",
    )
    parser.add_argument("--answers", required=True, help="JSON object: question id -> answer")
    parser.add_argument(
        "--evidence", help="evaluation report: a path, or a report id under DATA_DIR/reports/"
    )
    parser.add_argument("--markdown", help="also write the decision report (Markdown) here")
    parser.set_defaults(func=run)


def run(args) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    from core.__main__ import print_json
    from core.decision.answers import AnswerError
    from core.decision.decision_report import to_markdown
    from core.decision.engine import recommend
    from core.decision.inputs import (
        RecommendInputError,
        evidence_model,
        load_answers,
        measured_update_times,
        resolve_report,
        workspace_assets,
    )
    from core.decision.projection import projection
    from core.runtime.answer_times import single_answer_latency
    from core.runtime.settings import get_settings

    data_dir = get_settings().data_dir
    answers = load_answers(args.answers)
    report_id, report = (None, None)
    if args.evidence:
        report_id, report = resolve_report(args.evidence, data_dir)
    try:
        record = recommend(answers, report, evidence_id=report_id, assets=workspace_assets(data_dir))
    except AnswerError as exc:  # load_answers already checks; kept for safety
        raise RecommendInputError(str(exc)) from None
    times = measured_update_times(data_dir, report)
    record["projection"] = projection(
        answers, report,
        train_seconds=times["train_seconds"], reindex_seconds=times["reindex_seconds"],
        single=single_answer_latency(data_dir, evidence_model(report)),
    )
    record["projection"]["measured_from"] = {
        "train": times["train_from"], "reindex": times["reindex_from"],
    }
    if args.markdown:
        created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        Path(args.markdown).write_text(
            to_markdown(record, record["projection"], created=created), encoding="utf-8"
        )
        print(f"wrote {args.markdown}", file=sys.stderr)
    print_json(record)
    return 0
