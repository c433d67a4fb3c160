"""The watcher process: libvirt events, stats and serial consoles of the hosts it holds a lease on.

Start it with `manage.py watch_hosts`; see docs/live.md.
"""
