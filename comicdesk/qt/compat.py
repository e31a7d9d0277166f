"""Work-arounds for the Qt binding in use.

**Singletons losing references (shiboken6 6.12.0 on Python ≤ 3.11).** The 6.12.0 wheels treat
``None``, ``True`` and ``False`` as immortal objects, as Python 3.12 does (PEP 683), and stop
counting the references they hand out. On Python 3.11 each such hand-out is one reference taken
and never given back. Measured here, per call: −1 on ``None`` for every Qt call returning
``None`` (``QObject.parent()`` of a top-level object, ``QModelIndex.data(role)`` for an empty
role) and for every signal delivered to a Python slot (its return value); −1 on ``True`` or
``False`` for every ``Signal.emit()``. CPython 3.11 aborts ("none_dealloc"/"bool_dealloc:
deallocating None/True or False") when a count reaches zero, and ``None`` starts near 5,000: a
grid being scrolled or a scan reporting progress crashes the app within seconds. 6.11.3 does not
do this, and on Python 3.12+ these objects are immortal anyway.

:func:`guard_immortals` does on 3.11 what 3.12 does: it gives those objects (and the other objects
3.12 makes immortal: ``Ellipsis``, ``NotImplemented``, the empty tuple, string and bytes, small
integers and one-character strings) 2**40 extra references, so the leak cannot reach zero in
the life of a process. It is idempotent and does nothing on Python 3.12+ or outside CPython.

(The thread pool the app's windows use is :class:`comicdesk.services.threads.EagerThreadPool`,
the thread-priority helper :func:`comicdesk.core.threads.lower_thread_priority`: no Qt in them.)
"""

from __future__ import annotations

import sys

_BOOST = 1 << 40
_done = False


def _immortal_in_312() -> list[object]:
    objs: list[object] = [None, True, False, Ellipsis, NotImplemented, (), "", b""]
    objs += list(range(-5, 257))
    objs += [chr(i) for i in range(256)]
    return objs


def guard_immortals() -> bool:
    """Make the objects Python 3.12 treats as immortal effectively immortal on CPython < 3.12;
    True when it did something."""
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    import ctypes

    for obj in _immortal_in_312():
        refcnt = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt: the first field of PyObject
        if refcnt.value < _BOOST:
            refcnt.value += _BOOST
    _done = True
    return True
