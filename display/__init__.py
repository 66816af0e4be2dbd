import os as _os

# Kivy parses sys.argv and logs to the console when first imported unless told not to:
# the display has its own command line (vuoro display ...).
_os.environ.setdefault("KIVY_NO_ARGS", "1")
_os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
# Kivy's log goes through Python's logging (the level of `vuoro --log-level`).
_os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
