"""A fixed-capacity ring buffer of multichannel samples."""
from __future__ import annotations

import numpy as np


class RingBuffer:
    """Keeps the newest ``capacity`` samples of ``(channels, n)`` blocks.

    ``last(n, skip)`` returns the ``n`` samples that end ``skip`` samples before
    the newest one, oldest first, as a fresh array.
    """

    def __init__(self, channels: int, capacity: int, dtype=np.float32):
        if capacity <= 0:
            raise ValueError(f"ring buffer capacity must be positive; got {capacity}")
        shape = (channels, capacity) if channels else (capacity,)
        self.buf = np.zeros(shape, dtype=dtype)
        self.capacity = capacity
        self.total = 0  # samples ever written since the last clear

    def clear(self) -> None:
        self.total = 0

    @property
    def size(self) -> int:
        return min(self.total, self.capacity)

    def extend(self, x: np.ndarray) -> None:
        n = x.shape[-1]
        if n >= self.capacity:
            self.buf[...] = x[..., n - self.capacity:]
            # keep positions consistent with total % capacity
            self.buf[...] = np.roll(self.buf, (self.total + n) % self.capacity, axis=-1)
        elif n:
            start = self.total % self.capacity
            first = min(n, self.capacity - start)
            self.buf[..., start:start + first] = x[..., :first]
            if first < n:
                self.buf[..., : n - first] = x[..., first:]
        self.total += n

    def last(self, n: int, skip: int = 0) -> np.ndarray:
        if n + skip > self.size:
            raise ValueError(f"ring buffer holds {self.size} samples; asked for {n} ending {skip} before the newest")
        start = (self.total - skip - n) % self.capacity
        if start + n <= self.capacity:  # one contiguous piece: a plain copy
            return self.buf[..., start:start + n].copy()
        return np.concatenate([self.buf[..., start:], self.buf[..., :start + n - self.capacity]], axis=-1)
