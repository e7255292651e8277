"""A local PostgreSQL cluster for trying the team setup: `make postgres` (`python -m app.postgres start`).

Debian's server binaries (package `postgresql`, installed by `make postgres` when missing), a data
folder of our own (git-ignored `.postgres/`), listening on 127.0.0.1 only, password authentication
with a generated password kept in a 0600 file beside the data. Two databases: `mlflow` (the tracking
server's backend store) and `optuna` (shared studies). PostgreSQL refuses to run as root: as root,
the server runs as Debian's `postgres` user, which then owns the data folder.

    python -m app.postgres start [--dir .postgres] [--port 5433]   # prints the two URIs
    python -m app.postgres uri mlflow|optuna [--dir .postgres]
    python -m app.postgres stop [--dir .postgres]
"""

import argparse
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

USER = "imgclf"  # the database role the app connects as
DATABASES = ("mlflow", "optuna")
SERVER_USER = "postgres"  # Debian's system user for the server when we are root


def binaries() -> Path:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/<version>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise RuntimeError("PostgreSQL's server is not installed; `make postgres` installs Debian's postgresql package")


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def uri(folder: Path, database: str) -> str:
    password = (folder / "password").read_text().strip()
    port = (folder / "port").read_text().strip()
    return f"postgresql://{USER}:{password}@127.0.0.1:{port}/{database}"


def start(folder: Path, port: int) -> dict[str, str]:
    """Create the cluster on first use, start it (if not running), return {database: URI}."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)  # the server user must reach data/ inside it
    data, bin_dir = folder / "data", binaries()
    if not (data / "PG_VERSION").is_file():
        _create_cluster(folder, data, bin_dir, port)
    if subprocess.run(
        _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "status"]), capture_output=True
    ).returncode:
        port = int((folder / "port").read_text())
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder / 'socket'}"
        started = subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(folder / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "start",
                ]
            ),
            capture_output=True,
            text=True,
        )
        if started.returncode:
            log = (folder / "server.log").read_text(errors="replace").strip().splitlines()[-1:] or [
                started.stderr.strip()
            ]
            raise RuntimeError(f"PostgreSQL did not start on 127.0.0.1:{port}: {log[0]}")
        _create_databases(folder)
    return {name: uri(folder, name) for name in DATABASES}


def _create_cluster(folder: Path, data: Path, bin_dir: Path, port: int) -> None:
    password = secrets.token_urlsafe(24)
    secret = folder / "password"
    secret.touch(mode=0o600)
    secret.write_text(password + "\n")
    (folder / "port").write_text(f"{port}\n")
    for sub in (data, folder / "socket"):
        sub.mkdir(mode=0o700, exist_ok=True)
        _give_to_server_user(sub)
    _give_to_server_user(folder)  # the server writes its log here
    # initdb reads the password from a file the server user can read; removed right after.
    pwfile = folder / "initial-password"
    pwfile.write_text(password + "\n")
    _give_to_server_user(pwfile)
    try:
        subprocess.run(
            _as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
                             "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"]),
            check=True,
            capture_output=True,
        )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)


def _create_databases(folder: Path) -> None:
    import psycopg

    with psycopg.connect(uri(folder, "postgres"), autocommit=True) as conn:
        present = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in DATABASES:
            if name not in present:
                conn.execute(f'CREATE DATABASE "{name}"')


def stop(folder: Path) -> None:
    data = folder.resolve() / "data"
    if (data / "postmaster.pid").is_file():
        subprocess.run(_as_server_user([str(binaries() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True)  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.postgres", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop", "uri"))
    parser.add_argument("database", nargs="?", choices=DATABASES, help="uri: which database")
    parser.add_argument("--dir", type=Path, default=Path(".postgres"), help="cluster folder (default .postgres)")
    parser.add_argument("--port", type=int, default=5433, help="port on 127.0.0.1, on first start (default 5433)")
    args = parser.parse_args(argv)
    try:
        if args.action == "stop":
            stop(args.dir)
            print(f"PostgreSQL in {args.dir} stopped")
        elif args.action == "uri":
            print(uri(args.dir.resolve(), args.database or "mlflow"))
        else:
            uris = start(args.dir, args.port)
            print(f"PostgreSQL running on 127.0.0.1:{(args.dir / 'port').read_text().strip()}, data in {args.dir}/data "
                  f"(password in {args.dir}/password, mode 0600)")  # fmt: skip
            # The URIs carry the password: printed by `uri` on demand, not left in the terminal's scrollback.
            print(f"  databases: {', '.join(uris)}; their URIs: .venv/bin/python -m app.postgres uri mlflow|optuna")
    except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
        detail = (
            err.stderr.decode(errors="replace").strip().splitlines()[-1:]
            if isinstance(err, subprocess.CalledProcessError) and err.stderr
            else []
        )
        print(f"error: {detail[0] if detail else err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
