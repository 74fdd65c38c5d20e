"""Rendering a 24-page A4 photo book at 300 DPI: print PDF, page previews and mock-up, in one process and in two.

    .venv/bin/python bench/bench_render.py                 # 24 pages, 3 runs in one process, 3 with 2 workers
    .venv/bin/python bench/bench_render.py --pages 8 --runs 1 --photo-size 3000x2000 --keep /tmp/book
    .venv/bin/python bench/bench_render.py --workers 0     # one process only

No database, no Django: the pure renderer (`projects/renderer/`) on synthetic photos (12-megapixel camera
JPEGs: gradients, shapes and sensor-like noise, so they compress and decode like real photos). The layout of a
typical photo book: odd pages one full-bleed photo, even pages two photos and a caption.

One process: `render()`, the whole book in one task. Prints, per run: seconds, pages per second, the peak
resident memory of the process (ru_maxrss: everything, the interpreter and Pillow included; the photos are made
in a child process beforehand so that they do not count); the print file's size and its checksum.

With --workers N (default 2): what the cluster does with a big book, in a pool of N long-lived processes forked
before the runs (as qcluster forks its workers): each takes page numbers from one queue, as the workers take page
tasks from the broker (queued costliest first, as the service queues them: `pages_by_cost`), renders its page with
`render_book_page` into a shared folder (the storage), and counts it in under a lock; the one that counts the last
page in assembles the PDF with `write_pdf`. What the pool leaves out is the cluster's own cost per task (the
broker's round trip, a few queries, a result row): a few milliseconds per page, not measured here. Prints, per
run: wall seconds from the first page queued to the PDF written, the CPU seconds of all workers together and of
each, each worker's peak RSS, the checksum and whether it is the one-process render's. Every line says the load
average: on a shared machine the wall time waits for the CPU, and the CPU seconds are what the book costs.
"""

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw  # noqa: E402

from projects.renderer import (Photo, TemplateSpec, Text, page_pixel_size, pages_by_cost,  # noqa: E402
                               render, render_book_page, sha256_file, write_pdf)

FONTS = {p.stem: str(p) for p in (ROOT / "static" / "projects" / "fonts").glob("*.ttf")}
TARGET_SECONDS, TARGET_MB = 20, 600
# The PDF of the default book (24 pages, 4000×3000 photos) since the renderer's first version: not one printed
# pixel may change when rendering is made faster (pillow==13.0.0).
BOOK_SHA256 = "05d75107bdf9de24087ab990d0ae5cfe77b28ecaf460b246450054eebe54b2a9"

FULL_PAGE, TWO_PHOTOS = [
    {"background": "#FFFFFF", "slots": [{"id": "photo", "kind": "photo", "box": [0, 0, 210, 297]}]},
    {"background": "#F4F1EA", "slots": [
        {"id": "top", "kind": "photo", "box": [15, 15, 180, 120]},
        {"id": "bottom", "kind": "photo", "box": [15, 145, 180, 120]},
        {"id": "caption", "kind": "text", "box": [15, 272, 180, 15], "font": "DejaVuSerif", "size_pt": 14,
         "colour": "#333333", "align": "center"},
    ]},
]


def synthetic_photo(path, size, seed):
    """A camera-like JPEG: a colour gradient, a few shapes, and noise so that it does not compress to nothing."""
    width, height = size
    small = (width // 8, height // 8)
    hue = seed * 37 % 255
    gradient = Image.merge("RGB", (
        Image.linear_gradient("L").resize(small).point(lambda v: (v + hue) % 256),
        Image.radial_gradient("L").resize(small),
        Image.linear_gradient("L").rotate(90).resize(small).point(lambda v: 255 - v),
    )).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(gradient)
    for i in range(6):
        x, y = (seed * 97 + i * 613) % width, (seed * 53 + i * 389) % height
        r = width // (6 + i)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=((hue + 60 * i) % 256, (40 * i) % 256, 200 - 20 * i))
    noise = Image.effect_noise(size, 24).convert("RGB")
    Image.blend(gradient, noise, 0.12).save(path, "JPEG", quality=90)


def make_photos(paths, size):
    for seed, path in enumerate(paths):
        synthetic_photo(path, size, seed)


def book_pages(photos, count):
    pages = []
    for index in range(count):
        if index % 2 == 0:
            pages.append({"photo": Photo(photos[index % len(photos)], focal=(0.4, 0.5))})
        else:
            pages.append({"top": Photo(photos[index % len(photos)]),
                          "bottom": Photo(photos[(index + 1) % len(photos)], scale=1.2),
                          "caption": Text(f"Summer {2000 + index} — day {index} at the lake")})
    return pages


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def load():
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def pool_worker(template, pages, tasks, results, remaining, lock):
    """A worker: page tasks until None; the task that counts the last page of its run in assembles the PDF."""
    while (task := tasks.get()) is not None:
        out_dir, index = task
        cpu = time.process_time()
        render_book_page(template, index, pages[index], fonts=FONTS, out_dir=out_dir, production=True)
        with lock:  # the render row's lock in the service
            remaining.value -= 1
            last = remaining.value == 0
        checksum = None
        if last:
            pdf_path = Path(out_dir) / "production.pdf"
            size = page_pixel_size(template)
            with open(pdf_path, "wb") as pdf:
                write_pdf(pdf, ((Path(out_dir, f"print-{n + 1:02d}.jpg").read_bytes(), size)
                                for n in range(len(pages))), dpi=template.dpi, bleed_mm=template.bleed_mm,
                          title="bench book")
            checksum = sha256_file(pdf_path).hexdigest()
        results.put(("page", os.getpid(), time.process_time() - cpu, checksum))
    results.put(("worker", os.getpid(), rss_mb(), None))


def pool_start(template, pages, workers):
    """The workers, forked before anything is rendered (their peak RSS is their own, as a qcluster worker's)."""
    context = multiprocessing.get_context("fork")
    tasks, results, remaining, lock = context.Queue(), context.Queue(), context.Value("i", 0), context.Lock()
    pool = [context.Process(target=pool_worker, args=(template, pages, tasks, results, remaining, lock))
            for _ in range(workers)]
    for process in pool:
        process.start()
    return pool, tasks, results, remaining


def parallel_runs(pool, template, pages, out_root, *, runs, one_process_checksum):
    pool, tasks, results, remaining = pool
    order = pages_by_cost(template, pages)
    workers = len(pool)
    walls, cpus, checksums = [], [], set()
    for run in range(1, runs + 1):
        out_dir = out_root / f"parallel{run}"
        out_dir.mkdir(parents=True)
        remaining.value = len(pages)
        before = load()
        started = time.perf_counter()
        for index in order:  # as the render service queues them: the costliest first
            tasks.put((str(out_dir), index))
        per_worker, checksum = {}, None
        for _ in pages:
            _kind, pid, cpu, made = results.get()
            per_worker[pid] = per_worker.get(pid, 0.0) + cpu
            checksum = made or checksum
        seconds = time.perf_counter() - started
        walls.append(seconds)
        cpus.append(sum(per_worker.values()))
        checksums.add(checksum)
        print(f"{workers} workers, run {run}: {seconds:.2f} s wall, {cpus[-1]:.2f} s CPU "
              f"({', '.join(f'{v:.2f}' for v in per_worker.values())} per worker), "
              f"{len(pages) / seconds:.2f} pages/s; sha256 {checksum[:16]}…, "
              f"same as one process: {'yes' if checksum == one_process_checksum else 'NO'}; "
              f"load {before} → {load()}")
    for _ in pool:
        tasks.put(None)
    peaks = sorted(results.get()[2] for _ in pool)
    for process in pool:
        process.join()
    return walls, cpus, checksums, peaks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--photo-size", default="4000x3000")
    parser.add_argument("--workers", type=int, default=2, help="the pool's processes; 0: one process only")
    parser.add_argument("--keep", help="write the outputs here instead of a temporary folder")
    args = parser.parse_args()
    photo_size = tuple(int(v) for v in args.photo_size.split("x"))
    layouts = [FULL_PAGE if index % 2 == 0 else TWO_PHOTOS for index in range(args.pages)]
    template = TemplateSpec.from_layouts(page_layouts=layouts, trim_width_mm=210, trim_height_mm=297, bleed_mm=3,
                                         dpi=300, min_pages=1, max_pages=max(args.pages, 1))
    print(f"load average {load()}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as scratch:
        out_root = Path(args.keep) if args.keep else Path(scratch)
        photos = [str(Path(scratch) / f"photo-{i:02d}.jpg") for i in range(12)]
        started = time.perf_counter()
        # Made in a child process: its memory must not count in this process's peak.
        maker = multiprocessing.get_context("fork").Process(target=make_photos, args=(photos, photo_size))
        maker.start()
        maker.join()
        print(f"12 synthetic photos {photo_size[0]}×{photo_size[1]} made in {time.perf_counter() - started:.1f} s "
              f"(not counted); RSS before rendering {rss_mb():.0f} MB")
        pages = book_pages(photos, args.pages)
        pool = pool_start(template, pages, args.workers) if args.workers else None
        checksums, worst, cpu_best = set(), 0.0, None
        for run in range(1, args.runs + 1):
            started = time.perf_counter()
            cpu = time.process_time()
            output = render(template, pages, fonts=FONTS, out_dir=out_root / f"run{run}", production=True,
                            title="bench book")
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu
            worst = max(worst, seconds)
            cpu_best = cpu_seconds if cpu_best is None else min(cpu_best, cpu_seconds)
            checksums.add(output.checksum)
            size_mb = output.production_file.stat().st_size / 1e6
            print(f"run {run}: {seconds:.2f} s wall, {cpu_seconds:.2f} s CPU, "
                  f"{args.pages / seconds:.2f} pages/s per worker, peak RSS {rss_mb():.0f} MB; "
                  f"PDF {size_mb:.1f} MB, {len(output.previews)} previews, mock-up, "
                  f"{len(output.warnings)} warnings; sha256 {output.checksum[:16]}…; load {load()}")
        parallel = None
        if pool:
            parallel = parallel_runs(pool, template, pages, out_root, runs=args.runs,
                                     one_process_checksum=output.checksum)
        started = time.perf_counter()
        preview = render(template, pages, fonts=FONTS, out_dir=out_root / "preview", production=False)
        print(f"preview-only render (editor): {time.perf_counter() - started:.2f} s for {len(preview.previews)} "
              f"pages")
    peak = rss_mb()
    deterministic = len(checksums) == 1
    print(f"\nworst {worst:.2f} s (target < {TARGET_SECONDS} s), peak RSS {peak:.0f} MB (target < {TARGET_MB} MB), "
          f"same checksum every run: {'yes' if deterministic else 'NO'}")
    # On a busy machine the wall time waits for the CPU; the CPU time is what the book costs one worker.
    print(f"CPU-bound: {cpu_best:.2f} CPU s per book, {args.pages / cpu_best:.2f} pages per CPU second per worker")
    if (args.pages, photo_size) == (24, (4000, 3000)):
        print(f"the PDF of the default book as it always was (sha256 {BOOK_SHA256[:16]}…): "
              f"{'yes' if checksums == {BOOK_SHA256} else 'NO'}")
        deterministic = deterministic and checksums == {BOOK_SHA256}
    if parallel:
        walls, cpus, parallel_checksums, peaks = parallel
        deterministic = deterministic and parallel_checksums == checksums
        print(f"{args.workers} workers: best {min(walls):.2f} s wall, worst {max(walls):.2f} s (goal < 4 s), "
              f"{min(cpus):.2f}–{max(cpus):.2f} CPU s per book, peak RSS per worker "
              f"{', '.join(f'{p:.0f}' for p in peaks)} MB (one process: {peak:.0f} MB), the one-process PDF: "
              f"{'yes' if parallel_checksums == checksums else 'NO'}; load {load()}")
    return 0 if deterministic else 1


if __name__ == "__main__":
    sys.exit(main())
