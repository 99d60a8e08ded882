"""`mpmon top`: a live terminal view of the run being written in a log directory.

It reads only the snapshot files the collector writes (read.py); the terminal view uses rich (the extra
`mpmon[live]`, imported only by view.py), and a non-terminal output gets one plain line a second
(text.py). Nothing here is imported by `import mpmon`.
"""
