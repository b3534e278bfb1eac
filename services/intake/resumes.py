"""What a résumé file is, by its bytes: the name and the type a board claims are not trusted.

PDF, DOC, DOCX, RTF, ODT and plain text are taken; anything else is refused with what it looks
like instead (an executable named `cv.pdf` is refused as an executable)."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile

PDF = "application/pdf"
DOC = "application/msword"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
RTF = "application/rtf"
ODT = "application/vnd.oasis.opendocument.text"
TXT = "text/plain"
EXTENSIONS = {PDF: ".pdf", DOC: ".doc", DOCX: ".docx", RTF: ".rtf", ODT: ".odt", TXT: ".txt"}

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_LOOKS_LIKE = (  # what refused files are, to say so
    (b"MZ", "a Windows executable"), (b"\x7fELF", "a Linux executable"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable"), (b"\xca\xfe\xba\xbe", "a macOS executable"),
    (b"#!", "a script"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"), (b"Rar!", "a RAR archive"), (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"), (b"<", "HTML or XML"),
)
_TEXT_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")


class NotAResume(ValueError):
    """The file is not one of the formats taken; the message says what it looks like."""


def sniff(data: bytes) -> str:
    """The content type of `data`, from its bytes; NotAResume when it is none we take."""
    if not data:
        raise NotAResume("the résumé is empty")
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"{\\rtf"):
        return RTF
    if data.startswith(_OLE2):
        return DOC  # Word 97-2003 (an OLE2 compound file)
    if data.startswith(b"PK\x03\x04"):
        return _zipped(data)
    for magic, what in _LOOKS_LIKE:
        if data.startswith(magic):
            raise NotAResume(f"the résumé is {what}, not a PDF, DOC, DOCX, RTF, ODT or text file")
    if _is_text(data):
        return TXT
    raise NotAResume("the résumé is binary data of no format taken (PDF, DOC, DOCX, RTF, ODT or text)")


MEMBER_READ = 256
"""The most bytes of an archive member read to tell its type (ODT's `mimetype` is 39): a read
stops there whatever the member claims, so a small archive cannot inflate in memory."""


def _zipped(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                info = archive.getinfo("mimetype")
                with archive.open(info) as member:
                    # read(n) inflates at most about n bytes (zipfile asks zlib for n at a time);
                    # read() would inflate the whole compressed member at once.
                    head = member.read(MEMBER_READ)
                    if len(head) < MEMBER_READ and member.read(1):
                        raise NotAResume("the résumé is a ZIP archive whose members lie about their sizes")
                if len(head) != info.file_size or info.file_size >= MEMBER_READ:
                    raise NotAResume("the résumé is a ZIP archive whose members lie about their sizes")
                if head.strip() == ODT.encode():
                    return ODT
            if "[Content_Types].xml" in names and any(n.startswith("word/") for n in names):
                return DOCX
    except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError, EOFError, RuntimeError):
        raise NotAResume("the résumé is a damaged ZIP archive") from None
    raise NotAResume("the résumé is a ZIP archive, not a DOCX or ODT document")


def _is_text(data: bytes) -> bool:
    sample = data[:65_536]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # a character cut at the sample's end is fine
            return False
    return _TEXT_CONTROLS.search(sample) is None


def safe_filename(name: str | None, content_type: str) -> str:
    """A file name fit to store and to send back: no path, no control characters, at most 255
    characters, with the extension of what the file is."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C").strip(" .")
    extension = EXTENSIONS[content_type]
    stem = base[: -len(base.rsplit(".", 1)[-1]) - 1] if "." in base else base
    stem = (stem or "resume")[: 255 - len(extension)]
    return stem + extension
