# A UART on an RS-485 transceiver: the driver-enable pin is raised only while this board talks,
# so the bus is free for the host and the other boards the rest of the time.


class Rs485:
    def __init__(self, uart, de_pin=None):
        self.uart = uart
        self.de = de_pin
        if de_pin is not None:
            de_pin.value(0)

    def any(self):
        return self.uart.any()

    def read(self, n=-1):
        return self.uart.read() if n < 0 else self.uart.read(n)

    def write(self, data):
        if self.de is None:
            return self.uart.write(data)
        self.de.value(1)
        try:
            n = self.uart.write(data)
            self.uart.flush()  # returns once the last stop bit has left the shift register
        finally:
            self.de.value(0)
        return n
