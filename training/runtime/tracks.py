"""Tracks: what a learner's job profile says they work on, from their folded job title.

A track is what a course is chosen for (backend, data & ML, QA & test...). The map from folded
titles to tracks is a setting the school can edit (``TrainingSettings.tracks``; the default is
:data:`DEFAULT_TRACKS`, documented in docs/courses.md): an ordered list of tracks, each with a
regular expression over the folded title (lower case, punctuation folded, letters split from
digits: ``"sde 2"``, ``"fullstack engineer"``). The first pattern that matches wins, so order
matters ("backend architect" is architecture before it is backend). A title no pattern matches is
:data:`OTHER_TRACK`; a missing or placeholder title ("Not Available") is :data:`UNKNOWN_TRACK`,
never guessed. The map is frozen into every model (``segmenter.json``, with the cleaning rules),
so serving answers with the model's own map.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_TRACKS",
    "OTHER_TRACK",
    "TRACK_NAMES",
    "UNKNOWN_TRACK",
    "Track",
    "Tracks",
]

#: The track of a title no pattern matches (the literal title "Other" among them).
OTHER_TRACK = "other"
#: The track of a missing or placeholder title: unknown, never guessed.
UNKNOWN_TRACK = "unknown"


@dataclass(frozen=True)
class Track:
    """One track: its id (what placements answer), its name for people, its title pattern."""

    id: str
    name: str
    pattern: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "pattern": self.pattern}


#: The default map, in match order. Product comes first ("product manager", "program
#: manager"), then leadership ("QA lead", "data science manager" and "backend architect" lead
#: people or design systems; a "member of technical staff" is not staff in that sense), then
#: QA ("test analyst" tests before it analyses), data, DevOps, mobile, frontend, full-stack,
#: support, and backend last: it catches the generic engineering titles ("software engineer",
#: "SDE 2", "MTS", "programmer analyst", "Développeur"). Interns and trainees take the track of
#: the rest of their title, and a bare "intern" or "fresher" backend & SDE: their course is the
#: one a new software engineer takes. A "product engineer" or "project engineer" builds
#: software: backend & SDE, not product.
DEFAULT_TRACKS: tuple[Track, ...] = (
    Track(
        "product",
        "Product & design",
        r"\b(product(?! engineer)|program|programme|project(?! engineer)|designer|design|ux|"
        r"ui ux|scrum|business analyst|business analysis)\b",
    ),
    Track(
        "leadership",
        "Leadership & architecture",
        r"\b(leadership|cto|ceo|coo|vp|vice president|head|director|founder|cofounder|co "
        r"founder|chief|engineering manager|em|architect|principal|manager|lead|"
        r"(?<!technical )staff)\b",
    ),
    Track("qa", "QA & test", r"\b(qa|qc|sdet|test|tester|testing|quality|automation)\b"),
    Track(
        "data",
        "Data & ML",
        r"\b(data|scientist|science|(?<!programmer )analyst(?! programmer)|analytics|"
        r"machine learning|ml|mlops|ai|research|researcher|nlp|bi|business intelligence|etl|"
        r"statistician|deep learning|computer vision)\b",
    ),
    Track(
        "devops",
        "DevOps & cloud",
        r"\b(devops|sre|site reliability|cloud|infra|infrastructure|system|systems|database|"
        r"dba|release|network|security|platform|sysadmin|build)\b",
    ),
    Track("mobile", "Mobile", r"\b(android|ios|mobile|flutter|react native|app developer)\b"),
    Track("frontend", "Frontend", r"\b(frontend|ui|web|angular|react|javascript|(?<!node )js)\b"),
    Track("fullstack", "Full-stack", r"\b(fullstack|mern|mean)\b"),
    Track(
        "support",
        "Support & non-coding",
        r"\b(support|consultant|non coder|sales|operations|ops|hr|customer|service desk|"
        r"technician|helpdesk)\b",
    ),
    Track(
        "backend",
        "Backend & SDE",
        r"\b(backend|sde|swe|software|developer|engineer|engineers|engineering|programmer|java|"
        r"python|golang|go|dotnet|net|php|node|nodejs|coder|embedded|intern|internship|trainee|"
        r"apprentice|student|fresher|graduate|associate|member technical|technical staff|mts|"
        r"smts|developpeur|ingenieur|ingeniero|desarrollador|programador|entwickler|"
        r"sviluppatore)\b",
    ),
)


@dataclass(frozen=True)
class Tracks:
    """The frozen title -> track map of a model (JSON via :meth:`to_dict`).

    Attributes
    ----------
    tracks : tuple of Track
        In match order; :data:`OTHER_TRACK` and :data:`UNKNOWN_TRACK` are implied (never listed).
    """

    tracks: tuple[Track, ...] = DEFAULT_TRACKS
    _compiled: tuple[tuple[str, re.Pattern[str]], ...] = field(
        init=False, repr=False, compare=False
    )
    _cache: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = [t.id for t in self.tracks]
        reserved = {OTHER_TRACK, UNKNOWN_TRACK} & set(ids)
        if reserved:
            raise ValueError(
                f"Track ids {', '.join(sorted(reserved))} are implied; do not list them."
            )
        if len(set(ids)) != len(ids):
            raise ValueError("Every track id must be listed once.")
        compiled = []
        for track in self.tracks:
            try:
                compiled.append((track.id, re.compile(track.pattern)))
            except re.error as exc:
                raise ValueError(
                    f"The pattern of track {track.id} is not a regular expression: {exc}."
                ) from None
        object.__setattr__(self, "_compiled", tuple(compiled))
        object.__setattr__(self, "_cache", {})

    @property
    def ids(self) -> list[str]:
        """Every track a learner can be on: the listed ones, then other, then unknown."""
        return [*(t.id for t in self.tracks), OTHER_TRACK, UNKNOWN_TRACK]

    def names(self) -> dict[str, str]:
        """Track id -> its name for people (other and unknown included)."""
        return {
            **{t.id: t.name for t in self.tracks},
            OTHER_TRACK: "Other",
            UNKNOWN_TRACK: "Unknown (no job title)",
        }

    def of(self, folded: str | None) -> str:
        """The track of a folded title (None: a missing or placeholder title -> unknown)."""
        if folded is None:
            return UNKNOWN_TRACK
        found = self._cache.get(folded)
        if found is None:
            found = next(
                (track for track, regex in self._compiled if regex.search(folded)), OTHER_TRACK
            )
            if len(self._cache) < 200_000:
                self._cache[folded] = found
        return found

    def to_dict(self) -> list[dict[str, str]]:
        return [t.to_dict() for t in self.tracks]

    @classmethod
    def from_dict(cls, data: Sequence[Mapping[str, Any]]) -> Tracks:
        return cls(tuple(Track(str(t["id"]), str(t["name"]), str(t["pattern"])) for t in data))


#: The names of the default map's tracks (id -> name), other and unknown included.
TRACK_NAMES: dict[str, str] = Tracks().names()
