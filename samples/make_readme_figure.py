"""Make the README's before/after picture from the bundled motorcycle sample.

    python samples/make_readme_figure.py   # writes samples/motorcycle-before-after.jpg
"""

from pathlib import Path

import cv2
import numpy as np

from deocused.io.colour import srgb_to_linear
from deocused.io.depthmap import to_disparity
from deocused.io.samples import load_sample
from deocused.render.backends import make_renderer
from deocused.render.optics import focus_disparity_at

img, raw, _ = load_sample("motorcycle")
disp = to_disparity(raw)
r = make_renderer("auto")
r.prepare(srgb_to_linear(img), disp)
near = r.render_srgb8(focus_disparity_at(disp, 300, 250), 30.0)   # engine block sharp
far = r.render_srgb8(focus_disparity_at(disp, 600, 60), 30.0)     # background sharp
before = np.rint(img * 255).astype(np.uint8)
tiles = [before, near, far]
labels = ["input", "focus: engine (click 300,250)", "focus: background (click 600,60)"]
out = []
for t, label in zip(tiles, labels):
    t = cv2.resize(np.ascontiguousarray(t[:, :, ::-1]), (370, 250), interpolation=cv2.INTER_AREA)
    cv2.putText(t, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    out.append(t)
path = Path(__file__).resolve().parent / "motorcycle-before-after.jpg"
cv2.imwrite(str(path), np.hstack(out), [cv2.IMWRITE_JPEG_QUALITY, 88])
print("wrote", path)
