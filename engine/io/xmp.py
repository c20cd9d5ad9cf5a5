"""XMP metadata of a JPEG, read as untrusted input.

* :func:`jpeg_xmp` -- the standard XMP packet (APP1 ``http://ns.adobe.com/xap/1.0/``)
  and the extended XMP (APP1 ``http://ns.adobe.com/xmp/extension/`` segments: a
  32-character GUID, the full length and this chunk's offset, both 32-bit
  big-endian, then the chunk; XMP specification part 3, 1.1.3.1), reassembled.
* :func:`jpeg_xmp_trees` -- the same, parsed (for structures such as Dynamic
  Depth's container directory); :func:`properties` / :func:`xmp_properties` --
  the simple properties of every ``rdf:Description`` (attributes and text-only
  child elements), keyed ``(namespace URI, name)``.

XML is parsed by defusedxml: DTDs, entity declarations and external references
are refused, so an entity bomb costs nothing. Sizes are bounded by
:data:`~deocused.constants.MAX_XMP_BYTES`. Problems raise a one-line
:class:`~deocused.errors.InputError`.
"""

from __future__ import annotations

import hashlib
import logging
import struct

from ..constants import MAX_XMP_BYTES
from ..errors import InputError
from .imageinfo import _jpeg_segments

log = logging.getLogger("deocused")

XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
EXT_ID = b"http://ns.adobe.com/xmp/extension/\x00"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_XMPNOTE = "http://ns.adobe.com/xmp/note/"


def _app1_payloads(data: bytes):
    for marker, off, size in _jpeg_segments(data):
        if marker == 0xE1:
            yield data[off:off + size]


def _extended(chunks: list[bytes], guid: str, name: str) -> bytes:
    """The extended XMP named ``guid``, reassembled from its segments' chunks."""
    total, parts = None, {}
    for c in chunks:
        if len(c) < 40:
            raise InputError(f"{name}: extended XMP segment is truncated ({len(c)} bytes)")
        if c[:32].decode("latin-1") != guid:
            continue  # another extension's segments: not ours (the spec says to ignore them)
        length, offset = struct.unpack_from(">II", c, 32)
        if total is None:
            total = length
        if length != total:
            raise InputError(f"{name}: extended XMP segments disagree on its length ({total} and {length} bytes)")
        if total > MAX_XMP_BYTES:
            raise InputError(f"{name}: extended XMP declares {total} bytes, more than the "
                             f"{MAX_XMP_BYTES >> 20} MiB supported")
        if offset + len(c) - 40 > total:
            raise InputError(f"{name}: extended XMP segment at offset {offset} runs past its declared "
                             f"length ({total} bytes)")
        parts[offset] = c[40:]
    if total is None:
        raise InputError(f"{name}: the XMP names extended XMP {guid} but the file has none of its segments")
    out, pos = bytearray(), 0
    for offset in sorted(parts):
        if offset != pos:
            raise InputError(f"{name}: extended XMP is incomplete (bytes {pos} to {offset} missing)")
        out += parts[offset]
        pos += len(parts[offset])
    if pos != total:
        raise InputError(f"{name}: extended XMP is truncated ({pos} of {total} bytes)")
    if hashlib.md5(out).hexdigest().upper() != guid.upper():
        log.warning("%s: extended XMP does not match its GUID (MD5 digest); reading it anyway", name)
    return bytes(out)


def jpeg_xmp_trees(data: bytes, name: str = "<image>", needle: bytes = b"") -> list:
    """The parsed standard XMP packet of a JPEG and, when it names one, its
    extended XMP (ElementTree roots; [] when there is no XMP). With ``needle``, a
    standard packet without that byte string (e.g. a namespace URI) is not
    parsed: the caller has no use for it, and a broken XMP that it would not
    read is no reason to refuse the photo."""
    main, ext_chunks = None, []
    for payload in _app1_payloads(data):
        if payload.startswith(XMP_ID) and main is None:
            main = payload[len(XMP_ID):]
        elif payload.startswith(EXT_ID):
            ext_chunks.append(payload[len(EXT_ID):])
    if main is None or needle not in main:
        return []
    root = parse_xmp(main, name)
    guid = properties(root).get((NS_XMPNOTE, "HasExtendedXMP"))
    if not guid:
        return [root]
    return [root, parse_xmp(_extended(ext_chunks, guid.strip(), name), name)]


def jpeg_xmp(data: bytes, name: str = "<image>", needle: bytes = b"") -> tuple[dict, dict]:
    """:func:`properties` of a JPEG's standard XMP and of its extended XMP (empty dicts when absent)."""
    trees = jpeg_xmp_trees(data, name, needle) + [None, None]
    return tuple(properties(t) if t is not None else {} for t in trees[:2])


def xmp_properties(packet: bytes, name: str = "<image>") -> dict[tuple[str, str], str]:
    """Simple properties of an XMP packet: ``{(namespace URI, local name): text}``."""
    return properties(parse_xmp(packet, name))


def parse_xmp(packet: bytes, name: str = "<image>"):
    """An XMP packet parsed by defusedxml (its ElementTree root)."""
    import defusedxml.ElementTree as ET
    from defusedxml import DefusedXmlException

    if len(packet) > MAX_XMP_BYTES:
        raise InputError(f"{name}: XMP is {len(packet)} bytes, more than the {MAX_XMP_BYTES >> 20} MiB supported")
    try:
        root = ET.fromstring(packet.rstrip(b"\x00"), forbid_dtd=True)
    except DefusedXmlException as e:
        raise InputError(f"{name}: XMP refused ({type(e).__name__}: DTDs and entities are not allowed)") from None
    except Exception as e:  # xml.etree ParseError and friends
        raise InputError(f"{name}: XMP is not well-formed XML ({str(e).splitlines()[0][:200]})") from None
    return root


def properties(root) -> dict[tuple[str, str], str]:
    """Simple properties of every ``rdf:Description`` of a parsed XMP packet:
    ``{(namespace URI, local name): text}`` (attributes and text-only children)."""
    out: dict[tuple[str, str], str] = {}
    for desc in root.iter(f"{{{NS_RDF}}}Description"):
        for key, value in desc.attrib.items():
            out.setdefault(split_name(key), value)
        for child in desc:
            if len(child) == 0 and child.text is not None:
                out.setdefault(split_name(child.tag), child.text.strip())
    return out


def split_name(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag
