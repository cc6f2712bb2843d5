"""A deploy of one `managed_files` operation, its entries read from the JSON file `--data spec`."""

import base64
import json
from pathlib import Path

from pyinfra import host

from pgstead.operations.files import Absent, Directory, File, Line, managed_files


def _entry(spec: dict):
    kind = spec.pop("kind")
    if kind == "file":
        if "source" in spec:
            spec["content"] = Path(spec.pop("source"))
        elif "content_b64" in spec:
            spec["content"] = base64.b64decode(spec.pop("content_b64"))
    return {"directory": Directory, "file": File, "line": Line, "absent": Absent}[kind](**spec)


managed_files(name="Managed files",
              entries=[_entry(s) for s in json.loads(Path(host.data.spec).read_text())])
