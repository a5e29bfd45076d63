"""Lazy public names for packages (PEP 562), so that importing a package, or
the CLI registering its commands, does not pull in heavy dependencies."""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, names: dict[str, str], namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Make ``__getattr__`` and ``__dir__`` for a package.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict
        Public name -> module defining it (absolute, or relative to ``package``
        when it starts with a dot).  A name the module does not define but
        that equals the module's last part (``"stats": ".stats"``) is the
        module itself.  Avoid exporting a function named like its submodule:
        importing the submodule later would rebind the package attribute.
    namespace : dict
        The package's ``globals()``; a resolved name is cached there.
    """

    def __getattr__(name: str) -> Any:
        mod_name = names.get(name)
        if mod_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        mod = importlib.import_module(mod_name, package)
        if hasattr(mod, name):
            value = getattr(mod, name)
        elif mod_name.rsplit(".", 1)[-1] == name:
            value = mod
        else:
            raise AttributeError(f"module {mod.__name__!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
