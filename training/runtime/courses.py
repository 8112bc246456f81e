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
    "EXPERIENCE",
    "STAGES",
    "CohortCourses",
    "Course",
    "stage_codes",
    "stage_of",
]

COURSE: Literal["course"] = "course"
CAREER: Literal["career service"] = "career service"
#: The career stages a course may be limited to (a segment's median experience against all
#: learners': at or under the 25th percentile, between, at or over the 75th).
STAGES: tuple[str, ...] = ("early", "mid", "senior")
#: The feature a learner's own career stage is read from (its years of experience, counted to the
#: model's reference year exactly as the clustering input is).
EXPERIENCE = "years_experience"


def stage_of(years: float, early: float, senior: float) -> str:
    """The career stage of ``years`` of experience: ``"early"`` at or under ``early`` (all
    learners' 25th percentile), ``"senior"`` at or over ``senior`` (the 75th), else ``"mid"``.

    The one rule for a segment (its median experience) and for a learner (its own years); early
    wins when both bounds hold.
    """
    return STAGES[int(stage_codes(np.array([years], np.float64), early, senior)[0])]


def stage_codes(
    years: npt.NDArray[np.float64], early: float, senior: float
) -> npt.NDArray[np.intp]:
    """:func:`stage_of` for many learners at once, as indexes into :data:`STAGES`."""
    years = np.asarray(years, np.float64)
    out = np.where(years >= senior, 2, 1).astype(np.intp)
    out[years <= early] = 0
    return out


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
    """A model's course of every cohort (segment x track) at every career stage, frozen at
    training.

    Stored as the ``cohorts`` section of ``segmenter.json`` (:meth:`to_dict`); read by
    :func:`training.runtime.loader.load_model`. Every placement answers the course of its
    learner's cohort *at the learner's own career stage* (its own years of experience against the
    stage bounds, :func:`stage_of`) from it (:meth:`course_of`, :meth:`learner_codes`), so no path
    needs training code to name a course. A model saved before courses were chosen per stage has
    no ``by_stage``: its placements answer the cohort's course at the segment's stage
    (``course``).

    Attributes
    ----------
    tracks : list of str
        Every track id, in the model's order (other and unknown last).
    segment_ids : list of int
        The public segment ids, in the order of ``course``'s rows.
    course : list of list of str
        ``course[i][j]``: the course id of segment ``segment_ids[i]`` on track ``tracks[j]`` at the
        segment's own career stage (its median experience).
    names : dict of str to str
        Course id -> its name, for every course used.
    by_stage : list of list of list of str, optional
        ``by_stage[i][j][s]``: the course of the cohort for a learner at stage ``STAGES[s]``.
    stage_bounds : (float, float), optional
        All training learners' 25th and 75th percentiles of experience (years): the bounds of
        :func:`stage_of`. Given with ``by_stage``.
    """

    tracks: list[str]
    segment_ids: list[int]
    course: list[list[str]]
    names: dict[str, str]
    by_stage: list[list[list[str]]] | None = None
    stage_bounds: tuple[float, float] | None = None
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
        if (self.by_stage is None) != (self.stage_bounds is None):
            raise ValueError("cohorts: courses by stage need the stage bounds, and back.")
        staged: list[str] = []
        if self.by_stage is not None:
            if len(self.by_stage) != len(self.segment_ids) or any(
                len(row) != len(self.tracks) or any(len(cell) != len(STAGES) for cell in row)
                for row in self.by_stage
            ):
                raise ValueError("cohorts: one course per segment, track and stage is needed.")
            staged = [c for row in self.by_stage for cell in row for c in cell]
        unnamed = {c for row in self.course for c in row} - set(self.names)
        unnamed |= set(staged) - set(self.names)
        if unnamed:
            raise ValueError(f"cohorts: courses without a name: {', '.join(sorted(unnamed))}.")
        object.__setattr__(self, "_track_index", {t: j for j, t in enumerate(self.tracks)})
        object.__setattr__(self, "_segment_index", {s: i for i, s in enumerate(self.segment_ids)})
        used = dict.fromkeys([*(c for row in self.course for c in row), *staged])
        object.__setattr__(self, "_courses", tuple(used))

    @property
    def courses(self) -> tuple[str, ...]:
        """Every course id used, once each, in order of first use (what course codes index)."""
        return self._courses

    def track_index(self, track: str) -> int:
        """The column of ``track`` (a track the model does not know: unknown's)."""
        return self._track_index.get(track, self._track_index[UNKNOWN_TRACK])

    def stage(self, years: float) -> str | None:
        """The career stage of a learner with ``years`` of experience (None: the model has no
        courses by stage)."""
        if self.stage_bounds is None:
            return None
        return stage_of(years, *self.stage_bounds)

    def course_of(self, segment_id: int, track: str, years: float | None = None) -> str:
        """The course id of a learner of one cohort with ``years`` of experience.

        A track the model does not know is unknown's; without ``years`` (or on a model without
        courses by stage) the cohort's course at the segment's own stage.
        """
        stage = None if years is None else self.stage(years)
        if stage is None:
            return self.course[self._segment_index[segment_id]][self.track_index(track)]
        return self.course_at(segment_id, track, stage)

    def course_at(self, segment_id: int, track: str, stage: str) -> str:
        """The course id of a learner of one cohort at career ``stage`` (a model without courses
        by stage: the cohort's course at the segment's stage)."""
        i, j = self._segment_index[segment_id], self.track_index(track)
        if self.by_stage is None:
            return self.course[i][j]
        return self.by_stage[i][j][STAGES.index(stage)]

    def codes(self, segment_ids: Sequence[int]) -> npt.NDArray[np.intp]:
        """The course of every cohort (at its segment's stage) as codes (indexes into
        :attr:`courses`).

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

    def learner_codes(
        self,
        segment_ids: Sequence[int],
        centre: npt.NDArray[np.intp],
        track_column: npt.NDArray[np.intp],
        years: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.intp]:
        """Each learner's course as a code (index into :attr:`courses`), all at once.

        Parameters
        ----------
        segment_ids : sequence of int, length k
            The segment id of each centre (a kernel's centre order).
        centre : ndarray of intp, shape (n,)
            Each learner's nearest centre.
        track_column : ndarray of intp, shape (n,)
            Each learner's track as a column of this table (:meth:`track_index`).
        years : ndarray of float, shape (n,)
            Each learner's own years of experience.
        """
        if self.by_stage is None or self.stage_bounds is None:
            return self.codes(segment_ids)[centre, track_column]
        code = {c: i for i, c in enumerate(self._courses)}
        table = np.array(
            [
                [[code[c] for c in cell] for cell in self.by_stage[self._segment_index[int(s)]]]
                for s in segment_ids
            ],
            dtype=np.intp,
        ).reshape(len(segment_ids), len(self.tracks), len(STAGES))
        stage = stage_codes(years, *self.stage_bounds)
        out: npt.NDArray[np.intp] = table[centre, track_column, stage]
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tracks": list(self.tracks),
            "segment_ids": list(self.segment_ids),
            "course": [list(row) for row in self.course],
            "names": dict(self.names),
        }
        if self.by_stage is not None and self.stage_bounds is not None:
            out["stages"] = list(STAGES)
            out["stage_bounds"] = {
                "early_at_or_under": self.stage_bounds[0],
                "senior_at_or_over": self.stage_bounds[1],
            }
            out["by_stage"] = [[list(cell) for cell in row] for row in self.by_stage]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CohortCourses:
        """The table :meth:`to_dict` wrote; an older one without ``by_stage`` still loads."""
        by_stage, bounds = None, None
        if "by_stage" in data:
            if [str(s) for s in data.get("stages", STAGES)] != list(STAGES):
                raise ValueError(f"cohorts: the stages must be {', '.join(STAGES)}.")
            by_stage = [[[str(c) for c in cell] for cell in row] for row in data["by_stage"]]
            edges = data["stage_bounds"]
            bounds = (float(edges["early_at_or_under"]), float(edges["senior_at_or_over"]))
        return cls(
            tracks=[str(t) for t in data["tracks"]],
            segment_ids=[int(s) for s in data["segment_ids"]],
            course=[[str(c) for c in row] for row in data["course"]],
            names={str(k): str(v) for k, v in data["names"].items()},
            by_stage=by_stage,
            stage_bounds=bounds,
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
