"""File names of the charts attached to the plan page (``publish.charts`` draws them)."""

GANTT_PNG = "tracker-bridge-gantt.png"
S_CURVE_PNG = "tracker-bridge-s-curve.png"
FINISH_PNG = "tracker-bridge-finish-dates.png"
LOAD_PNG = "tracker-bridge-load.png"
CHART_FILES = (GANTT_PNG, FINISH_PNG, S_CURVE_PNG, LOAD_PNG)
