"""Add one article file, then remove it, on an index built before: the update figures alone (not a test).

    python -m benchmarks.update_one --workdir DIR [--repeat 3] [--named] [--json] [--config FILE]

Why: `benchmarks.scale --reuse` measures one add and one remove after opening the
index and timing its questions; at 1M passages an update is the figure being worked
on, and on a shared machine one sample says little.  This drives step 3 of scale.py
alone (the same build child, `build_index` as the CLI calls it, and the same serving
child, which reloads and searches until the change is visible: scale.wait_until),
`--repeat` times, and prints beside each figure the load average and the build child's CPU time
(user + system), which follows the work done much more than wall time does when
other processes share the cores.

`--named`: each build is told the file that changed (`build_index(changed=...)`, as
an admin's upload and a fetch do), instead of listing and stat-ing the whole folder.

DIR holds corpus/ and index/ of an earlier `benchmarks.scale --keep` run (the
index up to date with the corpus: a first run on a stale index pays for the
catch-up in its first add).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

from .scale import ServerProcess, log, run_build, wait_until
from .synthetic import write_new_article


def child_cpu_s() -> float:
    """CPU seconds used so far by waited-for child processes (the builds)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def one_change(corpus: Path, index: Path, server: ServerProcess, change, present: bool,
               config_path: str | None, question, changed: list[Path] | None = None) -> dict:
    """`change()` to the corpus, one build, reloads until visible: what each step cost."""
    load = os.getloadavg()[0]
    cpu = child_cpu_s()
    started = time.perf_counter()
    change()
    build = run_build(corpus, index, config_path, changed=changed)
    built = time.perf_counter()
    seen = wait_until(server, question.text, question.article_id, present)
    return {"total_s": time.perf_counter() - started, "build_index_s": build["seconds"],
            "build_wall_s": build["wall_s"], "build_cpu_s": child_cpu_s() - cpu,
            "visible_after_build_s": time.perf_counter() - built, **seen,
            "added": build["added"], "removed": build["removed"], "load_1m": load}


def measure(work: Path, repeat: int, warmup: int, config_path: str | None, named: bool = False) -> list[dict]:
    """`warmup` untimed rounds, then `repeat` timed ones; the timed rounds' figures."""
    corpus, index = work / "corpus", work / "index"
    log("catch-up build (not timed: the index must be up to date before the first add)")
    run_build(corpus, index, config_path)
    server = ServerProcess(index, False, config_path)
    rounds = []
    try:
        log(f"open: {server.call('open')['open_s']:.2f} s")
        for serial in range(warmup + repeat):
            path, question = write_new_article(corpus, serial=serial, seed=0)
            path.unlink()  # written once to learn its path and question; the add writes it again

            def add(serial=serial):
                write_new_article(corpus, serial=serial, seed=0)

            changed = [path] if named else None
            added = one_change(corpus, index, server, add, True, config_path, question, changed)
            removed = one_change(corpus, index, server, path.unlink, False, config_path, question, changed)
            if added["added"] != 1 or removed["removed"] != 1:
                raise RuntimeError(f"expected one article added and removed, got {added} / {removed}")
            timed = serial >= warmup
            if timed:
                rounds.append({"add": added, "remove": removed})
            label = f"{serial + 1}/{warmup + repeat}{'' if timed else ' (warm-up)'}"
            for name, r in {"add": added, "remove": removed}.items():
                log(f"{name} {label}: {r['total_s']:.2f} s"
                    f" (build_index {r['build_index_s']:.2f} s,"
                    f" build process {r['build_wall_s']:.2f} s wall / {r['build_cpu_s']:.2f} s CPU,"
                    f" visible {r['visible_after_build_s']:.2f} s later), load {r['load_1m']:.1f}")
    finally:
        server.close()
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="holds corpus/ and index/ of a scale.py --keep run")
    parser.add_argument("--repeat", type=int, default=3, help="add/remove rounds (default 3)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed rounds first (default 1): the first update after a big one "
                             "deletes the rows that one replaced")
    parser.add_argument("--config", help="TOML config passed to build_index and Searcher.open")
    parser.add_argument("--named", action="store_true",
                        help="tell each build the file that changed, as an upload or a fetch does")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    work = Path(args.workdir)
    if not all((work / name).is_dir() for name in ("corpus", "index")):
        parser.error(f"{work} must hold corpus/ and index/ of an earlier `benchmarks.scale --keep` run")
    rounds = measure(work, args.repeat, args.warmup, args.config, args.named)
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "rounds": rounds}))
        return
    for name in ("add", "remove"):
        for key in ("total_s", "build_index_s", "build_wall_s", "build_cpu_s", "visible_after_build_s",
                    "load_1m"):
            values = [r[name][key] for r in rounds]
            print(f"{name + '_' + key:<29} " + "  ".join(f"{v:.2f}" for v in values)
                  + f"   (best {min(values):.2f})")


if __name__ == "__main__":
    main()
