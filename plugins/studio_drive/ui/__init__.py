"""The drive panel (Qt): imported only by the window, never by the tasks."""
