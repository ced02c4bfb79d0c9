"""Xen's migration stream v2 for x86 PV guests: libxc's stream, libxl's
stream around it and xl's save-file header around that.

    layout    the formats' numbers and the per-width table (WIDTHS)
    image     DomainImage: what a stream carries, as values
    rules     the record order and PAGE_DATA checks writer and reader share
    writer    StreamWriter (record by record, for live rounds), write_libxc
    reader    StreamReader (record by record), read_libxc
    savefile  write_save_file / read_save_file in the xl, libxl and libxc formats
    errors    StreamError, the one error a reader raises
"""

from .errors import StreamError
from .image import DomainImage, Page, TscInfo, VcpuState, p2m_frame_count, p2m_frame_pages
from .layout import BROKEN, L1TAB, L2TAB, L3TAB, L4TAB, LPINTAB, NOTAB, WIDTHS, XALLOC, XTAB
from .reader import PageBatch, Record, StreamReader, read_libxc
from .savefile import FORMATS, SaveFile, begin_save_file, open_save_file, read_save_file, write_save_file
from .writer import StreamWriter, write_libxc

__all__ = [
    "BROKEN", "DomainImage", "FORMATS", "L1TAB", "L2TAB", "L3TAB", "L4TAB", "LPINTAB", "NOTAB", "Page",
    "PageBatch", "Record", "SaveFile", "StreamError", "StreamReader", "StreamWriter", "TscInfo", "VcpuState",
    "WIDTHS", "XALLOC", "XTAB", "begin_save_file", "open_save_file", "p2m_frame_count", "p2m_frame_pages",
    "read_libxc", "read_save_file", "write_libxc", "write_save_file",
]
