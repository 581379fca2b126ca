"""Camera fleet simulator (`kasacare simulate`): a fleet of cameras on a running service.

It acts only through the public HTTP API of a service on this machine that runs with the test
clock (`KASACARE_TEST_CLOCK=1`), as an owner, their cameras and the operator would:

1. signs up an owner and registers N cameras of mixed models (`FLEET`, cycled): free-plan
   models, microSD models without cloud recording, and some cameras the owner subscribes to
   Plus with a sandbox test card (so microSD models record to the cloud too);
2. for each simulated hour, in ticks of `TICK` (the sweeper's default interval), moves the test
   clock (`POST /v1/admin/clock/advance`, which runs due jobs and the sweeper) and uploads the
   motion clips that ended during the tick with each camera's device token: straight to object
   storage where the service offers it (`POST /v1/device/clip-uploads`, a PUT to the URL it
   answers, then the completion), else `POST /v1/device/clips`. Motion events are a Poisson
   process (`rate` clips an hour per camera, exponential gaps), each clip 10-60 s with a small
   mp4-like payload; now and then an upload is sent twice (a camera that lost the answer),
   which must answer 200 with the same clip;
3. half-way (or at `cancel_at_hour`) the owner cancels Plus: the history outside the cameras'
   new windows is erased at once (SPEC C4), and microSD cameras are refused from then on;
4. the cameras speak the device protocol (issue 12 item 5): each tick, and right after the
   owner acts, every camera polls its commands (`GET /v1/device/commands`, no wait: the
   clock is simulated) and acknowledges them; with `--mqtt` each camera instead connects to
   the service's broker with its own credential (`simulator_mqtt`), takes its commands from
   its topic and reports `online` and `recording_started` as events, and after the owner
   acts the simulator waits until the commands that act caused have arrived;
   `entitlement_changed` tells it whether it may upload (a camera told it has no cloud
   recording holds its clips back instead of collecting 403s), and `record_now` is answered
   with a manual clip posted with the request's id. Every hour the owner asks each camera
   whose entitlement allows it to record now (V5);
5. reads every camera's entitlement, activity center and manual requests, and reports what
   was stored (201), replayed (200), refused (by problem code), held back (told no cloud
   recording), recorded on request, and listed as no longer available (erased or expired,
   `available: false`).

Every loop is bounded (`MAX_CAMERAS`, `MAX_HOURS`, `MAX_CLIPS_PER_CAMERA_HOUR`, pages of the
activity center), and only loopback URLs are accepted: this is a load tool for a local service.
"""

from __future__ import annotations

import ipaddress
import queue
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kasacare.clips.mp4 import mp4_like
from kasacare.kit.errors import KasaCareError
from kasacare.simulator_mqtt import MqttLink

MAX_CAMERAS = 1000
MAX_HOURS = 24 * 62
MAX_CLIPS_PER_CAMERA_HOUR = 120
MAX_RATE = 60.0
TICK = timedelta(minutes=5)
PAGE = 100
CARD = "4242424242424242"  # the sandbox's Visa credit test card
RETRY_PROBABILITY = 0.02
#: How long `--mqtt` waits for the commands an owner's act caused to reach the cameras.
COMMANDS_WAIT = 30.0
#: The fleet's models, cycled: (model, subscribed to Plus). The first three already give one
#: free-plan camera, one microSD camera on Plus and one microSD camera without a plan.
FLEET: tuple[tuple[str, bool], ...] = (
    ("KC120", False),
    ("KC105", True),
    ("KC115", False),
    ("KC100", False),
    ("KC310", True),
    ("KC200", False),
    ("EC60", True),
    ("KC300", False),
    ("KC110", False),
    ("EC70", False),
)


class SimulationError(KasaCareError):
    code = "simulation_failed"
    title = "The simulation could not run"


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    cameras: int
    hours: int
    url: str = "http://127.0.0.1:8000"
    admin_token: str = ""
    seed: int = 1
    rate: float = 4.0
    #: The hour at which the owner cancels Plus; None: half-way; 0: never.
    cancel_at_hour: int | None = None
    concurrency: int = 4
    payload_bytes: tuple[int, int] = (2048, 16384)
    #: Cameras take their commands over the service's MQTT broker, not the long poll.
    mqtt: bool = False

    def validate(self) -> None:
        if not 1 <= self.cameras <= MAX_CAMERAS:
            raise SimulationError(f"--cameras must be 1 to {MAX_CAMERAS}")
        if not 1 <= self.hours <= MAX_HOURS:
            raise SimulationError(f"--hours must be 1 to {MAX_HOURS}")
        if not 0 < self.rate <= MAX_RATE:
            raise SimulationError(f"--rate must be above 0 and at most {MAX_RATE} clips an hour")
        if not 1 <= self.concurrency <= 32:
            raise SimulationError("--concurrency must be 1 to 32")
        if self.cancel_at_hour is not None and not 0 <= self.cancel_at_hour <= self.hours:
            raise SimulationError(f"--cancel-at-hour must be 0 (never) to {self.hours}")
        if not self.admin_token:
            raise SimulationError(
                "the operator token is needed to move the test clock: pass --admin-token or "
                "set KASACARE_ADMIN_TOKEN"
            )
        require_loopback(self.url)

    @property
    def cancel_hour(self) -> int:
        if self.cancel_at_hour is not None:
            return self.cancel_at_hour
        return self.hours // 2 if self.hours >= 2 else 0


def require_loopback(url: str) -> None:
    """Refuse anything but http(s) on this machine: the simulator is not a load tool for
    other people's services."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise SimulationError(f"--url must be http(s)://host:port, got {url!r}")
    host = parsed.host
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SimulationError(f"--url must point at this machine (127.0.0.1, ::1), got {host!r}")


@dataclass(slots=True)
class SimCamera:
    id: str
    model: str
    name: str
    device_token: str
    plus: bool
    uploaded: int = 0
    replayed: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    source_start: str = ""
    source_end: str = ""
    cloud_recording: bool = False
    history_hours: int = 0
    available: int = 0
    unavailable: int = 0
    #: What the service last told the camera (`entitlement_changed`); None: never told.
    told_cloud_recording: bool | None = None
    held_back: int = 0
    #: The owner's manual recording requests (their ids) and how many ended `uploaded`.
    requests: list[str] = field(default_factory=list)
    recorded: int = 0
    #: Its broker connection with `--mqtt`; the requests and entitlements it has heard of.
    link: MqttLink | None = None
    heard_requests: set[str] = field(default_factory=set)
    heard_entitlements: int = 0


@dataclass(slots=True)
class _Route:
    """How the cameras send clips: straight to object storage until the service answers
    that it has none (409 `direct_upload_unavailable`), then posted to the service."""

    direct: bool = True


@dataclass(frozen=True, slots=True)
class Clip:
    camera: int
    started_at: datetime
    duration_s: int
    size: int
    retry: bool

    @property
    def ends_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.duration_s)


@dataclass(slots=True)
class SimulationReport:
    owner_email: str
    owner_token: str
    clock_start: datetime
    clock_end: datetime
    cancelled_at: datetime | None
    cameras: list[SimCamera]
    seconds: float
    #: Whether the clips went straight to object storage (the service stores them on S3).
    direct: bool = False

    @property
    def stored(self) -> int:
        return sum(camera.uploaded for camera in self.cameras)

    @property
    def replayed(self) -> int:
        return sum(camera.replayed for camera in self.cameras)

    @property
    def refused(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for camera in self.cameras:
            total.update(camera.refused)
        return total

    @property
    def available(self) -> int:
        return sum(camera.available for camera in self.cameras)

    @property
    def unavailable(self) -> int:
        return sum(camera.unavailable for camera in self.cameras)

    @property
    def held_back(self) -> int:
        return sum(camera.held_back for camera in self.cameras)

    @property
    def requested(self) -> int:
        return sum(len(camera.requests) for camera in self.cameras)

    @property
    def recorded(self) -> int:
        return sum(camera.recorded for camera in self.cameras)


def simulate(config: SimulationConfig, console: Console | None = None) -> SimulationReport:
    """Run the simulation against the service at `config.url`; see the module docstring."""
    config.validate()
    console = console or Console()
    rng = random.Random(config.seed)  # noqa: S311 (motion events, not secrets)
    started = time.monotonic()
    with httpx.Client(base_url=config.url, timeout=60) as client, ExitStack() as links:
        operator = {"Authorization": f"Bearer {config.admin_token}"}
        clock_start = _clock(client, operator)
        email, password = _sign_up(client, config.seed)
        owner = _sign_in(client, email, password)
        cameras = _register(client, operator, owner, config.cameras)
        if config.mqtt:
            for camera in cameras:
                camera.link = links.enter_context(MqttLink.open(client, camera.device_token))
                require_loopback(f"http://{camera.link.host}:{camera.link.port}")
        plus = [camera for camera in cameras if camera.plus]
        if plus:
            _subscribe_plus(client, owner, plus, clock_start)
        for camera in cameras:
            camera.source_start = _camera(client, owner, camera.id)["entitlement"]["source"]
        clips = _motion(rng, config, len(cameras), clock_start)
        cancelled_at = None
        route = _Route()
        per_hour = int(timedelta(hours=1) / TICK)
        ticks = config.hours * per_hour
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("stored {task.fields[stored]} · refused {task.fields[refused]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        with progress, ThreadPoolExecutor(config.concurrency) as pool:
            task = progress.add_task("simulating", total=ticks, stored=0, refused=0)
            now = clock_start
            pending = iter(clips)
            queued: Clip | None = next(pending, None)
            for tick in range(1, ticks + 1):
                now = _advance(client, operator, TICK)
                list(pool.map(lambda camera: _obey(client, camera, route), cameras))
                due: list[Clip] = []
                while queued is not None and queued.ends_at <= now:
                    due.append(queued)
                    queued = next(pending, None)
                sent = []
                for clip in due:
                    if cameras[clip.camera].told_cloud_recording is False:
                        cameras[clip.camera].held_back += 1
                    else:
                        sent.append(clip)
                for clip, results in pool.map(
                    lambda clip: _upload(client, cameras[clip.camera], clip, route), sent
                ):
                    _tally(cameras[clip.camera], results)
                hour, rest = divmod(tick, per_hour)
                if rest == 0:
                    owner = _sign_in(client, email, password)  # tokens age with the clock
                    told = {camera.id: camera.heard_entitlements for camera in cameras}
                    if plus and cancelled_at is None and hour == config.cancel_hour:
                        _cancel(client, owner)
                        cancelled_at = now
                        for camera in plus:  # each one's entitlement changes
                            told[camera.id] += 1
                    for camera in cameras:
                        _record_now(client, owner, camera)
                    if config.mqtt:  # the broker brings them once the service's job publishes
                        _await_commands(client, cameras, route, told)
                    else:  # the cameras wait on their long polls: they hear of it at once
                        list(pool.map(lambda camera: _obey(client, camera, route), cameras))
                progress.update(
                    task,
                    advance=1,
                    description=f"hour {hour}/{config.hours}",
                    stored=sum(c.uploaded for c in cameras),
                    refused=sum(sum(c.refused.values()) for c in cameras),
                )
        owner = _sign_in(client, email, password)
        for camera in cameras:
            _read_back(client, owner, camera)
            camera.recorded = sum(
                _manual_state(client, owner, camera, request) == "uploaded"
                for request in camera.requests
            )
    return SimulationReport(
        owner_email=email,
        owner_token=owner["Authorization"].removeprefix("Bearer "),
        clock_start=clock_start,
        clock_end=now,
        cancelled_at=cancelled_at,
        cameras=cameras,
        seconds=time.monotonic() - started,
        direct=route.direct,
    )


def _motion(
    rng: random.Random, config: SimulationConfig, cameras: int, start: datetime
) -> list[Clip]:
    """Every camera's motion clips over the simulated hours, in the order they end. A Poisson
    process: exponential gaps at `rate` an hour, at most `MAX_CLIPS_PER_CAMERA_HOUR` an hour,
    whole seconds (one clip per camera and second: `started_at` names a clip)."""
    clips = []
    end = config.hours * 3600
    cap = MAX_CLIPS_PER_CAMERA_HOUR * config.hours
    for camera in range(cameras):
        at = 0.0
        seen: set[int] = set()
        for _ in range(cap):
            at += rng.expovariate(config.rate / 3600)
            second = int(at)
            if second >= end:
                break
            if second in seen:
                continue
            seen.add(second)
            clips.append(
                Clip(
                    camera=camera,
                    started_at=start + timedelta(seconds=second),
                    duration_s=rng.randint(10, 60),
                    size=rng.randint(*config.payload_bytes),
                    retry=rng.random() < RETRY_PROBABILITY,
                )
            )
    clips.sort(key=lambda clip: (clip.ends_at, clip.camera))
    return clips


def _tally(camera: SimCamera, results: list[tuple[int, str]]) -> None:
    for status, code in results:
        if status == 201:
            camera.uploaded += 1
        elif status == 200:
            camera.replayed += 1
        else:
            camera.refused[code] += 1


def _upload(
    client: httpx.Client, camera: SimCamera, clip: Clip, route: _Route
) -> tuple[Clip, list[tuple[int, str]]]:
    """One upload, sent twice when the clip plays a camera that lost the first answer."""
    body = mp4_like(clip.size, secrets.token_bytes)  # an ftyp box, then random bytes
    results = []
    first_id = None
    for attempt in range(2 if clip.retry else 1):
        response = _send(client, camera, clip, body, route)
        if response.status_code in (200, 201):
            clip_id = response.json()["id"]
            if attempt and clip_id != first_id:
                raise SimulationError(f"a retried upload answered another clip: {clip_id}")
            first_id = clip_id
            results.append((response.status_code, ""))
        elif response.status_code >= 500:
            raise SimulationError(f"upload answered {response.status_code}: {response.text}")
        else:
            results.append((response.status_code, _code(response)))
    return clip, results


def _send(
    client: httpx.Client, camera: SimCamera, clip: Clip, body: bytes, route: _Route
) -> httpx.Response:
    """The clip's upload: its completion's answer, or the multipart upload's."""
    device = {"Authorization": f"Device {camera.device_token}"}
    if route.direct:
        begun = client.post(
            "/v1/device/clip-uploads",
            json={
                "started_at": _iso(clip.started_at),
                "duration_s": clip.duration_s,
                "kind": "motion",
                "size": len(body),
                "content_type": "video/mp4",
            },
            headers=device,
        )
        if begun.status_code == 201:
            ticket = begun.json()
            require_loopback(ticket["url"])  # the object store is a local one too
            # httpx sends the body's own length; the other headers are the signed ones.
            headers = {k: v for k, v in ticket["headers"].items() if k != "Content-Length"}
            put = httpx.request(ticket["method"], ticket["url"], content=body, headers=headers)
            if put.status_code != 200:
                raise SimulationError(f"the PUT to object storage answered {put.status_code}")
            return client.post(
                f"/v1/device/clip-uploads/{ticket['upload_id']}/complete", headers=device
            )
        if _code(begun) != "409 direct_upload_unavailable":
            return begun  # the upload's own refusal, as the multipart upload answers it
        route.direct = False
    return client.post(
        "/v1/device/clips",
        data={
            "started_at": _iso(clip.started_at),
            "duration_s": str(clip.duration_s),
            "kind": "motion",
        },
        files={"video": ("clip.mp4", body, "video/mp4")},
        headers=device,
    )


def _obey(client: httpx.Client, camera: SimCamera, route: _Route) -> None:
    """The camera's commands, each acknowledged and acted on once (issue 12): those its
    broker topic brought, or those a poll answers."""
    if camera.link is not None:
        while not camera.link.inbox.empty():
            _act(client, camera, camera.link.inbox.get(), route)
        return
    device = {"Authorization": f"Device {camera.device_token}"}
    items = _expect(client.get("/v1/device/commands", headers=device), 200)["items"]
    for item in items:
        ack = client.post(f"/v1/device/commands/{item['id']}/ack", headers=device)
        if ack.status_code != 204:
            raise SimulationError(f"an ack answered {ack.status_code}: {ack.text[:300]}")
        _act(client, camera, item, route)


def _act(client: httpx.Client, camera: SimCamera, item: dict[str, Any], route: _Route) -> None:
    if item["kind"] == "entitlement_changed":
        entitlement = item["entitlement"]
        camera.told_cloud_recording = bool(entitlement and entitlement["cloud_recording"])
        camera.heard_entitlements += 1
    elif item["kind"] == "record_now":
        camera.heard_requests.add(item["request_id"])
        if camera.link is not None:  # over the long poll, the ack is the answer
            camera.link.publish({"kind": "recording_started", "request_id": item["request_id"]})
        _record_manual(client, camera, item, route)


def _await_commands(
    client: httpx.Client, cameras: list[SimCamera], route: _Route, told: dict[str, int]
) -> None:
    """`--mqtt`: wait until every camera has heard each Record now asked of it and each
    entitlement change (`told`: how many it should have heard of by now), acting on what
    comes meanwhile; the service's commands job publishes within a tick."""
    deadline = time.monotonic() + COMMANDS_WAIT
    for camera in cameras:
        assert camera.link is not None
        while (
            not set(camera.requests) <= camera.heard_requests
            or camera.heard_entitlements < told[camera.id]
        ):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SimulationError(f"{camera.name} heard nothing over MQTT in {COMMANDS_WAIT} s")
            try:
                item = camera.link.inbox.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            _act(client, camera, item, route)


def _record_manual(
    client: httpx.Client, camera: SimCamera, command: dict[str, Any], route: _Route
) -> None:
    """A 10 s manual clip from the moment the command came (half a second later, so it
    never shares a whole-second `started_at` with a motion clip), naming the request."""
    started_at = datetime.fromisoformat(command["issued_at"]) + timedelta(milliseconds=500)
    body = mp4_like(4096, secrets.token_bytes)
    response = client.post(
        "/v1/device/clips",
        data={
            "started_at": started_at.isoformat(),
            "duration_s": "10",
            "kind": "manual",
            "request_id": command["request_id"],
        },
        files={"video": ("clip.mp4", body, "video/mp4")},
        headers={"Authorization": f"Device {camera.device_token}"},
    )
    if response.status_code >= 500:
        raise SimulationError(f"a manual upload answered {response.status_code}")
    _tally(camera, [(response.status_code, "" if response.is_success else _code(response))])


def _record_now(client: httpx.Client, owner: dict[str, str], camera: SimCamera) -> None:
    """The owner's Record now, where the camera's entitlement shows it (V5)."""
    if not _camera(client, owner, camera.id)["entitlement"]["manual_recording"]:
        return
    path = f"/v1/cameras/{camera.id}/manual-recordings"
    camera.requests.append(_expect(client.post(path, headers=owner), 202)["id"])


def _manual_state(
    client: httpx.Client, owner: dict[str, str], camera: SimCamera, request_id: str
) -> str:
    path = f"/v1/cameras/{camera.id}/manual-recordings/{request_id}"
    return str(_expect(client.get(path, headers=owner), 200)["state"])


def _code(response: httpx.Response) -> str:
    try:
        return f"{response.status_code} {response.json().get('code', '?')}"
    except ValueError:
        return f"{response.status_code} ?"


def _expect(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    if response.status_code not in statuses:
        raise SimulationError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    body: dict[str, Any] = response.json()
    return body


def _clock(client: httpx.Client, operator: dict[str, str]) -> datetime:
    try:
        response = client.get("/v1/admin/clock", headers=operator)
    except httpx.TransportError as error:
        raise SimulationError(f"no service answers at {client.base_url}: {error}") from None
    if response.status_code == 404:
        raise SimulationError(
            "the service runs without the test clock: start it with KASACARE_TEST_CLOCK=1"
        )
    if response.status_code in (401, 403):
        raise SimulationError("the service refused the operator token (--admin-token)")
    return datetime.fromisoformat(_expect(response, 200)["now"])


def _advance(client: httpx.Client, operator: dict[str, str], step: timedelta) -> datetime:
    response = client.post(
        "/v1/admin/clock/advance", json={"seconds": int(step.total_seconds())}, headers=operator
    )
    return datetime.fromisoformat(_expect(response, 200)["now"])


def _sign_up(client: httpx.Client, seed: int) -> tuple[str, str]:
    email = f"fleet-{seed}-{secrets.token_hex(4)}@simulator.example.com"
    password = secrets.token_urlsafe(18)
    _expect(
        client.post("/v1/accounts", json={"email": email, "password": password, "country": "US"}),
        201,
    )
    return email, password


def _sign_in(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    """A fresh sign-in: access tokens expire with the test clock like everything else."""
    body = _expect(client.post("/v1/auth/token", json={"email": email, "password": password}), 200)
    return {"Authorization": f"Bearer {body['access_token']}"}


def _register(
    client: httpx.Client, operator: dict[str, str], owner: dict[str, str], count: int
) -> list[SimCamera]:
    """Each camera as a real one comes to be bound (issue 12): the factory provisions it
    with its secret, the camera asks for a claim code, the owner binds with that code."""
    cameras = []
    for index in range(count):
        model, plus = FLEET[index % len(FLEET)]
        name = f"{model} #{index + 1}"
        serial, secret = f"SIM{uuid.uuid4().hex[:20]}".upper(), secrets.token_urlsafe(32)
        factory_record = {"serial": serial, "model": model, "hardware_version": "sim"}
        _expect(
            client.post(
                "/v1/admin/devices",
                json={**factory_record, "device_secret": secret},
                headers=operator,
            ),
            201,
        )
        code = _expect(client.post("/v1/device/claim-codes", auth=(serial, secret)), 201)
        body = _expect(
            client.post(
                "/v1/cameras",
                json={"model": model, "serial": serial, "name": name, "claim_code": code["code"]},
                headers=owner,
            ),
            201,
        )
        cameras.append(SimCamera(body["id"], model, name, body["device_token"], plus))
    return cameras


def _subscribe_plus(
    client: httpx.Client, owner: dict[str, str], cameras: list[SimCamera], now: datetime
) -> None:
    card = _expect(
        client.post(
            "/v1/sandbox/tokens",
            json={"number": CARD, "exp_month": 12, "exp_year": now.year + 3, "cvc": "123"},
        ),
        201,
    )
    _expect(client.put("/v1/payment-method", json={"token": card["token"]}, headers=owner), 200)
    _expect(
        client.post(
            "/v1/subscription",
            json={"plan": "plus", "cycle": "monthly", "camera_ids": [c.id for c in cameras]},
            headers=owner,
        ),
        201,
    )


def _cancel(client: httpx.Client, owner: dict[str, str]) -> None:
    _expect(client.delete("/v1/subscription", headers=owner), 200)


def _camera(client: httpx.Client, owner: dict[str, str], camera_id: str) -> dict[str, Any]:
    return _expect(client.get(f"/v1/cameras/{camera_id}", headers=owner), 200)


def _read_back(client: httpx.Client, owner: dict[str, str], camera: SimCamera) -> None:
    """The camera's entitlement now and its activity center, every page."""
    entitlement = _camera(client, owner, camera.id)["entitlement"]
    camera.source_end = entitlement["source"]
    camera.cloud_recording = entitlement["cloud_recording"]
    camera.history_hours = entitlement["history_hours"]
    for entry in activity_center(client, owner, camera.id, limit_pages=camera.uploaded // PAGE + 2):
        if entry["available"]:
            camera.available += 1
        else:
            camera.unavailable += 1


def activity_center(
    client: httpx.Client, owner: dict[str, str], camera_id: str, *, limit_pages: int
) -> Iterator[dict[str, Any]]:
    """Every entry of a camera's activity center, newest first, at most `limit_pages` pages."""
    cursor = None
    for _ in range(max(1, limit_pages)):
        params: dict[str, str | int] = {"limit": PAGE}
        if cursor:
            params["cursor"] = cursor
        page = _expect(
            client.get(f"/v1/cameras/{camera_id}/clips", params=params, headers=owner), 200
        )
        yield from page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def summary(report: SimulationReport) -> list[Table]:
    """The per-camera table and the refusals by code."""
    cameras = Table(
        title="Fleet simulation",
        title_justify="left",
        caption="stored: answered 201 · replayed: a retried upload answered 200 with the same "
        "clip · held back: not sent, the camera was told it has no cloud recording · on "
        "request: Record now requests answered with a clip / asked · gone: listed with "
        "available: false (erased by a plan change, or expired)",
        caption_justify="left",
    )
    cameras.add_column("camera", no_wrap=True)
    cameras.add_column("plan", no_wrap=True)
    cameras.add_column("window", justify="right", no_wrap=True)
    for column in ("stored", "replayed", "refused", "held back", "on request"):
        cameras.add_column(column, justify="right")
    for column in ("available", "gone"):
        cameras.add_column(column, justify="right")
    for camera in report.cameras:
        cameras.add_row(
            camera.name,
            camera.source_start
            if camera.source_start == camera.source_end
            else f"{camera.source_start}→{camera.source_end}",
            f"{camera.history_hours} h" if camera.cloud_recording else "none",
            str(camera.uploaded),
            str(camera.replayed),
            str(sum(camera.refused.values())),
            str(camera.held_back),
            f"{camera.recorded}/{len(camera.requests)}",
            str(camera.available),
            str(camera.unavailable),
        )
    cameras.add_section()
    cameras.add_row(
        "total",
        "",
        "",
        str(report.stored),
        str(report.replayed),
        str(sum(report.refused.values())),
        str(report.held_back),
        f"{report.recorded}/{report.requested}",
        str(report.available),
        str(report.unavailable),
        style="bold",
    )
    refused = Table(title="Refused uploads by code", title_justify="left")
    refused.add_column("status and code")
    refused.add_column("uploads", justify="right")
    for code, count in sorted(report.refused.items()):
        refused.add_row(code, str(count))
    if not report.refused:
        refused.add_row("(none)", "0")
    return [cameras, refused]


def print_summary(report: SimulationReport, console: Console) -> None:
    for table in summary(report):
        console.print(table)
    cancelled = f"; Plus cancelled at {_iso(report.cancelled_at)}" if report.cancelled_at else ""
    uploads = report.stored + report.replayed + sum(report.refused.values())
    how = "straight to object storage" if report.direct else "posted to the service"
    console.print(
        f"test clock {_iso(report.clock_start)} → {_iso(report.clock_end)}{cancelled}; "
        f"{uploads} uploads ({how}) in {report.seconds:.1f} s"
    )
