"""Issue 20: one `wsss reproduce` per --out folder (a lock naming the holder's pid, a dead holder's lock taken over, shared with
the run's own `--jobs` children), and children that stop when their parent is killed."""
import os, signal, subprocess, sys, time
from pathlib import Path
import pytest
from wsss.core import ConfigError
from wsss.repro import RUN_LOCK, RUN_LOCK_PARENT_ENV, Unit, run_lock, run_units

WSSS = [sys.executable, '-c', 'import sys; from wsss.cli import main; sys.exit(main())']
TRY_LOCK = "import sys; from wsss.repro import run_lock\nwith run_lock(sys.argv[1]): print('got it', flush=True)"


def test_second_run_on_a_locked_folder_names_the_holder(tmp_path):
    with run_lock(tmp_path / 'runs') as path:
        assert path.read_text().split() == [str(os.getpid())]
        with run_lock(tmp_path / 'runs'): pass  # re-entrant in the holding process
        r = subprocess.run([*WSSS, 'reproduce', '--profile', 'smoke', '--methods', 'cam', '--device', 'cpu', '--quiet',
                            '--out', tmp_path / 'runs', '--figures', tmp_path / 'figs'], capture_output=True, text=True, timeout=300,
                           env={k: v for k, v in os.environ.items() if k != RUN_LOCK_PARENT_ENV})
        assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
        err = r.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith('wsss: error: --out') and f'pid {os.getpid()}' in err[0], r.stderr
        assert not (tmp_path / 'runs' / 'data').exists() and not (tmp_path / 'runs' / 'synthetic').exists()  # nothing generated
    # released: another process takes it
    r = subprocess.run([sys.executable, '-c', TRY_LOCK, str(tmp_path / 'runs')], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and 'got it' in r.stdout, r.stderr


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, '-c', 'pass']); dead.wait()  # a pid that no longer runs
    (tmp_path / RUN_LOCK).write_text(f'{dead.pid}\n')
    with run_lock(tmp_path) as path: assert path.read_text().split() == [str(os.getpid())]


def test_jobs_children_share_the_parent_lock_and_others_do_not(tmp_path):
    with run_lock(tmp_path):
        units = [Unit(name='child', argv=[sys.executable, '-c', TRY_LOCK, str(tmp_path)], after=None, early=None)]
        run_units(units, 1, log=lambda s: None, logs_dir=tmp_path / 'logs')  # raises StageFailed if the child could not share it
        assert 'got it' in (tmp_path / 'logs' / 'child.log').read_text()
        stranger = subprocess.run([sys.executable, '-c', TRY_LOCK, str(tmp_path)], capture_output=True, text=True, timeout=120,
                                  env={k: v for k, v in os.environ.items() if k != RUN_LOCK_PARENT_ENV})
        assert stranger.returncode != 0 and f'pid {os.getpid()}' in stranger.stderr and 'got it' not in stranger.stdout


def _running(pid):
    "True while `pid` runs (an exited child nobody reaped yet, a zombie, counts as ended)."
    try: os.kill(pid, 0)
    except ProcessLookupError: return False
    try: return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError: return False


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='PR_SET_PDEATHSIG is Linux only')
def test_child_stops_when_its_parent_is_killed(tmp_path):
    "A parent run SIGKILLed: its child (holding the shared lock, mid-stage) gets SIGINT and exits instead of running on."
    child = ("import sys, time; from wsss.repro import run_lock\n"
             "with run_lock(sys.argv[1]):\n    open(sys.argv[2], 'w').write('started'); time.sleep(600)")
    parent = ("import os, subprocess, sys, time; from wsss.repro import RUN_LOCK_PARENT_ENV, run_lock\n"
              "with run_lock(sys.argv[1]):\n"
              "    env = dict(os.environ, **{RUN_LOCK_PARENT_ENV: str(os.getpid())})\n"
              f"    p = subprocess.Popen([sys.executable, '-c', {child!r}, sys.argv[1], sys.argv[2]], env=env, start_new_session=True)\n"
              "    open(sys.argv[3], 'w').write(str(p.pid)); time.sleep(600)")
    started, pidfile = tmp_path / 'started', tmp_path / 'child.pid'
    par, kid = subprocess.Popen([sys.executable, '-c', parent, str(tmp_path / 'runs'), str(started), str(pidfile)]), None
    try:
        for _ in range(1200):  # wait (up to 2 min on a loaded machine) for the child to be mid-"stage"
            if started.exists(): break
            time.sleep(0.1)
        assert started.exists()
        kid = int(pidfile.read_text())
        par.send_signal(signal.SIGKILL); par.wait()
        for _ in range(1200):  # the child is no longer there (no timing asserted: only that it ends)
            if not _running(kid): break
            time.sleep(0.1)
        else: pytest.fail(f'child {kid} still runs after its parent was killed')
    finally:  # leave nothing behind when the test fails
        if par.poll() is None: par.kill()
        if kid is not None and _running(kid): os.kill(kid, signal.SIGKILL)
