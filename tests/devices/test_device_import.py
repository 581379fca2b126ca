"""Issue 12 item 1: `kasacare devices import FILE.csv` provisions the factory's records in
one transaction; a bad row stops it with one line naming the row, and nothing is added."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from sqlalchemy import select

from kasacare.context import AppContext
from kasacare.devices.models import ProvisionedDevice
from tests.conftest import TEST_CATALOG
from tests.e2e.server import VENV_BIN, kasacare_env

HEADER = "serial,model,hardware_version,device_secret\n"
SECRET = "s" * 40


def _import(context: AppContext, csv: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "kasacare"), "devices", "import", str(csv)],
        env=kasacare_env(
            KASACARE_DATABASE_URL=context.settings.database_url,
            KASACARE_CATALOG_PATH=str(TEST_CATALOG),
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _serials(context: AppContext) -> list[str]:
    with context.sessions() as session:
        return sorted(session.scalars(select(ProvisionedDevice.serial)))


def test_issue_12_a_factory_file_is_provisioned_with_digests_only(
    context: AppContext, tmp_path: Path
) -> None:
    csv = tmp_path / "devices.csv"
    csv.write_text(HEADER + "".join(f"fx{i:04d},KC120,2.1,{SECRET}{i}\n" for i in range(30)))
    result = _import(context, csv)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "provisioned 30 devices"
    assert _serials(context) == [f"FX{i:04d}" for i in range(30)]
    with context.sessions() as session:
        device = session.scalars(
            select(ProvisionedDevice).where(ProvisionedDevice.serial == "FX0007")
        ).one()
    assert device.secret_digest == hashlib.sha256(f"{SECRET}7".encode()).hexdigest()
    assert device.hardware_version == "2.1"


def test_issue_12_a_bad_row_stops_the_import_naming_its_line(
    context: AppContext, tmp_path: Path
) -> None:
    bad_model = tmp_path / "bad-model.csv"
    bad_model.write_text(HEADER + f"FX0001,KC120,1,{SECRET}\nFX0002,KC999,1,{SECRET}\n")
    result = _import(context, bad_model)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "kasacare: line 3: 'KC999' is not a Kasa camera model"
    )
    duplicate = tmp_path / "duplicate.csv"
    duplicate.write_text(
        HEADER + f"FX0001,KC120,1,{SECRET}\nFX0002,KC120,1,{SECRET}\nfx0001,KC120,1,{SECRET}\n"
    )
    result = _import(context, duplicate)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "kasacare: line 4: serial FX0001 is on line 2 too"
    )
    taken = tmp_path / "taken.csv"
    taken.write_text(HEADER + f"FX0100,KC120,1,{SECRET}\n")
    assert _import(context, taken).returncode == 0
    again = tmp_path / "again.csv"
    again.write_text(HEADER + f"FX0101,KC120,1,{SECRET}\nFX0100,KC120,1,{SECRET}\n")
    result = _import(context, again)
    assert result.stderr.strip().splitlines()[-1] == (
        "kasacare: line 3: Serial FX0100 is provisioned already"
    )
    # One transaction per file: nothing of the refused files was added.
    assert _serials(context) == ["FX0100"]
