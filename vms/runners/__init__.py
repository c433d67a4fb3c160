"""The VM app's job runners (on top of jobs/): jobs/ autodiscovers each app's `runners` and the
runners register themselves on import."""

# One name per line: each feature adds its own.
from vms.runners import (
    boot,  # noqa: F401
    changes,  # noqa: F401
    clones,  # noqa: F401
    disks,  # noqa: F401
    images,  # noqa: F401
    interfaces,  # noqa: F401
    maintenance,  # noqa: F401
    moves,  # noqa: F401
    run_once,  # noqa: F401
    save_template,  # noqa: F401
    snapshots,  # noqa: F401
    update,  # noqa: F401
    vm,  # noqa: F401
)
