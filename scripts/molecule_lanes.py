#!/usr/bin/env python3
"""Run molecule scenarios in parallel lanes: `make molecule` (every scenario) or `make molecule S=fleet`.

Each scenario brings up its own sandbox fleet (its own node containers, network and port base; see
extensions/molecule/config.yml), so scenarios do not share anything on the engine and can run side by
side. Most of a scenario's wall time is waiting (model loads, readiness, TIME_WAIT on restarted ports),
so on a 2-core machine three lanes keep the CPU busy (the CI figures are in the issue notes).

Scenarios are dealt longest first onto the lane that frees up first. The expected durations come from
build/molecule-times.json (written by the previous run on this checkout) and, on a fresh clone, from
DEFAULT_SECONDS (measured on the CI machine). Each scenario's output goes to build/molecule-logs/<s>.log;
a failed scenario's log tail is printed and the run fails (the other lanes finish what they started,
nothing new is started).

With --with-integration the integration tests (tests/integration, a mindie-sim container of their own on the
host engine) are one more job of the lanes, as `make test` runs them.

Usage: molecule_lanes.py [--jobs N] [--with-integration] [SCENARIO ...]
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SCENARIO_DIR = os.path.join(REPO, 'extensions', 'molecule')
BUILD = os.path.join(REPO, 'build')
TIMES = os.path.join(BUILD, 'molecule-times.json')
LOGS = os.path.join(BUILD, 'molecule-logs')
# Wall seconds per scenario measured one at a time on the 2-core CI machine (2026-12); only the order matters.
DEFAULT_SECONDS = {'fleet': 1250, 'loadbalancer': 1200, 'monitoring': 600, 'service': 540, 'container': 440, 'image': 270, 'dependencies': 200,
                   'integration': 200, 'prechecks': 60, 'sandbox': 70}
INTEGRATION = 'integration'

TAIL_LINES = 150


def scenarios():
    return sorted(name for name in os.listdir(SCENARIO_DIR)
                  if os.path.isfile(os.path.join(SCENARIO_DIR, name, 'molecule.yml')))


def expected_seconds():
    times = dict(DEFAULT_SECONDS)
    try:
        with open(TIMES) as handle:
            times.update(json.load(handle))
    except (OSError, ValueError):
        pass
    return times


class Lanes(object):
    def __init__(self, names, jobs, molecule):
        times = expected_seconds()
        self.queue = sorted(names, key=lambda name: (-times.get(name, 300), name))
        self.jobs = max(1, min(jobs, len(names)))
        self.molecule = molecule
        self.lock = threading.Lock()
        self.results = {}
        self.failed = False

    def next_scenario(self):
        with self.lock:
            if self.failed or not self.queue:
                return None
            return self.queue.pop(0)

    def command(self, name):
        if name == INTEGRATION:
            return [sys.executable, '-m', 'pytest', 'tests/integration', '-q', '-rs']
        return [self.molecule, 'test', '-s', name]

    def run_one(self, name):
        log = os.path.join(LOGS, name + '.log')
        started = time.time()
        with open(log, 'w') as handle:
            rc = subprocess.call(self.command(name), cwd=REPO, stdout=handle, stderr=subprocess.STDOUT)
        seconds = int(time.time() - started)
        with self.lock:
            self.results[name] = (rc, seconds)
            if rc != 0:
                self.failed = True
        print('molecule: %-13s %s in %4d s (log %s)' % (name, 'passed' if rc == 0 else 'FAILED rc=%d' % rc,
                                                        seconds, os.path.relpath(log, REPO)), flush=True)

    def lane(self):
        name = self.next_scenario()
        while name is not None:
            self.run_one(name)
            name = self.next_scenario()

    def run(self):
        print('molecule: %d jobs in %d lanes, longest first: %s'
              % (len(self.queue), self.jobs, ' '.join(self.queue)), flush=True)
        threads = [threading.Thread(target=self.lane) for _ in range(self.jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return self.results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--jobs', type=int, default=int(os.environ.get('MOLECULE_JOBS', '3')))
    parser.add_argument('--molecule', default=os.path.join(os.path.dirname(sys.executable), 'molecule'))
    parser.add_argument('--with-integration', action='store_true',
                        help='run the integration tests as one more job of the lanes')
    parser.add_argument('names', nargs='*', metavar='SCENARIO')
    args = parser.parse_args(argv)
    known = scenarios()
    unknown = [name for name in args.names if name not in known]
    if unknown:
        parser.error('no such scenario: %s (there are: %s)' % (', '.join(unknown), ', '.join(known)))
    os.makedirs(LOGS, exist_ok=True)
    started = time.time()
    names = list(args.names or known) + ([INTEGRATION] if args.with_integration else [])
    results = Lanes(names, args.jobs, args.molecule).run()
    times = expected_seconds()
    times.update({name: seconds for name, (rc, seconds) in results.items() if rc == 0})
    with open(TIMES, 'w') as handle:
        json.dump(times, handle, indent=1, sort_keys=True)
    failed = sorted(name for name, (rc, _) in results.items() if rc != 0)
    for name in failed:
        print('\n== molecule test -s %s failed; last %d lines of its log:' % (name, TAIL_LINES))
        with open(os.path.join(LOGS, name + '.log'), errors='replace') as handle:
            sys.stdout.write(''.join(handle.readlines()[-TAIL_LINES:]))
    not_run = sorted(set(names) - set(results))
    print('molecule: %d passed, %d failed%s in %d s'
          % (len(results) - len(failed), len(failed), ', not run: ' + ' '.join(not_run) if not_run else '',
             time.time() - started))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
