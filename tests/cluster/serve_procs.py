"""The small gRPC workload the cluster tests and benchmarks share (the processes they start:
``dispatcher.backend.serve_process``): technicians and tickets around Boston in a few
regions (tenant ``default``: dev-mode auth, every call is admin of that tenant).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TENANT = "default"
SKILLS = ("electrical", "plumbing", "hvac", "general")
CENTER = (42.35, -71.07)


def region_names(n: int) -> list[str]:
    return [f"region-{i:02d}" for i in range(n)]


def technician(
    pb: Any, region_index: int, region: str, k: int, capacity: int = 5
) -> Any:
    """A technician with every skill near the centre of its region."""
    import math

    angle = 2 * math.pi * region_index / 8
    lat = CENTER[0] + 0.07 * math.sin(angle) + 0.002 * (k % 5)
    lon = CENTER[1] + 0.09 * math.cos(angle) + 0.002 * (k // 5)
    return pb.Technician(
        technician_id=f"{region}-k{k:03d}",
        region=region,
        skills=[pb.Skill(skill=s, level=3) for s in SKILLS],
        location=pb.Location(latitude_deg=lat, longitude_deg=lon),
        status=pb.TECHNICIAN_STATUS_AVAILABLE,
        capacity=capacity,
    )


def ticket_request(pb: Any, region_index: int, region: str, ticket_id: str) -> Any:
    """A submit of one P3 ticket needing one skill, near its region's centre."""
    import math

    angle = 2 * math.pi * region_index / 8
    return pb.SubmitTicketRequest(
        request_id=ticket_id,
        ticket=pb.Ticket(
            ticket_id=ticket_id,
            region=region,
            priority=3,
            required_skills=[
                pb.SkillRequirement(
                    skill=SKILLS[zlib.crc32(ticket_id.encode()) % 4], min_level=1
                )
            ],
            location=pb.Location(
                latitude_deg=CENTER[0] + 0.07 * math.sin(angle) + 0.001,
                longitude_deg=CENTER[1] + 0.09 * math.cos(angle) + 0.001,
            ),
            work_duration_s=1800,
        ),
    )


def stubs(channel: Any) -> dict[str, Any]:
    """The service stubs on one channel."""
    from dispatcher.pb import dispatch_pb2_grpc as pb_grpc

    return {
        "tickets": pb_grpc.TicketServiceStub(channel),
        "tech": pb_grpc.TechnicianServiceStub(channel),
        "events": pb_grpc.EventServiceStub(channel),
        "insight": pb_grpc.InsightServiceStub(channel),
        "policy": pb_grpc.PolicyServiceStub(channel),
    }
