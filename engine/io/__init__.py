"""Files in and out: images and their headers, depth maps, depth embedded in phone photos, metadata,
colour transfer curves, the bundled samples, data folders and video (:mod:`.video`). Imports nothing
from the rest of the engine but its basics (errors, constants, extras, xp)."""
