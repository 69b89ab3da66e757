"""Writing small workbooks for tests: .xlsx/.xlsm and .ods with the zipfile module only,
old-style .xls with xlwt (the one writer of that format; a test-only dependency).

`xlsx_bytes({"Sheet": [[cell, ...], ...]})`: str cells become inline strings (kept as text,
``"0104"`` included), int/float numbers, `datetime.date`/`datetime.datetime` real date cells
(Excel serial numbers with a date number format), None empty cells. ``macro=True`` makes it a
macro-enabled workbook (.xlsm: the same parts under the macro-enabled content type).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from xml.sax.saxutils import escape

_EPOCH = dt.datetime(1899, 12, 30)


def _col(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def _cell(ref: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return (f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(value)}'
                f'</t></is></c>')
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, dt.datetime):
        serial = (value - _EPOCH).total_seconds() / 86400
        return f'<c r="{ref}" s="2"><v>{serial!r}</v></c>'
    if isinstance(value, dt.date):
        serial = (dt.datetime.combine(value, dt.time()) - _EPOCH).days
        return f'<c r="{ref}" s="1"><v>{serial}</v></c>'
    return f'<c r="{ref}"><v>{value!r}</v></c>'


def _sheet(rows) -> str:
    body = []
    for r, row in enumerate(rows, start=1):
        cells = "".join(_cell(f"{_col(c)}{r}", v) for c, v in enumerate(row))
        body.append(f'<row r="{r}">{cells}</row>')
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<sheetData>{"".join(body)}</sheetData></worksheet>')


def xlsx_bytes(sheets: dict[str, list[list]], *, macro: bool = False) -> bytes:
    """A minimal SpreadsheetML workbook holding `sheets` in order (.xlsm with `macro`)."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    names = list(sheets)
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(names) + 1))
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="'
        + ("application/vnd.ms-excel.sheet.macroEnabled.main+xml" if macro else
           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")
        + '"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
        f'officedocument.spreadsheetml.styles+xml"/>{overrides}</Types>')
    root_rels = (f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}">'
                 f'<Relationship Id="rId1" Type="{rel}/officeDocument" '
                 'Target="xl/workbook.xml"/></Relationships>')
    sheet_list = "".join(f'<sheet name="{escape(n)}" sheetId="{i}" r:id="rId{i}"/>'
                         for i, n in enumerate(names, start=1))
    workbook = (f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" '
                f'xmlns:r="{rel}"><sheets>{sheet_list}</sheets></workbook>')
    wb_rels = "".join(f'<Relationship Id="rId{i}" Type="{rel}/worksheet" '
                      f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(names) + 1))
    n = len(names) + 1
    wb_rels = (f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}">{wb_rels}'
               f'<Relationship Id="rId{n}" Type="{rel}/styles" Target="styles.xml"/>'
               '</Relationships>')
    styles = (f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{main}">'
              '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/>'
              '</numFmts><fonts count="1"><font/></fonts><fills count="1"><fill/></fills>'
              '<borders count="1"><border/></borders><cellStyleXfs count="1"><xf/>'
              '</cellStyleXfs><cellXfs count="3"><xf numFmtId="0"/>'
              '<xf numFmtId="14" applyNumberFormat="1"/>'
              '<xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", root_rels)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", wb_rels)
        archive.writestr("xl/styles.xml", styles)
        for i, name in enumerate(names, start=1):
            archive.writestr(f"xl/worksheets/sheet{i}.xml", _sheet(sheets[name]))
    return buffer.getvalue()


def _ods_cell(value) -> str:
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, str):
        paragraphs = "".join(f"<text:p>{escape(p)}</text:p>" for p in value.split("\n"))
        return f'<table:table-cell office:value-type="string">{paragraphs}</table:table-cell>'
    if isinstance(value, (dt.date, dt.datetime)):
        return (f'<table:table-cell office:value-type="date" office:date-value='
                f'"{value.isoformat()}"><text:p>{value.isoformat()}</text:p></table:table-cell>')
    return (f'<table:table-cell office:value-type="float" office:value="{value!r}">'
            f'<text:p>{value!r}</text:p></table:table-cell>')


def ods_bytes(sheets: dict[str, list[list]]) -> bytes:
    """A minimal OpenDocument spreadsheet holding `sheets` in order (cells as `xlsx_bytes`)."""
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')
    tables = "".join(
        f'<table:table table:name="{escape(name)}">'
        + "".join("<table:table-row>" + ("".join(_ods_cell(v) for v in row) or
                                         "<table:table-cell/>") + "</table:table-row>"
                  for row in rows)
        + "</table:table>" for name, rows in sheets.items())
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
               'office:version="1.2"><office:body><office:spreadsheet>'
               f'{tables}</office:spreadsheet></office:body></office:document-content>')
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:'
        'names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.'
        'oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path='
        '"content.xml" manifest:media-type="text/xml"/></manifest:manifest>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet",
                         compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def xlsm_bytes(sheets: dict[str, list[list]]) -> bytes:
    """A macro-enabled workbook (.xlsm) holding `sheets` (cells as `xlsx_bytes`)."""
    return xlsx_bytes(sheets, macro=True)


def xls_bytes(sheets: dict[str, list[list]]) -> bytes:
    """An old-style Excel workbook (.xls, BIFF8) holding `sheets` (cells as `xlsx_bytes`)."""
    import xlwt

    book = xlwt.Workbook()
    day = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    moment = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm")
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, dt.datetime):
                    sheet.write(r, c, value, moment)
                elif isinstance(value, dt.date):
                    sheet.write(r, c, value, day)
                else:
                    sheet.write(r, c, value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
