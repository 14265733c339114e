"""Draw a waveform on the X display with Tk and capture it as PNG (run as a subprocess).

    python -m services.worker_heavy.render vectors.json out.png

Tk needs ``DISPLAY``; without a reachable X server this exits 3 with a clear message, so the
heavy worker reports a rendering failure instead of a picture that was never drawn.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

WIDTH, HEIGHT, MARGIN = 640, 360, 40
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def main(argv: list[str]) -> int:
    src, out = argv
    data = json.loads(Path(src).read_text())
    display = os.environ.get("DISPLAY")
    if not display:
        print("render: DISPLAY is not set; the waveform needs an X display (start xvfb)", file=sys.stderr)
        return 3
    import tkinter as tk

    from PIL import ImageGrab

    try:
        root = tk.Tk()
    except tk.TclError as exc:
        print(f"render: cannot open X display {display}: {exc}", file=sys.stderr)
        return 3
    root.overrideredirect(True)
    root.geometry(f"{WIDTH}x{HEIGHT}+0+0")
    canvas = tk.Canvas(root, width=WIDTH, height=HEIGHT, bg="white", highlightthickness=0)
    canvas.pack()
    x = data["x"]
    series = data["series"]
    ys = [v for values in series.values() for v in values if math.isfinite(v)]
    x0, x1 = min(x), max(x) if len(x) > 1 else min(x) + 1
    y0, y1 = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 1, y1 + 1

    def px(v: float) -> float:
        return MARGIN + (v - x0) / ((x1 - x0) or 1) * (WIDTH - 2 * MARGIN)

    def py(v: float) -> float:
        return HEIGHT - MARGIN - (v - y0) / (y1 - y0) * (HEIGHT - 2 * MARGIN)

    canvas.create_rectangle(MARGIN, MARGIN, WIDTH - MARGIN, HEIGHT - MARGIN, outline="#888")
    canvas.create_text(WIDTH / 2, 14, text=data.get("title", "waveform"))
    canvas.create_text(MARGIN, HEIGHT - 14, text=f"{x0:.3g}", anchor="w")
    canvas.create_text(WIDTH - MARGIN, HEIGHT - 14, text=f"{x1:.3g} {data.get('x_name', '')}", anchor="e")
    canvas.create_text(4, MARGIN, text=f"{y1:.3g}", anchor="w")
    canvas.create_text(4, HEIGHT - MARGIN, text=f"{y0:.3g}", anchor="w")
    for i, (name, values) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        points = [c for xv, yv in zip(x, values, strict=False) if math.isfinite(yv) for c in (px(xv), py(yv))]
        if len(points) >= 4:
            canvas.create_line(*points, fill=colour, width=2)
        canvas.create_text(WIDTH - MARGIN - 4, MARGIN + 12 + 14 * i, text=name, fill=colour, anchor="e")
    root.update()
    image = ImageGrab.grab(bbox=(0, 0, WIDTH, HEIGHT), xdisplay=display)
    root.destroy()
    image.save(out, "PNG")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
