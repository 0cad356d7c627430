"""Tests of cistern.py against a real local cluster: a cistern-master and a cistern-worker from
$CISTERN_BUILD_DIR/bin on free loopback ports, started by the test with a temporary
configuration, as tests/integration/cluster_fixture.h does."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import cistern


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cistern-py-")
        self.mem_dir = f"/dev/shm/cistern-py-{os.getpid()}-{os.path.basename(self.dir)}"
        self.master_port = free_port()
        self.worker_port = free_port()
        # Each daemon also serves HTTP; free ports so tests running in parallel never collide.
        http_ports = (free_port(), free_port())
        os.makedirs(f"{self.dir}/conf")
        os.makedirs(f"{self.dir}/underfs")
        with open(f"{self.dir}/conf/cistern.properties", "w") as f:
            f.write(f"cistern.home={self.dir}/home\n"
                    f"master.hostname=127.0.0.1\nmaster.rpc.port={self.master_port}\n"
                    f"master.http.port={http_ports[0]}\nworker.http.port={http_ports[1]}\n"
                    f"master.mount.root.ufs=file://{self.dir}/underfs\n"
                    f"worker.hostname=127.0.0.1\nworker.rpc.port={self.worker_port}\n"
                    f"worker.tier.mem.dir={self.mem_dir}\nworker.tier.mem.quota=256MiB\n"
                    "worker.heartbeat.interval=200ms\nuser.rpc.retry_window=10s\n")
        self.conf_file = f"{self.dir}/conf/cistern.properties"
        self.master_address = f"127.0.0.1:{self.master_port}"
        env = dict(os.environ, CISTERN_CONF_DIR=f"{self.dir}/conf")
        bin_dir = os.path.join(os.environ.get("CISTERN_BUILD_DIR", "."), "bin")
        self.procs = []
        self.outputs = []
        for daemon in ("cistern-master", "cistern-worker"):
            out = open(f"{self.dir}/{daemon}.out", "w")
            self.outputs.append(out)
            self.procs.append(subprocess.Popen([f"{bin_dir}/{daemon}"], stdout=out, stderr=subprocess.STDOUT, env=env))
            if daemon == "cistern-master":
                self._wait(lambda: self._connects(self.master_port), "master")
        self._wait(self._worker_live, "worker registration")

    @staticmethod
    def _connects(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    def _worker_live(self):
        # The worker is usable once a write goes through.
        try:
            with cistern.FileSystem(self.master_address) as fs:
                fs.write("/.probe", b"x", overwrite=True)
                fs.delete("/.probe")
                return True
        except cistern.CisternError:
            return False

    def _wait(self, condition, what, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{what}: a daemon exited with {p.returncode}: {self.output()}")
            if condition():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{what} timed out: {self.output()}")

    def output(self):
        text = ""
        for name in ("cistern-master", "cistern-worker"):
            path = f"{self.dir}/{name}.out"
            if os.path.exists(path):
                with open(path) as f:
                    text += f"--- {name} ---\n{f.read()[-3000:]}\n"
        return text

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
        for out in self.outputs:
            out.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.mem_dir, ignore_errors=True)


class CisternPythonTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster()
        cls.fs = cistern.FileSystem(cls.cluster.master_address)

    @classmethod
    def tearDownClass(cls):
        cls.fs.close()
        cls.cluster.stop()

    def test_write_read_stat_list(self):
        data = os.urandom(3 * 1024 * 1024 + 17)
        self.fs.write("/py/a/data.bin", data, write_type="CACHE_THROUGH")
        self.assertEqual(self.fs.read("/py/a/data.bin"), data)
        info = self.fs.stat("/py/a/data.bin")
        self.assertEqual(info.path, "/py/a/data.bin")
        self.assertEqual(info.length, len(data))
        self.assertFalse(info.is_directory)
        self.assertTrue(info.completed)
        self.assertTrue(info.persisted)
        with open(f"{self.cluster.dir}/underfs/py/a/data.bin", "rb") as f:
            self.assertEqual(f.read(), data, "the under-store copy differs")
        self.fs.write("/py/a/small.txt", b"small")
        names = sorted(e.path for e in self.fs.list("/py/a"))
        self.assertEqual(names, ["/py/a/data.bin", "/py/a/small.txt"])
        everything = {e.path: e for e in self.fs.list("/py", recursive=True)}
        self.assertTrue(everything["/py/a"].is_directory)
        self.assertEqual(everything["/py/a/small.txt"].length, 5)

    def test_reader_read_and_pread(self):
        data = bytes(range(256)) * 1000
        self.fs.write("/py/r.bin", data, write_type="MUST_CACHE")
        with self.fs.open("/py/r.bin") as r:
            self.assertEqual(r.length, len(data))
            self.assertEqual(r.read(10), data[:10])
            self.assertEqual(r.pread(1000, 5), data[1000:1005])
            self.assertEqual(r.read(5), data[10:15], "pread must not move the position")
            self.assertEqual(r.read(), data[15:])
            self.assertEqual(r.read(10), b"")
        self.assertFalse(self.fs.stat("/py/r.bin").persisted)

    def test_exists_mkdir_rename_delete(self):
        self.assertFalse(self.fs.exists("/py-ns/d"))
        self.fs.mkdir("/py-ns/d", recursive=True)
        self.assertTrue(self.fs.exists("/py-ns/d"))
        self.assertTrue(self.fs.stat("/py-ns/d").is_directory)
        self.fs.write("/py-ns/d/f", b"1")
        self.fs.rename("/py-ns/d/f", "/py-ns/d/g")
        self.assertFalse(self.fs.exists("/py-ns/d/f"))
        self.assertEqual(self.fs.read("/py-ns/d/g"), b"1")
        with self.assertRaises(cistern.CisternError) as e:
            self.fs.delete("/py-ns/d")
        self.assertEqual(e.exception.code_name, "FAILED_PRECONDITION")
        self.fs.delete("/py-ns", recursive=True)
        self.assertFalse(self.fs.exists("/py-ns"))

    def test_errors_carry_code_and_path(self):
        with self.assertRaises(cistern.NotFoundError) as e:
            self.fs.read("/py/missing")
        self.assertIn("/py/missing", str(e.exception))
        self.assertIsInstance(e.exception, FileNotFoundError)
        self.fs.write("/py/once", b"1")
        with self.assertRaises(cistern.AlreadyExistsError):
            self.fs.write("/py/once", b"2")
        self.fs.write("/py/once", b"2", overwrite=True)
        self.assertEqual(self.fs.read("/py/once"), b"2")
        with self.assertRaises(cistern.CisternError) as e:
            self.fs.stat("relative")
        self.assertEqual(e.exception.code_name, "INVALID_ARGUMENT")
        with self.assertRaises(cistern.CisternError) as e:
            self.fs.write("/py/bad-type", b"x", write_type="SOMETIMES")
        self.assertIn("SOMETIMES", str(e.exception))

    def test_connect_with_conf_file(self):
        with cistern.FileSystem(conf_file=self.cluster.conf_file) as fs:
            fs.write("/py/conf.txt", b"via conf")
            self.assertEqual(fs.read("/py/conf.txt"), b"via conf")
        with self.assertRaises(cistern.CisternError):
            cistern.FileSystem(conf_file=f"{self.cluster.dir}/no-such.properties")


if __name__ == "__main__":
    unittest.main()
