"""Python access to a Cistern cluster through the C API (libcistern_c.so) and ctypes.

    import cistern
    fs = cistern.FileSystem("127.0.0.1:7700")
    fs.write("/data/hello.txt", b"hello")
    assert fs.read("/data/hello.txt") == b"hello"
    for entry in fs.list("/data"):
        print(entry.path, entry.length)

The library is found at $CISTERN_C_LIBRARY, else as "libcistern_c.so" on the loader's path.
Errors raise CisternError with the status code name (NOT_FOUND, ALREADY_EXISTS, ...) and the
message; NotFoundError and AlreadyExistsError are subclasses for the common cases.
"""

import ctypes
import os
from dataclasses import dataclass
from typing import Iterator, List, Optional

__all__ = ["FileSystem", "FileInfo", "Reader", "CisternError", "NotFoundError", "AlreadyExistsError"]

_CODE_NAMES = {
    1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS",
}


class CisternError(Exception):
    """A failed Cistern call: `code` is the status code number, `code_name` its name."""

    def __init__(self, code: int, message: str):
        self.code = code
        self.code_name = _CODE_NAMES.get(code, str(code))
        super().__init__(f"{self.code_name}: {message}")


class NotFoundError(CisternError, FileNotFoundError):
    pass


class AlreadyExistsError(CisternError, FileExistsError):
    pass


class _CFileInfo(ctypes.Structure):
    _fields_ = [
        ("path", ctypes.c_char_p),
        ("is_directory", ctypes.c_int),
        ("length", ctypes.c_int64),
        ("block_size_bytes", ctypes.c_int64),
        ("mode", ctypes.c_uint32),
        ("modification_time_ms", ctypes.c_int64),
        ("completed", ctypes.c_int),
        ("persisted", ctypes.c_int),
        ("pinned", ctypes.c_int),
        ("in_cache_percentage", ctypes.c_int),
    ]


@dataclass(frozen=True)
class FileInfo:
    path: str
    is_directory: bool
    length: int
    block_size_bytes: int
    mode: int
    modification_time_ms: int
    completed: bool
    persisted: bool
    pinned: bool
    in_cache_percentage: int

    @staticmethod
    def _from_c(c: _CFileInfo) -> "FileInfo":
        return FileInfo(c.path.decode(), bool(c.is_directory), c.length, c.block_size_bytes, c.mode,
                        c.modification_time_ms, bool(c.completed), bool(c.persisted), bool(c.pinned),
                        c.in_cache_percentage)


_LIST_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_CFileInfo), ctypes.c_void_p)
_lib = None


def _load():
    global _lib
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL(os.environ.get("CISTERN_C_LIBRARY", "libcistern_c.so"))
    vp, cp, i64, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_size_t
    pvp = ctypes.POINTER(ctypes.c_void_p)
    sigs = {
        "cistern_last_error": (cp, []),
        "cistern_connect": (ctypes.c_int, [cp, cp, pvp]),
        "cistern_disconnect": (None, [vp]),
        "cistern_mkdir": (ctypes.c_int, [vp, cp, ctypes.c_int]),
        "cistern_delete": (ctypes.c_int, [vp, cp, ctypes.c_int]),
        "cistern_rename": (ctypes.c_int, [vp, cp, cp]),
        "cistern_exists": (ctypes.c_int, [vp, cp, ctypes.POINTER(ctypes.c_int)]),
        "cistern_stat": (ctypes.c_int, [vp, cp, ctypes.POINTER(_CFileInfo)]),
        "cistern_list": (ctypes.c_int, [vp, cp, ctypes.c_int, _LIST_FN, vp]),
        "cistern_create": (ctypes.c_int, [vp, cp, cp, ctypes.c_int, pvp]),
        "cistern_write": (ctypes.c_int, [vp, ctypes.c_char_p, sz]),
        "cistern_writer_close": (ctypes.c_int, [vp]),
        "cistern_writer_abort": (None, [vp]),
        "cistern_open": (ctypes.c_int, [vp, cp, pvp]),
        "cistern_read": (i64, [vp, vp, sz]),
        "cistern_pread": (i64, [vp, i64, vp, sz]),
        "cistern_reader_length": (i64, [vp]),
        "cistern_reader_close": (None, [vp]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    _lib = lib
    return lib


def _raise(code: int):
    message = _load().cistern_last_error().decode(errors="replace")
    cls = {5: NotFoundError, 6: AlreadyExistsError}.get(code, CisternError)
    raise cls(code, message)


def _check(code: int):
    if code != 0:
        _raise(code)


class Reader:
    """A completed file opened for reading; use as a context manager or call close()."""

    def __init__(self, handle):
        self._h = handle
        self.length = _load().cistern_reader_length(handle)

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes from the current position (all the rest if size < 0)."""
        lib = _load()
        if size < 0:
            chunks = []
            while True:
                chunk = self.read(4 << 20)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        buf = ctypes.create_string_buffer(size)
        n = lib.cistern_read(self._h, buf, size)
        if n < 0:
            _raise(-n)
        return buf.raw[:n]

    def pread(self, offset: int, size: int) -> bytes:
        buf = ctypes.create_string_buffer(size)
        n = _load().cistern_pread(self._h, offset, buf, size)
        if n < 0:
            _raise(-n)
        return buf.raw[:n]

    def close(self):
        if self._h:
            _load().cistern_reader_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class FileSystem:
    """A connection to a Cistern cluster. `masters` is "host:port[,host:port]"; `conf_file` a
    cistern.properties for the client settings (user.* keys)."""

    def __init__(self, masters: Optional[str] = None, conf_file: Optional[str] = None):
        lib = _load()
        handle = ctypes.c_void_p()
        _check(lib.cistern_connect(masters.encode() if masters else None,
                                   conf_file.encode() if conf_file else None, ctypes.byref(handle)))
        self._h = handle

    def close(self):
        if self._h:
            _load().cistern_disconnect(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def mkdir(self, path: str, recursive: bool = False):
        _check(_load().cistern_mkdir(self._h, path.encode(), int(recursive)))

    def delete(self, path: str, recursive: bool = False):
        _check(_load().cistern_delete(self._h, path.encode(), int(recursive)))

    def rename(self, src: str, dst: str):
        _check(_load().cistern_rename(self._h, src.encode(), dst.encode()))

    def exists(self, path: str) -> bool:
        out = ctypes.c_int()
        _check(_load().cistern_exists(self._h, path.encode(), ctypes.byref(out)))
        return bool(out.value)

    def stat(self, path: str) -> FileInfo:
        info = _CFileInfo()
        _check(_load().cistern_stat(self._h, path.encode(), ctypes.byref(info)))
        return FileInfo._from_c(info)

    def list(self, path: str, recursive: bool = False) -> List[FileInfo]:
        entries: List[FileInfo] = []

        def visit(info_ptr, _arg):
            entries.append(FileInfo._from_c(info_ptr.contents))
            return 0

        _check(_load().cistern_list(self._h, path.encode(), int(recursive), _LIST_FN(visit), None))
        return entries

    def write(self, path: str, data: bytes, write_type: Optional[str] = None, overwrite: bool = False):
        """Creates `path` (and missing parents) with `data`; visible only once complete."""
        lib = _load()
        writer = ctypes.c_void_p()
        _check(lib.cistern_create(self._h, path.encode(), write_type.encode() if write_type else None,
                                  int(overwrite), ctypes.byref(writer)))
        view = memoryview(data)
        step = 4 << 20
        for start in range(0, len(view), step):
            code = lib.cistern_write(writer, bytes(view[start:start + step]), min(step, len(view) - start))
            if code != 0:
                message = lib.cistern_last_error()
                lib.cistern_writer_abort(writer)
                raise CisternError(code, message.decode(errors="replace"))
        _check(lib.cistern_writer_close(writer))

    def open(self, path: str) -> Reader:
        handle = ctypes.c_void_p()
        _check(_load().cistern_open(self._h, path.encode(), ctypes.byref(handle)))
        return Reader(handle)

    def read(self, path: str) -> bytes:
        with self.open(path) as reader:
            return reader.read()
