"""The embedded default: a private PostgreSQL + PostGIS cluster that gisapp runs itself.

``gisapp db up`` creates the cluster in ``<data_dir>/pgdata`` on first use, starts it on
127.0.0.1, creates the database and the PostGIS extension, and migrates. PostgreSQL
refuses to run as root, so when gisapp runs as root the server runs as an
unprivileged OS user (``postgres`` by default). A random password is generated per
cluster and kept in ``<data_dir>/cluster.json`` (mode 0600).

When gisapp runs as root from a folder the server's OS user cannot reach (a clone in
``/root``, mode 0700), the server's own files (``pgdata`` and ``postgres.log``) go to
``/var/lib/gisapp/clusters/<name>-<hash of the data dir>`` instead, owned by that user;
``cluster.json`` records where, and everything else stays in the data dir. So the
README's commands work from any folder without opening root's home to anyone.

The server's log is private (0600, in a 0700 directory) and records no statement and
no detail line of a failed command: those carry the values users sent.
"""

from __future__ import annotations

import glob
import grp
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from spatial_rules.errors import DomainError

SERVER_FILES_ROOT = Path("/var/lib/gisapp/clusters")
# A failed statement's text and its DETAIL line carry the values users sent (codes,
# names, coordinates): the log keeps the error message only.
PRIVATE_LOG_OPTIONS = "-c log_min_error_statement=panic -c log_error_verbosity=terse"
DB_NAME = "gisapp"
DB_USER = "gisapp"
INSTALL_HINT = "apt-get update && apt-get install -y postgresql-15 postgresql-15-postgis-3"


class LocalDbError(DomainError):
    """The embedded PostGIS cannot be set up or reached."""


@dataclass(frozen=True)
class ClusterState:
    """What ``cluster.json`` records about a local cluster."""

    port: int
    password: str
    bindir: str
    pgdata: str | None = None  # set when the server's files live outside the data dir

    def url(self) -> str:
        """Return the SQLAlchemy URL of the cluster's database."""
        return f"postgresql+psycopg2://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{DB_NAME}"


def find_pg_bindir() -> Path:
    """Locate the PostgreSQL server binaries (initdb, pg_ctl, postgres)."""
    candidates: list[Path] = []
    if os.environ.get("GISAPP_PG_BINDIR"):
        candidates.append(Path(os.environ["GISAPP_PG_BINDIR"]))
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    versioned.sort(key=lambda p: _version_key(p), reverse=True)
    candidates += [Path(p) for p in versioned]
    candidates += [Path("/usr/local/pgsql/bin"), Path("/usr/pgsql/bin")]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise LocalDbError(f"未找到 PostgreSQL 服务器程序（initdb、pg_ctl）。请安装：{INSTALL_HINT}")


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"/postgresql/(\d+)(?:\.(\d+))?/", path + "/")
    return tuple(int(g) for g in match.groups() if g) if match else (0,)


def check_postgis(bindir: Path) -> None:
    """Raise with the exact package to install when PostGIS is missing for ``bindir``."""
    share = _sharedir(bindir)
    if not (share / "extension" / "postgis.control").is_file():
        major = _server_major(bindir)
        raise LocalDbError(
            f"PostgreSQL {major} 缺少 PostGIS 扩展（{share}/extension/postgis.control 不存在）。"
            f"请安装：apt-get update && apt-get install -y postgresql-{major}-postgis-3"
        )


def _server_major(bindir: Path) -> str:
    out = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"(\d+)", out)
    return match.group(1) if match else "15"


def _sharedir(bindir: Path) -> Path:
    pg_config = bindir / "pg_config"
    if pg_config.is_file():
        out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    return Path(f"/usr/share/postgresql/{_server_major(bindir)}")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalCluster:
    """A private PostGIS cluster under ``data_dir``."""

    def __init__(self, data_dir: Path, port: int = 54329, os_user: str = "postgres") -> None:
        """Describe the cluster; nothing is touched until ``up``."""
        self.data_dir = Path(data_dir).absolute()
        self.state_file = self.data_dir / "cluster.json"
        self.preferred_port = port
        self.os_user = os_user

    # -- where the server's files are --------------------------------------------
    def _recorded_pgdata(self) -> str | None:
        try:
            return json.loads(self.state_file.read_text(encoding="utf-8")).get("pgdata")
        except (OSError, ValueError, AttributeError):
            return None

    @property
    def pgdata(self) -> Path:
        """The cluster's directory: recorded in cluster.json when outside the data dir."""
        recorded = self._recorded_pgdata()
        return Path(recorded) if recorded else self.data_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        """The server's log, next to its pgdata."""
        return self.pgdata.parent / "postgres.log"

    def _outside_home(self) -> Path:
        """Where the server's files go when the data dir is out of the server user's reach."""
        digest = hashlib.sha256(str(self.data_dir).encode("utf-8")).hexdigest()[:12]
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", self.data_dir.parent.name or "root")[:40]
        return SERVER_FILES_ROOT / f"{name}-{digest}"

    # -- state ---------------------------------------------------------------
    def state(self) -> ClusterState | None:
        """Return the recorded state, or None when no cluster was created here."""
        if not self.state_file.is_file() or not (self.pgdata / "PG_VERSION").is_file():
            return None
        data = json.loads(self.state_file.read_text(encoding="utf-8"))
        return ClusterState(port=int(data["port"]), password=data["password"], bindir=data["bindir"],
                            pgdata=data.get("pgdata"))

    def _write_state(self, state: ClusterState) -> None:
        self.state_file.write_text(json.dumps(state.__dict__), encoding="utf-8")
        os.chmod(self.state_file, 0o600)

    # -- privileges ------------------------------------------------------------
    def _run_as(self) -> str | None:
        """Return the OS user to run the server as, or None for the current user."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(self.os_user)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                 self.os_user],
                check=False, capture_output=True,
            )
            try:
                pwd.getpwnam(self.os_user)
            except KeyError as exc:
                raise LocalDbError(
                    f"以 root 运行时需要非特权系统用户“{self.os_user}”来运行 PostgreSQL，"
                    "但该用户不存在且无法创建。请设置 GISAPP_PG_OS_USER 为已有用户。"
                ) from exc
        return self.os_user

    def _reachable(self, user: str, path: Path) -> bool:
        """Whether every parent of ``path`` is traversable by OS user ``user``."""
        entry = pwd.getpwnam(user)
        groups = {g.gr_gid for g in grp.getgrall() if user in g.gr_mem} | {entry.pw_gid}
        for parent in path.parents:
            st = parent.stat()
            if st.st_uid == entry.pw_uid:
                if not st.st_mode & 0o100:
                    return False
            elif st.st_gid in groups:
                if not st.st_mode & 0o010:
                    return False
            elif not st.st_mode & 0o001:
                return False
        return True

    def _private_dir(self, path: Path, user: str | None) -> None:
        """Create ``path`` (mode 0700), owned by the server's OS user when there is one."""
        path.mkdir(parents=True, exist_ok=True)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(path, 0o700)

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
        user = self._run_as()
        proc = subprocess.run(
            args, capture_output=True, text=True, user=user, cwd="/",
            stdin=subprocess.DEVNULL, check=False,
        )
        if check and proc.returncode != 0:
            raise LocalDbError(
                f"命令 {Path(args[0]).name} 失败（退出码 {proc.returncode}）：{proc.stderr.strip()[-800:]}"
            )
        return proc

    # -- lifecycle ---------------------------------------------------------------
    def initialise(self) -> ClusterState:
        """Create the cluster with scram-sha-256 auth and a random password."""
        bindir = find_pg_bindir()
        check_postgis(bindir)
        user = self._run_as()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        pgdata = None
        if user and not self._reachable(user, self.data_dir):
            # Root's home (or another private folder): the server's files go where its
            # user can reach them; the data dir keeps the rest and says where.
            SERVER_FILES_ROOT.mkdir(parents=True, exist_ok=True)
            SERVER_FILES_ROOT.parent.chmod(0o755)
            SERVER_FILES_ROOT.chmod(0o755)
            home = self._outside_home()
            shutil.rmtree(home, ignore_errors=True)  # a leftover of a deleted data dir
            self._private_dir(home, user)
            pgdata = str(home / "pgdata")
        elif user:
            self._private_dir(self.data_dir, user)
        server_dir = Path(pgdata).parent if pgdata else self.data_dir
        password = secrets.token_urlsafe(18)
        pwfile = server_dir / ".pwfile"
        pwfile.write_text(password + "\n", encoding="utf-8")
        os.chmod(pwfile, 0o600)
        if user:
            os.chown(pwfile, pwd.getpwnam(user).pw_uid, -1)
        try:
            self._run([
                str(bindir / "initdb"), "-D", pgdata or str(self.data_dir / "pgdata"), "-U", DB_USER,
                "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=UTF8",
                "--locale=C.UTF-8",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        port = self.preferred_port if _port_free(self.preferred_port) else free_port()
        state = ClusterState(port=port, password=password, bindir=str(bindir), pgdata=pgdata)
        self._write_state(state)
        return state

    def is_running(self) -> bool:
        """Return whether the cluster's server is running."""
        state = self.state()
        if state is None:
            return False
        proc = self._run([str(Path(state.bindir) / "pg_ctl"), "-D", str(self.pgdata), "status"],
                         check=False)
        return proc.returncode == 0

    def start(self) -> ClusterState:
        """Start the server (creating the cluster first if needed); return its state."""
        state = self.state() or self.initialise()
        if self.is_running():
            return state
        if not _port_free(state.port):
            state = ClusterState(port=free_port(), password=state.password, bindir=state.bindir,
                                 pgdata=state.pgdata)
            self._write_state(state)
        user = self._run_as()
        # The log is private whoever created it (older versions left it world-readable).
        fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        os.chmod(self.log_file, 0o600)
        if user:
            os.chown(self.log_file, pwd.getpwnam(user).pw_uid, -1)
        self._run([
            str(Path(state.bindir) / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log_file),
            "-w", "-t", "60",
            "-o", f"-p {state.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                  f"{PRIVATE_LOG_OPTIONS}",
            "start",
        ])
        if not (self.pgdata / "standby.signal").exists():  # a standby is read-only
            self._ensure_database(state)
        return state

    def _ensure_database(self, state: ClusterState) -> None:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=state.port, user=DB_USER,
                                password=state.password, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{DB_NAME}"')
        conn.close()
        conn = psycopg2.connect(host="127.0.0.1", port=state.port, user=DB_USER,
                                password=state.password, dbname=DB_NAME)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.close()

    def stop(self) -> bool:
        """Stop the server; return whether it was running."""
        state = self.state()
        if state is None or not self.is_running():
            return False
        self._run([str(Path(state.bindir) / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast",
                   "-w", "stop"])
        return True

    def create_replica(self, data_dir: Path, port: int | None = None) -> LocalCluster:
        """Clone this running cluster into a streaming standby under ``data_dir`` and start it.

        ``pg_basebackup -R`` copies the data and writes the standby's connection to this
        primary (initdb's pg_hba admits replication from 127.0.0.1 with the same password).
        The standby is read-only and replays this cluster's WAL as it comes.
        """
        state = self.state()
        if state is None or not self.is_running():
            raise LocalDbError("主库未运行，无法创建只读副本")
        replica = LocalCluster(data_dir, port=port or free_port(), os_user=self.os_user)
        user = self._run_as()
        replica.data_dir.mkdir(parents=True, exist_ok=True)
        if user:
            if not replica._reachable(user, replica.data_dir):
                raise LocalDbError(
                    f"副本数据目录 {replica.data_dir} 的上级目录对用户“{user}”不可进入，"
                    "PostgreSQL 无法在此运行。请指定其他目录（例如 /var/lib/gisapp）。")
            replica._private_dir(replica.data_dir, user)
        passfile = replica.data_dir / ".pgpass"
        passfile.write_text(f"127.0.0.1:{state.port}:*:{DB_USER}:{state.password}\n", encoding="utf-8")
        os.chmod(passfile, 0o600)
        if user:
            os.chown(passfile, pwd.getpwnam(user).pw_uid, -1)
        try:
            self._run([
                str(Path(state.bindir) / "pg_basebackup"), "-D", str(replica.pgdata), "-h", "127.0.0.1",
                "-p", str(state.port), "-U", DB_USER, "-R", "-X", "stream", "--checkpoint=fast",
                "-d", f"passfile={passfile}",
            ])
        finally:
            passfile.unlink(missing_ok=True)
        # The standby's own recovery connection needs the password too; keep it in its config.
        auto_conf = replica.pgdata / "postgresql.auto.conf"
        text = auto_conf.read_text(encoding="utf-8")
        # (token_urlsafe passwords hold no quote, so they need no escaping in the conninfo.)
        auto_conf.write_text(re.sub(r"passfile=(''[^']*''|\S+)", f"password={state.password}", text),
                             encoding="utf-8")
        replica_state = ClusterState(port=replica.preferred_port, password=state.password,
                                     bindir=state.bindir)
        replica._write_state(replica_state)
        replica.start()
        return replica

    def destroy(self) -> None:
        """Stop the server and delete the whole data directory (and the server's files)."""
        self.stop()
        outside = self._recorded_pgdata()
        if outside:
            shutil.rmtree(Path(outside).parent, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)
