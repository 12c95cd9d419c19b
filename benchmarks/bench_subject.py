"""Time `make_subject` on the astronaut photo (first call builds MediaPipe graphs, later calls reuse nothing)."""

import tempfile
import time
from pathlib import Path

from PIL import Image
from skimage import data

from kpanim.tracking.subject import make_subject

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    make_subject(path)  # warm-up: imports, model loading
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        make_subject(path)
        times.append(time.perf_counter() - t0)
print(f"make_subject(512x512 astronaut): median {sorted(times)[2] * 1000:.0f} ms over 5 runs")
