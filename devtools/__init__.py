"""Developer tooling: servers, keys, ``make run``, ``make test``, ``make bench``."""
import warnings

warnings.filterwarnings("ignore", message="(?s).*Eventlet is deprecated")  # it says so on import
