"""Google Dynamic Depth 1.0 (Android portrait photos): the depth map as an item
appended to the JPEG.

The XMP holds a ``Device`` whose ``Container:Directory`` lists the file's items
in order (``Item:Mime``, ``Item:Length``, ``Item:Padding``, ``Item:DataURI``):
the first is the primary image (the JPEG itself), the others follow its end,
each ``Length`` bytes then ``Padding`` bytes, so they are found from the end of
the file. A ``Camera:DepthMap`` (``Format`` RangeInverse/RangeLinear, ``Near``,
``Far``, ``Units`` Meters/Diopters/None, ``DepthURI``) names the depth item;
a ``Camera:Image`` with ``ItemSemantic="Original"`` names the camera's image
before its own effects, refocused instead of the primary when present.
Sizes are checked against the file before anything is sliced.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .embedded_depth import EmbeddedDepth, depth_values, range_to_disparity

NS_DEVICE = "http://ns.google.com/photos/dd/1.0/device/"
NS_CONTAINER = "http://ns.google.com/photos/dd/1.0/container/"
NS_ITEM = "http://ns.google.com/photos/dd/1.0/item/"
NS_CAMERA = "http://ns.google.com/photos/dd/1.0/camera/"
NS_DEPTHMAP = "http://ns.google.com/photos/dd/1.0/depthmap/"
NS_IMAGE = "http://ns.google.com/photos/dd/1.0/image/"


def _items(roots, name: str) -> list[dict]:
    """The container directory's items in order: {"mime", "length", "padding", "uri"}."""
    out = []
    for root in roots:
        for el in root.iter(f"{{{NS_CONTAINER}}}Item"):
            a = {k.split("}")[-1]: v for k, v in el.attrib.items() if k.startswith(f"{{{NS_ITEM}}}")}
            try:
                length, padding = int(a.get("Length", "0") or 0), int(a.get("Padding", "0") or 0)
            except ValueError:
                raise InputError(f"{name}: Dynamic Depth item Length/Padding is not a whole number") from None
            if length < 0 or padding < 0:
                raise InputError(f"{name}: Dynamic Depth item declares a negative length ({length}, {padding})")
            out.append({"mime": a.get("Mime", ""), "length": length, "padding": padding, "uri": a.get("DataURI", "")})
    return out


def _item_bytes(data: bytes, items: list[dict], uri: str, name: str) -> bytes:
    """The bytes of the item named ``uri`` (items after the first are at the file's end)."""
    index = next((i for i, it in enumerate(items) if it["uri"] == uri), None)
    if index is None or index == 0:
        raise InputError(f"{name}: Dynamic Depth names item '{uri[:60]}' but its container lists none after "
                         "the primary image")
    tail = sum(it["length"] + it["padding"] for it in items[index:])
    start = len(data) - tail
    if start <= 0 or items[index]["length"] == 0:
        raise InputError(f"{name}: Dynamic Depth items declare {tail} bytes after the image but the file has "
                         f"{len(data)} in all (truncated or corrupt)")
    return data[start:start + items[index]["length"]]


def _attrs(el, ns: str) -> dict:
    return {k.split("}")[-1]: v for k, v in el.attrib.items() if k.startswith(f"{{{ns}}}")}


def _number(d: dict, key: str, name: str) -> float:
    try:
        x = float(d[key])
    except (KeyError, ValueError):
        raise InputError(f"{name}: DepthMap:{key} is missing or not a number") from None
    if not np.isfinite(x) or x <= 0:
        raise InputError(f"{name}: DepthMap:{key} = {x:g} (must be positive)")
    return x


def dynamic_depth(data: bytes, name: str) -> EmbeddedDepth | None:
    """The Dynamic Depth depth map of a JPEG, as disparity (larger = nearer), or None."""
    from .images import decode_raw
    from .xmp import jpeg_xmp_trees

    roots = jpeg_xmp_trees(data, name, needle=NS_DEPTHMAP.encode())
    maps = [el for r in roots for el in r.iter(f"{{{NS_CAMERA}}}DepthMap")]
    if not maps:
        return None
    dm = _attrs(maps[0], NS_DEPTHMAP)
    fmt = dm.get("Format", "RangeInverse")
    if fmt not in ("RangeInverse", "RangeLinear"):
        raise InputError(f"{name}: DepthMap:Format '{fmt[:40]}' is not RangeInverse or RangeLinear")
    near, far = _number(dm, "Near", name), _number(dm, "Far", name)
    if near == far:
        raise InputError(f"{name}: DepthMap:Near and DepthMap:Far are equal ({near:g})")
    items = _items(roots, name)
    raw = decode_raw(_item_bytes(data, items, dm.get("DepthURI", ""), name), f"{name} (Dynamic Depth map)",
                     "embedded depth map")
    disp = range_to_disparity(depth_values(raw, name), fmt, near, far, diopters=dm.get("Units", "").lower() == "diopters")
    original = None
    for r in roots:
        for el in r.iter(f"{{{NS_CAMERA}}}Image"):
            im = _attrs(el, NS_IMAGE)
            if im.get("ItemSemantic") == "Original" and im.get("ItemURI"):
                original = _item_bytes(data, items, im["ItemURI"], name)
    return EmbeddedDepth(disp.astype(np.float32), f"Dynamic Depth {fmt} {raw.shape[1]}x{raw.shape[0]}"
                         + (" with the original image" if original else ""), original)
