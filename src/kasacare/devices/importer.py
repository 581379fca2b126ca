"""`kasacare devices import FILE.csv`: the factory's records in bulk, in one transaction.

The file has a header row `serial,model,hardware_version,device_secret`; any bad row
stops the import with one line naming it (its line in the file) and nothing is added.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from kasacare.catalog.schemas import Catalog
from kasacare.devices.service import (
    DeviceAlreadyProvisioned,
    DeviceRecord,
    checked_record,
    provision,
)
from kasacare.kit.errors import KasaCareError

COLUMNS = ("serial", "model", "hardware_version", "device_secret")


class ImportRowInvalid(KasaCareError):
    code = "import_row_invalid"
    status = 422
    title = "A row of the device file is not valid"


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ImportRowInvalid(f"line 1: the header lacks {', '.join(missing)}")
        for row in reader:
            yield reader.line_num, row


def import_devices(
    session: Session, catalog: Catalog, now: datetime, path: Path, console: Console
) -> int:
    """Check every row, then provision them all; the caller's transaction commits."""
    lines = sum(1 for _ in _rows(path))
    records: list[DeviceRecord] = []
    line_of: dict[str, int] = {}
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("checking", total=lines)
        for line, row in _rows(path):
            values = {c: (row.get(c) or "") for c in COLUMNS}
            try:
                record = checked_record(
                    catalog,
                    serial=values["serial"],
                    model=values["model"],
                    hardware_version=values["hardware_version"],
                    secret=values["device_secret"],
                )
            except KasaCareError as error:
                raise ImportRowInvalid(f"line {line}: {error.detail}") from None
            if (first := line_of.setdefault(record.serial, line)) != line:
                raise ImportRowInvalid(
                    f"line {line}: serial {record.serial} is on line {first} too"
                )
            records.append(record)
            progress.advance(task)
        progress.update(task, description="provisioning")
        try:
            added = provision(session, now, records)
        except DeviceAlreadyProvisioned as error:
            serial = str(error.extra["serial"])
            raise ImportRowInvalid(f"line {line_of[serial]}: {error.detail}") from None
    return added
