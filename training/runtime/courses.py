"""The school's catalogue (courses and career services) and a model's course for each cohort.

The catalogue is a setting the school can edit (``TrainingSettings.courses``; the default is
:data:`DEFAULT_COURSES`, documented in docs/courses.md). Each entry is either a **course** (what
to teach: chosen for a *cohort*, the learners of one segment on one track) or a **career
service** (career help: an action chosen from a segment's figures). Every entry says which
tracks it fits and, optionally, which career stages; each belongs to a programme ``family``, so
that a segment never gets two actions of one family.

A trained model freezes the course of every cohort (:class:`CohortCourses`, in
``segmenter.json``): a placement answers its learner's ``track`` and the ``course`` of its
cohort without any training code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from training.runtime.tracks import UNKNOWN_TRACK

__all__ = [
    "CAREER",
    "COURSE",
    "DEFAULT_COURSES",
    "STAGES",
    "CohortCourses",
    "Course",
]

COURSE: Literal["course"] = "course"
CAREER: Literal["career service"] = "career service"
#: The career stages a course may be limited to (a segment's median experience against all
#: learners': at or under the 25th percentile, between, at or over the 75th).
STAGES: tuple[str, ...] = ("early", "mid", "senior")


@dataclass(frozen=True)
class Course:
    """One catalogue entry.

    Attributes
    ----------
    id : str
        Stable id (what placements and actions answer), e.g. ``"data-science-ml"``.
    name : str
        The name people read.
    kind : "course" or "career service"
    family : str
        Its programme family: a segment gets at most one action of a family.
    tracks : tuple of str
        The tracks it fits (``"*"``: any track).
    stages : tuple of str
        The career stages it fits (empty: any stage).
    description : str
        One sentence: what it teaches or offers.
    """

    id: str
    name: str
    kind: str
    family: str
    tracks: tuple[str, ...]
    stages: tuple[str, ...] = ()
    description: str = ""

    def fits(self, track: str, stage: str | None = None) -> bool:
        """Whether it fits a learner on ``track`` at career ``stage`` (None: any stage)."""
        on_track = "*" in self.tracks or track in self.tracks
        return on_track and (not self.stages or stage is None or stage in self.stages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "family": self.family,
            "tracks": list(self.tracks),
            "stages": list(self.stages),
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Course:
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            kind=str(data["kind"]),
            family=str(data["family"]),
            tracks=tuple(str(t) for t in data["tracks"]),
            stages=tuple(str(s) for s in data.get("stages", ())),
            description=str(data.get("description", "")),
        )


_ENGINEERING = ("backend", "fullstack", "frontend", "mobile", "devops", "data", "qa")

#: The default catalogue: an online tech school's courses, then its career services.
DEFAULT_COURSES: tuple[Course, ...] = (
    Course(
        "software-development",
        "Software development: DSA and system design",
        COURSE,
        "software development",
        ("backend", "other", "leadership"),
        description="Data structures and algorithms, then low- and high-level system design, "
        "for engineers building backend services (and, before the senior stage, for leads: "
        "system design is the architecture half of leading).",
    ),
    Course(
        "data-science-ml",
        "Data science and machine learning",
        COURSE,
        "data",
        ("data",),
        description="Statistics, SQL, machine learning and MLOps for analysts, data scientists "
        "and ML engineers.",
    ),
    Course(
        "devops-cloud",
        "DevOps and cloud engineering",
        COURSE,
        "devops",
        ("devops",),
        description="Linux, containers, Kubernetes, CI/CD and cloud architecture.",
    ),
    Course(
        "fullstack-frontend",
        "Full-stack and frontend development",
        COURSE,
        "web",
        ("fullstack", "frontend"),
        description="Modern JavaScript, React, APIs and web system design.",
    ),
    Course(
        "mobile-development",
        "Mobile app development (Android and iOS)",
        COURSE,
        "mobile",
        ("mobile",),
        description="App architecture, performance and release engineering on Android and iOS.",
    ),
    Course(
        "test-automation",
        "Test automation (SDET)",
        COURSE,
        "quality",
        ("qa",),
        description="Automation frameworks, API and performance testing, then a path into "
        "development.",
    ),
    Course(
        "engineering-leadership",
        "Engineering leadership and architecture",
        COURSE,
        "leadership",
        ("leadership", *_ENGINEERING),
        stages=("senior",),
        description="Architecture reviews, technical strategy and leading engineering teams, for "
        "senior engineers and leads.",
    ),
    Course(
        "switch-into-software",
        "Switch into software development (for non-coders)",
        COURSE,
        "career switch",
        ("support", "product"),
        stages=("early",),
        description="Programming foundations, DSA and a first project, for support, operations "
        "and product people early in their career moving into development.",
    ),
    Course(
        "product-leadership",
        "Product management and technical leadership",
        COURSE,
        "leadership",
        ("product", "support"),
        stages=("mid", "senior"),
        description="Product strategy, roadmaps, metrics and leading cross-functional teams, "
        "for product, design and support people from mid career (a well-paid product "
        "designer is not sent back to a beginner's programming course).",
    ),
    Course(
        "interview-preparation",
        "Interview preparation and job-switch support",
        CAREER,
        "job switch",
        ("*",),
        description="Mock interviews, referrals and a job-switch plan.",
    ),
    Course(
        "salary-negotiation",
        "Pay benchmarking and negotiation coaching",
        CAREER,
        "pay",
        ("*",),
        description="What peers earn and how to ask for it, at a review or an offer.",
    ),
    Course(
        "placement-support",
        "First-job and internship placement support",
        CAREER,
        "placement",
        ("*",),
        stages=("early",),
        description="Resume reviews, internship-to-full-time conversion and campus placements.",
    ),
    Course(
        "career-mentoring",
        "Mentoring towards senior and staff roles",
        CAREER,
        "growth",
        ("*",),
        stages=("mid", "senior"),
        description="A mentor from a top-paying company and a plan for the next level.",
    ),
    Course(
        "profile-update",
        "Profile update campaign",
        CAREER,
        "profile",
        ("*",),
        description="Ask learners to update their job title and pay, so that advice fits them.",
    ),
)


@dataclass(frozen=True)
class CohortCourses:
    """A model's course of every cohort (segment x track), frozen at training.

    Stored as the ``cohorts`` section of ``segmenter.json`` (:meth:`to_dict`); read by
    :func:`training.runtime.loader.load_model`. Every placement answers the course of its
    learner's cohort from it (:func:`training.runtime.placement.place`, the service's single
    learner), so no path needs training code to name a course.

    Attributes
    ----------
    tracks : list of str
        Every track id, in the model's order (other and unknown last).
    segment_ids : list of int
        The public segment ids, in the order of ``course``'s rows.
    course : list of list of str
        ``course[i][j]``: the course id of segment ``segment_ids[i]`` on track ``tracks[j]``.
    names : dict of str to str
        Course id -> its name, for every course used.
    """

    tracks: list[str]
    segment_ids: list[int]
    course: list[list[str]]
    names: dict[str, str]
    _track_index: dict[str, int] = field(init=False, repr=False, compare=False)
    _segment_index: dict[int, int] = field(init=False, repr=False, compare=False)
    _courses: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.course) != len(self.segment_ids) or any(
            len(row) != len(self.tracks) for row in self.course
        ):
            raise ValueError("cohorts: one course per segment and track is needed.")
        if UNKNOWN_TRACK not in self.tracks:
            raise ValueError(f"cohorts: the {UNKNOWN_TRACK} track needs a course.")
        unnamed = {c for row in self.course for c in row} - set(self.names)
        if unnamed:
            raise ValueError(f"cohorts: courses without a name: {', '.join(sorted(unnamed))}.")
        object.__setattr__(self, "_track_index", {t: j for j, t in enumerate(self.tracks)})
        object.__setattr__(self, "_segment_index", {s: i for i, s in enumerate(self.segment_ids)})
        used = dict.fromkeys(c for row in self.course for c in row)
        object.__setattr__(self, "_courses", tuple(used))

    @property
    def courses(self) -> tuple[str, ...]:
        """Every course id used, once each, in order of first use (what course codes index)."""
        return self._courses

    def track_index(self, track: str) -> int:
        """The column of ``track`` (a track the model does not know: unknown's)."""
        return self._track_index.get(track, self._track_index[UNKNOWN_TRACK])

    def course_of(self, segment_id: int, track: str) -> str:
        """The course id of one cohort (a track the model does not know: unknown's)."""
        return self.course[self._segment_index[segment_id]][self.track_index(track)]

    def codes(self, segment_ids: Sequence[int]) -> npt.NDArray[np.intp]:
        """The course of every cohort as codes (indexes into :attr:`courses`).

        Parameters
        ----------
        segment_ids : sequence of int, length k
            Segment ids in the order wanted (a kernel's centre order).

        Returns
        -------
        ndarray of intp, shape (k, len(tracks))
            Row i: the courses of segment ``segment_ids[i]``, track by track.
        """
        code = {c: i for i, c in enumerate(self._courses)}
        rows = [[code[c] for c in self.course[self._segment_index[int(s)]]] for s in segment_ids]
        return np.array(rows, dtype=np.intp).reshape(len(rows), len(self.tracks))

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracks": list(self.tracks),
            "segment_ids": list(self.segment_ids),
            "course": [list(row) for row in self.course],
            "names": dict(self.names),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CohortCourses:
        return cls(
            tracks=[str(t) for t in data["tracks"]],
            segment_ids=[int(s) for s in data["segment_ids"]],
            course=[[str(c) for c in row] for row in data["course"]],
            names={str(k): str(v) for k, v in data["names"].items()},
        )

    @classmethod
    def constant(
        cls, segment_ids: Sequence[int], tracks: Sequence[str], course: Course
    ) -> CohortCourses:
        """Every cohort on one course (a stand-in where courses are not chosen per cohort)."""
        return cls(
            tracks=list(tracks),
            segment_ids=list(segment_ids),
            course=[[course.id] * len(tracks) for _ in segment_ids],
            names={course.id: course.name},
        )
