"""A local stand-in of the Allen API, on 127.0.0.1 only, for the download tests.

It answers the requests allensdk's ``CellTypesApi`` makes (RMA queries at
``/api/v2/data/query.json?q=model::...``: ``ApiCellTypesSpecimenDetail`` cells,
``EphysFeature`` features, ``EphysSweep`` sweeps of one cell, ``Specimen`` well-known-file
records of one or many cells) and serves the NWB files at
``/api/v2/well_known_file_download/<id>`` (GET and HEAD), with faults on demand:
``"500"`` (an HTTP 500), ``"stall"`` (no answer for ``stall_s``), ``"truncated"`` (half the
file, announced as such: it does not open), ``"cut"`` (the full length announced, half
sent, connection closed). ``hold_files_after(n)`` makes file downloads past the n-th wait
until ``release()``: a run is then reliably midway when a test kills it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter, defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FILES = "/api/v2/well_known_file_download/"


class AllenStandIn:
    def __init__(self, cells: list[dict], ephys_features: list[dict],
                 sweeps: dict[int, list[dict]], nwb: dict[int, bytes], stall_s: float = 2.0):
        self.cells, self.ephys_features, self.sweeps, self.nwb = cells, ephys_features, sweeps, nwb
        self.stall_s = stall_s
        self.hits: Counter = Counter()  # (kind, specimen_id or None) -> requests answered
        self.faults: dict[tuple, deque] = defaultdict(deque)
        self._held = threading.Event()
        self._held.set()
        self._hold_after: int | None = None
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def fault(self, kind: str, specimen_id: int | None, *faults: str) -> None:
        """The next requests of ``kind`` ("cells", "sweeps", "records", "file") for the cell
        get these faults, one each, in order."""
        self.faults[(kind, specimen_id)].extend(faults)

    def reset(self) -> None:
        self.hits.clear()
        self.faults.clear()
        self.release()

    def hold_files_after(self, count: int) -> None:
        self._hold_after = count
        self._held.clear()

    def release(self) -> None:
        self._hold_after = None
        self._held.set()

    def files_served(self) -> int:
        return sum(n for (kind, _), n in self.hits.items() if kind == "file")

    def _next_fault(self, kind: str, specimen_id) -> str | None:
        with self._lock:
            self.hits[(kind, specimen_id)] += 1
            queue = self.faults.get((kind, specimen_id))
            return queue.popleft() if queue else None


def _handler(standin: AllenStandIn):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet: the tests read the hit counts instead
            pass

        def do_HEAD(self):
            self._answer(head=True)

        def do_GET(self):
            self._answer(head=False)

        def _answer(self, head: bool):
            url = urlsplit(self.path)
            if url.path.startswith(FILES):
                return self._file(int(url.path[len(FILES):]), head)
            if url.path != "/api/v2/data/query.json":
                return self._send(404, b"not found")
            query = parse_qs(url.query).get("q", [""])[0]
            kind, specimen_id, msg = _query(standin, query)
            if kind is None:
                return self._send(400, f"stand-in cannot answer {query}".encode())
            if self._failed(standin._next_fault(kind, specimen_id)):
                return
            body = json.dumps({"success": True, "id": 0, "start_row": 0, "num_rows": len(msg),
                               "total_rows": len(msg), "msg": msg}).encode()
            self._send(200, body, "application/json")

        def _failed(self, fault: str | None) -> bool:
            if fault == "500":
                self._send(500, b"Internal Server Error")
                return True
            if fault == "stall":
                time.sleep(standin.stall_s)
                self.close_connection = True
                return True
            return False

        def _file(self, specimen_id: int, head: bool):
            data = standin.nwb.get(specimen_id)
            if data is None:
                return self._send(404, b"no such file")
            if head:
                return self._send(200, data, "application/x-hdf5", head=True)
            fault = standin._next_fault("file", specimen_id)
            if standin._hold_after is not None and standin.files_served() > standin._hold_after:
                standin._held.wait(timeout=60)
            if self._failed(fault):
                return
            if fault == "truncated":
                return self._send(200, data[: len(data) // 2], "application/x-hdf5")
            if fault == "cut":
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
                return
            self._send(200, data, "application/x-hdf5")

        def _send(self, status: int, body: bytes, kind: str = "text/plain", head: bool = False):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

    return Handler


def _query(standin: AllenStandIn, query: str):
    model = re.match(r"model::(\w+)", query)
    model = model.group(1) if model else None
    if model == "ApiCellTypesSpecimenDetail":
        return "cells", None, standin.cells
    if model == "EphysFeature":
        return "features", None, standin.ephys_features
    if model == "EphysSweep":
        specimen_id = int(re.search(r"\[specimen_id\$eq(\d+)\]", query).group(1))
        return "sweeps", specimen_id, standin.sweeps.get(specimen_id, [])
    if model == "Specimen":
        one = re.search(r"\[id\$eq(\d+)\]", query)
        ids = [int(one.group(1))] if one else [
            int(sid) for sid in re.search(r"\[id\$in([\d,]+)\]", query).group(1).split(",")]
        msg = [{"id": sid, "ephys_result": {"well_known_files": [{
            "id": sid, "download_link": f"{FILES}{sid}",
            "well_known_file_type": {"name": "NWBDownload"}}]}}
            for sid in ids if sid in standin.nwb]
        return "records", ids[0] if len(ids) == 1 else None, msg
    return None, None, None
