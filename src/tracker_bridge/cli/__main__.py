"""``python -m tracker_bridge.cli``: the same command line as the ``tracker-bridge`` script."""

from tracker_bridge.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
