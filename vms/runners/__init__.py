"""The VM app's job runners (on top of jobs/): jobs/ autodiscovers each app's `runners` and the
runners register themselves on import."""

from vms.runners import changes, images, update, vm  # noqa: F401
