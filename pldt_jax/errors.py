"""The one base of every error a user can fix: a command prints it as one line and exits 1.

Library code raises a subclass (or `Error` itself) with a message that names the problem
and, where there is one, the fix; `pldt_jax.cli` turns it into `error: <message>` on stderr
and exit status 1, never a traceback. Errors that are not `Error` are bugs: they keep their
traceback.
"""


class Error(Exception):
    """A problem with what the user asked for or gave (settings, files, work dirs)."""
