"""The one error a stream reader raises."""

from __future__ import annotations


class StreamError(Exception):
    """A stream that is not a valid save image: where, in which part, why.

    `record` names the part at fault: a record type ("PAGE_DATA", "libxl
    END", "LIBXC_CONTEXT") or a header ("image header", "domain header",
    "libxl header", "xl header", "record header"). `offset` is the byte
    offset, counted from where reading began, of the start of that record or
    of the field at fault. str() reads
    `stream:0x1a40: PAGE_DATA record: pfn 0x12345 beyond the p2m (max 0x3fff)`.
    """

    def __init__(self, message: str, record: str, offset: int):
        self.message = message
        self.record = record
        self.offset = offset
        part = record if record.endswith("header") else f"{record} record"
        super().__init__(f"stream:{offset:#x}: {part}: {message}")
