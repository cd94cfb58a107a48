"""Cells per second of the noise-table download against the local stand-in of the Allen API.

    PYTHONPATH=src:. python -m tests.allen_standin_benchmark --cells 24 --workers 1 4 8

Each setting: a fresh dump folder, ``read_actd_dump`` with no dump (cells, features, sweeps,
file records, then one NWB file per cell from 127.0.0.1), timed end to end. Loopback has
no bandwidth limit and the stand-in's files are small, so this measures the client's own
overhead and the extractor, not the Allen API: see README, "Where the data comes from".
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from neuron_types.io import read_actd_dump
from neuron_types.io.allen_download import DownloadOptions
from tests.allen_standin import AllenStandIn
from tests.io.test_allen_download import allen_cohort


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=24)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--extract-workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        cohort = allen_cohort(Path(folder), [("Mus musculus", "aspiny", "Pvalb-IRES-Cre", args.cells + 1)])
        sizes = [len(data) for data in cohort["nwb"].values()]
        sys.stdout.write(f"{len(sizes)} NWB files, mean {sum(sizes) / len(sizes) / 1e6:.2f} MB\n")
        with AllenStandIn(cohort["cells"], cohort["ephys_features"], cohort["sweeps"],
                          cohort["nwb"]) as standin:
            for extract_workers in args.extract_workers:
                for workers in args.workers:
                    options = DownloadOptions(api_url=standin.url, download_workers=workers,
                                              extract_workers=extract_workers)
                    started = time.perf_counter()
                    tables = read_actd_dump(Path(folder) / f"dump-{workers}-{extract_workers}",
                                            compute_noise_spike_features=True, download=options)
                    wall = time.perf_counter() - started
                    done = len(tables["noise_spike_features"])
                    sys.stdout.write(f"download_workers={workers} extract_workers={extract_workers}: "
                                     f"{done} cells in {wall:.1f} s, {done / wall:.2f} cells/s\n")


if __name__ == "__main__":
    main()
