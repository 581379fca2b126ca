"""The bare ingest endpoint the benchmarks measure clip upload against (`make bench`).

Only wired when `KASACARE_BENCH_BARE_ENDPOINT=1`: `POST /v1/bench/bare-clips` takes the very
multipart body of `POST /v1/device/clips` (the same fields, parsed the same way by FastAPI),
reads the video part and answers 201, with no authentication, no database and no storage. Its
throughput is the raw cost of HTTP and body parsing on the same server, the yardstick of the
ingest benchmark. Never set it in production: anyone could send it bodies.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status
from fastapi.responses import JSONResponse

from kasacare.clips.models import ClipKind
from kasacare.context import Context

router = APIRouter(include_in_schema=False)

BARE_CLIPS_PATH = "/v1/bench/bare-clips"


@router.post(BARE_CLIPS_PATH, status_code=status.HTTP_201_CREATED)
async def bare_clip(
    context: Context,
    started_at: Annotated[datetime, Form()],
    duration_s: Annotated[int, Form(ge=1, le=3600)],
    video: Annotated[UploadFile, File()],
    kind: Annotated[ClipKind, Form()] = ClipKind.MOTION,
) -> JSONResponse:
    data = await video.read(context.settings.clip_max_bytes + 1)
    return JSONResponse(
        {"id": str(uuid.uuid4()), "started_at": started_at.isoformat(), "size": len(data)},
        status_code=status.HTTP_201_CREATED,
    )
