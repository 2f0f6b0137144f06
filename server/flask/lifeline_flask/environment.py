"""Options from the environment, as a 12-factor deployment sets them (server/DESIGN.md "One
design, files mirrored"; Node: environment.mjs): ``LIFELINE_REDIS_URL=redis://… gunicorn …``.

Each option `name` has the variable ``LIFELINE_<NAME>`` (the same names as the
``app.config`` keys, and the ones Node reads, so one deployment's environment configures a
Flask and a Node process alike). The environment comes last but for the defaults:
``Lifeline(app, name=…)`` wins over ``app.config['LIFELINE_<NAME>']``, which wins over the
variable (extension.py `resolve_options`). Theory: a variable is text, so its kind comes from
the option's: the spec's integers (protocol.py INT_OPTIONS; ``none`` for a nullable one), the
booleans (yes/no words), the rest strings as they are (`origins` a comma-separated list,
parsed with the option's other forms by origin.py). `store` is an object: never from the
environment. An empty variable is unset; one that does not parse is an error naming it.
"""

import os

from .protocol import INT_OPTIONS

BOOLEANS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def variable_of(name):
    """The environment variable of option `name` (and its app.config key)."""
    return "LIFELINE_" + name.upper()


def option_from_environment(name, default, environ):
    """(True, value) when `environ` sets option `name` (whose default is `default`), else
    (False, None). ValueError, naming the variable, for a value that does not parse."""
    var = variable_of(name)
    text = environ.get(var, "").strip()
    if not text or name == "store":
        return False, None
    if name in INT_OPTIONS:
        if text.lower() == "none":
            return True, None
        try:
            return True, int(text)
        except ValueError:
            raise ValueError(f"{var} must be a whole number, not {text!r}") from None
    if isinstance(default, bool):
        if text.lower() not in BOOLEANS:
            raise ValueError(f"{var} must be true or false (1/0, yes/no, on/off), not {text!r}")
        return True, BOOLEANS[text.lower()]
    return True, text


def options_from_environment(defaults, environ=None):
    """The options of `defaults` (name: default) that `environ` (default os.environ) sets."""
    environ = os.environ if environ is None else environ
    out = {}
    for name, default in defaults.items():
        found, value = option_from_environment(name, default, environ)
        if found:
            out[name] = value
    return out
