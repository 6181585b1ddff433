"""The model-side logger of atb-models / mindie_llm, as run_pa uses it (3.0 sources).

Follows mindie_llm/utils/log/logging_base.py and utils.py (atb_llm.utils.log re-exports it):
- the records of the ``llmmodels`` component go to the console (stderr, a StreamHandler) only when
  MINDIE_LOG_TO_STDOUT is 1/true, and to a file unless MINDIE_LOG_TO_FILE is 0/false;
- verbose format (MINDIE_LOG_VERBOSE, default on):
  ``[%(asctime)s] [%(process)d] [%(thread)d] [%(name)s] [%(levelname)s] [%(filename)s-%(lineno)d] : msg``,
  otherwise ``[%(asctime)s] : [%(levelname)s] msg``; WARNING is printed as WARN;
- the file is ``<dir>/mindie-llm_<pid>_<yyyymmddHHMMSS><3 digits>.log`` (the llm and llmmodels
  components share one file when their directories match, which they do unless configured
  per component), ``<dir>`` being ``~/mindie/log/debug``, ``~/mindie/log/<MINDIE_LOG_PATH>/debug``
  for a relative MINDIE_LOG_PATH and ``<MINDIE_LOG_PATH>/log/debug`` for an absolute one;
  directories 0750, the open file 0640;
- level from MINDIE_LOG_LEVEL (DEBUG/INFO/WARN/ERROR/CRITICAL, anything else = INFO);
- rotation from MINDIE_LOG_ROTATE ``-fs <MB 1-500> -r <files 1-64>`` (defaults 20 MB, 10 files),
  rotated files named ``<name>.01.log``, ``.02.log``, ...; a value out of range raises ValueError
  when the logger is created, as the real one does.
Values may be given per component (``llmmodels:1;llm:0``), the last matching entry wins.
"""
import logging
import logging.handlers
import os
import time
from datetime import datetime, timedelta, timezone

SWITCH_ON = ("1", "TRUE")
ALL_SWITCHES = ("1", "TRUE", "0", "FALSE")
MB = 1024 * 1024


def component_config(value, component):
    """mindie_llm.utils.log.utils.get_component_config."""
    for part in (value or "").split(";")[::-1]:
        pieces = part.split(":")
        if len(pieces) == 1:
            return pieces[0].strip()
        if len(pieces) == 2 and pieces[0].strip().lower() == component:
            return pieces[1].strip()
    return ""


def rotate_config(text):
    """(max bytes, max files) from a MINDIE_LOG_ROTATE value (update_log_file_param)."""
    size_mb, files = 20, 10
    items = (text or "").split()
    for i in range(0, len(items) - 1, 2):
        option, value = items[i], items[i + 1]
        if option == "-fs":
            try:
                size_mb = int(value)
            except ValueError:
                raise ValueError("Log file size (-fs) should be an integer, but got '%s'." % value)
            if not 1 <= size_mb <= 500:
                raise ValueError("Log file size (-fs) should be between 1 and 500 MB, but got %d MB." % size_mb)
        elif option == "-r":
            try:
                files = int(value)
            except ValueError:
                raise ValueError("Log rotation count (-r) should be an integer, but got '%s'." % value)
            if not 1 <= files <= 64:
                raise ValueError("Log rotation count (-r) should be between 1 and 64, but got %d." % files)
    return size_mb * MB, files


def log_dir(component, env=None):
    env = os.environ if env is None else env
    home = os.path.expanduser("~")
    path = component_config(env.get("MINDIE_LOG_PATH", ""), component)
    if not path:
        return os.path.join(home, "mindie", "log", "debug")
    if not path.startswith("/"):
        return os.path.join(home, "mindie", "log", path, "debug")
    return os.path.join(path, "log", "debug")


class _RotatingFile(logging.handlers.RotatingFileHandler):
    def rotation_filename(self, default_name):
        base, index = default_name.rsplit(".", 1)
        stem, ext = base.rsplit(".", 1)
        return "%s.%02d.%s" % (stem, int(index), ext)

    def _open(self):
        stream = super()._open()
        try:
            os.chmod(self.baseFilename, 0o640)
        except OSError:
            pass
        return stream


class _Formatter(logging.Formatter):
    VERBOSE = ("[%(asctime)s] [%(process)d] [%(thread)d] [%(name)s] [%(levelname)s] "
               "[%(filename)s-%(lineno)d] : %(message)s")
    SHORT = "[%(asctime)s] : [%(levelname)s] %(message)s"


def model_logger(component="llmmodels", env=None):
    """A logging.Logger configured like atb_llm.utils.log.logger (name ``component``)."""
    env = os.environ if env is None else env
    logging.addLevelName(logging.WARNING, "WARN")
    logger = logging.getLogger(component)
    logger.handlers.clear()
    logger.propagate = False
    level = component_config(env.get("MINDIE_LOG_LEVEL", "INFO"), component).upper()
    logger.setLevel({"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING,
                     "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}.get(level, logging.INFO))
    verbose = component_config(env.get("MINDIE_LOG_VERBOSE", "1"), component).upper()
    formatter = _Formatter(_Formatter.VERBOSE if verbose in SWITCH_ON or verbose not in ALL_SWITCHES
                           else _Formatter.SHORT)
    to_file = component_config(env.get("MINDIE_LOG_TO_FILE", "1"), component).upper()
    if to_file in SWITCH_ON or to_file not in ALL_SWITCHES:
        max_bytes, max_files = rotate_config(component_config(env.get("MINDIE_LOG_ROTATE", ""), component))
        directory = log_dir(component, env)
        os.makedirs(directory, mode=0o750, exist_ok=True)
        stamp = datetime.now(timezone(timedelta(hours=8))).strftime("%Y%m%d%H%M%S") + str(time.time() * 1000)[0:3]
        path = os.path.join(directory, "mindie-llm_%d_%s.log" % (os.getpid(), stamp))
        handler = _RotatingFile(path, "a", max_bytes, max_files, delay=True)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        logger.log_file = path
    else:
        logger.log_file = None
    to_stdout = component_config(env.get("MINDIE_LOG_TO_STDOUT", "0"), component).upper()
    if to_stdout in SWITCH_ON:
        console = logging.StreamHandler()  # stderr, as logging.StreamHandler() defaults to
        console.setFormatter(formatter)
        logger.addHandler(console)
    return logger
