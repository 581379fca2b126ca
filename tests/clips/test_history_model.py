"""Nothing in-window is lost: a stateful model test of clip history (SPEC V1-V8, C1-C4, F1-F5).

Hypothesis drives the real app in-process (TestClient over `create_app(context)`, a
`FixedClock` it moves, the sweeper and due jobs run when it says) on both backends, with one
owner (card on file) and cameras of mixed models: KC120 (48 h free), KC100 (12 h free),
KC105 (no free plan), cameras registered, unbound and bound again (F2: the free period stays
with the serial), and imported cameras whose free plan ends within days. The rules upload
clips at random `started_at` within, on the edges of, or just outside the camera's window
(retries too), subscribe Plus or Premium (with or without trial) for some cameras, add and
remove cameras, change plan, cycle and cameras, cancel, move the clock by seconds to days,
run the sweeper and run due jobs.

The model is written here, from the SPEC alone (its own model table, its own calendar, no
import of the service's rules): a camera's window at an instant is 30 days while a paid plan
covers it, its model's free history while `now < setup + 1 or 2 years`, and nothing
otherwise. A clip is in window at `t` while it has never fallen outside its camera's window:
by ageing (`started_at + window <= t`, the free plan's end included, F2), or at a change that
shortened the window (C4, V3). Once out it is out for good (V4), whatever later lengthens the
window; a change that lengthens the window lengthens it for every clip still held (V6).

Checked after every step, over the API and the storage:
- an in-window clip answers 200 with its expiry, and its playback URL plays its own bytes;
- an out-of-window clip answers 410 `clip_no_longer_available`, a playback URL issued while
  it was in window stops playing (V7), and the activity center lists it `available: false`
  until 30 days after it started, then not at all (V3a);
- the activity center lists exactly the model's entries, and each camera's entitlement is
  the model's window;
- an upload is refused exactly when the model says (403 `no_cloud_recording`, 422 outside
  [now - window, now + 5 min], 401 for an unbound camera's token); a retry answers 200 with
  the same clip (V1);
- after a sweep, no bytes remain of a clip out of its window and every in-window clip's bytes
  are still there; the sweeper raises no alert, since the model never disagrees (V2, V8).

The shortest failing sequences the model found are replayed step by step below the machine,
as plain tests, so that they fail (or pass) the same way on every run.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import HealthCheck, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from kasacare.app import create_app
from kasacare.clips.models import Clip
from kasacare.clips.storage import LocalDiskStorage
from kasacare.clips.sweeper import sweep
from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from tests.conftest import ADMIN_TOKEN, START
from tests.databases import empty_sandbox, empty_storage, empty_tables
from tests.factories import PASSWORD, VIDEO

# ---- the model's own table (SPEC section 1, as in tests/catalog.toml) -----------------------

#: model -> (free history hours, free period years), or None: no free cloud recording (F5).
FREE: dict[str, tuple[int, int] | None] = {
    "KC100": (12, 2),
    "KC120": (48, 2),
    "KC300": (48, 1),
    "KC310": (12, 1),
    "KC105": None,
}
REGISTERED_MODELS = ["KC120", "KC100", "KC105"]
IMPORTED_MODELS = ["KC300", "KC310"]
PAID_WINDOW = timedelta(days=30)  # Plus and Premium alike
FUTURE_SKEW = timedelta(minutes=5)  # V1
LISTED_FOR = timedelta(days=30)  # V3a
URL_TTL = timedelta(seconds=300)  # V7
MAX_CAMERAS = 4
MAX_CLIPS = 18
EMAIL = "history@example.com"
CARD = "4242424242424242"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ENTRY_FIELDS = {
    "id",
    "started_at",
    "duration_s",
    "kind",
    "expires_at",
    "available",
    "thumbnail_url",
}

#: How often each interesting situation came up (printed at the end: run with -s to see it).
SEEN: Counter[str] = Counter()


def event(name: str) -> None:
    hypothesis_event(name)
    SEEN[name] += 1


def add_years(moment: datetime, years: int) -> datetime:
    """The same instant `years` later; Feb 29 becomes Feb 28 (M7, F2)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---- the model --------------------------------------------------------------------------------


@dataclass
class MCamera:
    id: str
    serial: str
    model: str
    setup_at: datetime
    token: str
    bound: bool = True

    @property
    def free_plan_ends_at(self) -> datetime | None:
        row = FREE[self.model]
        return None if row is None else add_years(self.setup_at, row[1])


@dataclass
class MClip:
    id: str
    camera_id: str
    started_at: datetime
    kind: str
    data: bytes
    #: The instant it leaves its camera's window unless a change moves it (meaningful only
    #: while `gone_at` is None).
    deadline: datetime
    #: When it fell outside its window (aged out, erased by a change, unbound): for good.
    gone_at: datetime | None = None
    #: The last playback URL seen while it was in window, and until when it is signed.
    url: str | None = None
    url_expires: datetime | None = None


@dataclass
class MSub:
    plan: str
    cycle: str
    seats: list[str]


class HistoryMachine(RuleBasedStateMachine):
    def __init__(self, context: AppContext, clock: FixedClock, client: TestClient) -> None:
        super().__init__()
        self.context, self.clock, self.client = context, clock, client
        empty_tables(context.engine)
        empty_sandbox(context.gateway)
        empty_storage(context.storage)
        clock.set(START)
        self.account_id = ""
        self.headers: dict[str, str] = {}
        self.token_expires = START
        self.cameras: list[MCamera] = []
        self.clips: list[MClip] = []
        self.sub: MSub | None = None
        self.trial_used = False
        self.numbers = itertools.count(1)

    def teardown(self) -> None:
        empty_tables(self.context.engine)
        empty_sandbox(self.context.gateway)
        empty_storage(self.context.storage)

    # ---- plumbing --------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def sign_in(self) -> None:
        response = self.client.post("/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
        assert response.status_code == 200, response.text
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        self.token_expires = parse(response.json()["expires_at"])

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Response:
        if self.token_expires <= self.now:  # bearer tokens die 12 h after sign-in
            self.sign_in()
        response: Response = self.client.request(
            method, path, json=body, params=params, headers=self.headers
        )
        return response

    @staticmethod
    def expect(response: Response, status: int, code: str | None = None) -> None:
        assert response.status_code == status, (
            f"expected {status} {code or ''}, got {response.status_code}: {response.text}"
        )
        if code is not None:
            assert response.json()["code"] == code, response.text

    def bound(self) -> list[MCamera]:
        return [camera for camera in self.cameras if camera.bound]

    def camera(self, camera_id: str) -> MCamera:
        return next(camera for camera in self.cameras if camera.id == camera_id)

    def serial(self) -> str:
        return f"HM{next(self.numbers):08d}"

    # ---- the model's windows -----------------------------------------------------------------

    def window(self, camera: MCamera, at: datetime) -> timedelta | None:
        """F1-F5: 30 days while a paid plan covers it, the free history while the free plan
        runs, else no window at all (no cloud recording)."""
        if self.sub is not None and camera.id in self.sub.seats:
            return PAID_WINDOW
        row, ends = FREE[camera.model], camera.free_plan_ends_at
        if row is not None and ends is not None and at < ends:
            return timedelta(hours=row[0])
        return None

    def deadline(self, camera: MCamera, started_at: datetime, at: datetime) -> datetime | None:
        """Until when the camera's window, as it stands at `at`, keeps a clip that started
        at `started_at`; None: it keeps nothing. The free window cannot outlast the free
        plan (F2); a paid one runs on whatever the free plan does (F3)."""
        window = self.window(camera, at)
        if window is None:
            return None
        if window == PAID_WINDOW:
            return started_at + window
        ends = camera.free_plan_ends_at
        assert ends is not None
        return min(started_at + window, ends)

    def age(self) -> None:
        """V2: clips whose deadline has come are out of their window, for good."""
        for clip in self.clips:
            if clip.gone_at is None and clip.deadline <= self.now:
                clip.gone_at = clip.deadline
                event("clip aged out")

    def in_window(self, clip: MClip) -> bool:
        return clip.gone_at is None and self.now < clip.deadline

    def windows_changed(self) -> None:
        """C4, V3, V6: after any change, every clip still held gets its camera's new window:
        erased at once if it now lies outside it, lengthened if the window grew."""
        self.age()
        for clip in self.clips:
            if clip.gone_at is not None:
                continue
            deadline = self.deadline(self.camera(clip.camera_id), clip.started_at, self.now)
            if deadline is None or deadline <= self.now:
                clip.gone_at = self.now
                event("clip erased by a change")
            else:
                if deadline > clip.deadline:
                    event("clip window lengthened")
                elif deadline < clip.deadline:
                    event("clip window shortened, clip kept")
                clip.deadline = deadline

    # ---- setup --------------------------------------------------------------------------------

    @initialize(
        models=st.lists(st.sampled_from(REGISTERED_MODELS), min_size=2, max_size=3),
        imported=st.one_of(
            st.none(),
            st.tuples(
                st.sampled_from(REGISTERED_MODELS[:2] + IMPORTED_MODELS),
                st.integers(60, 5 * 24 * 60),
            ),
        ),
    )
    def setup(self, models: list[str], imported: tuple[str, int] | None) -> None:
        response = self.client.post(
            "/v1/accounts", json={"email": EMAIL, "password": PASSWORD, "country": "US"}
        )
        self.expect(response, 201)
        self.account_id = response.json()["id"]
        self.sign_in()
        token = self.client.post(
            "/v1/sandbox/tokens",
            json={"number": CARD, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        )
        self.expect(token, 201)
        self.expect(self.call("PUT", "/v1/payment-method", {"token": token.json()["token"]}), 200)
        for model in models:
            self.register(model, self.serial(), setup_at=self.now)
        if imported is not None:
            self.import_camera(*imported)

    def register(self, model: str, serial: str, setup_at: datetime) -> None:
        response = self.call(
            "POST", "/v1/cameras", {"model": model, "serial": serial, "name": "cam"}
        )
        self.expect(response, 201)
        body = response.json()
        self.cameras.append(MCamera(body["id"], serial, model, setup_at, body["device_token"]))

    def import_camera(self, model: str, minutes_left: int) -> None:
        """F2: a camera set up long ago, whose free plan ends `minutes_left` from now."""
        row = FREE[model]
        assert row is not None
        setup_at = add_years(self.now + timedelta(minutes=minutes_left), -row[1])
        serial = self.serial()
        response = self.client.post(
            "/v1/admin/cameras",
            json={
                "account_id": self.account_id,
                "model": model,
                "serial": serial,
                "name": "old cam",
                "setup_at": iso(setup_at),
            },
            headers=ADMIN,
        )
        self.expect(response, 201)
        body = response.json()
        self.cameras.append(MCamera(body["id"], serial, model, setup_at, body["device_token"]))
        event(f"imported {model}")

    # ---- cameras ------------------------------------------------------------------------------

    @precondition(lambda self: len(self.bound()) < MAX_CAMERAS)
    @rule(
        model=st.sampled_from(REGISTERED_MODELS + IMPORTED_MODELS),
        imported=st.booleans(),
        minutes_left=st.integers(1, 5 * 24 * 60),
    )
    def new_camera(self, model: str, imported: bool, minutes_left: int) -> None:
        """A camera set up now, or imported with a setup long ago (F2)."""
        if imported and FREE[model] is not None:
            self.import_camera(model, minutes_left)
        else:
            self.register(model, self.serial(), setup_at=self.now)

    @precondition(lambda self: self.bound())
    @rule(pick=st.integers(0, 15))
    def unbind_camera(self, pick: int) -> None:
        """C6: a subscribed camera cannot be unbound; unbinding erases every clip."""
        bound = self.bound()
        camera = bound[pick % len(bound)]
        response = self.call("DELETE", f"/v1/cameras/{camera.id}?confirm=true")
        if self.sub is not None and camera.id in self.sub.seats:
            self.expect(response, 409, "camera_subscribed")
            return
        self.expect(response, 204)
        self.age()
        camera.bound = False
        for clip in self.clips:
            if clip.camera_id == camera.id and clip.gone_at is None:
                clip.gone_at = self.now
                event("clip erased by unbinding")

    @precondition(
        lambda self: (
            len(self.bound()) < MAX_CAMERAS and any(not camera.bound for camera in self.cameras)
        )
    )
    @rule(pick=st.integers(0, 15))
    def bind_again(self, pick: int) -> None:
        """F2: binding the serial again keeps its original setup (and free period)."""
        live_serials = {camera.serial for camera in self.bound()}
        free = [c for c in self.cameras if not c.bound and c.serial not in live_serials]
        if not free:
            return
        old = free[pick % len(free)]
        self.register(old.model, old.serial, setup_at=old.setup_at)
        event("camera bound again")

    # ---- uploads ------------------------------------------------------------------------------

    @precondition(lambda self: self.cameras and len(self.clips) < MAX_CLIPS)
    @rule(
        pick=st.integers(0, 15),
        where=st.sampled_from(["oldest", "newest", "too_old", "too_new", "again", "anywhere"]),
        amount=st.integers(0, 10**7),
        manual=st.booleans(),
        unbound=st.booleans(),
    )
    def upload_anywhere(
        self, pick: int, where: str, amount: int, manual: bool, unbound: bool
    ) -> None:
        """V1, V5: on the window's edges, just outside it, anywhere in it, or a retry."""
        candidates = self.cameras if unbound else (self.bound() or self.cameras)
        camera = candidates[pick % len(candidates)]
        now = self.now
        window = self.window(camera, now)
        lo, hi = now - (window or timedelta(hours=48)), now + FUTURE_SKEW
        mine = [clip for clip in self.clips if clip.camera_id == camera.id]
        if where == "again" and mine:
            started = mine[amount % len(mine)].started_at
        elif where == "oldest":
            started = lo
        elif where == "newest":
            started = hi
        elif where == "too_old":
            started = lo - timedelta(seconds=1 + amount % 7200)
        elif where == "too_new":
            started = hi + timedelta(seconds=1 + amount % 3600)
        else:
            span = int((hi - lo).total_seconds())
            started = lo + timedelta(seconds=amount % (span + 1))
        self.upload(camera, started, manual)

    @precondition(lambda self: self.bound() and len(self.clips) < MAX_CLIPS)
    @rule(
        pick=st.integers(0, 15),
        seconds_ago=st.one_of(st.integers(1, 4 * 86400), st.integers(-300, 0)),
        manual=st.booleans(),
    )
    def upload_recent(self, pick: int, seconds_ago: int, manual: bool) -> None:
        """V1: a clip of the last days (or up to 5 min ahead: camera clocks drift)."""
        bound = self.bound()
        self.upload(bound[pick % len(bound)], self.now - timedelta(seconds=seconds_ago), manual)

    def upload(self, camera: MCamera, started: datetime, manual: bool) -> None:
        now = self.now
        window = self.window(camera, now)
        number = next(self.numbers)
        data = VIDEO + f"clip {number} ".encode() * 16
        response = self.client.post(
            "/v1/device/clips",
            data={
                "started_at": iso(started),
                "duration_s": "20",
                "kind": "manual" if manual else "motion",
            },
            files={"video": ("clip.mp4", data, "video/mp4")},
            headers={"Authorization": f"Device {camera.token}"},
        )
        if not camera.bound:
            self.expect(response, 401)
            event("upload: unbound camera refused")
            return
        if window is None:
            self.expect(response, 403, "no_cloud_recording")
            event("upload: no cloud recording")
            return
        if not now - window <= started <= now + FUTURE_SKEW:
            self.expect(response, 422, "validation_error")
            event("upload: outside the window")
            return
        twin = next(
            (c for c in self.clips if c.camera_id == camera.id and c.started_at == started), None
        )
        if twin is not None:
            self.expect(response, 200)
            assert response.json()["id"] == twin.id
            event("upload: retried")
            return
        self.expect(response, 201)
        body = response.json()
        deadline = self.deadline(camera, started, now)
        assert deadline is not None
        assert parse(body["expires_at"]) == deadline, (body, deadline)
        clip = MClip(
            body["id"], camera.id, started, "manual" if manual else "motion", data, deadline
        )
        self.clips.append(clip)
        if deadline <= now:
            clip.gone_at = now  # started exactly a window ago: accepted, already aged out
            event("upload: on the window's edge, aged out at once")
        else:
            event(f"upload: stored ({'paid' if window == PAID_WINDOW else 'free'})")
        if started > now:
            event("upload: started ahead of the clock")

    # ---- subscriptions ------------------------------------------------------------------------

    def choose(self, mask: int) -> list[str]:
        bound = self.bound()
        chosen = [camera.id for i, camera in enumerate(bound) if mask >> i & 1]
        return chosen or [bound[mask % len(bound)].id]

    @precondition(lambda self: self.sub is None and self.bound())
    @rule(
        plan=st.sampled_from(["plus", "premium"]),
        cycle=st.sampled_from(["monthly", "annual"]),
        mask=st.integers(0, 15),
        trial=st.booleans(),
    )
    def subscribe(self, plan: str, cycle: str, mask: int, trial: bool) -> None:
        camera_ids = self.choose(mask)
        response = self.call(
            "POST",
            "/v1/subscription",
            {"plan": plan, "cycle": cycle, "camera_ids": camera_ids, "trial": trial},
        )
        if trial and self.trial_used:
            self.expect(response, 409, "trial_already_used")
            return
        self.expect(response, 201)
        self.trial_used |= trial
        self.sub = MSub(plan, cycle, camera_ids)
        self.windows_changed()
        event(f"subscribed {plan}")

    @precondition(
        lambda self: (
            self.sub is not None and any(camera.id not in self.sub.seats for camera in self.bound())
        )
    )
    @rule(pick=st.integers(0, 15))
    def add_camera(self, pick: int) -> None:
        assert self.sub is not None
        seats = self.sub.seats
        outside = [camera for camera in self.bound() if camera.id not in seats]
        camera = outside[pick % len(outside)]
        response = self.call("POST", "/v1/subscription/cameras", {"camera_id": camera.id})
        self.expect(response, 200)
        self.sub.seats = [*seats, camera.id]
        self.windows_changed()
        event("camera added to the plan")

    @precondition(lambda self: self.sub is not None)
    @rule(pick=st.integers(0, 15))
    def remove_camera(self, pick: int) -> None:
        """C3: removing the last camera is a cancel."""
        assert self.sub is not None
        seats = self.sub.seats
        camera_id = seats[pick % len(seats)]
        response = self.call("DELETE", f"/v1/subscription/cameras/{camera_id}")
        self.expect(response, 200)
        remaining = [seat for seat in seats if seat != camera_id]
        self.sub = MSub(self.sub.plan, self.sub.cycle, remaining) if remaining else None
        self.windows_changed()
        event("camera removed from the plan" if remaining else "last camera removed: cancel")

    @precondition(lambda self: self.sub is not None and self.bound())
    @rule(
        plan=st.sampled_from(["plus", "premium"]),
        cycle=st.sampled_from(["monthly", "annual"]),
        mask=st.integers(0, 15),
    )
    def change(self, plan: str, cycle: str, mask: int) -> None:
        """C2: plan, cycle and cameras change at once."""
        assert self.sub is not None
        camera_ids = self.choose(mask)
        response = self.call(
            "POST",
            "/v1/subscription/change",
            {"plan": plan, "cycle": cycle, "camera_ids": camera_ids},
        )
        self.expect(response, 200)
        self.sub = MSub(plan, cycle, camera_ids)
        self.windows_changed()
        event("plan changed")

    @precondition(lambda self: self.sub is not None)
    @rule()
    def cancel(self) -> None:
        """C1, C4, F4: cancel now; the cameras fall back to their free plan, if it runs."""
        self.expect(self.call("DELETE", "/v1/subscription"), 200)
        self.sub = None
        self.windows_changed()
        event("cancelled")

    # ---- time, the sweeper and jobs -----------------------------------------------------------

    @rule(
        unit=st.sampled_from([1, 60, 60, 3600, 3600, 86400]),
        count=st.integers(1, 40),
        jobs=st.booleans(),
    )
    def advance(self, unit: int, count: int, jobs: bool) -> None:
        seconds = unit * (count if unit < 86400 else 1 + count % 12)
        self.move(timedelta(seconds=seconds), jobs)

    @precondition(lambda self: any(clip.gone_at is None for clip in self.clips))
    @rule(pick=st.integers(0, 31), offset=st.sampled_from([-1, 0, 1]))
    def advance_to_a_deadline(self, pick: int, offset: int) -> None:
        """To a held clip's deadline, a second before it or a second after it."""
        held = [clip for clip in self.clips if clip.gone_at is None]
        target = held[pick % len(held)].deadline + timedelta(seconds=offset)
        if target > self.now:
            self.move(target - self.now, jobs=True)
            event(f"clock to a deadline {offset:+d} s")

    def move(self, delta: timedelta, jobs: bool) -> None:
        self.clock.advance(delta)
        if jobs:
            run_due(self.context, self.now)
        self.age()

    @rule()
    def run_sweeper(self) -> None:
        """V2, V8: the sweeper deletes the bytes of every clip out of its window and nothing
        else; the model never disagrees with the camera's entitlement, so no alert."""
        self.age()
        result = sweep(self.context.sessions, self.context.storage, self.context.catalog, self.now)
        with self.context.sessions() as session:
            keys = {str(c.id): c.storage_key for c in session.scalars(select(Clip))}
        assert set(keys) == {clip.id for clip in self.clips}
        wrong = [
            f"clip {clip.id} (started {iso(clip.started_at)}, "
            + (
                f"in its window until {iso(clip.deadline)}): bytes missing"
                if self.in_window(clip)
                else f"out of its window since {iso(clip.gone_at or clip.deadline)}): bytes kept"
            )
            for clip in self.clips
            if self.context.storage.exists(keys[clip.id]) != self.in_window(clip)
        ]
        assert not wrong and result.mismatches == 0, (
            f"after the sweep at {iso(self.now)} ({result.mismatches} sweeper alerts): {wrong}"
        )
        storage = self.context.storage
        if isinstance(storage, LocalDiskStorage):
            stored = sum(1 for _ in storage.root.rglob("*.mp4"))
            assert stored == sum(1 for clip in self.clips if self.in_window(clip))
        if result.deleted:
            event("sweeper deleted bytes")

    # ---- invariants ---------------------------------------------------------------------------

    @invariant()
    def entitlements_are_the_models_windows(self) -> None:
        if not self.account_id:
            return
        response = self.call("GET", "/v1/cameras")
        self.expect(response, 200)
        listed = {camera["id"]: camera for camera in response.json()["items"]}
        assert set(listed) == {camera.id for camera in self.bound()}
        for camera in self.bound():
            entitlement = listed[camera.id]["entitlement"]
            window = self.window(camera, self.now)
            hours = 0 if window is None else int(window.total_seconds()) // 3600
            assert (entitlement["cloud_recording"], entitlement["history_hours"]) == (
                window is not None,
                hours,
            ), (camera, entitlement)
            ends = camera.free_plan_ends_at
            assert entitlement["free_plan_ends_at"] == (None if ends is None else iso(ends))

    @invariant()
    def no_clip_in_window_is_lost_and_none_outside_plays(self) -> None:
        self.age()
        for clip in self.clips:
            camera = self.camera(clip.camera_id)
            response = self.call("GET", f"/v1/clips/{clip.id}")
            if not camera.bound:
                self.expect(response, 404)  # C6: its camera is gone, and its history with it
                self.link_is_refused(clip)
                continue
            if self.in_window(clip):
                assert response.status_code == 200, (
                    f"clip {clip.id} is inside its window until {iso(clip.deadline)} "
                    f"but answers {response.status_code}: {response.text}"
                )
                body = response.json()
                assert body["available"] is True
                assert parse(body["expires_at"]) == clip.deadline, (body, clip)
                paid = self.sub is not None and camera.id in self.sub.seats
                assert (body["download_url"] is not None) == paid, body  # V7: paid plans only
                media = self.client.get(body["playback_url"])
                assert media.status_code == 200, media.text
                assert media.content == clip.data
                clip.url, clip.url_expires = body["playback_url"], parse(body["url_expires_at"])
                continue
            self.expect(response, 410, "clip_no_longer_available")
            assert response.json()["detail"] == "No longer available"
            self.link_is_refused(clip)

    def link_is_refused(self, clip: MClip) -> None:
        """V7: a playback link signed while the clip was in window re-checks it: 410."""
        if clip.url is None or clip.url_expires is None:
            return
        if self.now < clip.url_expires:
            media = self.client.get(clip.url)
            self.expect(media, 410, "clip_no_longer_available")
            event("live playback link refused after the clip left its window")
        else:
            clip.url = clip.url_expires = None

    @invariant()
    def the_activity_center_lists_the_models_entries(self) -> None:
        for camera in self.cameras:
            response = self.call("GET", f"/v1/cameras/{camera.id}/clips", params={"limit": 100})
            if not camera.bound:
                self.expect(response, 404)
                continue
            self.expect(response, 200)
            body = response.json()
            assert body["next_cursor"] is None
            listed = {entry["id"]: entry for entry in body["items"]}
            expected = [
                clip
                for clip in self.clips
                if clip.camera_id == camera.id and self.now < clip.started_at + LISTED_FOR
            ]
            assert set(listed) == {clip.id for clip in expected}, (
                f"camera {camera.id}: listed {sorted(listed)}, "
                f"model {sorted(clip.id for clip in expected)}"
            )
            for clip in expected:
                entry = listed[clip.id]
                assert entry["available"] is self.in_window(clip), (entry, clip)
                # V3a: an entry has its time and kind, and never a video or URL; one no
                # longer available no thumbnail either
                assert set(entry) == ENTRY_FIELDS, entry
                if not self.in_window(clip):
                    assert entry["thumbnail_url"] is None, entry
                assert (parse(entry["started_at"]), entry["kind"]) == (clip.started_at, clip.kind)
                if self.in_window(clip):
                    assert parse(entry["expires_at"]) == clip.deadline, (entry, clip)
            starts = [parse(entry["started_at"]) for entry in body["items"]]
            assert starts == sorted(starts, reverse=True)  # V7: newest first
            if any(clip.gone_at is not None for clip in expected):
                event("unavailable entry listed")


# ---- the shortest failing sequences the model found, replayed step by step ---------------------


def _replay_owner(client: TestClient) -> dict[str, str]:
    """The machine's owner: signed up, signed in, card on file."""
    signed_up = client.post(
        "/v1/accounts", json={"email": EMAIL, "password": PASSWORD, "country": "US"}
    )
    assert signed_up.status_code == 201, signed_up.text
    headers = _replay_sign_in(client)
    card = client.post(
        "/v1/sandbox/tokens",
        json={"number": CARD, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    )
    put = client.put("/v1/payment-method", json={"token": card.json()["token"]}, headers=headers)
    assert put.status_code == 200, put.text
    return headers


def _replay_sign_in(client: TestClient) -> dict[str, str]:
    token = client.post("/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _replay_camera(client: TestClient, headers: dict[str, str], model: str) -> dict[str, Any]:
    response = client.post(
        "/v1/cameras", json={"model": model, "serial": f"HM-{model}"}, headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _replay_subscribe(client: TestClient, headers: dict[str, str], camera_id: str) -> None:
    response = client.post(
        "/v1/subscription",
        json={"plan": "plus", "cycle": "monthly", "camera_ids": [camera_id]},
        headers=headers,
    )
    assert response.status_code == 201, response.text


def _replay_upload(client: TestClient, token: str, started: datetime) -> dict[str, Any]:
    response = client.post(
        "/v1/device/clips",
        data={"started_at": iso(started), "duration_s": "20", "kind": "motion"},
        files={"video": ("clip.mp4", VIDEO + b"replay", "video/mp4")},
        headers={"Authorization": f"Device {token}"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_v2_v4_v8_an_aged_out_clip_is_swept_even_after_its_camera_subscribes(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    """A clip that aged out is out for good (V4): a later subscription that would have kept
    it does not make it the camera's history again, so the sweeper deletes its bytes (V2)
    and there is no mismatch to alert about (V8)."""
    headers = _replay_owner(client)
    camera = _replay_camera(client, headers, "KC100")  # 12 h free
    clip = _replay_upload(client, camera["device_token"], START - timedelta(hours=1))
    clock.advance(timedelta(hours=11))  # 11:00Z + 12 h: aged out at 23:00Z, not swept yet
    headers = _replay_sign_in(client)
    _replay_subscribe(client, headers, camera["id"])
    assert client.get(f"/v1/clips/{clip['id']}", headers=headers).status_code == 410  # V4
    # The subscribe's own after-commit sweep may already have deleted the bytes; either way
    # they are gone and nothing was mistaken for a mismatch.
    # (Whether its row says so is the sweeper's business: past its watermark, it does not.)
    result = sweep(context.sessions, context.storage, context.catalog, clock.now())
    with context.sessions() as session:
        (key,) = session.scalars(select(Clip.storage_key)).all()
    assert (result.mismatches, context.storage.exists(key)) == (0, False)
    assert client.get(f"/v1/clips/{clip['id']}", headers=headers).status_code == 410


def test_c4_f4_v1_a_clip_started_ahead_is_not_kept_by_a_camera_left_without_cloud_recording(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    """V1 lets a clip start up to 5 min ahead; when a cancel leaves the camera with no cloud
    recording (F4, F5) its history is erased at once (C4, V3), that clip included."""
    headers = _replay_owner(client)
    camera = _replay_camera(client, headers, "KC105")  # no free plan
    _replay_subscribe(client, headers, camera["id"])
    clip = _replay_upload(client, camera["device_token"], START + timedelta(minutes=4))
    assert client.delete("/v1/subscription", headers=headers).status_code == 200
    entitlement = client.get(f"/v1/cameras/{camera['id']}", headers=headers).json()["entitlement"]
    assert (entitlement["source"], entitlement["cloud_recording"]) == ("none", False)
    response = client.get(f"/v1/clips/{clip['id']}", headers=headers)
    assert (response.status_code, response.json().get("code")) == (
        410,
        "clip_no_longer_available",
    ), response.text
    (entry,) = client.get(f"/v1/cameras/{camera['id']}/clips", headers=headers).json()["items"]
    assert entry["available"] is False


SETTINGS = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


def test_v2_v4_c4_no_clip_in_window_is_lost_and_none_outside_stays_playable(
    context: AppContext, clock: FixedClock
) -> None:
    # One client (one event-loop portal) for every example; each example empties the tables.
    with TestClient(create_app(context), raise_server_exceptions=True) as client:

        class Machine(HistoryMachine):
            def __init__(self) -> None:
                super().__init__(context, clock, client)

        SEEN.clear()
        try:
            run_state_machine_as_test(Machine, settings=SETTINGS)
        finally:
            print("\nsituations reached:", *sorted(SEEN.items()), sep="\n  ")
