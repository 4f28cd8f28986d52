"""The real archive's processes on 127.0.0.1: PostgreSQL, an S3 emulator, Django.

Each process is started here and stopped here by its pid; nothing else is touched.
Tasks run eagerly in the web process (no broker, no worker), through a small wrapper
around the archive's ``manage.py`` that switches Celery to eager after the settings
have loaded (``manage.py`` forces the settings module).
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
from dataclasses import dataclass, field
import glob
import os
from pathlib import Path
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from .install import Installation

BUCKET = "dandi-bucket"
S3_KEY, S3_SECRET = "minioAccessKey", "minioSecretKey"
# below Linux's ephemeral range (32768-60999), which any outgoing connection may take
PORTS = range(20000, 32768)

MANAGE_WRAPPER = '''\
"""manage.py of the archive, with Celery's tasks run eagerly in this process."""
import os
import sys

os.environ["DJANGO_SETTINGS_MODULE"] = "dandiapi.settings"
os.environ.setdefault("DJANGO_CONFIGURATION", "DevelopmentConfiguration")
import configurations.importer  # noqa: E402

configurations.importer.install(check_options=True)
import django  # noqa: E402
from django.conf import settings  # noqa: E402

django.setup()
# the debug toolbar's panels record every request (an API client never sees them)
settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "debug_toolbar" not in m]
settings.CELERY_TASK_ALWAYS_EAGER = True
settings.CELERY_TASK_EAGER_PROPAGATES = True
from dandiapi.celery import app  # noqa: E402

app.conf.task_always_eager = True
app.conf.task_eager_propagates = True
from django.core.management import execute_from_command_line  # noqa: E402

execute_from_command_line(sys.argv)
'''

CREATE_USER = """\
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from dandiapi.api.models import UserMetadata
# the same user when asked for again (tests share one server)
user = User.objects.filter(username={name!r}).first() or User.objects.create_user(
    username={name!r}, email={name!r} + "@example.com", password="unused-password",
    first_name={name!r}, last_name="Tester",
)
UserMetadata.objects.update_or_create(
    user=user, defaults={{"status": UserMetadata.Status.APPROVED}}
)
print("TOKEN=" + Token.objects.get_or_create(user=user)[0].key)
"""

WRITE_MANIFEST = """\
from dandiapi.api.models import Version
from dandiapi.api.tasks import write_manifest_files
write_manifest_files(Version.objects.get(dandiset__id={id}, version={version!r}).id)
"""


def free_port() -> int:
    """A free loopback port below the ephemeral range."""
    for port in random.sample(PORTS, 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below 32768 on 127.0.0.1")


def _wait(ready, what: str, process: subprocess.Popen, log: Path, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}): see {log}")
        if ready():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s: see {log}")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status < 500
    except urllib.error.HTTPError as e:
        return e.code < 500
    except OSError:
        return False


def _postgres_bin() -> Path:
    given = os.environ.get("DANDI_ARCHIVE_PG_BIN")
    found = [given] if given else sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    for candidate in reversed(found):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise FileNotFoundError(
        "PostgreSQL's initdb is not installed (Debian: apt-get install postgresql)"
    )


@dataclass
class RealArchive:
    """The running server: its URLs, the approved user's key, the processes."""

    installation: Installation
    workdir: Path
    api_port: int = 0
    s3_port: int = 0
    pg_port: int = 0
    key: str = ""
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        """The API's root, as ``dandi -i`` takes it."""
        return f"http://127.0.0.1:{self.api_port}/api"

    @property
    def api_key_env_var(self) -> str:
        """The variable dandi reads this instance's key from."""
        return f"127.0.0.1:{self.api_port}_API_KEY"

    @property
    def manifest_url_template(self) -> str:
        """Where the server writes a version's ``assets.jsonld`` (in the emulator)."""
        return (
            f"http://127.0.0.1:{self.s3_port}/{BUCKET}/dandisets/"
            "{dandiset_id}/{version}/assets.jsonld"
        )

    def django_env(self) -> dict[str, str]:
        """The environment of the archive's Django processes."""
        s3 = f"127.0.0.1:{self.s3_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        env.pop("PYTHONPATH", None)
        env.update(
            DJANGO_CONFIGURATION="DevelopmentConfiguration",
            DJANGO_DATABASE_URL=f"postgres://postgres@127.0.0.1:{self.pg_port}/django",
            DJANGO_CELERY_BROKER_URL="memory://",
            DJANGO_MINIO_STORAGE_ENDPOINT=s3,
            DJANGO_MINIO_STORAGE_ACCESS_KEY=S3_KEY,
            DJANGO_MINIO_STORAGE_SECRET_KEY=S3_SECRET,
            DJANGO_MINIO_STORAGE_MEDIA_URL=f"http://{s3}/{BUCKET}",
            DJANGO_STORAGE_BUCKET_NAME=BUCKET,
            DJANGO_DANDI_DANDISETS_BUCKET_NAME=BUCKET,
            DJANGO_DANDI_DANDISETS_LOG_BUCKET_NAME="dandiapi-dandisets-logs",
            DJANGO_DANDI_DANDISETS_EMBARGO_LOG_BUCKET_NAME="dandiapi-embargo-logs",
            DJANGO_DANDI_WEB_APP_URL="http://127.0.0.1:8085",
            DJANGO_DANDI_API_URL=f"http://127.0.0.1:{self.api_port}",
            DJANGO_DANDI_JUPYTERHUB_URL="https://hub.dandiarchive.org/",
            DJANGO_DANDI_ADMIN_EMAIL="admin@example.com",
            DJANGO_DANDI_DEV_EMAIL="dev@example.com",
            DANDI_ALLOW_LOCALHOST_URLS="1",
            AWS_ACCESS_KEY_ID=S3_KEY,
            AWS_SECRET_ACCESS_KEY=S3_SECRET,
        )
        return env

    # -- processes ------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], **kwargs) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **kwargs,
            )
        self.processes.append(process)
        return process

    def manage(self, *args: str, timeout: float = 300) -> str:
        """Run the wrapped ``manage.py`` with ``args``; return its output."""
        done = subprocess.run(
            [str(self.installation.python), str(self.workdir / "manage.py"), *args],
            capture_output=True,
            text=True,
            env=self.django_env(),
            cwd=self.installation.source,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stderr[-4000:]}")
        return done.stdout

    def _start_postgres(self) -> None:
        bin_dir = _postgres_bin()
        # PostgreSQL refuses to run as root: the cluster belongs to `postgres` then
        as_user = {"user": "postgres"} if os.geteuid() == 0 else {}
        data = Path(tempfile.mkdtemp(prefix="dandi-archive-pg-"))
        self.pg_data = data
        if as_user:
            pw = pwd.getpwnam("postgres")
            os.chown(data, pw.pw_uid, pw.pw_gid)
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data / "db"), "-U", "postgres"]
            + ["--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
            check=True,
            capture_output=True,
            cwd=data,
            **as_user,
        )
        self.pg_port = free_port()
        server = self._spawn(
            "postgres",
            [str(bin_dir / "postgres"), "-D", str(data / "db"), "-h", "127.0.0.1"]
            + ["-p", str(self.pg_port), "-k", str(data), "-c", "fsync=off"],
            cwd=data,
            **as_user,
        )
        host = ["-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres"]

        def ready() -> bool:
            done = subprocess.run(
                [str(bin_dir / "pg_isready"), *host], capture_output=True
            )
            return done.returncode == 0

        _wait(ready, "PostgreSQL", server, self.workdir / "postgres.log")
        createdb = [str(bin_dir / "createdb"), *host, "django"]
        subprocess.run(createdb, check=True, capture_output=True)

    def _start_s3(self) -> None:
        self.s3_port = free_port()
        moto = self._spawn(
            "moto",
            [self.installation.executable("moto_server"), "-H", "127.0.0.1"]
            + ["-p", str(self.s3_port)],
        )
        url = f"http://127.0.0.1:{self.s3_port}/"
        _wait(lambda: _http_ok(url), "moto_server", moto, self.workdir / "moto.log")

    def _start_django(self) -> None:
        (self.workdir / "manage.py").write_text(MANAGE_WRAPPER)
        self.api_port = free_port()
        self.manage("migrate", "--no-input")
        self.manage("createcachetable")
        self.key = self.create_user("owner")
        web = self._spawn(
            "django",
            [str(self.installation.python), str(self.workdir / "manage.py")]
            + ["runserver", "--noreload", f"127.0.0.1:{self.api_port}"],
            env=self.django_env(),
            cwd=self.installation.source,
        )
        url = f"{self.api_url}/info/"
        _wait(lambda: _http_ok(url), "the archive", web, self.workdir / "django.log")

    def start(self) -> None:
        """Start the database, the S3 emulator and the server; make the owner."""
        self._start_postgres()
        self._start_s3()
        self._start_django()

    def create_user(self, name: str) -> str:
        """Create an approved user (or find it: tests share one server); return
        its API key (its DRF token)."""
        out = self.manage("shell", "-c", CREATE_USER.format(name=name))
        return out.strip().splitlines()[-1].removeprefix("TOKEN=")

    def write_manifest(self, dandiset_id: str, version: str = "draft") -> None:
        """Write the version's manifests now, as the archive's periodic task does."""
        self.manage(
            "shell", "-c", WRITE_MANIFEST.format(id=int(dandiset_id), version=version)
        )

    def stop(self) -> None:
        """Stop the processes started here, newest first, by pid."""
        for process in reversed(self.processes):
            if process.poll() is None:
                # SIGINT: PostgreSQL's fast shutdown; Django and moto end on it too
                os.kill(process.pid, signal.SIGINT)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()
        if getattr(self, "pg_data", None):
            shutil.rmtree(self.pg_data, ignore_errors=True)


@contextlib.contextmanager
def running(installation: Installation, workdir: Path) -> Iterator[RealArchive]:
    """The archive running for the duration of the block."""
    archive = RealArchive(installation, workdir)
    try:
        archive.start()
        yield archive
    finally:
        archive.stop()


def main() -> None:
    """Run the archive until Ctrl-C, printing its URL and key (for exploring).

    ``python -m tests.real_archive.services``
    """
    from .install import HOW_TO_RUN, find_source, install

    repo = Path(__file__).resolve().parents[2]
    source = find_source(repo)
    if source is None:
        raise SystemExit(HOW_TO_RUN)
    workdir = Path(tempfile.mkdtemp(prefix="dandi-archive-run-"))
    with running(install(source), workdir) as archive:
        # blocked, so that sigwait takes them (a handler would take them first,
        # and a SIGTERM would end this process and orphan the servers); blocked
        # once the servers run (they inherit the mask of the process starting
        # them), before saying so (a signal then waits for sigwait)
        stop = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)
        print(f"api: {archive.api_url}", flush=True)
        print(f"{archive.api_key_env_var}={archive.key}", flush=True)
        print(f"manifests: {archive.manifest_url_template}", flush=True)
        print(f"logs: {workdir}", flush=True)
        signal.sigwait(stop)


if __name__ == "__main__":
    main()
