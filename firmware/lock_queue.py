# The queue of unlock requests every lock driver keeps (GPIO locks, serial lock boards): one pulse
# at a time, oldest first; a request that has not started yet can be dropped.


class LockQueue:
    def __init__(self, count):
        self.count = count
        self._queue = []  # [lock, callback], oldest first

    def request(self, lock, callback):
        """Queue one pulse; callback(lock, ok, started_ms) runs when the pulse starts."""
        if not 0 <= lock < self.count:
            raise ValueError("no such lock")
        self._queue.append([lock, callback])

    def cancel(self, lock):
        """Drop a queued pulse that has not started; True if one was dropped."""
        for k in range(len(self._queue)):
            if self._queue[k][0] == lock:
                self._queue.pop(k)
                return True
        return False
