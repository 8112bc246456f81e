"""Request and response models of the segment service, and batch parsing.

Requests are validated at the edge (``extra="forbid"``, bounds, finite numbers, string lengths):
a learner that passes is one the cleaning rules can place. Absurd but numeric years (``orgyear``
20165) pass on purpose: the rules repair or impute them and say so in ``warnings``.

Responses are built from the :class:`~service.segmenter.Segmenter` dicts and serialised with
orjson (``JSONBytes``); the response models below document them in OpenAPI, and the tests check
that every response conforms. The JSON of a placement is defined once, by
:class:`~service.segmenter.Assignment` (``FIELDS``, in order): :class:`SegmentResult` and
:class:`RunnerUp` document those keys, in that order, or this module refuses to import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator
from pydantic_core import ErrorDetails

from service.segmenter import WHAT_IF_FIELDS, Assignment
from training.runtime.artifacts import KERNEL_JSON, LATEST_FILE
from training.runtime.placement import LIMITS
from training.runtime.schema import RAW_FIELDS

__all__ = [
    "BODY_COMPONENTS",
    "COURSE_DESCRIPTION",
    "JUNK_LEARNER_EXAMPLE",
    "LEARNER_EXAMPLE",
    "LEARNER_ID_DESCRIPTION",
    "TRACK_DESCRIPTION",
    "Action",
    "BatchAssigned",
    "BatchCompactAssigned",
    "BatchItemError",
    "BatchRequest",
    "BatchResponse",
    "Center",
    "Cohort",
    "CompactResult",
    "CompanyShare",
    "CourseInfo",
    "Ctc",
    "DataInfo",
    "DataQuality",
    "DriftBands",
    "DriftFigures",
    "DriftInfo",
    "ErrorDetail",
    "FeatureDrift",
    "FieldError",
    "GroupShare",
    "HierarchicalMatch",
    "Learner",
    "Level",
    "Live",
    "ModelInfo",
    "ModelSummary",
    "NameWord",
    "NearestSegment",
    "PayQuartileShares",
    "PeerShares",
    "PipelineCheck",
    "ProfileAction",
    "Range",
    "Ready",
    "ReloadRequest",
    "ReloadResult",
    "RunnerUp",
    "SegmentList",
    "SegmentProfile",
    "SegmentResult",
    "SegmentShare",
    "SegmentSummary",
    "Serving",
    "Text",
    "TrackCourse",
    "TrackInfo",
    "TrackShare",
    "ValidationErrors",
    "Verdict",
    "Year",
    "describe_item_error",
    "learner_columns",
    "openapi_body",
    "parse_batch",
    "parse_learner",
]

# Numbers are JSON numbers only (a string or a boolean is refused, not coerced), finite. The
# bounds are the runtime's (training.runtime.placement.LIMITS), which `python -m training
# assign` checks table rows against too.
Year = Annotated[float, Strict(), Field(ge=LIMITS.year_min, le=LIMITS.year_max)]
Ctc = Annotated[float, Strict(), Field(gt=0, le=LIMITS.ctc_max)]
Text = Annotated[str, Field(max_length=LIMITS.text_max)]
Level = Literal["segment", "coarse"]
LEARNER_ID_DESCRIPTION = (
    "Your own id of the learner (any string of at most 128 characters): echoed in the answer "
    "(POST /segment) or in the learner's result or error (POST /segment/batch, compact too), "
    "absent when not sent; never used for placing, stored or logged."
)
#: The learner_id of an answer: there when the learner sent one, absent otherwise.
_ECHOED_ID = Field(
    default=None,
    description="The learner_id the request sent, echoed (absent when none was sent).",
    examples=["u-123"],
)

LEARNER_EXAMPLE: dict[str, Any] = {
    "company_hash": "bxwqgogen",
    "orgyear": 2016,
    "ctc": 1_100_000,
    "job_position": "Backend Engineer",
    "ctc_updated_year": 2020,
    "email_hash": "6de0a4417d18ab14334c3f43397fc13b30c35149d70c0515ab9f8c1b6e1d5b12",
    "learner_id": "u-123",
}
JUNK_LEARNER_EXAMPLE: dict[str, Any] = {
    "company_hash": "zz unknown co",
    "orgyear": 20165,
    "ctc": 2,
    "job_position": "Not Available",
}


class Learner(BaseModel):
    """One learner, with the raw field names of the learner table."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={"examples": [LEARNER_EXAMPLE]},
    )

    company_hash: Text | None = Field(
        default=None, description="Employer id (anonymised); unknown ones fall back to peers."
    )
    orgyear: Year | None = Field(
        default=None,
        description="Year the learner started working; typos (20165) are repaired, "
        "implausible years imputed, with a warning.",
    )
    ctc: Ctc = Field(description="Current yearly pay in INR (> 0, at most 1e12).")
    job_position: Text | None = Field(
        default=None, description="Job title as the learner wrote it."
    )
    ctc_updated_year: Year | None = Field(default=None, description="Year ctc was last updated.")
    email_hash: Annotated[str, Field(max_length=LIMITS.email_max)] | None = Field(
        default=None,
        description="Learner id: echoed in a batch answer so results can be matched by learner; "
        "never used for placing, stored or logged.",
    )
    learner_id: Annotated[str, Field(max_length=LIMITS.learner_id_max)] | None = Field(
        default=None,
        description=LEARNER_ID_DESCRIPTION,
        examples=["u-123"],
    )

    def raw(self) -> dict[str, Any]:
        """The fields the segmenter reads (never ``email_hash`` nor ``learner_id``)."""
        values = self.__dict__
        return {name: values[name] for name in RAW_FIELDS}


def learner_columns(learners: Sequence[Learner]) -> dict[str, list[Any]]:
    """The fields the segmenter reads, as columns (``RAW_FIELDS``, one value per learner)."""
    rows = [learner.__dict__ for learner in learners]
    return {name: [row[name] for row in rows] for name in RAW_FIELDS}


class BatchRequest(BaseModel):
    """Many learners (documentation model: the batch route parses the raw body itself).

    An item need not be a valid learner: it then gets ``{"index": i, "error": ...}`` in the
    200 response while the others are placed, so the schema says "a learner, or any JSON value"
    (a client generating requests from the schema must expect a 200 for such an item, not 422).
    """

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"learners": [LEARNER_EXAMPLE]}]}
    )

    learners: list[
        Annotated[
            Learner | Any,
            Field(
                union_mode="left_to_right",
                description="A learner; any other value is answered with an error at its index.",
            ),
        ]
    ] = Field(description="At most max_batch (10,000) learners.")


class _BatchEnvelope(BaseModel):
    """What the batch route validates: the envelope strictly, each item as a learner if it can.

    An item that is not a valid learner is kept as its raw JSON value (left-to-right union), so
    one bad item never fails the whole batch; :func:`describe_item_error` says what is wrong.
    """

    model_config = ConfigDict(extra="forbid")

    learners: list[Annotated[Learner | Any, Field(union_mode="left_to_right")]]


def parse_learner(body: bytes) -> Learner:
    """The learner of a ``POST /segment`` body.

    Raises ``RequestValidationError`` (FastAPI's 422 list, locations under ``body``) for an
    empty body, invalid JSON, a value that is not an object, or a field that breaks the rules.
    """
    if not body.strip():
        raise _missing_body()
    try:
        return Learner.model_validate_json(body)
    except ValidationError as exc:
        raise _request_error(exc) from None


def parse_batch(body: bytes) -> list[Learner | Any]:
    """The items of a batch body, valid ones as :class:`Learner`, others as raw JSON values.

    Raises ``RequestValidationError`` (FastAPI's 422 list) when the body itself is wrong:
    empty, not JSON, not an object, no ``learners`` list, or an unknown top-level field.
    """
    if not body.strip():
        raise _missing_body()
    try:
        return _BatchEnvelope.model_validate_json(body).learners
    except ValidationError as exc:
        raise _request_error(exc) from None


def describe_item_error(item: Any) -> str:
    """One sentence saying why a batch item is not a valid learner (field: message; ...)."""
    try:
        Learner.model_validate(item)
    except ValidationError as exc:
        return "; ".join(_describe(error) for error in exc.errors(include_url=False))
    return "The item is not a valid learner."  # valid in Python but not as JSON: not expected


def _missing_body() -> RequestValidationError:
    return RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])


def _request_error(exc: ValidationError) -> RequestValidationError:
    return RequestValidationError(
        [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
    )


#: Request-body models the POST routes document by hand (see :func:`openapi_body`), as OpenAPI
#: components: ``create_app`` adds them to the document, so each has one name (``Learner``).
BODY_COMPONENTS: dict[str, Any] = {}
_COMPONENT_REF = "#/components/schemas/{model}"


def openapi_body(model: type[BaseModel], examples: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON request body of `model` (a component), with examples.

    The POST routes read their raw body and validate it with ``model_validate_json`` (faster,
    and the same JSON rules for one learner and for a batch), so FastAPI cannot see the model:
    its schema and the schemas it uses are registered in :data:`BODY_COMPONENTS`.
    """
    schema = model.model_json_schema(ref_template=_COMPONENT_REF)
    BODY_COMPONENTS.update(schema.pop("$defs", {}))
    BODY_COMPONENTS[model.__name__] = schema
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": _COMPONENT_REF.format(model=model.__name__)},
                    "examples": {
                        name: {"summary": name, "value": value} for name, value in examples.items()
                    },
                }
            },
        }
    }


def _describe(error: ErrorDetails) -> str:
    if not error["loc"]:
        return "The item must be a JSON object holding one learner (ctc at least)."
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}"


# ---------------------------------------------------------------------------------- responses
TRACK_DESCRIPTION = (
    "The learner's track, from the job title (the model's title -> track map, "
    "docs/courses.md): backend, fullstack, frontend, mobile, data, devops, qa, leadership, "
    "support, product, other (a title no pattern matches) or unknown (no title, or a "
    "placeholder such as 'Not Available': never guessed)."
)
COURSE_DESCRIPTION = (
    "The catalogue course of the learner's cohort (segment x track), chosen at training from "
    "the cohort's figures (docs/courses.md); a learner without a title gets the commonest "
    "course of the segment's titled learners."
)


class RunnerUp(BaseModel):
    """The second-nearest segment."""

    segment_id: int
    distance: float


class SegmentResult(BaseModel):
    """A learner's segment, how sure, the features used and what was cleaned on the way."""

    learner_id: str | None = _ECHOED_ID
    segment_id: int = Field(description="Fine segment id.")
    segment_name: str
    coarse_segment_id: int = Field(description="Macro-segment the fine segment belongs to.")
    track: str = Field(description=TRACK_DESCRIPTION, examples=["backend", "data", "unknown"])
    course: str = Field(description=COURSE_DESCRIPTION, examples=["software-development"])
    course_name: str = Field(
        description="The course's name for people.",
        examples=["Software development: DSA and system design"],
    )
    distance: float = Field(description="Distance to the segment centre (scaled features).")
    runner_up: RunnerUp | None = Field(description="Next-nearest segment (None when k = 1).")
    margin: float | None = Field(description="runner_up.distance - distance; small = borderline.")
    relative_margin: float | None = Field(
        description="(runner_up.distance - distance) / runner_up.distance: 0 exactly between two "
        "segments, towards 1 deep inside this one (None when k = 1)."
    )
    confidence: Literal["high", "low"] = Field(
        description="'low' when relative_margin is under the threshold learned at training (the "
        "training learners' 10th percentile by default): the learner is nearly as close to the "
        "runner-up segment; treat the placement as tentative."
    )
    features: dict[str, float] = Field(
        description="The engineered features the model placed the learner by (its own "
        "features, before clipping and scaling), in the model's order."
    )
    warnings: list[str] = Field(description="Repairs, imputations and peer-group fallbacks.")
    model_version: str

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "learner_id": "u-123",
                    "segment_id": 0,
                    "segment_name": "Mid-level, mid-range pay",
                    "coarse_segment_id": 0,
                    "track": "backend",
                    "course": "software-development",
                    "course_name": "Software development: DSA and system design",
                    "distance": 3.649,
                    "runner_up": {"segment_id": 1, "distance": 5.569},
                    "margin": 1.919,
                    "relative_margin": 0.345,
                    "confidence": "high",
                    "features": {
                        "years_experience": 6.0,
                        "pay_vs_experience": 0.021,
                        "company_tier": 2.0,
                    },
                    "warnings": [
                        "ctc 2 cannot be a yearly salary: imputed as 1100000 from learners who "
                        "started working the same year",
                        "orgyear 20165 looks like a typo: read as 2016",
                        "company not seen in training (or too few learners): its pay level is "
                        "unknown and counted as the population's",
                    ],
                    "model_version": "20261128-182409",
                }
            ]
        }
    )


def _check_documents(model: type[BaseModel], keys: tuple[str, ...]) -> None:
    """Refuse to import when a response model names other keys than the service writes."""
    if tuple(model.model_fields) != keys:
        raise ImportError(
            f"{model.__name__} documents {tuple(model.model_fields)}, but a placement's JSON "
            f"has {keys} (service.segmenter.Assignment)."
        )


_check_documents(SegmentResult, ("learner_id", *Assignment.FIELDS))
_check_documents(RunnerUp, Assignment.RUNNER_UP_FIELDS)


_ECHOED = Field(
    default=None,
    description="The learner's email_hash, echoed when the request sent one (absent otherwise).",
)


_INDEX = Field(
    description="The item's position in the request's learners, counted from 0 (python -m "
    "training assign numbers its rows the same way)."
)


class BatchAssigned(SegmentResult):
    """A valid batch item: its index in the request and its segment."""

    index: int = _INDEX
    email_hash: str | None = _ECHOED


class CompactResult(BaseModel):
    """A valid batch item with ``compact=true``: who, which segment, track and course, how sure,
    which model."""

    segment_id: int = Field(description="Fine segment id.")
    segment_name: str
    coarse_segment_id: int = Field(description="Macro-segment the fine segment belongs to.")
    track: str = Field(description=TRACK_DESCRIPTION, examples=["backend", "data", "unknown"])
    course: str = Field(description=COURSE_DESCRIPTION, examples=["software-development"])
    course_name: str = Field(description="The course's name for people.")
    confidence: Literal["high", "low"]
    model_version: str


_check_documents(CompactResult, Assignment.COMPACT_FIELDS)


class BatchCompactAssigned(CompactResult):
    """A valid batch item with ``compact=true``: its index in the request and its segment."""

    index: int = _INDEX
    learner_id: str | None = _ECHOED_ID
    email_hash: str | None = _ECHOED


class BatchItemError(BaseModel):
    """An invalid batch item: its index in the request and what is wrong, in one sentence."""

    index: int = _INDEX
    learner_id: str | None = Field(
        default=None,
        description="The item's learner_id when it sent a usable one (a string of at most 128 "
        "characters), echoed; absent otherwise.",
    )
    email_hash: str | None = _ECHOED
    error: str = Field(examples=["ctc: Input should be greater than 0"])


class BatchResponse(BaseModel):
    """One result per learner, in input order (compact ones with ``compact=true``)."""

    results: list[BatchAssigned | BatchCompactAssigned | BatchItemError]


class Range(BaseModel):
    """10th, 50th and 90th percentiles."""

    p10: float
    p50: float
    p90: float


class NameWord(BaseModel):
    """One word of a segment's name, the rule that gives it and the figure that met the rule."""

    word: str = Field(examples=["top pay"])
    kind: str = Field(
        description="The clustering input the word states (years_experience, pay_vs_experience, "
        "company_tier, ...), track (a track that stands out), or typical (nothing stands out)."
    )
    rule: str = Field(examples=["at least half in the top pay quartile of all learners"])
    figure: str = Field(examples=["77 % earn INR 17 LPA or more"])


class TrackCourse(BaseModel):
    """The course a placement in the segment answers for learners on one track."""

    track: str = Field(description="A track id (other and unknown included).", examples=["data"])
    track_name: str = Field(examples=["Data & ML"])
    course: str = Field(
        description="The catalogue id of the course (GET /model lists the catalogue).",
        examples=["data-science-ml"],
    )
    course_name: str = Field(examples=["Data science and machine learning"])
    by_stage: dict[str, str] | None = Field(
        default=None,
        description="The course a learner on the track gets at each of its own career stages "
        "(early, mid, senior: its own years of experience, see career_stages); null for a model "
        "trained before courses followed the learner's stage (then every learner gets course).",
        examples=[
            {
                "early": "data-science-ml",
                "mid": "data-science-ml",
                "senior": "engineering-leadership",
            }
        ],
    )


class SegmentSummary(BaseModel):
    """A segment at a glance (the full profile is at /segments/{id})."""

    model_config = ConfigDict(extra="allow")

    id: int
    name: str
    size: int = Field(description="Learners of the training data in the segment.")
    share: float
    center: dict[str, float]
    ctc_lpa: Range
    years_experience: Range
    name_words: list[NameWord] = Field(
        default_factory=list, description="Why the segment has its name, word by word."
    )
    recommendations: list[str]
    coarse_segment_id: int | None = Field(default=None, description="Fine segments only.")
    course_map: list[TrackCourse] | None = Field(
        default=None,
        description="Fine segments only: the course a placement in the segment answers for "
        "each track, every track of the model in its order (the same course POST /segment "
        "answers a learner of the segment on that track).",
    )
    segments: list[int] | None = Field(
        default=None, description="Macro-segments only: the fine segments in it."
    )


class Action(BaseModel):
    """A recommendation, the segment (or macro-segment) it is for, the figure that fired it and
    its reach."""

    model_config = ConfigDict(extra="allow")

    level: Literal["segment", "macro-segment"] = Field(
        default="segment",
        description="What the action is for: a segment, or a macro-segment that stands in for "
        "segments too unstable to act on one by one (bootstrap stability under 0.75).",
    )
    segment_id: int | None = Field(description="The segment; None for a macro-segment's action.")
    segment_name: str = Field(description="The name of the segment or macro-segment.")
    coarse_segment_id: int | None = Field(
        default=None, description="The macro-segment, for a macro-segment's action."
    )
    segments: list[int] | None = Field(
        default=None, description="The segments of the macro-segment, for its action."
    )
    rule: str = Field(description="The catalogue rule (docs/recommendations.md).")
    text: str
    reach: int = Field(description="Learners the figure counts.")


class ModelSummary(BaseModel):
    """What to read first: the segments by size and the three actions to take first."""

    segments: list[dict[str, Any]] = Field(description="id, name and share, largest first.")
    actions: list[Action]


class SegmentList(BaseModel):
    segments: list[SegmentSummary]
    summary: ModelSummary | None = Field(
        default=None, description="The model's summary (as the report opens with)."
    )
    population: dict[str, Any] | None = Field(
        default=None,
        description="All learners' figures the segments are compared with (medians, quartiles).",
    )


class Center(BaseModel):
    """The segment's median learner."""

    years_experience: float
    ctc_inr: float
    ctc_lpa: float


class GroupShare(BaseModel):
    """A value's share of the segment and its lift over all learners (share / their share)."""

    name: str
    share: float
    lift: float


class CompanyShare(GroupShare):
    """A company (hashed, as in the data) and its learners in the segment."""

    learners: int


class PeerShares(BaseModel):
    """Shares of the segment paid above, at and below their peers."""

    above: float
    at: float
    below: float


class DataQuality(BaseModel):
    """How much of the segment rests on missing or imputed values."""

    no_title_share: float
    no_title_expected_share: float = Field(
        description="The share without a title expected from the segment's experience mix."
    )
    no_title_ratio: float
    ctc_imputed_share: float = Field(description="CTC not a yearly salary, imputed.")
    company_imputed_share: float = Field(
        description="Company unknown: no company named, or one with too few learners in "
        "training; its tier is not counted in any tier figure."
    )
    company_unnamed_share: float | None = Field(
        default=None, description="No company named at all (missing or unreadable)."
    )


class PayQuartileShares(BaseModel):
    """Shares of the segment in all learners' bottom and top pay quartiles."""

    bottom: float
    top: float


class NearestSegment(BaseModel):
    id: int
    distance: float


class HierarchicalMatch(BaseModel):
    """The hierarchical reference's cluster that best matches the segment, and their Jaccard."""

    match: int | None = None
    jaccard: float | None = None


class ProfileAction(BaseModel):
    """A recommendation for the segment, the figure that fired it and its reach."""

    rule: str = Field(description="The catalogue rule (docs/recommendations.md).")
    text: str
    figure: float
    threshold: float
    reach: int = Field(description="Learners the figure counts.")
    score: float = Field(description="reach x figure / threshold: how actions are ranked.")
    programme: str | None = Field(
        default=None, description="The catalogue career service the action offers (its id)."
    )
    programme_name: str | None = None
    family: str | None = Field(
        default=None, description="The programme family: a segment gets one action of a family."
    )
    basis: int | None = Field(
        default=None, description="Learners the figure was measured on (its denominator)."
    )
    small: bool | None = Field(
        default=None, description="Measured on fewer than 30 learners: never ranked first."
    )


class Cohort(BaseModel):
    """The learners of the segment on one track, and the course chosen for them."""

    track: str = Field(description="A track id (other and unknown included).")
    learners: int = Field(description="Training learners of the segment on the track.")
    share: float = Field(description="Their share of the segment.")
    median_ctc_lpa: float | None = Field(description="Their median CTC in LPA (null: none).")
    course: str = Field(
        description="The catalogue course of the cohort at the segment's career stage (its "
        "typical learner); a placement answers the course of by_stage at the learner's own stage."
    )
    course_name: str
    by_stage: dict[str, str] | None = Field(
        default=None,
        description="Career stage (early, mid, senior) -> the course a learner of the cohort at "
        "that stage of its own gets (what placements answer); null for an older model.",
    )
    learners_by_stage: dict[str, int] | None = Field(
        default=None,
        description="The cohort's learners at each of their own career stages (null: not "
        "counted, an older model or the Spark engine).",
    )
    low_confidence_by_stage: dict[str, int] | None = Field(
        default=None, description="Of them, those placed with low confidence, stage by stage."
    )
    why: str = Field(
        description="The figures that justify the course, in one sentence.",
        examples=[
            "412 learners on Data & ML, segment median 9.0 years (senior: at least 8 years): "
            "Engineering leadership and architecture."
        ],
    )
    low_confidence: int = Field(description="Learners of the cohort placed with low confidence.")
    small: bool = Field(description="Fewer than 30 learners: a figure not to rank or act on.")


class SegmentProfile(BaseModel):
    """Everything training learned about a segment or a macro-segment (profiles.json).

    ``top_role_families`` and ``dominant_family`` are deprecated aliases of ``top_tracks`` and
    ``dominant_track`` (the same values), kept for callers of the earlier API.
    """

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        """The deprecated names answer the values of the new ones."""
        if isinstance(data, dict) and "top_tracks" in data:
            data = {
                **data,
                "top_role_families": data["top_tracks"],
                "dominant_family": data.get("dominant_track"),
            }
        return data

    id: int
    name: str
    name_words: list[NameWord] = Field(default_factory=list)
    size: int
    share: float
    center: Center
    years_experience: Range
    ctc_inr: Range
    ctc_lpa: Range
    ctc_percentile: float = Field(description="All learners paid at most the median, in %.")
    top_tracks: list[GroupShare] = Field(
        description="The commonest tracks (job profiles) and their lift over all learners."
    )
    company_tiers: list[GroupShare]
    feature_z: dict[str, float] = Field(description="Mean of each feature as a z-score.")
    pay_vs_peers_median: float
    incomplete_share: float
    incomplete_lift: float
    data_quality: DataQuality
    pay_quartile_shares: PayQuartileShares
    experience_shares: dict[str, float] = Field(description="By years: 0-2, 3-4, ..., 14+.")
    company_tier_shares: dict[str, float]
    peer_flags: dict[str, PeerShares] = Field(
        description="designation (company x title peers), class (title), tier (company)."
    )
    below_experience_share: float = Field(
        description="Paid at least 20 % less than the median learner with their experience."
    )
    above_experience_share: float | None = Field(
        default=None,
        description="Paid at least 25 % more than the median learner with their experience.",
    )
    company_known: int | None = Field(
        default=None,
        description="Learners whose company is known (named, with enough learners in training): "
        "every tier figure counts only them.",
    )
    company_known_share: float | None = Field(
        default=None, description="Their share of the segment."
    )
    track_shares_known: dict[str, float] | None = Field(
        default=None, description="Each track's share among the learners with a known title."
    )
    no_action: str | None = Field(default=None, description="Why no action fires, when none does.")
    method_caveat: str | None = Field(
        default=None,
        description="Segments only: set when the second (hierarchical) method splits the "
        "segment; the report writes it beside every action.",
    )
    ctc_years: dict[str, int] = Field(description="Learners by the year CTC was last updated.")
    top_companies: list[CompanyShare]
    known_titles: int
    dominant_track: GroupShare | None = Field(
        default=None, description="The commonest track among known titles, with its lift."
    )
    top_role_families: list[GroupShare] | None = Field(
        default=None,
        deprecated=True,
        description="Deprecated alias of top_tracks (the same values; role families became "
        "tracks): read top_tracks.",
    )
    dominant_family: GroupShare | None = Field(
        default=None,
        deprecated=True,
        description="Deprecated alias of dominant_track (the same value): read dominant_track.",
    )
    career_stage: Literal["early", "mid", "senior"] | None = Field(
        default=None,
        description="Segments only: the segment's median experience against all learners' "
        "quartiles (early at or under the 25th percentile, senior at or over the 75th).",
    )
    cohorts: list[Cohort] | None = Field(
        default=None,
        description="Segments only: the segment's learners by track (largest first, every "
        "track), each cohort with its course and the figures why (docs/courses.md).",
    )
    actions: list[ProfileAction]
    recommendations: list[str]
    nearest_segment: NearestSegment | None = Field(default=None, description="Segments only.")
    silhouette: float | None = Field(default=None, description="Segments only.")
    hierarchical_match: HierarchicalMatch | None = Field(default=None, description="Segments only.")
    coarse_segment_id: int | None = Field(default=None, description="Segments only.")
    low_confidence_share: float | None = Field(
        default=None, description="Segments only: learners placed with low confidence."
    )
    segments: list[int] | None = Field(
        default=None, description="Macro-segments only: the segments in it."
    )


class TrackInfo(BaseModel):
    """A track of the model's title -> track map."""

    id: str
    name: str
    pattern: str | None = Field(
        description="The regular expression over the folded title (null for other and unknown)."
    )


class CourseInfo(BaseModel):
    """An entry of the school's catalogue: a course (what placements answer) or a career
    service (what actions offer), and what it fits."""

    id: str = Field(examples=["data-science-ml"])
    name: str = Field(examples=["Data science and machine learning"])
    kind: Literal["course", "career service"] | None = Field(
        default=None,
        description="A course is chosen per cohort (segment x track) and answered by "
        "placements; a career service is offered by a segment's actions (null: a model "
        "trained before the catalogue was stored).",
    )
    family: str | None = Field(
        default=None, description="Its programme family: a segment gets one action of a family."
    )
    tracks: list[str] | None = Field(
        default=None,
        description='The tracks it fits ("*": every track).',
        examples=[["data"]],
    )
    stages: list[Literal["early", "mid", "senior"]] | None = Field(
        default=None,
        description="The career stages it fits (empty: every stage; a segment's stage is its "
        "career_stage).",
    )
    description: str | None = Field(default=None, description="What it teaches or offers.")
    cohorts: int = Field(
        description="Cohorts (segment x track) of this model whose course it is: 0 for a career "
        "service or a course no cohort got."
    )


class DataInfo(BaseModel):
    """The table the model was trained on: its name and fingerprint, never where it lives."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(
        default=None,
        description="The table's file name (learners.csv), a URL's host and file name "
        "(data.example.com/learners.csv), or 'embedded default'; never a folder, a query "
        "string or credentials.",
        examples=["learners.csv", "embedded default"],
    )
    source: str = Field(
        description="The same as name (it once held the training file's path, which is no "
        "longer shown)."
    )
    fingerprint: str = Field(description="SHA-256 of the training table.")
    rows: int
    learners: int


class PipelineCheck(BaseModel):
    """How the model's numpy kernel and its fitted pipeline agreed when it was loaded."""

    probes: int = Field(description="Probe learners stored with the model at training.")
    agree: int = Field(
        description=f"Probes placed alike by the kernel, pipeline.predict, {KERNEL_JSON} and "
        "the centres recorded at training (a model is loaded only when all agree)."
    )


class Serving(BaseModel):
    """What this process serves: the version unpinned requests get, and the versions held."""

    version: str | None = Field(description="The version served when none is asked for.")
    loaded_versions: list[str] = Field(
        description="Versions a request may pin with ?version= (the served one first)."
    )
    follows_latest: bool = Field(
        description=f"Whether a new models/{LATEST_FILE} is served as it lands."
    )
    poll_seconds: float = Field(
        description=f"How often {LATEST_FILE} and the reload signal are read."
    )


class ModelInfo(BaseModel):
    """The model being served (or the pinned one, with ?version=)."""

    model_config = ConfigDict(extra="allow")

    version: str
    k: int
    k_choice: dict[str, Any]
    limits: dict[str, int] | None = Field(
        default=None,
        description="What one request may carry: max_batch (learners in a batch) and "
        "max_body_bytes.",
    )
    ids: dict[str, Any] | None = Field(
        default=None,
        description="How segment ids were kept: the version they were matched to (null: "
        "numbered by size), and why.",
    )
    churn: dict[str, Any] | None = Field(
        default=None,
        description="Learners that change segment from the model the ids were kept from to this "
        "one: previous_version, rows, placed, moved, share_moved, and measures, a sentence "
        "saying exactly what is counted (each training-table row placed end to end by both "
        "models, as `python -m training diff` does); only previous_version and measures when "
        "not measured, and why.",
    )
    serving: Serving | None = None
    features: list[str]
    trained_at: str
    reference_year: int
    data: DataInfo
    metrics: dict[str, Any]
    library_versions: dict[str, str]
    pipeline_check: PipelineCheck
    tracks: list[TrackInfo] | None = Field(
        default=None,
        description="The model's title -> track map, in match order (the first pattern that "
        "matches a folded title wins), then other and unknown.",
    )
    courses: list[CourseInfo] | None = Field(
        default=None,
        description="The school's catalogue the model was trained with, in its order: every "
        "course (placements answer the one of their cohort) and career service, what each "
        "fits, and how many cohorts got it (docs/courses.md).",
    )


Verdict = Literal["stable", "moderate", "major", "no_data"]


class FeatureDrift(BaseModel):
    """One model feature: its PSI against the training population, and what that means."""

    feature: str
    psi: float | None = Field(
        description="Population stability index of the placements counted (over the training "
        "deciles); None before any placement."
    )
    verdict: Verdict = Field(description="below 0.1 stable, 0.1-0.25 moderate, 0.25+ major.")


class SegmentShare(BaseModel):
    """One segment: its share of the training learners and of the placements counted."""

    segment_id: int
    training_share: float
    served_share: float | None = Field(description="None before any placement.")


class TrackShare(BaseModel):
    """One track (job profile): its share of the training learners and of those placed."""

    track: str = Field(description="A track id (other and unknown included).")
    training_share: float | None = Field(
        description="Share of the training learners (null: a model without cohorts)."
    )
    served_share: float | None = Field(description="Share of the placements; None before any.")


class DriftFigures(BaseModel):
    """Drift figures of a set of placements (the window, or everything since start)."""

    count: int = Field(description="Placements counted.")
    verdict: Verdict = Field(description="The worst feature's verdict.")
    features: list[FeatureDrift]
    segments: list[SegmentShare]
    tracks: list[TrackShare] = Field(
        default_factory=list,
        description="Every track of the model: a rise of unknown means learners arrive "
        "without a usable job title (alert LearnsegUnknownTitlesRise).",
    )


class DriftBands(BaseModel):
    moderate: float
    major: float


class DriftInfo(BaseModel):
    """Drift of the learners placed by this process since the model was loaded."""

    model_version: str
    window_size: int = Field(description="Latest placements the window covers (at most).")
    bands: DriftBands
    window: DriftFigures
    since_start: DriftFigures


class ReloadRequest(BaseModel):
    """Which version to load; none = the one ``LATEST`` names."""

    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
        examples=["20261128-182409"],
    )


class ReloadResult(BaseModel):
    version: str
    k: int
    previous_version: str | None


class Live(BaseModel):
    status: Literal["alive"] = "alive"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    model_version: str


class ErrorDetail(BaseModel):
    """Every error but a 422: one clear sentence."""

    detail: str


class FieldError(BaseModel):
    """One invalid field (pydantic's error, without the ``input`` value)."""

    type: str = Field(examples=["greater_than"])
    loc: list[str | int] = Field(examples=[["body", "ctc"]])
    msg: str = Field(examples=["Input should be greater than 0"])
    ctx: dict[str, Any] | None = Field(default=None, examples=[{"gt": 0.0}])


class ValidationErrors(BaseModel):
    """A 422: FastAPI's list of field errors; inputs are never echoed (they may hold ids)."""

    detail: list[FieldError]


# ------------------------------------------------------------------------------------ explain
class WhyInput(BaseModel):
    """One clustering input of a placement: the learner's value, its segment's centre and the
    runner-up's, in business units, and its share of the gap between the two."""

    input: str = Field(description="The model's input (feature) name.", examples=["log_ctc"])
    label: str = Field(description="The input in words.", examples=["Pay (CTC)"])
    unit: str = Field(
        description="The unit of value, segment and runner_up: years, INR LPA, '% above (-: "
        "below)' for pay against peers (a log ratio as a percentage), tier, class, learners.",
        examples=["INR LPA"],
    )
    value: float = Field(description="The learner's value (before clipping).", examples=[11.0])
    segment: float = Field(description="The centre of the learner's segment.", examples=[9.4])
    runner_up: float | None = Field(
        description="The centre of the runner-up segment (None when k = 1).", examples=[18.2]
    )
    share_of_gap: float = Field(
        description="This input's share of the squared-distance gap between the runner-up "
        "centre and the segment's (the shares sum to 1; a negative share pulls towards the "
        "runner-up; 0 when k = 1).",
        examples=[0.82],
    )


class RequestChange(BaseModel):
    """The fields of the ``POST /segment`` body that, set to these values (the others as sent),
    place the learner in the what-if's segment: only the field that changes is present."""

    model_config = ConfigDict(extra="forbid")

    ctc: float | None = Field(
        default=None, description="The new yearly pay in INR (whole rupees).", examples=[1_520_000]
    )
    company_hash: str | None = Field(
        default=None,
        description="A training company of the other tier (the one with the most learners).",
        examples=["vbvkgz"],
    )
    orgyear: int | None = Field(
        default=None,
        description="An earlier start year: the same learner n years later.",
        examples=[2014],
    )


class WhatIf(BaseModel):
    """The smallest change along one input that places the learner in another segment, or why
    there is none (then every field but input, direction and reason is None)."""

    input: Literal["pay", "company_tier", "experience", "track"] = Field(
        description="What changes: pay (up, and down, within the CTC range the model keeps), "
        "the company's tier (a company of another tier), experience (years passing at the same "
        "CTC), track (never moves the segment: the track is not an input of the model)."
    )
    direction: Literal["more", "less", "better-paying", "lower-paying"] | None = Field(
        description="more or less pay; a better- or lower-paying company tier; more years."
    )
    segment_id: int | None = Field(description="The segment the change places the learner in.")
    segment_name: str | None = Field(description="That segment's name.")
    course: str | None = Field(description="That segment's course for the learner's track.")
    course_name: str | None = Field(description="The course's name for people.")
    change: str | None = Field(
        description="The change in words.", examples=["INR 4.2 LPA more (+35 %)"]
    )
    amount: float | None = Field(
        description="Pay: the change in INR a year (signed, whole rupees); None otherwise."
    )
    relative: float | None = Field(
        description="Pay: the change as a fraction of the learner's CTC (0.35 = +35 %)."
    )
    tier: int | None = Field(description="Company tier: the tier moved to (1 = best-paying).")
    years: int | None = Field(description="Experience: the years that pass.")
    request_change: RequestChange | None = Field(
        description="What to send to POST /segment (with the learner's other fields as sent) to "
        "be placed in segment_id: a caller can replay it. None when no change moves the learner."
    )
    reason: str | None = Field(
        description="Why no change along this input moves the learner (None when one does).",
        examples=["no raise up to INR 100 LPA a year (the CTC range the model keeps) moves"],
    )


class PathStep(BaseModel):
    """Where a learner is after some more years at the same pay relative to experience peers."""

    years: int = Field(description="Years from now.", examples=[1, 2, 3, 5])
    segment_id: int = Field(description="The learner's segment then.")
    segment_name: str = Field(description="That segment's name.")
    course: str = Field(description="That segment's course for the learner's track.")
    course_name: str = Field(description="The course's name for people.")


class Resolution(BaseModel):
    """How fine each what-if is: a change that much smaller does not move the learner."""

    pay: str = Field(
        description="Of a pay change (found exactly at the cell boundary, then checked by "
        "placing the whole-rupee CTC).",
        examples=["INR 1: the cell boundary along pay, exact, then checked by placing"],
    )
    company_tier: str = Field(
        description="Of a tier change: the nearest tier that moves the learner is reported.",
        examples=["one tier"],
    )
    experience: str = Field(
        description="Of years passing: the fewest whole years that move the learner.",
        examples=["one year"],
    )


_UNDERPAID = "Mid-paying companies, underpaid for their experience, less experienced"
_WELL_PAID = "Well-paid for their experience, mid-paying companies, less experienced"
_SENIOR = "Senior, many Leadership & architecture titles, underpaid for their experience"
#: An answer of POST /segment/explain (the default model, LEARNER_EXAMPLE).
_EXPLAIN_EXAMPLE: dict[str, Any] = {
    "learner_id": "u-123",
    "segment_id": 2,
    "segment_name": _WELL_PAID,
    "coarse_segment_id": 1,
    "track": "backend",
    "course": "software-development",
    "course_name": "Software development: DSA and system design",
    "distance": 0.648,
    "runner_up": {"segment_id": 0, "distance": 0.884},
    "margin": 0.236,
    "relative_margin": 0.267,
    "confidence": "high",
    "features": {"years_experience": 6.0, "pay_vs_experience": 0.258, "company_tier": 2.0},
    "warnings": [
        "company not seen in training (or too few learners): its pay level is unknown and "
        "counted as the population's"
    ],
    "model_version": "20261207-120720",
    "why": [
        {
            "input": "years_experience",
            "label": "Years of experience",
            "unit": "years",
            "value": 6.0,
            "segment": 5.64,
            "runner_up": 5.59,
            "share_of_gap": 0.0075,
        },
        {
            "input": "pay_vs_experience",
            "label": "Pay against peers with the same experience",
            "unit": "% above (-: below)",
            "value": 29.4,
            "segment": 108.7,
            "runner_up": -32.9,
            "share_of_gap": 0.9994,
        },
        {
            "input": "company_tier",
            "label": "Company tier",
            "unit": "tier (1 = best-paying)",
            "value": 2.0,
            "segment": 2.04,
            "runner_up": 1.98,
            "share_of_gap": -0.0069,
        },
    ],
    "what_if": [
        {
            "input": "pay",
            "direction": "more",
            "segment_id": None,
            "segment_name": None,
            "course": None,
            "course_name": None,
            "change": None,
            "amount": None,
            "relative": None,
            "tier": None,
            "years": None,
            "request_change": None,
            "reason": "no raise up to INR 1000 LPA a year (the CTC range the model keeps) moves "
            "the learner",
        },
        {
            "input": "pay",
            "direction": "less",
            "segment_id": 0,
            "segment_name": _UNDERPAID,
            "course": "software-development",
            "course_name": "Software development: DSA and system design",
            "change": "INR 0.9 LPA less (-9 %)",
            "amount": -93993.0,
            "relative": -0.0854,
            "tier": None,
            "years": None,
            "request_change": {"ctc": 1006007.0},
            "reason": None,
        },
        {
            "input": "company_tier",
            "direction": "better-paying",
            "segment_id": 3,
            "segment_name": "Tier-1 companies, well-paid for their experience",
            "course": "software-development",
            "course_name": "Software development: DSA and system design",
            "change": "at a tier-1 (better-paying) company instead of tier 2",
            "amount": None,
            "relative": None,
            "tier": 1,
            "years": None,
            "request_change": {"company_hash": "vbvkgz"},
            "reason": None,
        },
        {
            "input": "experience",
            "direction": "more",
            "segment_id": 0,
            "segment_name": _UNDERPAID,
            "course": "software-development",
            "course_name": "Software development: DSA and system design",
            "change": "1 more year of experience at the same CTC",
            "amount": None,
            "relative": None,
            "tier": None,
            "years": 1,
            "request_change": {"orgyear": 2015},
            "reason": None,
        },
        {
            "input": "track",
            "direction": None,
            "segment_id": None,
            "segment_name": None,
            "course": None,
            "course_name": None,
            "change": None,
            "amount": None,
            "relative": None,
            "tier": None,
            "years": None,
            "request_change": None,
            "reason": "the track is not an input of the model: another job title changes the "
            "course (the cohort), not the segment",
        },
    ],
    "path": [
        {
            "years": 1,
            "segment_id": 2,
            "segment_name": _WELL_PAID,
            "course": "software-development",
            "course_name": "Software development: DSA and system design",
        },
        {
            "years": 2,
            "segment_id": 2,
            "segment_name": _WELL_PAID,
            "course": "software-development",
            "course_name": "Software development: DSA and system design",
        },
        {
            "years": 3,
            "segment_id": 2,
            "segment_name": _WELL_PAID,
            "course": "software-development",
            "course_name": "Software development: DSA and system design",
        },
        {
            "years": 5,
            "segment_id": 4,
            "segment_name": _SENIOR,
            "course": "engineering-leadership",
            "course_name": "Engineering leadership and architecture",
        },
    ],
    "resolution": {
        "pay": "INR 1: the cell boundary along pay, exact, then checked by placing",
        "company_tier": "one tier",
        "experience": "one year",
    },
}


class ExplainResult(SegmentResult):
    """A placement (exactly as POST /segment answers it), why, what would move the learner,
    and where their career leads."""

    segment_name: str = Field(description="The segment's name (GET /segments/{segment_id}).")
    model_version: str = Field(description="The model that placed and explained the learner.")
    model_config = ConfigDict(json_schema_extra={"examples": [_EXPLAIN_EXAMPLE]})

    why: list[WhyInput] = Field(description="One entry per clustering input, in the model's order.")
    what_if: list[WhatIf] = Field(
        description="One entry per changeable input: pay more, pay less, company tier, "
        "experience, track (in that order)."
    )
    path: list[PathStep] = Field(
        description="The segment after 1, 2, 3 and 5 more years at the same pay relative to "
        "experience peers (empty when experience is not an input of the model)."
    )
    resolution: Resolution = Field(
        description="How fine each what-if is: a change smaller by that much does not move the "
        "learner."
    )


_check_documents(WhatIf, WHAT_IF_FIELDS)
_check_documents(
    ExplainResult, ("learner_id", *Assignment.FIELDS, "why", "what_if", "path", "resolution")
)

__all__ += [
    "ExplainResult",
    "PathStep",
    "RequestChange",
    "Resolution",
    "WhatIf",
    "WhyInput",
]
