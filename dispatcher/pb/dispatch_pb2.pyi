from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_P1: _ClassVar[Priority]
    PRIORITY_P2: _ClassVar[Priority]
    PRIORITY_P3: _ClassVar[Priority]
    PRIORITY_P4: _ClassVar[Priority]

class UnassignedReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNASSIGNED_REASON_UNSPECIFIED: _ClassVar[UnassignedReason]
    UNASSIGNED_REASON_NOT_YET_SOLVED: _ClassVar[UnassignedReason]
    UNASSIGNED_REASON_NO_TECHNICIANS: _ClassVar[UnassignedReason]
    UNASSIGNED_REASON_NO_SKILL: _ClassVar[UnassignedReason]
    UNASSIGNED_REASON_EXCLUDED: _ClassVar[UnassignedReason]
    UNASSIGNED_REASON_SHIFT: _ClassVar[UnassignedReason]
    UNASSIGNED_REASON_CAPACITY: _ClassVar[UnassignedReason]
    UNASSIGNED_REASON_PENALTY_CHEAPER: _ClassVar[UnassignedReason]
    UNASSIGNED_REASON_DECLINED: _ClassVar[UnassignedReason]

class TicketStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_STATUS_UNSPECIFIED: _ClassVar[TicketStatus]
    TICKET_STATUS_QUEUED: _ClassVar[TicketStatus]
    TICKET_STATUS_ASSIGNED: _ClassVar[TicketStatus]
    TICKET_STATUS_ACCEPTED: _ClassVar[TicketStatus]
    TICKET_STATUS_IN_PROGRESS: _ClassVar[TicketStatus]
    TICKET_STATUS_RESOLVED: _ClassVar[TicketStatus]
    TICKET_STATUS_CANCELLED: _ClassVar[TicketStatus]
    TICKET_STATUS_PENDING: _ClassVar[TicketStatus]

class MoveReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MOVE_REASON_UNSPECIFIED: _ClassVar[MoveReason]
    MOVE_REASON_GAIN: _ClassVar[MoveReason]
    MOVE_REASON_PREVIOUS_UNABLE: _ClassVar[MoveReason]

class ResolutionCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESOLUTION_CODE_UNSPECIFIED: _ClassVar[ResolutionCode]
    RESOLUTION_CODE_FIXED: _ClassVar[ResolutionCode]
    RESOLUTION_CODE_NOT_FIXED: _ClassVar[ResolutionCode]
    RESOLUTION_CODE_NO_FAULT_FOUND: _ClassVar[ResolutionCode]
    RESOLUTION_CODE_DUPLICATE: _ClassVar[ResolutionCode]

class TechnicianStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TECHNICIAN_STATUS_UNSPECIFIED: _ClassVar[TechnicianStatus]
    TECHNICIAN_STATUS_AVAILABLE: _ClassVar[TechnicianStatus]
    TECHNICIAN_STATUS_BUSY: _ClassVar[TechnicianStatus]
    TECHNICIAN_STATUS_ON_BREAK: _ClassVar[TechnicianStatus]
    TECHNICIAN_STATUS_OFF_SHIFT: _ClassVar[TechnicianStatus]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_SUBMITTED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_UPDATED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_ASSIGNED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_REASSIGNED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_UNASSIGNED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_ACCEPTED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_DECLINED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_STARTED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_COMPLETED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_CANCELLED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_SLA_AT_RISK: _ClassVar[EventType]
    EVENT_TYPE_TICKET_SLA_BREACHED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_ESCALATED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_DUPLICATE_DETECTED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_UNASSIGNABLE: _ClassVar[EventType]
    EVENT_TYPE_TECHNICIAN_UPSERTED: _ClassVar[EventType]
    EVENT_TYPE_TECHNICIAN_AVAILABILITY_CHANGED: _ClassVar[EventType]
    EVENT_TYPE_TECHNICIAN_REMOVED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_MOVED: _ClassVar[EventType]
    EVENT_TYPE_SUPERVISOR_NOTIFIED: _ClassVar[EventType]
    EVENT_TYPE_TICKET_PENDING: _ClassVar[EventType]
    EVENT_TYPE_TICKET_RESUMED: _ClassVar[EventType]

class StartPosition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    START_POSITION_UNSPECIFIED: _ClassVar[StartPosition]
    START_POSITION_LATEST: _ClassVar[StartPosition]
    START_POSITION_EARLIEST: _ClassVar[StartPosition]

class EscalationCondition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ESCALATION_CONDITION_UNSPECIFIED: _ClassVar[EscalationCondition]
    ESCALATION_CONDITION_NOT_ASSIGNED: _ClassVar[EscalationCondition]
    ESCALATION_CONDITION_NOT_ACCEPTED: _ClassVar[EscalationCondition]
    ESCALATION_CONDITION_NOT_STARTED: _ClassVar[EscalationCondition]
    ESCALATION_CONDITION_NOT_RESOLVED: _ClassVar[EscalationCondition]
    ESCALATION_CONDITION_SLA_AT_RISK: _ClassVar[EscalationCondition]
PRIORITY_UNSPECIFIED: Priority
PRIORITY_P1: Priority
PRIORITY_P2: Priority
PRIORITY_P3: Priority
PRIORITY_P4: Priority
UNASSIGNED_REASON_UNSPECIFIED: UnassignedReason
UNASSIGNED_REASON_NOT_YET_SOLVED: UnassignedReason
UNASSIGNED_REASON_NO_TECHNICIANS: UnassignedReason
UNASSIGNED_REASON_NO_SKILL: UnassignedReason
UNASSIGNED_REASON_EXCLUDED: UnassignedReason
UNASSIGNED_REASON_SHIFT: UnassignedReason
UNASSIGNED_REASON_CAPACITY: UnassignedReason
UNASSIGNED_REASON_PENALTY_CHEAPER: UnassignedReason
UNASSIGNED_REASON_DECLINED: UnassignedReason
TICKET_STATUS_UNSPECIFIED: TicketStatus
TICKET_STATUS_QUEUED: TicketStatus
TICKET_STATUS_ASSIGNED: TicketStatus
TICKET_STATUS_ACCEPTED: TicketStatus
TICKET_STATUS_IN_PROGRESS: TicketStatus
TICKET_STATUS_RESOLVED: TicketStatus
TICKET_STATUS_CANCELLED: TicketStatus
TICKET_STATUS_PENDING: TicketStatus
MOVE_REASON_UNSPECIFIED: MoveReason
MOVE_REASON_GAIN: MoveReason
MOVE_REASON_PREVIOUS_UNABLE: MoveReason
RESOLUTION_CODE_UNSPECIFIED: ResolutionCode
RESOLUTION_CODE_FIXED: ResolutionCode
RESOLUTION_CODE_NOT_FIXED: ResolutionCode
RESOLUTION_CODE_NO_FAULT_FOUND: ResolutionCode
RESOLUTION_CODE_DUPLICATE: ResolutionCode
TECHNICIAN_STATUS_UNSPECIFIED: TechnicianStatus
TECHNICIAN_STATUS_AVAILABLE: TechnicianStatus
TECHNICIAN_STATUS_BUSY: TechnicianStatus
TECHNICIAN_STATUS_ON_BREAK: TechnicianStatus
TECHNICIAN_STATUS_OFF_SHIFT: TechnicianStatus
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_TICKET_SUBMITTED: EventType
EVENT_TYPE_TICKET_UPDATED: EventType
EVENT_TYPE_TICKET_ASSIGNED: EventType
EVENT_TYPE_TICKET_REASSIGNED: EventType
EVENT_TYPE_TICKET_UNASSIGNED: EventType
EVENT_TYPE_TICKET_ACCEPTED: EventType
EVENT_TYPE_TICKET_DECLINED: EventType
EVENT_TYPE_TICKET_STARTED: EventType
EVENT_TYPE_TICKET_COMPLETED: EventType
EVENT_TYPE_TICKET_CANCELLED: EventType
EVENT_TYPE_TICKET_SLA_AT_RISK: EventType
EVENT_TYPE_TICKET_SLA_BREACHED: EventType
EVENT_TYPE_TICKET_ESCALATED: EventType
EVENT_TYPE_TICKET_DUPLICATE_DETECTED: EventType
EVENT_TYPE_TICKET_UNASSIGNABLE: EventType
EVENT_TYPE_TECHNICIAN_UPSERTED: EventType
EVENT_TYPE_TECHNICIAN_AVAILABILITY_CHANGED: EventType
EVENT_TYPE_TECHNICIAN_REMOVED: EventType
EVENT_TYPE_TICKET_MOVED: EventType
EVENT_TYPE_SUPERVISOR_NOTIFIED: EventType
EVENT_TYPE_TICKET_PENDING: EventType
EVENT_TYPE_TICKET_RESUMED: EventType
START_POSITION_UNSPECIFIED: StartPosition
START_POSITION_LATEST: StartPosition
START_POSITION_EARLIEST: StartPosition
ESCALATION_CONDITION_UNSPECIFIED: EscalationCondition
ESCALATION_CONDITION_NOT_ASSIGNED: EscalationCondition
ESCALATION_CONDITION_NOT_ACCEPTED: EscalationCondition
ESCALATION_CONDITION_NOT_STARTED: EscalationCondition
ESCALATION_CONDITION_NOT_RESOLVED: EscalationCondition
ESCALATION_CONDITION_SLA_AT_RISK: EscalationCondition

class Location(_message.Message):
    __slots__ = ("latitude_deg", "longitude_deg")
    LATITUDE_DEG_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_DEG_FIELD_NUMBER: _ClassVar[int]
    latitude_deg: float
    longitude_deg: float
    def __init__(self, latitude_deg: _Optional[float] = ..., longitude_deg: _Optional[float] = ...) -> None: ...

class TimeWindow(_message.Message):
    __slots__ = ("start_ms", "end_ms")
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    start_ms: int
    end_ms: int
    def __init__(self, start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ...) -> None: ...

class SkillRequirement(_message.Message):
    __slots__ = ("skill", "min_level")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    MIN_LEVEL_FIELD_NUMBER: _ClassVar[int]
    skill: str
    min_level: int
    def __init__(self, skill: _Optional[str] = ..., min_level: _Optional[int] = ...) -> None: ...

class Skill(_message.Message):
    __slots__ = ("skill", "level")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    skill: str
    level: int
    def __init__(self, skill: _Optional[str] = ..., level: _Optional[int] = ...) -> None: ...

class CostTerm(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class SlaDue(_message.Message):
    __slots__ = ("response_due_ms", "resolution_due_ms")
    RESPONSE_DUE_MS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_DUE_MS_FIELD_NUMBER: _ClassVar[int]
    response_due_ms: int
    resolution_due_ms: int
    def __init__(self, response_due_ms: _Optional[int] = ..., resolution_due_ms: _Optional[int] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("technician_id", "position", "expected_arrival_ms", "expected_start_ms", "expected_finish_ms", "sla_predicted_met", "cost_terms", "total_cost", "solve_id", "assigned_at_ms", "move_reason", "move_gain")
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_ARRIVAL_MS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_START_MS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FINISH_MS_FIELD_NUMBER: _ClassVar[int]
    SLA_PREDICTED_MET_FIELD_NUMBER: _ClassVar[int]
    COST_TERMS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_FIELD_NUMBER: _ClassVar[int]
    SOLVE_ID_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    MOVE_REASON_FIELD_NUMBER: _ClassVar[int]
    MOVE_GAIN_FIELD_NUMBER: _ClassVar[int]
    technician_id: str
    position: int
    expected_arrival_ms: int
    expected_start_ms: int
    expected_finish_ms: int
    sla_predicted_met: bool
    cost_terms: _containers.RepeatedCompositeFieldContainer[CostTerm]
    total_cost: float
    solve_id: str
    assigned_at_ms: int
    move_reason: MoveReason
    move_gain: float
    def __init__(self, technician_id: _Optional[str] = ..., position: _Optional[int] = ..., expected_arrival_ms: _Optional[int] = ..., expected_start_ms: _Optional[int] = ..., expected_finish_ms: _Optional[int] = ..., sla_predicted_met: _Optional[bool] = ..., cost_terms: _Optional[_Iterable[_Union[CostTerm, _Mapping]]] = ..., total_cost: _Optional[float] = ..., solve_id: _Optional[str] = ..., assigned_at_ms: _Optional[int] = ..., move_reason: _Optional[_Union[MoveReason, str]] = ..., move_gain: _Optional[float] = ...) -> None: ...

class Resolution(_message.Message):
    __slots__ = ("code", "notes")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    code: ResolutionCode
    notes: str
    def __init__(self, code: _Optional[_Union[ResolutionCode, str]] = ..., notes: _Optional[str] = ...) -> None: ...

class Ticket(_message.Message):
    __slots__ = ("ticket_id", "region", "category", "priority", "title", "description", "required_skills", "location", "asset_id", "work_duration_s", "customer_tier", "time_window", "sla", "preferred_technician_ids", "excluded_technician_ids", "attributes", "allow_duplicate", "status", "version", "assignment", "declined_by_technician_ids", "unassigned_reason", "duplicate_of_ticket_id", "resolution", "cancel_reason", "created_at_ms", "updated_at_ms", "accepted_at_ms", "started_at_ms", "closed_at_ms", "escalation_level", "pending_since_ms")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_SKILLS_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    WORK_DURATION_S_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_TIER_FIELD_NUMBER: _ClassVar[int]
    TIME_WINDOW_FIELD_NUMBER: _ClassVar[int]
    SLA_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_TECHNICIAN_IDS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_TECHNICIAN_IDS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    ALLOW_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    DECLINED_BY_TECHNICIAN_IDS_FIELD_NUMBER: _ClassVar[int]
    UNASSIGNED_REASON_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_OF_TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    PENDING_SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    region: str
    category: str
    priority: Priority
    title: str
    description: str
    required_skills: _containers.RepeatedCompositeFieldContainer[SkillRequirement]
    location: Location
    asset_id: str
    work_duration_s: int
    customer_tier: int
    time_window: TimeWindow
    sla: SlaDue
    preferred_technician_ids: _containers.RepeatedScalarFieldContainer[str]
    excluded_technician_ids: _containers.RepeatedScalarFieldContainer[str]
    attributes: _containers.ScalarMap[str, str]
    allow_duplicate: bool
    status: TicketStatus
    version: int
    assignment: Assignment
    declined_by_technician_ids: _containers.RepeatedScalarFieldContainer[str]
    unassigned_reason: UnassignedReason
    duplicate_of_ticket_id: str
    resolution: Resolution
    cancel_reason: str
    created_at_ms: int
    updated_at_ms: int
    accepted_at_ms: int
    started_at_ms: int
    closed_at_ms: int
    escalation_level: int
    pending_since_ms: int
    def __init__(self, ticket_id: _Optional[str] = ..., region: _Optional[str] = ..., category: _Optional[str] = ..., priority: _Optional[_Union[Priority, str]] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., required_skills: _Optional[_Iterable[_Union[SkillRequirement, _Mapping]]] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., asset_id: _Optional[str] = ..., work_duration_s: _Optional[int] = ..., customer_tier: _Optional[int] = ..., time_window: _Optional[_Union[TimeWindow, _Mapping]] = ..., sla: _Optional[_Union[SlaDue, _Mapping]] = ..., preferred_technician_ids: _Optional[_Iterable[str]] = ..., excluded_technician_ids: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Mapping[str, str]] = ..., allow_duplicate: _Optional[bool] = ..., status: _Optional[_Union[TicketStatus, str]] = ..., version: _Optional[int] = ..., assignment: _Optional[_Union[Assignment, _Mapping]] = ..., declined_by_technician_ids: _Optional[_Iterable[str]] = ..., unassigned_reason: _Optional[_Union[UnassignedReason, str]] = ..., duplicate_of_ticket_id: _Optional[str] = ..., resolution: _Optional[_Union[Resolution, _Mapping]] = ..., cancel_reason: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., accepted_at_ms: _Optional[int] = ..., started_at_ms: _Optional[int] = ..., closed_at_ms: _Optional[int] = ..., escalation_level: _Optional[int] = ..., pending_since_ms: _Optional[int] = ...) -> None: ...

class SubmitTicketRequest(_message.Message):
    __slots__ = ("ticket", "request_id", "allow_duplicate")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOW_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    ticket: Ticket
    request_id: str
    allow_duplicate: bool
    def __init__(self, ticket: _Optional[_Union[Ticket, _Mapping]] = ..., request_id: _Optional[str] = ..., allow_duplicate: _Optional[bool] = ...) -> None: ...

class SubmitTicketResponse(_message.Message):
    __slots__ = ("ticket", "replayed")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    ticket: Ticket
    replayed: bool
    def __init__(self, ticket: _Optional[_Union[Ticket, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class BatchSubmitTicketsRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[SubmitTicketRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[SubmitTicketRequest, _Mapping]]] = ...) -> None: ...

class SubmitTicketResult(_message.Message):
    __slots__ = ("ticket_id", "code", "message", "replayed", "version", "status")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    code: int
    message: str
    replayed: bool
    version: int
    status: TicketStatus
    def __init__(self, ticket_id: _Optional[str] = ..., code: _Optional[int] = ..., message: _Optional[str] = ..., replayed: _Optional[bool] = ..., version: _Optional[int] = ..., status: _Optional[_Union[TicketStatus, str]] = ...) -> None: ...

class BatchSubmitTicketsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SubmitTicketResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SubmitTicketResult, _Mapping]]] = ...) -> None: ...

class GetTicketRequest(_message.Message):
    __slots__ = ("ticket_id",)
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    def __init__(self, ticket_id: _Optional[str] = ...) -> None: ...

class ListTicketsRequest(_message.Message):
    __slots__ = ("region", "statuses", "priority", "technician_id", "page_size", "page_token")
    REGION_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    region: str
    statuses: _containers.RepeatedScalarFieldContainer[TicketStatus]
    priority: Priority
    technician_id: str
    page_size: int
    page_token: str
    def __init__(self, region: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[TicketStatus, str]]] = ..., priority: _Optional[_Union[Priority, str]] = ..., technician_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTicketsResponse(_message.Message):
    __slots__ = ("tickets", "next_page_token")
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tickets: _containers.RepeatedCompositeFieldContainer[Ticket]
    next_page_token: str
    def __init__(self, tickets: _Optional[_Iterable[_Union[Ticket, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateTicketRequest(_message.Message):
    __slots__ = ("ticket", "update_mask", "expected_version")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ticket: Ticket
    update_mask: _field_mask_pb2.FieldMask
    expected_version: int
    def __init__(self, ticket: _Optional[_Union[Ticket, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class CancelTicketRequest(_message.Message):
    __slots__ = ("ticket_id", "reason", "expected_version")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    reason: str
    expected_version: int
    def __init__(self, ticket_id: _Optional[str] = ..., reason: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class AcceptTicketRequest(_message.Message):
    __slots__ = ("ticket_id", "technician_id", "expected_version")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    technician_id: str
    expected_version: int
    def __init__(self, ticket_id: _Optional[str] = ..., technician_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class DeclineTicketRequest(_message.Message):
    __slots__ = ("ticket_id", "technician_id", "reason", "expected_version")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    technician_id: str
    reason: str
    expected_version: int
    def __init__(self, ticket_id: _Optional[str] = ..., technician_id: _Optional[str] = ..., reason: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class PendTicketRequest(_message.Message):
    __slots__ = ("ticket_id", "reason", "expected_version")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    reason: str
    expected_version: int
    def __init__(self, ticket_id: _Optional[str] = ..., reason: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class ResumeTicketRequest(_message.Message):
    __slots__ = ("ticket_id", "expected_version")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    expected_version: int
    def __init__(self, ticket_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class StartTicketRequest(_message.Message):
    __slots__ = ("ticket_id", "technician_id", "expected_version")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    technician_id: str
    expected_version: int
    def __init__(self, ticket_id: _Optional[str] = ..., technician_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class CompleteTicketRequest(_message.Message):
    __slots__ = ("ticket_id", "technician_id", "resolution", "expected_version")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    technician_id: str
    resolution: Resolution
    expected_version: int
    def __init__(self, ticket_id: _Optional[str] = ..., technician_id: _Optional[str] = ..., resolution: _Optional[_Union[Resolution, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class Shift(_message.Message):
    __slots__ = ("start_ms", "end_ms")
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    start_ms: int
    end_ms: int
    def __init__(self, start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ...) -> None: ...

class Technician(_message.Message):
    __slots__ = ("technician_id", "region", "display_name", "skills", "location", "location_updated_at_ms", "shifts", "status", "capacity", "travel_speed_kmh", "attributes", "concurrency", "queue_ticket_ids", "version", "created_at_ms", "updated_at_ms")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    TRAVEL_SPEED_KMH_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    QUEUE_TICKET_IDS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    technician_id: str
    region: str
    display_name: str
    skills: _containers.RepeatedCompositeFieldContainer[Skill]
    location: Location
    location_updated_at_ms: int
    shifts: _containers.RepeatedCompositeFieldContainer[Shift]
    status: TechnicianStatus
    capacity: int
    travel_speed_kmh: float
    attributes: _containers.ScalarMap[str, str]
    concurrency: int
    queue_ticket_ids: _containers.RepeatedScalarFieldContainer[str]
    version: int
    created_at_ms: int
    updated_at_ms: int
    def __init__(self, technician_id: _Optional[str] = ..., region: _Optional[str] = ..., display_name: _Optional[str] = ..., skills: _Optional[_Iterable[_Union[Skill, _Mapping]]] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., location_updated_at_ms: _Optional[int] = ..., shifts: _Optional[_Iterable[_Union[Shift, _Mapping]]] = ..., status: _Optional[_Union[TechnicianStatus, str]] = ..., capacity: _Optional[int] = ..., travel_speed_kmh: _Optional[float] = ..., attributes: _Optional[_Mapping[str, str]] = ..., concurrency: _Optional[int] = ..., queue_ticket_ids: _Optional[_Iterable[str]] = ..., version: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ...) -> None: ...

class UpsertTechnicianRequest(_message.Message):
    __slots__ = ("technician", "expected_version")
    TECHNICIAN_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    technician: Technician
    expected_version: int
    def __init__(self, technician: _Optional[_Union[Technician, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class ReportLocationRequest(_message.Message):
    __slots__ = ("technician_id", "location", "reported_at_ms", "accuracy_m")
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    REPORTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_M_FIELD_NUMBER: _ClassVar[int]
    technician_id: str
    location: Location
    reported_at_ms: int
    accuracy_m: float
    def __init__(self, technician_id: _Optional[str] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., reported_at_ms: _Optional[int] = ..., accuracy_m: _Optional[float] = ...) -> None: ...

class ReportLocationResponse(_message.Message):
    __slots__ = ("applied",)
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    def __init__(self, applied: _Optional[bool] = ...) -> None: ...

class StreamLocationsResponse(_message.Message):
    __slots__ = ("received", "applied")
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    received: int
    applied: int
    def __init__(self, received: _Optional[int] = ..., applied: _Optional[int] = ...) -> None: ...

class SetAvailabilityRequest(_message.Message):
    __slots__ = ("technician_id", "status", "shifts", "update_mask", "expected_version")
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    technician_id: str
    status: TechnicianStatus
    shifts: _containers.RepeatedCompositeFieldContainer[Shift]
    update_mask: _field_mask_pb2.FieldMask
    expected_version: int
    def __init__(self, technician_id: _Optional[str] = ..., status: _Optional[_Union[TechnicianStatus, str]] = ..., shifts: _Optional[_Iterable[_Union[Shift, _Mapping]]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class GetTechnicianRequest(_message.Message):
    __slots__ = ("technician_id",)
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    technician_id: str
    def __init__(self, technician_id: _Optional[str] = ...) -> None: ...

class ListTechniciansRequest(_message.Message):
    __slots__ = ("region", "statuses", "page_size", "page_token")
    REGION_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    region: str
    statuses: _containers.RepeatedScalarFieldContainer[TechnicianStatus]
    page_size: int
    page_token: str
    def __init__(self, region: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[TechnicianStatus, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTechniciansResponse(_message.Message):
    __slots__ = ("technicians", "next_page_token")
    TECHNICIANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    technicians: _containers.RepeatedCompositeFieldContainer[Technician]
    next_page_token: str
    def __init__(self, technicians: _Optional[_Iterable[_Union[Technician, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RemoveTechnicianRequest(_message.Message):
    __slots__ = ("technician_id", "expected_version")
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    technician_id: str
    expected_version: int
    def __init__(self, technician_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class RemoveTechnicianResponse(_message.Message):
    __slots__ = ("requeued_ticket_ids",)
    REQUEUED_TICKET_IDS_FIELD_NUMBER: _ClassVar[int]
    requeued_ticket_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, requeued_ticket_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("event_id", "region", "type", "occurred_at_ms", "ticket_id", "technician_id", "previous_technician_id", "ticket_status", "ticket_version", "technician_version", "priority", "assignment", "unassigned_reason", "reason", "solve_id", "duplicate_of_ticket_id", "details")
    class DetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_STATUS_FIELD_NUMBER: _ClassVar[int]
    TICKET_VERSION_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    UNASSIGNED_REASON_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SOLVE_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_OF_TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    region: str
    type: EventType
    occurred_at_ms: int
    ticket_id: str
    technician_id: str
    previous_technician_id: str
    ticket_status: TicketStatus
    ticket_version: int
    technician_version: int
    priority: Priority
    assignment: Assignment
    unassigned_reason: UnassignedReason
    reason: str
    solve_id: str
    duplicate_of_ticket_id: str
    details: _containers.ScalarMap[str, str]
    def __init__(self, event_id: _Optional[str] = ..., region: _Optional[str] = ..., type: _Optional[_Union[EventType, str]] = ..., occurred_at_ms: _Optional[int] = ..., ticket_id: _Optional[str] = ..., technician_id: _Optional[str] = ..., previous_technician_id: _Optional[str] = ..., ticket_status: _Optional[_Union[TicketStatus, str]] = ..., ticket_version: _Optional[int] = ..., technician_version: _Optional[int] = ..., priority: _Optional[_Union[Priority, str]] = ..., assignment: _Optional[_Union[Assignment, _Mapping]] = ..., unassigned_reason: _Optional[_Union[UnassignedReason, str]] = ..., reason: _Optional[str] = ..., solve_id: _Optional[str] = ..., duplicate_of_ticket_id: _Optional[str] = ..., details: _Optional[_Mapping[str, str]] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("regions", "technician_id", "types", "after_event_ids", "start", "max_batch")
    class AfterEventIdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    AFTER_EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    regions: _containers.RepeatedScalarFieldContainer[str]
    technician_id: str
    types: _containers.RepeatedScalarFieldContainer[EventType]
    after_event_ids: _containers.ScalarMap[str, str]
    start: StartPosition
    max_batch: int
    def __init__(self, regions: _Optional[_Iterable[str]] = ..., technician_id: _Optional[str] = ..., types: _Optional[_Iterable[_Union[EventType, str]]] = ..., after_event_ids: _Optional[_Mapping[str, str]] = ..., start: _Optional[_Union[StartPosition, str]] = ..., max_batch: _Optional[int] = ...) -> None: ...

class WatchEventsResponse(_message.Message):
    __slots__ = ("event", "events")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    event: Event
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, event: _Optional[_Union[Event, _Mapping]] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class ExplainAssignmentRequest(_message.Message):
    __slots__ = ("ticket_id", "max_alternatives")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    max_alternatives: int
    def __init__(self, ticket_id: _Optional[str] = ..., max_alternatives: _Optional[int] = ...) -> None: ...

class AlternativeTechnician(_message.Message):
    __slots__ = ("technician_id", "cost_terms", "total_cost", "feasible", "infeasible_reason", "why_not")
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    COST_TERMS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_FIELD_NUMBER: _ClassVar[int]
    FEASIBLE_FIELD_NUMBER: _ClassVar[int]
    INFEASIBLE_REASON_FIELD_NUMBER: _ClassVar[int]
    WHY_NOT_FIELD_NUMBER: _ClassVar[int]
    technician_id: str
    cost_terms: _containers.RepeatedCompositeFieldContainer[CostTerm]
    total_cost: float
    feasible: bool
    infeasible_reason: UnassignedReason
    why_not: str
    def __init__(self, technician_id: _Optional[str] = ..., cost_terms: _Optional[_Iterable[_Union[CostTerm, _Mapping]]] = ..., total_cost: _Optional[float] = ..., feasible: _Optional[bool] = ..., infeasible_reason: _Optional[_Union[UnassignedReason, str]] = ..., why_not: _Optional[str] = ...) -> None: ...

class ExplainAssignmentResponse(_message.Message):
    __slots__ = ("ticket_id", "status", "chosen", "alternatives", "unassigned_reason", "solve_id", "solved_at_ms")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_FIELD_NUMBER: _ClassVar[int]
    ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    UNASSIGNED_REASON_FIELD_NUMBER: _ClassVar[int]
    SOLVE_ID_FIELD_NUMBER: _ClassVar[int]
    SOLVED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    status: TicketStatus
    chosen: Assignment
    alternatives: _containers.RepeatedCompositeFieldContainer[AlternativeTechnician]
    unassigned_reason: UnassignedReason
    solve_id: str
    solved_at_ms: int
    def __init__(self, ticket_id: _Optional[str] = ..., status: _Optional[_Union[TicketStatus, str]] = ..., chosen: _Optional[_Union[Assignment, _Mapping]] = ..., alternatives: _Optional[_Iterable[_Union[AlternativeTechnician, _Mapping]]] = ..., unassigned_reason: _Optional[_Union[UnassignedReason, str]] = ..., solve_id: _Optional[str] = ..., solved_at_ms: _Optional[int] = ...) -> None: ...

class GetQueueStatsRequest(_message.Message):
    __slots__ = ("regions",)
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    regions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, regions: _Optional[_Iterable[str]] = ...) -> None: ...

class PriorityQueueStats(_message.Message):
    __slots__ = ("priority", "queued", "assigned", "in_progress", "oldest_queued_age_s", "at_risk", "overdue", "pending")
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_FIELD_NUMBER: _ClassVar[int]
    IN_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    OLDEST_QUEUED_AGE_S_FIELD_NUMBER: _ClassVar[int]
    AT_RISK_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    priority: Priority
    queued: int
    assigned: int
    in_progress: int
    oldest_queued_age_s: float
    at_risk: int
    overdue: int
    pending: int
    def __init__(self, priority: _Optional[_Union[Priority, str]] = ..., queued: _Optional[int] = ..., assigned: _Optional[int] = ..., in_progress: _Optional[int] = ..., oldest_queued_age_s: _Optional[float] = ..., at_risk: _Optional[int] = ..., overdue: _Optional[int] = ..., pending: _Optional[int] = ...) -> None: ...

class RegionQueueStats(_message.Message):
    __slots__ = ("region", "priorities", "technicians_total", "technicians_available")
    REGION_FIELD_NUMBER: _ClassVar[int]
    PRIORITIES_FIELD_NUMBER: _ClassVar[int]
    TECHNICIANS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TECHNICIANS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    region: str
    priorities: _containers.RepeatedCompositeFieldContainer[PriorityQueueStats]
    technicians_total: int
    technicians_available: int
    def __init__(self, region: _Optional[str] = ..., priorities: _Optional[_Iterable[_Union[PriorityQueueStats, _Mapping]]] = ..., technicians_total: _Optional[int] = ..., technicians_available: _Optional[int] = ...) -> None: ...

class GetQueueStatsResponse(_message.Message):
    __slots__ = ("regions", "computed_at_ms")
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    regions: _containers.RepeatedCompositeFieldContainer[RegionQueueStats]
    computed_at_ms: int
    def __init__(self, regions: _Optional[_Iterable[_Union[RegionQueueStats, _Mapping]]] = ..., computed_at_ms: _Optional[int] = ...) -> None: ...

class CostWeights(_message.Message):
    __slots__ = ("travel", "lateness", "waiting", "skill_surplus", "balance", "preference", "tier", "stability", "unassigned", "move_min_gain", "breach", "overdue")
    TRAVEL_FIELD_NUMBER: _ClassVar[int]
    LATENESS_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    SKILL_SURPLUS_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    PREFERENCE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    STABILITY_FIELD_NUMBER: _ClassVar[int]
    UNASSIGNED_FIELD_NUMBER: _ClassVar[int]
    MOVE_MIN_GAIN_FIELD_NUMBER: _ClassVar[int]
    BREACH_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    travel: float
    lateness: float
    waiting: float
    skill_surplus: float
    balance: float
    preference: float
    tier: float
    stability: float
    unassigned: float
    move_min_gain: float
    breach: float
    overdue: float
    def __init__(self, travel: _Optional[float] = ..., lateness: _Optional[float] = ..., waiting: _Optional[float] = ..., skill_surplus: _Optional[float] = ..., balance: _Optional[float] = ..., preference: _Optional[float] = ..., tier: _Optional[float] = ..., stability: _Optional[float] = ..., unassigned: _Optional[float] = ..., move_min_gain: _Optional[float] = ..., breach: _Optional[float] = ..., overdue: _Optional[float] = ...) -> None: ...

class SlaTarget(_message.Message):
    __slots__ = ("priority", "response_s", "resolution_s", "calendar")
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_S_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_S_FIELD_NUMBER: _ClassVar[int]
    CALENDAR_FIELD_NUMBER: _ClassVar[int]
    priority: Priority
    response_s: float
    resolution_s: float
    calendar: str
    def __init__(self, priority: _Optional[_Union[Priority, str]] = ..., response_s: _Optional[float] = ..., resolution_s: _Optional[float] = ..., calendar: _Optional[str] = ...) -> None: ...

class BusinessCalendar(_message.Message):
    __slots__ = ("time_zone", "days", "start", "end", "holidays")
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    HOLIDAYS_FIELD_NUMBER: _ClassVar[int]
    time_zone: str
    days: _containers.RepeatedScalarFieldContainer[int]
    start: str
    end: str
    holidays: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, time_zone: _Optional[str] = ..., days: _Optional[_Iterable[int]] = ..., start: _Optional[str] = ..., end: _Optional[str] = ..., holidays: _Optional[_Iterable[str]] = ...) -> None: ...

class EscalationRule(_message.Message):
    __slots__ = ("name", "priority", "condition", "after_s", "raise_priority", "widen_to_neighbours", "notify_supervisor", "supervisor_target", "tier_skill", "tier_level")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    AFTER_S_FIELD_NUMBER: _ClassVar[int]
    RAISE_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WIDEN_TO_NEIGHBOURS_FIELD_NUMBER: _ClassVar[int]
    NOTIFY_SUPERVISOR_FIELD_NUMBER: _ClassVar[int]
    SUPERVISOR_TARGET_FIELD_NUMBER: _ClassVar[int]
    TIER_SKILL_FIELD_NUMBER: _ClassVar[int]
    TIER_LEVEL_FIELD_NUMBER: _ClassVar[int]
    name: str
    priority: Priority
    condition: EscalationCondition
    after_s: float
    raise_priority: int
    widen_to_neighbours: bool
    notify_supervisor: bool
    supervisor_target: str
    tier_skill: str
    tier_level: int
    def __init__(self, name: _Optional[str] = ..., priority: _Optional[_Union[Priority, str]] = ..., condition: _Optional[_Union[EscalationCondition, str]] = ..., after_s: _Optional[float] = ..., raise_priority: _Optional[int] = ..., widen_to_neighbours: _Optional[bool] = ..., notify_supervisor: _Optional[bool] = ..., supervisor_target: _Optional[str] = ..., tier_skill: _Optional[str] = ..., tier_level: _Optional[int] = ...) -> None: ...

class DuplicateRule(_message.Message):
    __slots__ = ("enabled", "by_asset", "radius_m", "window_s")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    BY_ASSET_FIELD_NUMBER: _ClassVar[int]
    RADIUS_M_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    by_asset: bool
    radius_m: float
    window_s: float
    def __init__(self, enabled: _Optional[bool] = ..., by_asset: _Optional[bool] = ..., radius_m: _Optional[float] = ..., window_s: _Optional[float] = ...) -> None: ...

class SolverSettings(_message.Message):
    __slots__ = ("cadence_s", "debounce_ms", "time_limit_s", "candidates_k", "allow_overtime")
    CADENCE_S_FIELD_NUMBER: _ClassVar[int]
    DEBOUNCE_MS_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_S_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_K_FIELD_NUMBER: _ClassVar[int]
    ALLOW_OVERTIME_FIELD_NUMBER: _ClassVar[int]
    cadence_s: float
    debounce_ms: float
    time_limit_s: float
    candidates_k: int
    allow_overtime: bool
    def __init__(self, cadence_s: _Optional[float] = ..., debounce_ms: _Optional[float] = ..., time_limit_s: _Optional[float] = ..., candidates_k: _Optional[int] = ..., allow_overtime: _Optional[bool] = ...) -> None: ...

class NeighbourRegions(_message.Message):
    __slots__ = ("regions",)
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    regions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, regions: _Optional[_Iterable[str]] = ...) -> None: ...

class Policy(_message.Message):
    __slots__ = ("region", "version", "weights", "sla_targets", "escalation_rules", "duplicate_rule", "solver", "neighbours", "updated_by", "updated_at_ms", "comment", "calendars")
    class NeighboursEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: NeighbourRegions
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[NeighbourRegions, _Mapping]] = ...) -> None: ...
    class CalendarsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: BusinessCalendar
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[BusinessCalendar, _Mapping]] = ...) -> None: ...
    REGION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    SLA_TARGETS_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_RULES_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_RULE_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    NEIGHBOURS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    CALENDARS_FIELD_NUMBER: _ClassVar[int]
    region: str
    version: int
    weights: CostWeights
    sla_targets: _containers.RepeatedCompositeFieldContainer[SlaTarget]
    escalation_rules: _containers.RepeatedCompositeFieldContainer[EscalationRule]
    duplicate_rule: DuplicateRule
    solver: SolverSettings
    neighbours: _containers.MessageMap[str, NeighbourRegions]
    updated_by: str
    updated_at_ms: int
    comment: str
    calendars: _containers.MessageMap[str, BusinessCalendar]
    def __init__(self, region: _Optional[str] = ..., version: _Optional[int] = ..., weights: _Optional[_Union[CostWeights, _Mapping]] = ..., sla_targets: _Optional[_Iterable[_Union[SlaTarget, _Mapping]]] = ..., escalation_rules: _Optional[_Iterable[_Union[EscalationRule, _Mapping]]] = ..., duplicate_rule: _Optional[_Union[DuplicateRule, _Mapping]] = ..., solver: _Optional[_Union[SolverSettings, _Mapping]] = ..., neighbours: _Optional[_Mapping[str, NeighbourRegions]] = ..., updated_by: _Optional[str] = ..., updated_at_ms: _Optional[int] = ..., comment: _Optional[str] = ..., calendars: _Optional[_Mapping[str, BusinessCalendar]] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("region",)
    REGION_FIELD_NUMBER: _ClassVar[int]
    region: str
    def __init__(self, region: _Optional[str] = ...) -> None: ...

class UpdatePolicyRequest(_message.Message):
    __slots__ = ("policy", "update_mask", "expected_version")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    policy: Policy
    update_mask: _field_mask_pb2.FieldMask
    expected_version: int
    def __init__(self, policy: _Optional[_Union[Policy, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class ListPolicyHistoryRequest(_message.Message):
    __slots__ = ("region", "page_size", "page_token")
    REGION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    region: str
    page_size: int
    page_token: str
    def __init__(self, region: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPolicyHistoryResponse(_message.Message):
    __slots__ = ("policies", "next_page_token")
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[Policy]
    next_page_token: str
    def __init__(self, policies: _Optional[_Iterable[_Union[Policy, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WebhookSubscription(_message.Message):
    __slots__ = ("subscription_id", "url", "event_types", "regions", "secret", "description", "created_at_ms")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    url: str
    event_types: _containers.RepeatedScalarFieldContainer[EventType]
    regions: _containers.RepeatedScalarFieldContainer[str]
    secret: str
    description: str
    created_at_ms: int
    def __init__(self, subscription_id: _Optional[str] = ..., url: _Optional[str] = ..., event_types: _Optional[_Iterable[_Union[EventType, str]]] = ..., regions: _Optional[_Iterable[str]] = ..., secret: _Optional[str] = ..., description: _Optional[str] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

class CreateWebhookSubscriptionRequest(_message.Message):
    __slots__ = ("subscription",)
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    subscription: WebhookSubscription
    def __init__(self, subscription: _Optional[_Union[WebhookSubscription, _Mapping]] = ...) -> None: ...

class GetWebhookSubscriptionRequest(_message.Message):
    __slots__ = ("subscription_id",)
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    def __init__(self, subscription_id: _Optional[str] = ...) -> None: ...

class ListWebhookSubscriptionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWebhookSubscriptionsResponse(_message.Message):
    __slots__ = ("subscriptions",)
    SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    subscriptions: _containers.RepeatedCompositeFieldContainer[WebhookSubscription]
    def __init__(self, subscriptions: _Optional[_Iterable[_Union[WebhookSubscription, _Mapping]]] = ...) -> None: ...

class DeleteWebhookSubscriptionRequest(_message.Message):
    __slots__ = ("subscription_id",)
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    def __init__(self, subscription_id: _Optional[str] = ...) -> None: ...

class DeleteWebhookSubscriptionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WebhookDeadLetter(_message.Message):
    __slots__ = ("dead_letter_id", "webhook_id", "region", "event_id", "event_type", "ticket_id", "attempts", "last_error", "first_attempt_at_ms", "dead_at_ms")
    DEAD_LETTER_ID_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    FIRST_ATTEMPT_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DEAD_AT_MS_FIELD_NUMBER: _ClassVar[int]
    dead_letter_id: str
    webhook_id: str
    region: str
    event_id: str
    event_type: EventType
    ticket_id: str
    attempts: int
    last_error: str
    first_attempt_at_ms: int
    dead_at_ms: int
    def __init__(self, dead_letter_id: _Optional[str] = ..., webhook_id: _Optional[str] = ..., region: _Optional[str] = ..., event_id: _Optional[str] = ..., event_type: _Optional[_Union[EventType, str]] = ..., ticket_id: _Optional[str] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., first_attempt_at_ms: _Optional[int] = ..., dead_at_ms: _Optional[int] = ...) -> None: ...

class ListWebhookDeadLettersRequest(_message.Message):
    __slots__ = ("subscription_id", "page_size", "page_token")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    page_size: int
    page_token: str
    def __init__(self, subscription_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWebhookDeadLettersResponse(_message.Message):
    __slots__ = ("dead_letters", "next_page_token")
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dead_letters: _containers.RepeatedCompositeFieldContainer[WebhookDeadLetter]
    next_page_token: str
    def __init__(self, dead_letters: _Optional[_Iterable[_Union[WebhookDeadLetter, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReplayWebhookDeadLettersRequest(_message.Message):
    __slots__ = ("subscription_id", "dead_letter_ids")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_IDS_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    dead_letter_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, subscription_id: _Optional[str] = ..., dead_letter_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ReplayWebhookDeadLettersResponse(_message.Message):
    __slots__ = ("replayed",)
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    replayed: int
    def __init__(self, replayed: _Optional[int] = ...) -> None: ...
