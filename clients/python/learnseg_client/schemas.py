"""What the service answers, as typed (pydantic) models, and where a batch run stands.

- `Assignment`: one placed learner (``POST /segment``, or an item of ``POST /segment/batch``).
- `CompactAssignment`: a placed batch item of ``?compact=true`` (who, which segment, track and
  course, how sure, which model): `Assignment` is a `CompactAssignment` with the figures too.
- `ItemError`: a batch item the service could not place, with the reason.
- `Explanation`: one learner explained (``POST /segment/explain``): its `Assignment`, with why
  (`WhyInput`), what would move them (`WhatIf`, `RequestChange`), where their career leads
  (`PathStep`) and how fine the what-ifs are (`Resolution`).
- `BatchChunk`: the results of one request of a batch run, and the `Checkpoint` after it.
- `ModelInfo`: the model being served (``GET /model``).
- `SegmentSummary`: one segment of ``GET /segments`` (a summary; ``segment_profile`` gives the
  full record).
- `Checkpoint`: where a batch run stands (the next learner's position and the pinned version):
  persist it, and resume with ``segment_stream(learners, start=cp.next_index,
  version=cp.version)``.

Every model keeps the fields the service adds that this client does not know yet (``extra``),
so a newer service loses nothing on the way: read them as attributes or in ``model_extra``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

__all__ = [
    "SENT",
    "Assignment",
    "BatchChunk",
    "Checkpoint",
    "CompactAssignment",
    "Explanation",
    "ItemError",
    "ModelInfo",
    "PathStep",
    "RequestChange",
    "Resolution",
    "Result",
    "RunnerUp",
    "SegmentSummary",
    "WhatIf",
    "WhyInput",
]

_ANSWER = ConfigDict(frozen=True, extra="allow")
#: The context key under which the client validates an answer with the learners it sent.
SENT = "learnseg_client.sent"


def _sent(info: ValidationInfo) -> tuple[int, Sequence[Mapping[str, Any]]] | None:
    """(position of the first, learners) of the request an answer is validated against."""
    context = info.context
    return context.get(SENT) if isinstance(context, dict) else None


def _numbered(value: int | None, info: ValidationInfo) -> int | None:
    """The service numbers a request's learners from 0; a run's chunk starts further on."""
    sent = _sent(info)
    return value if sent is None or value is None else value + sent[0]


def _echoed(value: str | None, info: ValidationInfo) -> str | None:
    """A learner's own field (``learner_id``, ``email_hash``): the service's echo, else the
    value the learner was sent with."""
    sent = _sent(info)
    if value is not None or sent is None or info.field_name is None:
        return value
    first, learners = sent
    index = info.data.get("index")
    position = 0 if index is None else index - first
    if not 0 <= position < len(learners):
        return None
    mine = learners[position].get(info.field_name)
    return None if mine is None else str(mine)


_ECHO = Field(default=None, validate_default=True)


class RunnerUp(BaseModel):
    """The second-nearest segment."""

    model_config = _ANSWER

    segment_id: int
    distance: float


class CompactAssignment(BaseModel):
    """A placed learner: its segment, macro-segment, track and course, how sure, which model.

    A batch run with ``compact=True`` yields these; a full answer is an `Assignment`, which has
    every field below too.

    Attributes
    ----------
    segment_id, segment_name : int, str
        The learner's segment.
    coarse_segment_id : int
        Its macro-segment.
    track : str
        The track of the learner's job title (``"unknown"`` without one, never guessed).
    course, course_name : str
        The catalogue course of the learner's cohort (segment x track).
    confidence : str
        ``"high"``, or ``"low"`` when the learner sits near the border of two segments.
    model_version : str
        The model that placed the learner (in a batch run: the run's pinned version).
    index : int or None
        In a batch: the learner's position in your learners (counted from the run's first one,
        so a resumed run goes on numbering); None for `LearnsegClient.segment`.
    learner_id, email_hash : str or None
        The learner's own id and email hash, as sent (echoed by the service, or taken from your
        learner when the service does not echo it); None when the learner had none.
    """

    model_config = _ANSWER

    segment_id: int
    segment_name: str
    coarse_segment_id: int
    track: str
    course: str
    course_name: str
    confidence: str
    model_version: str
    index: int | None = None
    learner_id: str | None = _ECHO
    email_hash: str | None = _ECHO

    number_in_run = field_validator("index")(_numbered)
    echo_learner = field_validator("learner_id", "email_hash")(_echoed)


class Assignment(CompactAssignment):
    """One learner's segment, track and course, how clear-cut it is, and what was cleaned on
    the way.

    Attributes
    ----------
    distance : float
        Distance to the segment's centre (in the model's scaled feature space).
    runner_up : RunnerUp or None
        The second-nearest segment; None when the model has one segment.
    margin, relative_margin : float or None
        How much nearer the segment is than the runner-up (absolute, and relative to the
        runner-up's distance); None without a runner-up.
    features : dict of str to float
        The learner's features as the model saw them.
    warnings : list of str
        One sentence per cleaning rule or fallback that touched the learner.
    """

    distance: float
    runner_up: RunnerUp | None
    margin: float | None
    relative_margin: float | None
    features: dict[str, float]
    warnings: list[str]

    @classmethod
    def from_dict(cls, data: Any) -> Assignment:
        """Build from the service's JSON object (`pydantic.ValidationError`, a `ValueError`,
        if it is not one)."""
        return cls.model_validate(data)


class WhyInput(BaseModel):
    """One clustering input of a placement, in business units.

    Attributes
    ----------
    input, label, unit : str
        The model's input, in words, and the unit of the three values.
    value, segment : float
        The learner's value, and the centre of the learner's segment.
    runner_up : float or None
        The runner-up segment's centre; None when the model has one segment.
    share_of_gap : float
        The input's share of the squared-distance gap between the runner-up and the segment
        (the shares sum to 1; a negative share pulls towards the runner-up).
    """

    model_config = _ANSWER

    input: str
    label: str
    unit: str
    value: float
    segment: float
    runner_up: float | None
    share_of_gap: float


class RequestChange(BaseModel):
    """What to send to ``segment`` (with the learner's other fields) to be placed in a what-if's
    segment: only the field that changes is set; `as_body` gives it as a body's fields."""

    model_config = _ANSWER

    ctc: float | None = None
    company_hash: str | None = None
    orgyear: int | None = None

    def as_body(self) -> dict[str, Any]:
        """The fields to set on the learner: ``{**learner, **change.as_body()}``."""
        return self.model_dump(exclude_none=True)


class WhatIf(BaseModel):
    """The smallest change along one input that moves the learner to another segment, or why
    there is none (`reason`; the destination and `request_change` are then None).

    Attributes
    ----------
    input : str
        ``"pay"``, ``"company_tier"``, ``"experience"`` or ``"track"``.
    direction : str or None
        ``"more"`` or ``"less"`` pay; a ``"better-paying"`` or ``"lower-paying"`` company;
        ``"more"`` years.
    segment_id, segment_name, course, course_name : int, str or None
        Where the change places the learner, and that segment's course for their track.
    change : str or None
        The change in words (``"INR 4.2 LPA more (+35 %)"``).
    amount, relative : float or None
        Pay: the change in INR a year, and as a fraction of the CTC.
    tier, years : int or None
        Company tier: the tier moved to; experience: the years that pass.
    request_change : RequestChange or None
        The replayable change.
    reason : str or None
        Why no change along this input moves the learner.
    """

    model_config = _ANSWER

    input: str
    direction: str | None
    segment_id: int | None
    segment_name: str | None
    course: str | None
    course_name: str | None
    change: str | None
    amount: float | None = None
    relative: float | None = None
    tier: int | None = None
    years: int | None = None
    request_change: RequestChange | None
    reason: str | None


class PathStep(BaseModel):
    """The learner's segment (and course) after `years` more years at the same relative pay."""

    model_config = _ANSWER

    years: int
    segment_id: int
    segment_name: str
    course: str
    course_name: str


class Resolution(BaseModel):
    """How fine each what-if is: a change smaller by that much does not move the learner."""

    model_config = _ANSWER

    pay: str
    company_tier: str
    experience: str


class Explanation(Assignment):
    """One learner's `Assignment` (as `LearnsegClient.segment` gives it), why they are in the
    segment, the smallest changes that would move them, and where their career leads.

    Attributes
    ----------
    why : list of WhyInput
        One per clustering input, in the model's order.
    what_if : list of WhatIf
        Pay more, pay less, company tier, experience, track (in that order).
    path : list of PathStep
        The segment after 1, 2, 3 and 5 more years (empty when experience is not an input).
    resolution : Resolution
        How fine the what-ifs are.
    """

    why: list[WhyInput]
    what_if: list[WhatIf]
    path: list[PathStep]
    resolution: Resolution


class ItemError(BaseModel):
    """A batch item the service could not place.

    Attributes
    ----------
    index : int
        The item's position in your learners (counted as `CompactAssignment.index` is).
    error : str
        Why, in one sentence.
    learner_id, email_hash : str or None
        The item's own id and email hash, when it carried them.
    """

    model_config = _ANSWER

    index: int
    error: str
    learner_id: str | None = _ECHO
    email_hash: str | None = _ECHO

    number_in_run = field_validator("index")(_numbered)
    echo_learner = field_validator("learner_id", "email_hash")(_echoed)


#: One result of a batch: a placed learner (full or compact) or the reason it was not placed.
Result = Assignment | CompactAssignment | ItemError


class Checkpoint(BaseModel):
    """Where a batch run stands: resume it with ``start=next_index, version=version``.

    Persist it as JSON (``checkpoint.model_dump_json()``, read back with
    ``Checkpoint.model_validate_json``).

    Attributes
    ----------
    next_index : int
        The position of the first learner without a result yet (the count of learners done,
        the skipped ``start`` included).
    version : str or None
        The model version the run is pinned to; None before the run knew it (no chunk answered
        yet, and none was asked for).
    """

    model_config = ConfigDict(frozen=True)

    next_index: int = Field(ge=0)
    version: str | None = None


class BatchChunk(BaseModel):
    """The results of one request of a batch run, in input order.

    Attributes
    ----------
    start : int
        The position of the chunk's first learner in your learners.
    version : str or None
        The version the run is pinned to (None only when no learner of the run was placed yet
        and none was asked for).
    results : list of Result
        One per learner of the chunk, in order (``results[i].index == start + i``).
    """

    model_config = ConfigDict(frozen=True)

    start: int
    version: str | None
    results: list[Assignment | CompactAssignment | ItemError]

    @property
    def next_index(self) -> int:
        """The position of the first learner after this chunk."""
        return self.start + len(self.results)

    @property
    def checkpoint(self) -> Checkpoint:
        """Where the run stands once this chunk is stored: resume from here."""
        return Checkpoint(next_index=self.next_index, version=self.version)


class ModelInfo(BaseModel):
    """The model being served, as ``GET /v1/model`` describes it (the server's ``ModelInfo``).

    Nested sections stay plain JSON (dicts and lists) so that a newer service's additions in
    them reach the caller as sent.
    """

    model_config = _ANSWER

    version: str
    k: int
    features: list[str]
    trained_at: str
    reference_year: int
    k_choice: dict[str, Any]
    data: dict[str, Any]
    metrics: dict[str, Any]
    library_versions: dict[str, str]
    pipeline_check: dict[str, Any]
    limits: dict[str, int] | None = Field(
        default=None, description="The service's limits (``max_batch``, ...)."
    )
    ids: dict[str, Any] | None = None
    churn: dict[str, Any] | None = None
    serving: dict[str, Any] | None = None
    tracks: list[dict[str, Any]] | None = None
    courses: list[dict[str, Any]] | None = None

    @property
    def max_batch(self) -> int | None:
        """Learners one ``POST /segment/batch`` takes at most (None when not said)."""
        return None if self.limits is None else self.limits.get("max_batch")


class SegmentSummary(BaseModel):
    """One segment of ``GET /v1/segments`` (the server's ``SegmentSummary``); a macro-segment
    (``level="coarse"``) lists its fine ``segments``."""

    model_config = _ANSWER

    id: int
    name: str
    size: int
    share: float
    center: dict[str, float]
    ctc_lpa: dict[str, Any]
    years_experience: dict[str, Any]
    recommendations: list[str]
    name_words: list[dict[str, Any]] = Field(default_factory=list)
    coarse_segment_id: int | None = None
    course_map: list[dict[str, Any]] | None = None
    segments: list[int] | None = None
