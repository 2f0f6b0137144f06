"""A throwaway redis-server for tests: a free loopback port, a temp dir, no persistence
unless asked; stop(), kill() (SIGKILL, as a crash) and start() again on the same port."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_cluster_port():
    """A free port whose cluster bus port (+10000) is a port too, and free."""
    for _ in range(100):
        port = free_port()
        if port + 10000 > 65535:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a cluster node")


class RedisServer:
    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="lifeline-redis-")
        self.proc = None
        self.extra_args = []

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, appendonly=False):
        args = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if appendonly else "no",
            "--appendfsync",
            "always",
            "--dir",
            self.dir,
            *self.extra_args,
        ]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.02)
        self.kill()
        raise RuntimeError("redis-server did not start")

    def cli(self, *args):
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=10
        ).stdout.strip()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self):
        """A clean shutdown (an AOF is kept)."""
        if self.proc is not None and self.proc.poll() is None:
            self.cli("shutdown", "nosave")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def remove(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisClusterServers:
    """A throwaway Redis Cluster: `primaries` primaries with one replica each, every node a
    RedisServer started with --cluster-enabled on a free loopback port in its temp dir, made
    one cluster by `redis-cli --cluster create`; ready once every node says cluster_state:ok
    and the replicas are linked. remove() stops every node."""

    def __init__(self, primaries=3):
        self.nodes = []
        self.primaries = primaries

    @property
    def url(self):
        return "redis-cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self):
        try:
            for _ in range(self.primaries * 2):
                n = RedisServer()  # its port chosen free now, not all up front
                n.port = free_cluster_port()  # and its bus port (+10000) free too
                self.nodes.append(n)
                n.extra_args = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                ]
                n.start()
            subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *[f"127.0.0.1:{n.port}" for n in self.nodes],
                    "--cluster-replicas",
                    "1",
                    "--cluster-yes",
                ],
                capture_output=True,
                check=True,
                timeout=30,
            )
            end = time.monotonic() + 20
            while time.monotonic() < end:
                infos = [n.cli("cluster", "info") for n in self.nodes]
                repl = [n.cli("info", "replication") for n in self.nodes]
                if all("cluster_state:ok" in i for i in infos) and all(
                    "connected_slaves:1" in r
                    if "role:master" in r
                    else "master_link_status:up" in r
                    for r in repl
                ):
                    return self
                time.sleep(0.1)
            raise RuntimeError("the cluster did not become ok")
        except BaseException:
            self.remove()
            raise

    def primary_of(self, key):
        """The RedisServer that serves `key`'s slot now."""
        for n in self.nodes:
            if n.proc is None:
                continue
            slot = n.cli("cluster", "keyslot", key)
            for line in n.cli("cluster", "nodes").splitlines():
                f = line.split()
                if "master" not in f[2] or "fail" in f[2]:
                    continue
                for r in f[8:]:
                    lo, _, hi = r.partition("-")
                    if lo.isdigit() and int(lo) <= int(slot) <= int(hi or lo):
                        port = int(f[1].split("@")[0].rsplit(":", 1)[1])
                        return next(x for x in self.nodes if x.port == port)
        return None

    def remove(self):
        for n in self.nodes:
            n.remove()
