"""An Omnibus-style package builder: definitions -> graph -> keys -> plan -> build -> package."""

__version__ = "0.1.0"
