"""The one exception type for user mistakes.

Library code raises :class:`UserError` for anything the user can fix (an unknown arch,
a cfg that does not fit, a missing dataset, a bad checkpoint). Entry points catch it in
:func:`common.settings.main_guard` and print it as one line on stderr with a non-zero exit,
never as a traceback.
"""


class UserError(Exception):
    """A mistake in the user's input; its message is printed as one line."""
