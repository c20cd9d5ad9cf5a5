"""What the test modules share (imported as ``helpers.<module>``; ``tests/conftest.py`` puts ``tests/`` on
``sys.path``): reference implementations (:mod:`.reference`, :mod:`.reference_renderer`), generated inputs
(:mod:`.malformed`, :mod:`.phone_files`, :mod:`.videoclips`), the tiny stand-in depth model
(:mod:`.conftest_depth`), child processes (:mod:`.procs`) and the virtual X display (:mod:`.xvfb`)."""
