"""The FluidSynth library: loading it, its version, and one synth object with a safe lifecycle.

pyfluidsynth finds and opens libfluidsynth from the OS; this module declares the few C
functions Auralis needs on that same library with plain ``argtypes`` (faster than
pyfluidsynth's keyword-flag prototypes on the hot path) and wraps a synth in
:class:`FluidSynth`, whose C objects are deleted exactly once:

- :meth:`FluidSynth.close` is idempotent and thread-safe; rendering holds the same lock, so a
  synth is never deleted while another thread renders with it;
- ``__del__`` and an ``atexit`` hook call the same ``close`` (naive wrappers delete twice
  there, which hangs or crashes shutdown).

No audio driver is ever created: synths render to memory only (``audio.driver`` is never
started, and ``new_fluid_audio_driver`` is not even declared here).
"""

from __future__ import annotations

import atexit
import ctypes as C
import logging
import os
import shutil
import sys
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("auralis.audio.fluidsynth")

# FluidSynth log levels
_PANIC, _ERR, _WARN, _INFO, _DBG = range(5)


class FluidSynthMissingError(RuntimeError):
    """libfluidsynth (or pyfluidsynth) cannot be loaded; the message says what to install."""


def install_command(what: str = "fluidsynth") -> str:
    """The command that installs FluidSynth (``what='fluidsynth'``) or a GM SoundFont
    (``what='soundfont'``) on this OS."""
    if sys.platform == "darwin":
        if what == "soundfont":
            return (
                "brew install fluid-synth, then put a GM SoundFont such as FluidR3_GM.sf2 in "
                "./soundfonts/ (or set AURALIS_SOUNDFONT)"
            )
        return "brew install fluid-synth"
    if shutil.which("apt-get") or Path("/etc/debian_version").exists():
        if what == "soundfont":
            return "sudo apt-get install fluid-soundfont-gm"
        return "sudo apt-get install fluidsynth libfluidsynth3"
    if shutil.which("dnf"):
        if what == "soundfont":
            return "sudo dnf install fluid-soundfont-gm"
        return "sudo dnf install fluidsynth fluidsynth-libs"
    if shutil.which("pacman"):
        if what == "soundfont":
            return "sudo pacman -S soundfont-fluid"
        return "sudo pacman -S fluidsynth"
    if what == "soundfont":
        return "install your distribution's FluidR3 GM SoundFont package, or set AURALIS_SOUNDFONT"
    return "install FluidSynth 2.x (libfluidsynth) with your system's package manager"


class _Lib:
    """The loaded library with the prototypes Auralis uses."""

    def __init__(self) -> None:
        try:
            # pyfluidsynth; raises ImportError when the C library is absent
            import fluidsynth as pyfs
        except ImportError as exc:
            if "fluidsynth" in str(exc).lower() and "No module named" not in str(exc):
                raise FluidSynthMissingError(
                    f"the FluidSynth library (libfluidsynth) was not found ({exc}); "
                    f"install it with: {install_command()}"
                ) from exc
            raise FluidSynthMissingError(
                f"the Python package pyfluidsynth is not installed ({exc}); install it with: "
                "pip install pyfluidsynth (and FluidSynth itself with: "
                f"{install_command()})"
            ) from exc
        except OSError as exc:
            raise FluidSynthMissingError(
                f"the FluidSynth library could not be opened ({exc}); install it with: "
                f"{install_command()}"
            ) from exc
        self.name: str = str(pyfs.lib)
        fl = pyfs._fl
        self.fl = fl
        vp, ip, dp, cp = C.c_void_p, C.c_int, C.c_double, C.c_char_p

        def proto(name: str, res: Any, *args: Any) -> Any:
            try:
                f = getattr(fl, name)
            except AttributeError as exc:
                raise FluidSynthMissingError(
                    f"{self.name} lacks {name}: FluidSynth 2.x is required; install it with: "
                    f"{install_command()}"
                ) from exc
            f.restype = res
            f.argtypes = list(args)
            return f

        self.version_str = proto("fluid_version_str", cp)
        self.new_settings = proto("new_fluid_settings", vp)
        self.delete_settings = proto("delete_fluid_settings", None, vp)
        self.setint = proto("fluid_settings_setint", ip, vp, cp, ip)
        self.setnum = proto("fluid_settings_setnum", ip, vp, cp, dp)
        self.setstr = proto("fluid_settings_setstr", ip, vp, cp, cp)
        self.new_synth = proto("new_fluid_synth", vp, vp)
        self.delete_synth = proto("delete_fluid_synth", None, vp)
        self.sfload = proto("fluid_synth_sfload", ip, vp, cp, ip)
        self.get_sfont_by_id = proto("fluid_synth_get_sfont_by_id", vp, vp, ip)
        self.add_sfont = proto("fluid_synth_add_sfont", ip, vp, vp)
        self.remove_sfont = proto("fluid_synth_remove_sfont", ip, vp, vp)
        self.sfont_iter_start = proto("fluid_sfont_iteration_start", None, vp)
        self.sfont_iter_next = proto("fluid_sfont_iteration_next", vp, vp)
        self.preset_get_name = proto("fluid_preset_get_name", cp, vp)
        self.preset_get_banknum = proto("fluid_preset_get_banknum", ip, vp)
        self.preset_get_num = proto("fluid_preset_get_num", ip, vp)
        self.noteon = proto("fluid_synth_noteon", ip, vp, ip, ip, ip)
        self.noteoff = proto("fluid_synth_noteoff", ip, vp, ip, ip)
        self.cc = proto("fluid_synth_cc", ip, vp, ip, ip, ip)
        self.program_select = proto("fluid_synth_program_select", ip, vp, ip, ip, ip, ip)
        self.all_notes_off = proto("fluid_synth_all_notes_off", ip, vp, ip)
        self.active_voices = proto("fluid_synth_get_active_voice_count", ip, vp)
        self.process = proto("fluid_synth_process", ip, vp, ip, ip, vp, ip, vp)
        self.set_reverb_roomsize = proto("fluid_synth_set_reverb_group_roomsize", ip, vp, ip, dp)
        self.set_reverb_damp = proto("fluid_synth_set_reverb_group_damp", ip, vp, ip, dp)
        self.set_reverb_level = proto("fluid_synth_set_reverb_group_level", ip, vp, ip, dp)
        self._log_cb_type = C.CFUNCTYPE(None, ip, cp, vp)
        self.set_log_function = proto("fluid_set_log_function", vp, ip, vp, vp)
        self._install_logging()

    def _install_logging(self) -> None:
        """Route FluidSynth's own messages to Python logging (and to a per-thread capture)."""

        def handler(level: int, message: bytes | None, _data: Any) -> None:
            try:
                text = (message or b"").decode("utf-8", "replace").strip()
                captured = getattr(_capture, "lines", None)
                if captured is not None and level <= _WARN:
                    captured.append(text)
                if level <= _ERR:
                    log.debug("fluidsynth error: %s", text)
                elif level == _WARN:
                    log.debug("fluidsynth warning: %s", text)
            except Exception:  # never let an exception cross back into C
                pass

        self._log_cb = self._log_cb_type(handler)  # kept alive for the process lifetime
        for level in (_PANIC, _ERR, _WARN):
            self.set_log_function(level, C.cast(self._log_cb, C.c_void_p), None)
        for level in (_INFO, _DBG):
            self.set_log_function(level, None, None)


_capture = threading.local()
_lib: _Lib | None = None
_lib_lock = threading.Lock()


def library() -> _Lib:
    """The loaded FluidSynth library (loaded once). Raises :class:`FluidSynthMissingError`."""
    global _lib
    if _lib is None:
        with _lib_lock:
            if _lib is None:
                _lib = _Lib()
    return _lib


def fluidsynth_version() -> str:
    """The runtime version of libfluidsynth, e.g. ``'2.3.1'``."""
    return library().version_str().decode()


def fluidsynth_library_name() -> str:
    """The library file pyfluidsynth opened, e.g. ``'libfluidsynth.so.3'``."""
    return library().name


@contextmanager
def captured_fluid_log() -> Iterator[list[str]]:
    """Collect FluidSynth's warnings and errors raised by calls in this thread."""
    previous = getattr(_capture, "lines", None)
    lines: list[str] = []
    _capture.lines = lines
    try:
        yield lines
    finally:
        _capture.lines = previous


_live_synths: weakref.WeakSet[FluidSynth] = weakref.WeakSet()


class FluidSynth:
    """One FluidSynth synthesizer rendering to memory, deleted exactly once.

    ``settings`` maps FluidSynth setting names to values (int, float or str). Not thread-safe
    for concurrent use by several threads beyond the guarantee that :meth:`close` never runs
    while :meth:`process` does; one stream owns one synth.
    """

    def __init__(self, settings: Mapping[str, int | float | str]) -> None:
        self._lib = library()
        self.lock = threading.RLock()
        lib = self._lib
        st = lib.new_settings()
        if not st:
            raise MemoryError("new_fluid_settings failed")
        for name, value in settings.items():
            key = name.encode()
            if isinstance(value, bool) or isinstance(value, int):
                ok = lib.setint(st, key, int(value))
            elif isinstance(value, float):
                ok = lib.setnum(st, key, value)
            else:
                ok = lib.setstr(st, key, str(value).encode())
            if ok != 0:
                lib.delete_settings(st)
                raise ValueError(f"FluidSynth rejected setting {name}={value!r}")
        synth = lib.new_synth(st)
        if not synth:
            lib.delete_settings(st)
            raise RuntimeError("new_fluid_synth failed")
        self._settings: int | None = st
        self._synth: int | None = synth
        # SoundFonts borrowed from another synth: (owner, fluid_sfont_t pointer)
        self._borrowed: list[tuple[FluidSynth, int]] = []
        self._borrowers: weakref.WeakSet[FluidSynth] = weakref.WeakSet()
        _live_synths.add(self)

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._synth is None

    def close(self) -> None:
        """Delete the synth and its settings. Idempotent, thread-safe, safe from ``__del__``.

        A synth that lent its SoundFonts (:meth:`borrow_sfont`) first closes the synths still
        borrowing them; a borrowing synth hands them back (``fluid_synth_remove_sfont``) before
        ``delete_fluid_synth``, which would otherwise free them: only the owner frees them."""
        lock = getattr(self, "lock", None)
        if lock is None:  # __init__ failed before the synth existed
            return
        for borrower in list(getattr(self, "_borrowers", ())):
            borrower.close()  # normally none left: the stream engine closes them first
        with lock:
            synth, settings = self._synth, self._settings
            self._synth = self._settings = None
            borrowed, self._borrowed = self._borrowed, []
            if synth is not None:
                for _owner, sfont in borrowed:
                    self._lib.remove_sfont(synth, sfont)
                self._lib.delete_synth(synth)
            if settings is not None:
                self._lib.delete_settings(settings)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def _handle(self) -> int:
        synth = self._synth
        if synth is None:
            raise RuntimeError("this FluidSynth synth is closed")
        return synth

    # -- SoundFonts ------------------------------------------------------------------------
    def sfload(self, path: str | os.PathLike[str]) -> int:
        """Load a SoundFont (shared through FluidSynth's sample cache); -1 on failure."""
        with self.lock:
            return int(self._lib.sfload(self._handle(), os.fsencode(path), 1))

    def borrow_sfont(self, owner: FluidSynth, sfont_id: int) -> int:
        """Add the SoundFont ``sfont_id`` loaded by ``owner`` to this synth without loading it
        again (``fluid_synth_add_sfont``); returns its id in this synth, -1 on failure.

        The SoundFont's C structures are then shared, and FluidSynth updates plain counters in
        them from whichever thread plays, selects or deletes: the caller must make sure that the
        owner and all synths sharing a SoundFont are never used by two threads at once
        (:class:`auralis.streaming.engine.StreamEngine` holds a group lock). ``owner`` frees the
        SoundFont when it is closed, after closing any synth still borrowing it."""
        with owner.lock:
            sfont = owner._lib.get_sfont_by_id(owner._handle(), sfont_id)
            if not sfont:
                return -1
            owner._borrowers.add(self)
        with self.lock:
            new_id = int(self._lib.add_sfont(self._handle(), sfont))
            if new_id >= 0:
                self._borrowed.append((owner, sfont))
            return new_id

    def presets(self, sfont_id: int) -> list[tuple[int, int, str]]:
        """(bank, program, name) of every preset of a loaded SoundFont."""
        lib = self._lib
        with self.lock:
            sfont = lib.get_sfont_by_id(self._handle(), sfont_id)
            if not sfont:
                return []
            out = []
            lib.sfont_iter_start(sfont)
            while preset := lib.sfont_iter_next(sfont):
                name = (lib.preset_get_name(preset) or b"").decode("latin-1").strip()
                out.append((lib.preset_get_banknum(preset), lib.preset_get_num(preset), name))
            return out

    def program_select(self, channel: int, sfont_id: int, bank: int, program: int) -> bool:
        with self.lock:
            return self._lib.program_select(self._handle(), channel, sfont_id, bank, program) == 0

    # -- MIDI --------------------------------------------------------------------------------
    def noteon(self, channel: int, pitch: int, velocity: int) -> None:
        with self.lock:
            self._lib.noteon(self._handle(), channel, pitch, velocity)

    def noteoff(self, channel: int, pitch: int) -> None:
        with self.lock:
            self._lib.noteoff(self._handle(), channel, pitch)

    def cc(self, channel: int, control: int, value: int) -> None:
        with self.lock:
            self._lib.cc(self._handle(), channel, control, value)

    def all_notes_off(self, channel: int = -1) -> None:
        with self.lock:
            self._lib.all_notes_off(self._handle(), channel)

    def active_voices(self) -> int:
        with self.lock:
            return int(self._lib.active_voices(self._handle()))

    # -- audio -------------------------------------------------------------------------------
    def process(self, planes: np.ndarray, start: int, n: int, n_out: int, n_fx: int) -> None:
        """Render ``n`` frames into columns ``start:start+n`` of ``planes``, a C-contiguous
        float32 array of shape (n_out + n_fx, frames): the first ``n_out`` rows are the dry
        outputs (left, right of each audio group: MIDI channel c plays in group
        c % synth.audio-groups), the next ``n_fx`` rows the effects (reverb left, right of
        effects group 0, ...). FluidSynth adds to the rows: the caller zeroes them. ctypes
        releases the GIL during the call."""
        if n <= 0:
            return
        rows, frames = planes.shape
        if planes.dtype != np.float32 or not planes.flags.c_contiguous or rows != n_out + n_fx:
            raise ValueError("planes must be C-contiguous float32 of shape (n_out + n_fx, frames)")
        if start < 0 or start + n > frames:
            raise ValueError(f"frames {start}..{start + n} outside 0..{frames}")
        base = planes.ctypes.data + 4 * start
        ptrs = (C.c_void_p * rows)(*[base + 4 * frames * r for r in range(rows)])
        out = C.addressof(ptrs)
        fx = out + C.sizeof(C.c_void_p) * n_out if n_fx else None
        with self.lock:
            if self._lib.process(self._handle(), n, n_fx, fx, n_out, out):
                raise RuntimeError("fluid_synth_process failed")

    def set_reverb(self, room_size: float, damping: float, level: float) -> None:
        """Change the reverb of every effects group while playing (FluidSynth >= 2.2)."""
        with self.lock:
            h = self._handle()
            self._lib.set_reverb_roomsize(h, -1, float(room_size))
            self._lib.set_reverb_damp(h, -1, float(damping))
            self._lib.set_reverb_level(h, -1, float(level))


@atexit.register
def _close_all_synths() -> None:
    for synth in list(_live_synths):
        try:
            synth.close()
        except Exception:
            pass
