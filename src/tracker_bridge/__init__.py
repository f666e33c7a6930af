"""tracker-bridge: critical path, risk and budget overlays written back into your issue tracker."""

__version__ = "0.1.0"
