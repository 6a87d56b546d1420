"""Talking to a running `make run` demo (python -m server.demo.run): its console port, one line at a time."""
import socket


def console(port, line):
    """Send one console command; return its one-line answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock, sock.makefile("rw") as f:
        f.write(line + "\n")
        f.flush()
        return f.readline().strip()


def free_tcp_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
