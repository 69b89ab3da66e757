"""The CRS of an import's coordinates: checked before PROJ sees it, then a cached transformer.

Moved out of `rows` (which applies the transformer): a CRS comes from user input (form, API
query, CLI) and PROJ would read whatever file it names. No Flask.
"""

from __future__ import annotations

import functools
import re

from ..errors import BadRequest


#: CRS given as an authority code (EPSG:3978, ESRI:102001), a bare EPSG number or an OGC URN.
_CRS_CODE = re.compile(r"^\s*(?:[A-Za-z][A-Za-z0-9_]{0,15}:\s*[A-Za-z0-9_.]{1,20}|\d{1,6}"
                       r"|urn:ogc:def:crs:[A-Za-z0-9_]+:[0-9.]*:[A-Za-z0-9_.]+)\s*$")
#: WKT starts with its CRS keyword and a bracket.
_CRS_WKT = re.compile(r"^\s*[A-Z][A-Z0-9_]*\s*[\[(]")
#: PROJ string parameters that make PROJ open a file (an init file, grids) or fetch one.
_PROJ_FILE_KEYS = re.compile(r"(?:^|[\s+])\+?(init|[a-z_]*grids?|file|url)\s*=", re.I)
#: WKT elements that name files (WKT2 PARAMETERFILE; WKT1 EXTENSION with PROJ strings/grids).
_WKT_FILE_KEYS = re.compile(r"\b(?:PARAMETERFILE|EXTENSION)\b", re.I)


def check_crs(crs: str) -> None:
    """Refuse a CRS whose definition would make PROJ open a file, before PROJ sees it.

    Accepted: authority codes (``EPSG:3978``, a bare ``3978``, OGC URNs), WKT, and PROJ
    strings (``+proj=...``) without ``init=`` or grid parameters. Refused: anything naming a
    file: ``+init=``, ``+nadgrids=``, ``+geoidgrids=``, ``+grids=`` and other grid or file
    parameters, WKT ``PARAMETERFILE``/``EXTENSION``, ``@``-prefixed names, paths and
    PROJJSON (which can also name grids). A CRS comes from user input (form, API query, CLI)
    and PROJ would read whatever file it names.

    Raises
    ------
    BadRequest
    """
    text = str(crs)
    if _CRS_CODE.match(text):
        return
    refused = ""
    if text.lstrip().startswith("{"):
        refused = "PROJJSON is not accepted (it can name grid files)"
    elif "@" in text or "\\" in text or "\x00" in text:
        refused = "it names a file"
    elif _CRS_WKT.match(text):
        if _WKT_FILE_KEYS.search(text):
            refused = "its WKT names a file (PARAMETERFILE or EXTENSION)"
    elif text.lstrip().startswith("+") or "proj=" in text:
        found = _PROJ_FILE_KEYS.search(text)
        if found:
            refused = f"+{found.group(1).lower()}= makes PROJ read a file"
        elif "/" in text:
            refused = "it names a file"
    else:
        refused = "it is not an EPSG code, WKT or a PROJ string"
    if refused:
        raise BadRequest(
            f"CRS {crs!r} is not accepted: {refused}. Give an EPSG code (EPSG:3978), WKT, or "
            "a PROJ string without init= or grid files (+proj=lcc +lat_1=49 ...)",
            details={"field": "crs", "value": crs})


@functools.lru_cache(maxsize=16)
def transformer_for(crs: str):
    """Return a cached pyproj Transformer from `crs` to EPSG:4326 (x=lon, y=lat), or None.

    The CRS is checked first (`check_crs`): PROJ never sees a definition that names a file.
    """
    import pyproj

    check_crs(crs)
    try:
        source = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise BadRequest(f"CRS {crs!r} is not a known EPSG code or PROJ string",
                         details={"field": "crs", "value": crs}) from None
    if source.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True):
        return None
    return pyproj.Transformer.from_crs(source, "EPSG:4326", always_xy=True)
