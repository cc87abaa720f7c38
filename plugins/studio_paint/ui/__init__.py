"""The Paint panel's Qt widgets (imported only when the window builds the panel)."""
