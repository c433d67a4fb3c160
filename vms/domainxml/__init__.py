"""Domain XML engine: a typed, lossless model of libvirt domain XML.

No Django in here (the web layer and the `domainxml` management command call into it); lxml
only, except hostcaps.py which talks to libvirt. See docs/domainxml.md.
"""

from .adapt import AdaptResult, adapt, machine_family
from .capabilities import DomainCapabilities, HostCapabilities
from .devices import (
    Channel,
    Console,
    Controller,
    Device,
    Devices,
    Disk,
    Graphics,
    Input,
    Interface,
    Memballoon,
    Redirdev,
    Serial,
    Sound,
    Video,
)
from .errors import (
    AdaptError,
    DomainXMLError,
    InvalidValueError,
    ParseError,
    SchemaIssue,
    UnknownFieldError,
    ValidationError,
)
from .model import LIFECYCLE_ACTIONS, Domain
from .names import check_name
from .sections import CPU, OS, Clock, Features, Timer, VcpuState
from .settable import get_field, parse_assignment, set_field, settable_fields
from .units import parse_size, to_kib
from .validate import is_valid, schema_issues, validate

__all__ = [
    "AdaptError",
    "AdaptResult",
    "CPU",
    "Channel",
    "Clock",
    "Console",
    "Controller",
    "Device",
    "Devices",
    "Disk",
    "Domain",
    "DomainCapabilities",
    "DomainXMLError",
    "Features",
    "Graphics",
    "HostCapabilities",
    "Input",
    "Interface",
    "InvalidValueError",
    "LIFECYCLE_ACTIONS",
    "Memballoon",
    "OS",
    "ParseError",
    "Redirdev",
    "SchemaIssue",
    "Serial",
    "Sound",
    "Timer",
    "UnknownFieldError",
    "ValidationError",
    "VcpuState",
    "Video",
    "adapt",
    "check_name",
    "get_field",
    "is_valid",
    "machine_family",
    "parse_assignment",
    "parse_size",
    "schema_issues",
    "set_field",
    "settable_fields",
    "to_kib",
    "validate",
]
