"""Write the synthetic sample (exact depth) as files: synthetic.png + synthetic.depth.png.

    python samples/make_synthetic.py

The scene is ray-cast by deocused.io.samples.synthetic_scene; the depth file is
16-bit normalised disparity, so ``refocus render samples/synthetic.png`` finds it
as a sidecar.
"""

from pathlib import Path

import numpy as np

from deocused.io.depthmap import save_disparity_png, to_disparity
from deocused.io.images import write_image
from deocused.io.samples import synthetic_scene

here = Path(__file__).resolve().parent
img, depth = synthetic_scene()
write_image(here / "synthetic.png", np.rint(img * 255).astype(np.uint8), overwrite=True)
save_disparity_png(here / "synthetic.depth.png", to_disparity(depth, "depth"))
print("wrote", here / "synthetic.png", "and", here / "synthetic.depth.png")
