"""The figures docs/courses.md quotes for the default model, read from a model's profiles.json.

Prints two markdown tables: each segment's career stage and median experience, and each course
with its learners, cohorts (and the smallest of them) and the segments it goes to. Train the
default and point this script at the model folder, then paste the tables into
docs/courses.md ("On the default model"):

    PYTHONPATH=$PWD .venv/bin/python -m training train --out /tmp/default-model
    PYTHONPATH=$PWD .venv/bin/python bench/course_figures.py /tmp/default-model/LATEST
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from training.runtime.artifacts import PROFILES_JSON, read_latest_name


def _folder(path: Path) -> Path:
    """A model folder, or the latest of a models folder (its ``LATEST`` pointer)."""
    if path.name == "LATEST":
        path = path.parent
    if (path / PROFILES_JSON).is_file():
        return path
    latest = read_latest_name(path)
    if not latest:
        raise SystemExit(f"{path} holds no model.")
    return path / latest


def _segments_table(profiles: dict[str, Any]) -> list[str]:
    lines = [
        "| segment | learners | median experience (years) | career stage |",
        "|---|---|---|---|",
    ]
    for segment in profiles["segments"]:
        lines.append(
            f"| {segment['id']}. {segment['name']} | {segment['size']:,} | "
            f"{segment['center']['years_experience']:g} | {segment.get('career_stage', '')} |"
        )
    return lines


def _courses_table(profiles: dict[str, Any]) -> list[str]:
    courses: dict[str, dict[str, Any]] = {}
    for segment in profiles["segments"]:
        for cohort in segment.get("cohorts") or []:
            if not cohort["learners"]:
                continue
            # a learner gets the course of their own career stage (a model without courses
            # by stage: the cohort's one course)
            by_stage = cohort.get("by_stage") or {"all": cohort["course"]}
            counts = cohort.get("learners_by_stage") or {"all": cohort["learners"]}
            for stage, course in by_stage.items():
                learners = int(counts.get(stage, 0))
                if not learners:
                    continue
                entry = courses.setdefault(
                    course, {"learners": 0, "cohorts": [], "segments": set()}
                )
                entry["learners"] += learners
                entry["cohorts"].append(learners)
                entry["segments"].add(int(segment["id"]))
    lines = [
        "| course | learners (at their own stage) | cohort-stages | smallest | segments |",
        "|---|---|---|---|---|",
    ]
    for course_id, entry in sorted(courses.items(), key=lambda kv: -kv[1]["learners"]):
        lines.append(
            f"| `{course_id}` | {entry['learners']:,} | {len(entry['cohorts'])} | "
            f"{min(entry['cohorts']):,} | {', '.join(str(s) for s in sorted(entry['segments']))} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a model folder, or a models folder (its latest)")
    folder = _folder(parser.parse_args().model)
    profiles = json.loads((folder / PROFILES_JSON).read_text(encoding="utf-8"))
    bounds = profiles.get("career_stages", {})
    print(f"Model {folder.name}, k = {profiles['k']}; career stages: {bounds}\n")
    print("\n".join(_segments_table(profiles)))
    print()
    print("\n".join(_courses_table(profiles)))


if __name__ == "__main__":
    main()
