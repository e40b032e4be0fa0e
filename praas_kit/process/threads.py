"""The runtime's threads: a leader/follower pool that waits on the sockets and runs the invocations.

Every thread of the pool is alike. At any time one of them **leads**: it waits for input on the sockets'
file descriptors (no lock held), and when input comes it takes the I/O lock and handles it. When that
brings an invocation, the leader runs it itself, so no hand-off between threads lies on a call's path.
While it runs, the lead is vacant; a second thread, the **deputy**, takes it if the invocation runs longer
than :data:`LEAD_HANDOVER` (a one-shot timerfd wakes it) or if more work arrives meanwhile; a short call
ends first and its thread simply leads on: one wake-up per call, as for a raw socket server. The other
threads wait idle. The pool has ``workers + 1`` threads: at most ``workers`` run functions at once.

A function waiting for a message or for a peer's result (:meth:`Waiters.wait`) does not sleep on a
condition either: it waits on the same descriptors plus an eventfd of its own, handles what comes under
the I/O lock, and sees its message at once. Whoever delivers something wakes the registered waiters
through their eventfds, so no wake-up is lost between a waiter's check and its wait.

ZeroMQ signals readiness on its descriptors edge-triggered, and any operation on a socket may consume the
edge; so every thread that uses a socket outside a drain checks it afterwards
(:meth:`IOPool.touched`) and drains right away if input is pending.
"""

from __future__ import annotations

import ctypes
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import zmq

_POLLIN = int(zmq.POLLIN)
_STOP = object()
#: seconds a leader may run an invocation before the deputy takes the lead from it (a short call keeps it)
LEAD_HANDOVER = 0.001


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class HandoverTimer:
    """A one-shot Linux timerfd (through libc): ``arm()`` makes ``fd`` readable ``seconds`` from now (re-arming
    moves the deadline). One system call per invocation, against a thread wake-up when the lead is handed over
    at once; it is not disarmed when a short call ends (one more system call per call), so it fires once
    after the last call of a burst and wakes the deputy for nothing."""

    def __init__(self, seconds: float) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._settime = libc.timerfd_settime
        # the pointers as plain integers (size_t holds an address): ctypes converts an int in a fraction of
        # the time it takes to convert a byref() argument, and this call is made once per invocation
        self._settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_size_t]
        self.fd = int(libc.timerfd_create(1, os.O_NONBLOCK | os.O_CLOEXEC))  # CLOCK_MONOTONIC
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        ns = int(seconds * 1e9)
        self._on = _Itimerspec(_Timespec(0, 0), _Timespec(ns // 1_000_000_000, ns % 1_000_000_000))
        self._on_addr = ctypes.addressof(self._on)  # valid while self._on lives (as long as the timer)

    @classmethod
    def create(cls, seconds: float) -> HandoverTimer | None:
        """A timer, or None for ``seconds <= 0`` or where there is no timerfd (the lead is then handed over at
        once, as soon as the leader takes an invocation)."""
        if seconds <= 0:
            return None
        try:
            return cls(seconds)
        except (OSError, AttributeError, TypeError):
            return None

    def arm(self) -> None:
        self._settime(self.fd, 0, self._on_addr, 0)


def _ms(timeout: float | None) -> int:
    """``timeout`` seconds as poll()'s milliseconds, rounded up (-1: forever)."""
    return -1 if timeout is None else max(0, int(timeout * 1000 + 0.999))


def readable(sock: zmq.Socket[Any]) -> bool:
    """Whether ``sock`` has a message waiting. Asking libzmq (a zero-timeout ``zmq_poll``, as cheap as reading
    ``ZMQ_EVENTS`` without pyzmq's option lookup) also re-arms the socket's descriptor."""
    return bool(zmq.zmq_poll([(sock, _POLLIN)], 0))


class Waiters:
    """Threads waiting for something the I/O may deliver, each with an eventfd; :meth:`wake_all` after a delivery.

    Safe to call from a signal handler (its lock is re-entrant)."""

    def __init__(self) -> None:
        self._fds: set[int] = set()
        self._lock = threading.RLock()
        self._tls = threading.local()

    def own_fd(self) -> int:
        """The calling thread's eventfd (created on first use, kept for the thread's life)."""
        fd = getattr(self._tls, "fd", None)
        if fd is None:
            fd = self._tls.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        return int(fd)

    def register(self) -> int:
        """Register the calling thread; its eventfd."""
        fd = self.own_fd()
        with self._lock:
            self._fds.add(fd)
        return fd

    def unregister(self) -> None:
        with self._lock:
            self._fds.discard(self.own_fd())

    def wake_all(self, skip_me: bool = False) -> None:
        """Wake every registered thread (with ``skip_me``, not the calling one: it looks for itself)."""
        me = getattr(self._tls, "fd", None) if skip_me else None
        with self._lock:
            for fd in self._fds:
                if fd != me:
                    os.eventfd_write(fd, 1)


class IOPool:
    """The pool: ``run_thread`` is each thread's body; input is handled under :attr:`lock`.

    ``fds()`` lists the descriptors to wait on (the sockets'; it must be safe to call without the lock);
    ``drain()`` (lock held) handles everything readable and returns whether it delivered anything;
    ``tick()`` (lock held) runs timers and returns the seconds until the next one; ``execute(item)`` runs
    one invocation (no lock held).
    """

    def __init__(self, workers: int, fds: Callable[[], list[int]], drain: Callable[[], bool],
                 tick: Callable[[], float], execute: Callable[[Any], None]) -> None:
        self.lock = threading.Lock()  # the I/O lock: every socket, and what the I/O handlers touch
        self.workers = max(1, workers)
        self._fds, self._drain, self._tick, self._execute = fds, drain, tick, execute
        self.waiters = Waiters()
        self._cv = threading.Condition()
        self._ready: deque[Any] = deque()
        self._executing = 0
        self._idle = 0  # threads waiting on the condition
        self._leader: int | None = None  # the leading thread's ident
        self._deputy: int | None = None  # the thread that takes the lead when its holder runs long
        self._deputy_fd: int | None = None
        self._waiting_leader = False  # the lead is held by a function waiting in wait_for (it runs no work)
        self._lead_wanted: tuple[int, int] | None = None  # (thread, eventfd) of a waiter asking for the lead
        self._timer = HandoverTimer.create(LEAD_HANDOVER)
        self._in_drain = False
        self.backlog = False  # the last drain stopped early: drain again without waiting
        self.stopped = False
        self._tls = threading.local()

    # ---------------------------------------------------------------- work
    def submit(self, item: Any) -> None:
        """Queue an invocation (called while draining). The leader runs it itself after its drain; from any
        other thread, a standby is woken, or the leader when none is free."""
        with self._cv:
            self._ready.append(item)
            if self._leader == threading.get_ident() and not self._waiting_leader:
                return  # the leader runs it after its drain
            if self._idle:
                self._cv.notify()
                return
            deputy = self._deputy_fd if self._leader is None else None
        if deputy is not None:
            os.eventfd_write(deputy, 1)  # the lead is vacant (its holder runs a function): the deputy takes it
        else:
            self.wake_leader()

    def wake_leader(self) -> None:
        """Make the leading thread look again (new sockets to wait on, work queued)."""
        fd = getattr(self, "_leader_fd", None)
        if fd is not None:
            os.eventfd_write(fd, 1)

    def stop(self) -> None:
        """End every thread (their current function runs to its end). Safe in a signal handler."""
        self.stopped = True
        self.waiters.wake_all()
        self.wake_leader()
        if self._deputy_fd is not None:
            os.eventfd_write(self._deputy_fd, 1)
        with self._cv:
            self._cv.notify_all()

    def start_threads(self) -> list[threading.Thread]:
        """Start ``workers`` threads; the caller's thread runs :meth:`run_thread` as the last one."""
        threads = [threading.Thread(target=self.run_thread, name=f"praas-{i}", daemon=True)
                   for i in range(self.workers)]
        for t in threads:
            t.start()
        return threads

    def run_thread(self) -> None:
        me = threading.get_ident()
        while True:
            item = self._next(me)
            if item is _STOP:
                return
            try:
                self._execute(item)
            finally:
                with self._cv:
                    self._executing -= 1
                    self._call_idle()

    def _call_idle(self) -> None:
        """(``_cv`` held) Wake one idle thread if there is work for it: an invocation that may start now (a worker
        is free) or a vacant deputy's post. Whoever takes the deputy's post or an invocation calls this again, so
        a burst of invocations starts on as many threads as there are free workers, one wake-up each, and a
        thread stands by as the deputy whenever one is idle, so the lead is never left vacant for long."""
        if self._idle and (self._deputy is None or (self._ready and self._executing < self.workers)):
            self._cv.notify()

    def _next(self, me: int) -> Any:
        """Block until this thread has an invocation to run (returned) or the pool stops (``_STOP``); meanwhile
        lead, stand by as the deputy, or wait idle, whichever role is free, in that order."""
        while True:
            with self._cv:
                if self.stopped:
                    return _STOP
                if self._ready and self._executing < self.workers:
                    self._executing += 1
                    item = self._ready.popleft()
                    self._call_idle()  # the next invocation, or the deputy's post this thread may have left
                    return item
                if self._leader is None:
                    self._leader = me  # the timer may still be armed: the deputy then finds the lead taken
                    role = "lead"
                    self._call_idle()  # a deputy who took the lead leaves the post vacant: an idle thread takes it
                elif self._deputy is None:
                    self._deputy, self._deputy_fd = me, self.waiters.own_fd()
                    role = "deputy"
                else:
                    self._idle += 1
                    self._cv.wait()
                    self._idle -= 1
                    continue
            if role == "lead":
                item = self._lead(me)
                if item is not None:
                    return item
            else:
                self._stand_by()

    def _lead(self, me: int) -> Any:
        """Wait on the sockets until there is an invocation to run (returned; the lead is left vacant for the
        time it runs), a waiting function asks for the lead (handed over; None) or the pool stops (``_STOP``)."""
        self._leader_fd = self.waiters.own_fd()
        while True:
            with self._cv:
                if self.stopped:
                    self._leader = None
                    self._cv.notify_all()
                    return _STOP
                if self._lead_wanted is not None:  # a waiting function takes the lead
                    (tid, fd), self._lead_wanted = self._lead_wanted, None
                    self._leader, self._leader_fd, self._waiting_leader = tid, fd, True
                    os.eventfd_write(fd, 1)
                    return None
                if self._ready and self._executing < self.workers:
                    item = self._ready.popleft()
                    self._executing += 1
                    self._leader = None
                    self._call_idle()  # the next one is for another thread
                    self._hand_over()
                    return item
            with self.lock:
                timeout = self._tick()
            self.wait(timeout)

    def _hand_over(self) -> None:
        """(``_cv`` held) The leader is about to run an invocation: have the deputy take the lead if the
        invocation runs longer than :data:`LEAD_HANDOVER` (at once where no timer is available)."""
        if self._timer is not None:
            self._timer.arm()
        elif self._deputy_fd is not None:
            os.eventfd_write(self._deputy_fd, 1)

    def _stand_by(self) -> None:
        """As the deputy: sleep until the hand-over timer fires or someone wakes this thread."""
        timer = () if self._timer is None else (self._timer.fd,)
        self._sleep("deputy_poller", (self.waiters.own_fd(), *timer), None)
        with self._cv:
            self._deputy = None
            self._deputy_fd = None

    def _sleep(self, name: str, fds: tuple[int, ...], timeout: float | None) -> None:
        """Sleep until one of ``fds`` (eventfds, the timerfd) is readable or ``timeout`` passes, and consume what
        fired. The poller is made once per thread under ``name``."""
        poller = getattr(self._tls, name, None)
        if poller is None:
            poller = select.poll()
            for fd in fds:
                poller.register(fd, select.POLLIN)
            setattr(self._tls, name, poller)
        for fd, _ in poller.poll(_ms(timeout)):
            try:
                os.read(fd, 8)
            except BlockingIOError:
                pass

    # ---------------------------------------------------------------- waiting on the sockets
    def wait(self, timeout: float | None) -> None:
        """Wait (no lock held) until a socket may have input or this thread's eventfd is written, at most
        ``timeout`` seconds; then drain under the I/O lock."""
        poller, own = self._poller()
        ms = 0 if self.backlog else _ms(timeout)
        for ready_fd, _ in poller.poll(ms):
            if ready_fd == own:
                try:
                    os.eventfd_read(own)
                except BlockingIOError:
                    pass
        with self.lock:
            self.drain_now()

    def _poller(self) -> tuple[select.poll, int]:
        fds = self._fds()
        cached = getattr(self._tls, "poller", None)
        if cached is None or cached[0] is not fds:
            poller = select.poll()
            for f in fds:
                poller.register(f, select.POLLIN)
            own = self.waiters.own_fd()
            poller.register(own, select.POLLIN)
            cached = self._tls.poller = (fds, poller, own)
        return cached[1], cached[2]

    def drain_now(self) -> None:
        """(lock held) Handle all input now; wake the waiters if something was delivered. A waiter that drains
        is not woken by its own delivery: :meth:`wait_for` checks ``ready()`` right after its drain, and a
        wake-up of its own would only cost it one more empty round of polling and draining."""
        self._in_drain = True
        try:
            got = self._drain()
        finally:
            self._in_drain = False
        if got:
            self.waiters.wake_all(skip_me=True)

    def wait_for(self, ready: Callable[[], Any], deadline: float | None) -> Any:
        """Wait until ``ready()`` (checked under the I/O lock) returns something other than None, or ``deadline``
        (monotonic) passes; what it returned, or None.

        A waiting function leads: it takes the lead when it is vacant (its own invocation left it so), or asks
        the leading thread to hand it over, and waits on the sockets itself, so a message wakes this one thread,
        as in a raw socket program. Until it leads (or while another waiting function leads) it waits on its
        eventfd alone, and the leader wakes it after a delivery: never two threads woken for one message. On
        return the lead is left vacant, with the hand-over timer armed."""
        with self.lock:
            got = ready()
        if got is not None:
            return got
        me = threading.get_ident()
        own = self.waiters.register()
        try:
            while True:
                with self.lock:
                    got = ready()
                if got is not None or self.stopped:
                    return got
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                timeout = None if left is None else min(left, 1.0)
                ask = None
                with self._cv:
                    if self._leader is None:
                        self._leader, self._leader_fd, self._waiting_leader = me, own, True
                    elif self._leader != me and not self._waiting_leader and self._lead_wanted is None:
                        self._lead_wanted, ask = (me, own), self._leader_fd  # the leader hands it over
                    leading = self._leader == me
                if ask is not None:
                    os.eventfd_write(ask, 1)
                if leading:  # the lead's duties include the timers (metrics, acknowledgements)
                    with self.lock:
                        due = self._tick()
                    self.wait(due if timeout is None else min(timeout, due))
                else:
                    self._wait_own(own, timeout)
        finally:
            with self._cv:
                if self._lead_wanted is not None and self._lead_wanted[0] == me:
                    self._lead_wanted = None
                if self._leader == me:
                    self._leader, self._waiting_leader = None, False
                    self._hand_over()
            self.waiters.unregister()

    def _wait_own(self, own: int, timeout: float | None) -> None:
        """Sleep until this thread's eventfd is written (a delivery, a stop) or ``timeout`` passes."""
        self._sleep("own_poller", (own,), timeout)

    def touched(self, sock: zmq.Socket[Any]) -> None:
        """After an operation on ``sock`` (lock held): drain now if input is pending, since the operation may
        have consumed the descriptor's edge that waiting threads rely on. Nothing to do inside a drain (it
        checks every socket again before it ends)."""
        if not self._in_drain and readable(sock):
            self.drain_now()


__all__ = ["IOPool", "Waiters", "readable"]
